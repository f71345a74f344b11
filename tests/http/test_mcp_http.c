/* tests/http/test_mcp_http.c — the Streamable HTTP transport over loopback with a raw
 * HTTP/1.1 client (http_client.c): sessions (mint, 400, 404, DELETE), status codes (202,
 * 400 -32700/-32600, 200 -32601, 413, 403, 405, 406, 415, 409, 401), SSE responses with
 * priming event and ids, the GET stream with resources/updated, Last-Event-ID replay,
 * concurrent requests on one session, many sessions in parallel, routes and metrics.
 * Must not: sleep for timing (it synchronises on responses and SSE events; test_block
 * announces itself with a progress event). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/log.h"
#include "http/mcp_http.h"
#include "http_client.h"
#include "mcp_fixtures.h"

#define ACCEPT_BOTH \
    "Accept: application/json, text/event-stream\r\nContent-Type: application/json\r\n"
#define INIT_BODY \
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":" \
    "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}"

static mcp_server *g_srv;
static mcp_http *g_http;
static uint16_t g_port;

static int group_setup(void **state)
{
    (void)state;
    log_set_level(LOG_ERROR);
    mcp_server_info info = {"ctxd-mcp-fixtures", "0.1.0", NULL, NULL, NULL};
    g_srv = mcp_server_new(&info);
    err_t e;
    err_clear(&e);
    if (!mcp_fixtures_register(g_srv, &e))
        return -1;
    mcp_http_opts o = {0};
    o.max_body = 64 * 1024;
    o.workers = 6;
    g_http = mcp_http_start(g_srv, &o, &e);
    if (!g_http)
        return -1;
    g_port = mcp_http_port(g_http);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    mcp_fixtures_release();
    mcp_http_stop(g_http);
    mcp_server_free(g_srv);
    return 0;
}

/* POST body with the session id (may be NULL) and extra headers; reads everything. */
static int post(hc_conn *c, const char *sid, const char *extra, const char *body, hc_resp *r)
{
    char h[1024];
    snprintf(h, sizeof h, ACCEPT_BOTH "%s%s%s%s", sid ? "Mcp-Session-Id: " : "", sid ? sid : "",
             sid ? "\r\n" : "", extra ? extra : "");
    return hc_request(c, "POST", "/mcp", h, body, r);
}

/* initialize + notifications/initialized; returns the session id (malloc'd). */
static char *open_session(hc_conn *c)
{
    hc_resp r;
    assert_int_equal(post(c, NULL, NULL, INIT_BODY, &r), 200);
    char *sid = hc_header(&r, "Mcp-Session-Id");
    assert_non_null(sid);
    hc_resp_free(&r);
    assert_int_equal(
        post(c, sid, NULL, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &r),
        202);
    hc_resp_free(&r);
    return sid;
}

static json_t *body_json(const hc_resp *r)
{
    json_t *j = json_loadb(r->body ? r->body : "", r->body_len, 0, NULL);
    assert_non_null(j);
    return j;
}

static int error_code(const hc_resp *r)
{
    json_t *j = body_json(r);
    int code = (int)json_integer_value(json_object_get(json_object_get(j, "error"), "code"));
    json_decref(j);
    return code;
}

static void test_initialize_session_id(void **state)
{
    (void)state;
    hc_conn c;
    assert_true(hc_connect(&c, g_port));
    hc_resp r;
    assert_int_equal(post(&c, NULL, NULL, INIT_BODY, &r), 200);
    char *sid = hc_header(&r, "Mcp-Session-Id");
    char *ct = hc_header(&r, "Content-Type");
    assert_non_null(sid);
    assert_string_equal(ct, "application/json");
    assert_true(strlen(sid) >= 16);
    for (const char *p = sid; *p; p++)
        assert_true(*p >= 0x21 && *p <= 0x7e);
    json_t *j = body_json(&r);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "result"), "protocolVersion")),
        "2025-11-25");
    json_decref(j);
    hc_resp_free(&r);
    /* a second request on the same keep-alive connection */
    assert_int_equal(post(&c, sid, "MCP-Protocol-Version: 2025-11-25\r\n",
                          "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}", &r),
                     200);
    assert_non_null(strstr(r.body, "\"result\":{}"));
    hc_resp_free(&r);
    free(sid);
    free(ct);
    hc_close(&c);
}

