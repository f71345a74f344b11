/* tests/http/mcp_fixture_http.c — the MCP conformance fixtures (tests/mcp/mcp_fixtures.c)
 * served over Streamable HTTP on 127.0.0.1, for the official conformance suite, the SDK
 * HTTP client test and manual poking. Prints "PORT <n>" on stdout once listening, serves
 * until SIGINT/SIGTERM or EOF on stdin (with --stdin-eof), then shuts down gracefully.
 * Adds two fixtures of the unscored conformance scenarios: test_reconnection (SEP-1699:
 * drops the POST SSE connection mid-call, finishes after the client resumed with GET +
 * Last-Event-ID) and json_schema_2020_12_tool (SEP-1613).
 * Must not: be used as a product server (no auth, fixture tools only). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "http/mcp_http.h"
#include "mcp_fixtures.h"

static json_t *t_reconnection(mcp_call *c, json_t *a, void *ud)
{
    (void)a, (void)ud;
    if (!mcp_http_call_disconnect(c))
        return mcp_result_error("not on an HTTP stream");
    /* give the client time to see the end of the connection and resume (the result is
     * replayed from the event store either way) */
    mcp_call_wait_cancelled(c, 200);
    return mcp_result_text("Reconnection test completed successfully");
}

static bool add_http_fixtures(mcp_server *srv, err_t *e)
{
    mcp_tool_def rec = {"test_reconnection",
                        NULL,
                        "Closes the SSE connection mid-call; the result arrives after the client "
                        "reconnects (SEP-1699)",
                        NULL,
                        NULL,
                        NULL,
                        t_reconnection,
                        NULL};
    mcp_tool_def js = {
        "json_schema_2020_12_tool",
        NULL,
        "Tool with JSON Schema 2020-12 features",
        "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"type\":\"object\","
        "\"$defs\":{\"address\":{\"type\":\"object\",\"properties\":{\"street\":"
        "{\"type\":\"string\"},\"city\":{\"type\":\"string\"}}}},\"properties\":"
        "{\"name\":{\"type\":\"string\"},\"address\":{\"$ref\":\"#/$defs/address\"}},"
        "\"additionalProperties\":false}",
        NULL,
        NULL,
        t_reconnection,
        NULL};
    return mcp_server_add_tool(srv, &rec, e) == ERR_OK &&
           mcp_server_add_tool(srv, &js, e) == ERR_OK;
}

static void health(void *ud, const mcp_http_req *req, mcp_http_response *out)
{
    (void)ud;
    (void)req;
    out->content_type = "application/json";
    out->body = strdup("{\"status\":\"ok\"}");
    out->len = strlen(out->body);
}

static void metrics(void *ud, const mcp_http_req *req, mcp_http_response *out)
{
    (void)req;
    out->content_type = "text/plain; version=0.0.4";
    out->body = mcp_http_metrics_render(ud, &out->len);
}

int main(int argc, char **argv)
{
    unsigned port = 0;
    bool stdin_eof = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--stdin-eof") == 0)
            stdin_eof = true;
    }
    log_set_level(getenv("CTXD_HTTP_DEBUG") ? LOG_DEBUG : LOG_WARN);
    mcp_server_info info = {"ctxd-mcp-fixtures", "0.1.0", "ctxd MCP fixture server",
                            "Conformance fixtures on the ctxd MCP library",
                            "Fixture server for MCP protocol tests."};
    mcp_server *srv = mcp_server_new(&info);
    err_t e;
    err_clear(&e);
    if (!mcp_fixtures_register(srv, &e) || !add_http_fixtures(srv, &e)) {
        fprintf(stderr, "fixtures: %s\n", e.msg);
        mcp_server_free(srv);
        return 1;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* every thread inherits: only sigwait sees them */

    mcp_http_opts o = {0};
    o.port = (uint16_t)port;
    mcp_http *h = mcp_http_start(srv, &o, &e);
    if (!h) {
        fprintf(stderr, "%s\n", e.msg);
        mcp_server_free(srv);
        return 1;
    }
    mcp_http_add_route(h, "GET", "/health", health, NULL);
    mcp_http_add_route(h, "GET", "/metrics", metrics, h);
    printf("PORT %u\n", (unsigned)mcp_http_port(h));
    fflush(stdout);
    if (stdin_eof) {
        char buf[64];
        while (read(0, buf, sizeof buf) > 0)
            ;
    } else {
        int sig;
        sigwait(&set, &sig);
    }
    mcp_fixtures_release();
    mcp_http_stop(h);
    mcp_server_free(srv);
    return 0;
}