static void test_session_required_and_unknown(void **state)
{
    (void)state;
    hc_conn c;
    assert_true(hc_connect(&c, g_port));
    hc_resp r;
    assert_int_equal(
        post(&c, NULL, NULL, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}", &r), 400);
    hc_resp_free(&r);
    assert_int_equal(
        post(&c, "no-such-session", NULL, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", &r),
        404);
    assert_int_equal(error_code(&r), -32001);
    hc_resp_free(&r);
    assert_int_equal(hc_request(&c, "GET", "/mcp",
                                "Accept: text/event-stream\r\nMcp-Session-Id: nope\r\n", NULL, &r),
                     404);
    hc_resp_free(&r);
    assert_int_equal(hc_request(&c, "DELETE", "/mcp", NULL, NULL, &r), 400);
    hc_resp_free(&r);
    hc_close(&c);
}

static void test_delete_then_404(void **state)
{
    (void)state;
    hc_conn c;
    assert_true(hc_connect(&c, g_port));
    char *sid = open_session(&c);
    char h[256];
    snprintf(h, sizeof h, "Mcp-Session-Id: %s\r\n", sid);
    hc_resp r;
    assert_int_equal(hc_request(&c, "DELETE", "/mcp/", h, NULL, &r), 200);
    hc_resp_free(&r);
    assert_int_equal(post(&c, sid, NULL, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", &r),
                     404);
    hc_resp_free(&r);
    assert_int_equal(hc_request(&c, "DELETE", "/mcp", h, NULL, &r), 404);
    hc_resp_free(&r);
    free(sid);
    hc_close(&c);
}

static void test_bad_messages(void **state)
{
    (void)state;
    hc_conn c;
    assert_true(hc_connect(&c, g_port));
    char *sid = open_session(&c);
    hc_resp r;
    /* notification: 202 empty */
    assert_int_equal(
        post(&c, sid, NULL, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/whatever\"}", &r),
        202);
    assert_int_equal(r.body_len, 0);
    hc_resp_free(&r);
    /* malformed JSON: 400 -32700, with and without a session */
    assert_int_equal(post(&c, sid, NULL, "{\"jsonrpc\":", &r), 400);
    assert_int_equal(error_code(&r), -32700);
    hc_resp_free(&r);
    assert_int_equal(post(&c, NULL, NULL, "not json", &r), 400);
    assert_int_equal(error_code(&r), -32700);
    hc_resp_free(&r);
    /* wrong jsonrpc version: 400 -32600 */
    assert_int_equal(post(&c, sid, NULL, "{\"jsonrpc\":\"1.0\",\"id\":3,\"method\":\"ping\"}", &r),
                     400);
    assert_int_equal(error_code(&r), -32600);
    hc_resp_free(&r);
    /* unknown method: in-band 200 -32601 */
    assert_int_equal(
        post(&c, sid, NULL, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"no/such\"}", &r), 200);
    assert_int_equal(error_code(&r), -32601);
    hc_resp_free(&r);
    /* unknown tool on a worker: in-band error */
    assert_int_equal(post(&c, sid, NULL,
                          "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/"
                          "call\",\"params\":{\"name\":\"nope\"}}",
                          &r),
                     200);
    assert_int_equal(error_code(&r), -32602);
    hc_resp_free(&r);
    /* unsupported MCP-Protocol-Version: 400 */
    assert_int_equal(post(&c, sid, "MCP-Protocol-Version: 1999-01-01\r\n",
                          "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"ping\"}", &r),
                     400);
    hc_resp_free(&r);
    /* the connection is still fine */
    assert_int_equal(post(&c, sid, NULL, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}", &r),
                     200);
    hc_resp_free(&r);
    free(sid);
    hc_close(&c);
}

static void test_http_level_errors(void **state)
{
    (void)state;
    hc_conn c;
    hc_resp r;
    assert_true(hc_connect(&c, g_port));
    char *sid = open_session(&c);
    /* 405 */
    assert_int_equal(hc_request(&c, "PUT", "/mcp", NULL, NULL, &r), 405);
    hc_resp_free(&r);
    hc_close(&c);
    assert_true(hc_connect(&c, g_port));
    /* 406: Accept without text/event-stream */
    char h[512];
    snprintf(h, sizeof h,
             "Accept: application/json\r\nContent-Type: application/json\r\nMcp-Session-Id: %s\r\n",
             sid);
    assert_int_equal(
        hc_request(&c, "POST", "/mcp", h, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", &r),
        406);
    hc_resp_free(&r);
    hc_close(&c);
    assert_true(hc_connect(&c, g_port));
    /* 415 */
    snprintf(h, sizeof h,
             "Accept: application/json, text/event-stream\r\nContent-Type: "
             "text/plain\r\nMcp-Session-Id: %s\r\n",
             sid);
    assert_int_equal(
        hc_request(&c, "POST", "/mcp", h, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", &r),
        415);
    hc_resp_free(&r);
    hc_close(&c);
    /* 403: bad Origin; bad Host (raw request) */
    assert_true(hc_connect(&c, g_port));
    assert_int_equal(post(&c, sid, "Origin: http://evil.example.com\r\n",
                          "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", &r),
                     403);
    hc_resp_free(&r);
    hc_close(&c);
    assert_true(hc_connect(&c, g_port));
    assert_int_equal(post(&c, sid, "Origin: http://localhost:1234\r\n",
                          "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", &r),
                     200);
    hc_resp_free(&r);
    const char *raw = "POST /mcp HTTP/1.1\r\nHost: evil.example.com\r\n" ACCEPT_BOTH
                      "Content-Length: 2\r\n\r\n{}";
    assert_int_equal(write(c.fd, raw, strlen(raw)), (ssize_t)strlen(raw));
    assert_true(hc_read_head(&c, &r));
    assert_int_equal(r.status, 403);
    hc_resp_free(&r);
    hc_close(&c);
    /* routes: 404 for unknown paths */
    assert_true(hc_connect(&c, g_port));
    assert_int_equal(hc_request(&c, "GET", "/nope", NULL, NULL, &r), 404);
    hc_resp_free(&r);
    free(sid);
    hc_close(&c);
}

static void test_body_limit(void **state)
{
    (void)state;
    hc_conn c;
    hc_resp r;
    assert_true(hc_connect(&c, g_port));
    char *sid = open_session(&c);
    size_t n = 200 * 1024;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    big[n] = '\0';
    memcpy(big, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", 40);
    char h[512];
    snprintf(h, sizeof h, ACCEPT_BOTH "Mcp-Session-Id: %s\r\n", sid);
    /* Content-Length over the limit: refused before the body is read */
    char head[1024];
    snprintf(head, sizeof head,
             "POST /mcp HTTP/1.1\r\nHost: localhost\r\n%sContent-Length: %zu\r\n\r\n", h, n);
    assert_int_equal(write(c.fd, head, strlen(head)), (ssize_t)strlen(head));
    assert_true(hc_read_head(&c, &r));
    assert_int_equal(r.status, 413);
    hc_resp_free(&r);
    hc_close(&c);
    /* chunked body growing over the limit */
    assert_true(hc_connect(&c, g_port));
    snprintf(head, sizeof head,
             "POST /mcp HTTP/1.1\r\nHost: localhost\r\n%sTransfer-Encoding: chunked\r\n\r\n", h);
    assert_int_equal(write(c.fd, head, strlen(head)), (ssize_t)strlen(head));
    for (int i = 0; i < 4; i++) {
        char ch[32];
        size_t part = n / 4;
        snprintf(ch, sizeof ch, "%zx\r\n", part);
        assert_int_equal(write(c.fd, ch, strlen(ch)), (ssize_t)strlen(ch));
        assert_int_equal(write(c.fd, big, part), (ssize_t)part);
        assert_int_equal(write(c.fd, "\r\n", 2), 2);
    }
    assert_int_equal(write(c.fd, "0\r\n\r\n", 5), 5);
    assert_true(hc_read_head(&c, &r));
    assert_int_equal(r.status, 413);
    hc_resp_free(&r);
    hc_close(&c);
    /* the server keeps serving */
    assert_true(hc_connect(&c, g_port));
    assert_int_equal(post(&c, sid, NULL, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}", &r),
                     200);
    hc_resp_free(&r);
    free(big);
    free(sid);
    hc_close(&c);
}

/* Reads the SSE response head of a POST; asserts event-stream. */
static void expect_sse_head(hc_conn *c, hc_resp *r)
{
    assert_true(hc_read_head(c, r));
    assert_int_equal(r->status, 200);
    char *ct = hc_header(r, "Content-Type");
    assert_string_equal(ct, "text/event-stream");
    free(ct);
    assert_true(r->chunked);
}

static void test_sse_progress_and_replay(void **state)
{
    (void)state;
    hc_conn c;
    hc_resp r;
    assert_true(hc_connect(&c, g_port));
    char *sid = open_session(&c);
    char h[512];
    snprintf(h, sizeof h, ACCEPT_BOTH "Mcp-Session-Id: %s\r\n", sid);
    const char *body =
        "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"test_tool_with_progress\",\"_meta\":{\"progressToken\":\"tok\"}}}";
    assert_true(hc_send(&c, "POST", "/mcp", h, body, strlen(body)));
    expect_sse_head(&c, &r);
    char *ids[8] = {0}, *data[8] = {0};
    int n = 0;
    while (n < 8 && hc_next_event(&c, &r, &ids[n], &data[n]))
        n++;
    assert_true(r.eof);
    assert_int_equal(n, 5); /* priming, 3 x progress, response */
    assert_non_null(ids[0]);
    assert_string_equal(data[0], "");
    double expect[3] = {0, 50, 100};
    for (int i = 1; i <= 3; i++) {
        json_t *j = json_loads(data[i], 0, NULL);
        assert_string_equal(json_string_value(json_object_get(j, "method")),
                            "notifications/progress");
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(j, "params"), "progressToken")),
            "tok");
        assert_true(json_number_value(json_object_get(json_object_get(j, "params"), "progress")) ==
                    expect[i - 1]);
        json_decref(j);
    }
    json_t *j = json_loads(data[4], 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(j, "id")), 9);
    assert_non_null(json_object_get(j, "result"));
    json_decref(j);
    for (int i = 0; i < n; i++) {
        assert_non_null(ids[i]);
        for (int k = 0; k < i; k++)
            assert_string_not_equal(ids[i], ids[k]);
    }
    hc_resp_free(&r);

    /* Last-Event-ID: resume after the first progress event: the rest is replayed */
    char gh[512];
    snprintf(gh, sizeof gh,
             "Accept: text/event-stream\r\nMcp-Session-Id: %s\r\nLast-Event-ID: %s\r\n", sid,
             ids[1]);
    assert_true(hc_send(&c, "GET", "/mcp", gh, NULL, 0));
    assert_true(hc_read_head(&c, &r));
    assert_int_equal(r.status, 200);
    int m = 0;
    char *id, *d;
    while (hc_next_event(&c, &r, &id, &d)) {
        assert_true(m < 3);
        assert_string_equal(id, ids[2 + m]);
        assert_string_equal(d, data[2 + m]);
        free(id);
        free(d);
        m++;
    }
    assert_int_equal(m, 3);
    hc_resp_free(&r);
    for (int i = 0; i < n; i++) {
        free(ids[i]);
        free(data[i]);
    }
    free(sid);
    hc_close(&c);
}

static void test_get_stream_resource_updated(void **state)
{
    (void)state;
    hc_conn c, g, g2;
    hc_resp r, gr;
    assert_true(hc_connect(&c, g_port));
    assert_true(hc_connect(&g, g_port));
    char *sid = open_session(&c);
    char gh[512];
    snprintf(gh, sizeof gh, "Accept: text/event-stream\r\nMcp-Session-Id: %s\r\n", sid);
    assert_true(hc_send(&g, "GET", "/mcp", gh, NULL, 0));
    assert_true(hc_read_head(&g, &gr));
    assert_int_equal(gr.status, 200);
    char *id, *d;
    assert_true(hc_next_event(&g, &gr, &id, &d)); /* priming: the stream is attached */
    assert_string_equal(d, "");
    free(id);
    free(d);
    /* a second GET stream: 409 */
    assert_true(hc_connect(&g2, g_port));
    assert_int_equal(hc_request(&g2, "GET", "/mcp", gh, NULL, &r), 409);
    hc_resp_free(&r);
    hc_close(&g2);

    assert_int_equal(post(&c, sid, NULL,
                          "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"resources/subscribe\","
                          "\"params\":{\"uri\":\"test://watched-resource\"}}",
                          &r),
                     200);
    hc_resp_free(&r);
    assert_int_equal(post(&c, sid, NULL,
                          "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\","
                          "\"params\":{\"name\":\"test_touch_watched\"}}",
                          &r),
                     200);
    hc_resp_free(&r);
    assert_true(hc_next_event(&g, &gr, &id, &d));
    assert_non_null(id);
    json_t *j = json_loads(d, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "method")),
                        "notifications/resources/updated");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "params"), "uri")),
                        "test://watched-resource");
    json_decref(j);
    free(id);
    free(d);
    /* DELETE ends the GET stream */
    char dh[256];
    snprintf(dh, sizeof dh, "Mcp-Session-Id: %s\r\n", sid);
    assert_int_equal(hc_request(&c, "DELETE", "/mcp", dh, NULL, &r), 200);
    hc_resp_free(&r);
    assert_false(hc_next_event(&g, &gr, &id, &d));
    assert_true(gr.eof);
    hc_resp_free(&gr);
    free(sid);
    hc_close(&g);
    hc_close(&c);
}

static void test_concurrent_posts_one_session(void **state)
{
    (void)state;
    hc_conn c, b[3];
    hc_resp r, br[3];
    assert_true(hc_connect(&c, g_port));
    char *sid = open_session(&c);
    char h[512];
    snprintf(h, sizeof h, ACCEPT_BOTH "Mcp-Session-Id: %s\r\n", sid);
    for (int i = 0; i < 3; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":"
                 "{\"name\":\"test_block\",\"_meta\":{\"progressToken\":%d}}}",
                 100 + i, i);
        assert_true(hc_connect(&b[i], g_port));
        assert_true(hc_send(&b[i], "POST", "/mcp", h, body, strlen(body)));
    }
    /* each call is running: its stream carries priming + the "blocked" progress */
    for (int i = 0; i < 3; i++) {
        expect_sse_head(&b[i], &br[i]);
        char *id, *d;
        assert_true(hc_next_event(&b[i], &br[i], &id, &d));
        free(id);
        free(d);
        assert_true(hc_next_event(&b[i], &br[i], &id, &d));
        assert_non_null(strstr(d, "notifications/progress"));
        free(id);
        free(d);
    }
    assert_int_equal(post(&c, sid, NULL,
                          "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\","
                          "\"params\":{\"name\":\"test_release\"}}",
                          &r),
                     200);
    hc_resp_free(&r);
    for (int i = 0; i < 3; i++) {
        char *id, *d;
        assert_true(hc_next_event(&b[i], &br[i], &id, &d));
        json_t *j = json_loads(d, 0, NULL);
        assert_int_equal(json_integer_value(json_object_get(j, "id")), 100 + i);
        assert_string_equal(
            json_string_value(json_object_get(
                json_array_get(json_object_get(json_object_get(j, "result"), "content"), 0),
                "text")),
            "released");
        json_decref(j);
        free(id);
        free(d);
        assert_false(hc_next_event(&b[i], &br[i], &id, &d));
        hc_resp_free(&br[i]);
        hc_close(&b[i]);
    }
    free(sid);
    hc_close(&c);
}

static void *session_worker(void *arg)
{
    int *fails = arg;
    hc_conn c;
    if (!hc_connect(&c, g_port)) {
        (*fails)++;
        return NULL;
    }
    hc_resp r;
    char *sid = NULL;
    if (post(&c, NULL, NULL, INIT_BODY, &r) != 200 || !(sid = hc_header(&r, "Mcp-Session-Id")))
        (*fails)++;
    hc_resp_free(&r);
    for (int i = 0; sid && i < 25; i++) {
        char body[160];
        snprintf(body, sizeof body,
                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\","
                 "\"params\":{\"name\":\"test_simple_text\"}}",
                 i);
        if (post(&c, sid, NULL, body, &r) != 200 || !strstr(r.body, "simple text response"))
            (*fails)++;
        hc_resp_free(&r);
    }
    if (sid) {
        char dh[256];
        snprintf(dh, sizeof dh, "Mcp-Session-Id: %s\r\n", sid);
        if (hc_request(&c, "DELETE", "/mcp", dh, NULL, &r) != 200)
            (*fails)++;
        hc_resp_free(&r);
    }
    free(sid);
    hc_close(&c);
    return NULL;
}

static void test_many_sessions_parallel(void **state)
{
    (void)state;
    enum {
        N = 16
    };
    pthread_t th[N];
    int fails[N] = {0};
    size_t before = mcp_http_session_count(g_http);
    for (int i = 0; i < N; i++)
        assert_int_equal(pthread_create(&th[i], NULL, session_worker, &fails[i]), 0);
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(fails[i], 0);
    }
    assert_int_equal(mcp_http_session_count(g_http), before);
}

static void route_health(void *ud, const mcp_http_req *req, mcp_http_response *out)
{
    (void)ud;
    assert_string_equal(mcp_http_req_path(req), "/health");
    out->content_type = "application/json";
    out->body = strdup("{\"status\":\"ok\"}");
    out->len = strlen(out->body);
}

static void route_db(void *ud, const mcp_http_req *req, mcp_http_response *out)
{
    (void)ud;
    (void)req;
    out->status = 503;
}

static void test_routes_and_metrics(void **state)
{
    (void)state;
    mcp_http_add_route(g_http, "GET", "/health", route_health, NULL);
    mcp_http_add_route(g_http, "GET", "/health/database", route_db, NULL);
    hc_conn c;
    hc_resp r;
    assert_true(hc_connect(&c, g_port));
    assert_int_equal(hc_request(&c, "GET", "/health", NULL, NULL, &r), 200);
    assert_string_equal(r.body, "{\"status\":\"ok\"}");
    hc_resp_free(&r);
    assert_int_equal(hc_request(&c, "GET", "/health/database", NULL, NULL, &r), 503);
    hc_resp_free(&r);
    assert_int_equal(hc_request(&c, "POST", "/health", NULL, "", &r), 405);
    hc_resp_free(&r);
    hc_close(&c);
    size_t len;
    char *m = mcp_http_metrics_render(g_http, &len);
    assert_int_equal(strlen(m), len);
    assert_non_null(strstr(
        m,
        "ctxd_mcp_requests_total{method=\"tools/call\",tool=\"test_simple_text\",status=\"200\"}"));
    assert_non_null(strstr(m, "ctxd_mcp_request_duration_seconds_bucket{method=\"tools/"
                              "call\",tool=\"test_simple_text\",le=\"+Inf\"}"));
    free(m);
}

/* ---- auth hook: a second server instance ---- */
static int auth_frees;
static bool auth_cb(void *ud, const mcp_http_req *req, void **auth, const char **msg)
{
    (void)ud;
    const char *k = mcp_http_req_header(req, "x-api-key");
    if (!k || strcmp(k, "secret") != 0) {
        *msg = "missing or invalid API key";
        return false;
    }
    *auth = strdup("agent-1");
    return true;
}
static void auth_free_cb(void *ud, void *auth)
{
    (void)ud;
    __atomic_fetch_add(&auth_frees, 1, __ATOMIC_SEQ_CST);
    free(auth);
}

static void test_auth_hook(void **state)
{
    (void)state;
    mcp_http_opts o = {0};
    o.auth = auth_cb;
    o.auth_free = auth_free_cb;
    err_t e;
    err_clear(&e);
    mcp_http *h = mcp_http_start(g_srv, &o, &e);
    assert_non_null(h);
    hc_conn c;
    hc_resp r;
    assert_true(hc_connect(&c, mcp_http_port(h)));
    assert_int_equal(post(&c, NULL, NULL, INIT_BODY, &r), 401);
    char *www = hc_header(&r, "WWW-Authenticate");
    assert_string_equal(www, "Bearer error=\"invalid_token\"");
    free(www);
    assert_non_null(strstr(r.body, "invalid_token"));
    hc_resp_free(&r);
    assert_int_equal(post(&c, NULL, "X-API-Key: secret\r\n", INIT_BODY, &r), 200);
    char *sid = hc_header(&r, "Mcp-Session-Id");
    hc_resp_free(&r);
    assert_int_equal(post(&c, sid, "X-API-Key: secret\r\n",
                          "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\","
                          "\"params\":{\"name\":\"test_simple_text\"}}",
                          &r),
                     200);
    hc_resp_free(&r);
    assert_int_equal(post(&c, sid, NULL, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}", &r),
                     401);
    hc_resp_free(&r);
    free(sid);
    hc_close(&c);
    mcp_http_stop(h); /* also frees the session it still holds */
    assert_int_equal(__atomic_load_n(&auth_frees, __ATOMIC_SEQ_CST), 2);
}

/* Graceful shutdown with an attached GET stream and a running call: stop cancels the
 * call, ends both streams, frees the session and returns. */
static void test_shutdown_with_streams(void **state)
{
    (void)state;
    err_t e;
    err_clear(&e);
    mcp_http *h = mcp_http_start(g_srv, NULL, &e);
    assert_non_null(h);
    uint16_t port = mcp_http_port(h);
    hc_conn c, g, b;
    hc_resp r, gr, br;
    assert_true(hc_connect(&c, port));
    char *sid = open_session(&c);
    char gh[512], h2[512];
    snprintf(gh, sizeof gh, "Accept: text/event-stream\r\nMcp-Session-Id: %s\r\n", sid);
    snprintf(h2, sizeof h2, ACCEPT_BOTH "Mcp-Session-Id: %s\r\n", sid);
    assert_true(hc_connect(&g, port));
    assert_true(hc_send(&g, "GET", "/mcp", gh, NULL, 0));
    assert_true(hc_read_head(&g, &gr));
    char *id, *d;
    assert_true(hc_next_event(&g, &gr, &id, &d));
    free(id);
    free(d);
    const char *body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
                       "{\"name\":\"test_block\",\"_meta\":{\"progressToken\":1}}}";
    assert_true(hc_connect(&b, port));
    assert_true(hc_send(&b, "POST", "/mcp", h2, body, strlen(body)));
    expect_sse_head(&b, &br);
    assert_true(hc_next_event(&b, &br, &id, &d)); /* priming */
    free(id);
    free(d);
    assert_true(hc_next_event(&b, &br, &id, &d)); /* "blocked" progress: it runs */
    free(id);
    free(d);
    assert_int_equal(mcp_http_session_count(h), 1);
    mcp_http_stop(h);
    /* both streams end (a cancelled call gets no response) */
    while (hc_next_event(&b, &br, &id, &d)) {
        free(id);
        free(d);
    }
    while (hc_next_event(&g, &gr, &id, &d)) {
        free(id);
        free(d);
    }
    hc_resp_free(&br);
    hc_resp_free(&gr);
    (void)r;
    free(sid);
    hc_close(&b);
    hc_close(&g);
    hc_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_initialize_session_id),
        cmocka_unit_test(test_session_required_and_unknown),
        cmocka_unit_test(test_delete_then_404),
        cmocka_unit_test(test_bad_messages),
        cmocka_unit_test(test_http_level_errors),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_sse_progress_and_replay),
        cmocka_unit_test(test_get_stream_resource_updated),
        cmocka_unit_test(test_concurrent_posts_one_session),
        cmocka_unit_test(test_many_sessions_parallel),
        cmocka_unit_test(test_routes_and_metrics),
        cmocka_unit_test(test_auth_hook),
        cmocka_unit_test(test_shutdown_with_streams),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
