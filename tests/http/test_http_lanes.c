/* tests/http/test_http_lanes.c — the worker lanes of the HTTP transport: tools put in a
 * lane of their own (mcp_server_add_lane, mcp_server_set_tool_lane) run on that lane's
 * threads only, so while every thread of the "slow" lane is held (and more of its calls
 * wait in its queue), calls of the default lane are answered; a batch goes to the lane of
 * its first laned element; /metrics shows each lane's threads, busy threads and queue;
 * stopping the server runs what was queued. Registration refuses bad lanes.
 * Must not: sleep for timing (held calls report on a gate the test opens). */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/log.h"
#include "http/mcp_http.h"
#include "http_client.h"

#define ACCEPT_BOTH \
    "Accept: application/json, text/event-stream\r\nContent-Type: application/json\r\n"
#define SLOW_WORKERS 2

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int running, done;
    bool open;
} g_gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, false};

/* "hold": runs in the slow lane until the gate opens */
static json_t *hold(mcp_call *c, json_t *args, void *ud)
{
    (void)c;
    (void)args;
    (void)ud;
    pthread_mutex_lock(&g_gate.mu);
    g_gate.running++;
    pthread_cond_broadcast(&g_gate.cv);
    while (!g_gate.open)
        pthread_cond_wait(&g_gate.cv, &g_gate.mu);
    g_gate.done++;
    pthread_mutex_unlock(&g_gate.mu);
    return mcp_result_text("held");
}

static json_t *quick(mcp_call *c, json_t *args, void *ud)
{
    (void)c;
    (void)args;
    (void)ud;
    return mcp_result_text("quick");
}

static void wait_running(int n)
{
    pthread_mutex_lock(&g_gate.mu);
    while (g_gate.running < n)
        pthread_cond_wait(&g_gate.cv, &g_gate.mu);
    pthread_mutex_unlock(&g_gate.mu);
}

static int gate_done(void)
{
    pthread_mutex_lock(&g_gate.mu);
    int d = g_gate.done;
    pthread_mutex_unlock(&g_gate.mu);
    return d;
}

static int post(hc_conn *c, const char *sid, const char *body, hc_resp *r)
{
    char h[512];
    snprintf(h, sizeof h, ACCEPT_BOTH "%s%s%s", sid ? "Mcp-Session-Id: " : "", sid ? sid : "",
             sid ? "\r\n" : "");
    return hc_request(c, "POST", "/mcp", h, body, r);
}

static char *open_session(hc_conn *c, const char *version)
{
    hc_resp r;
    char init[512];
    snprintf(init, sizeof init,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
             "\"protocolVersion\":\"%s\",\"capabilities\":{},\"clientInfo\":{\"name\":"
             "\"t\",\"version\":\"1\"}}}",
             version);
    assert_int_equal(post(c, NULL, init, &r), 200);
    char *sid = hc_header(&r, "Mcp-Session-Id");
    assert_non_null(sid);
    hc_resp_free(&r);
    assert_int_equal(
        post(c, sid, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &r), 202);
    hc_resp_free(&r);
    return sid;
}

static void call_body(char *buf, size_t n, int id, const char *tool)
{
    snprintf(buf, n,
             "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":"
             "\"%s\",\"arguments\":{}}}",
             id, tool);
}

/* GET /metrics: the transport's metrics text */
static void route_metrics(void *ud, const mcp_http_req *req, mcp_http_response *out)
{
    (void)req;
    out->body = mcp_http_metrics_render(ud, &out->len);
}

/* a value of the metrics text, or -1 */
static long metric(uint16_t port, const char *series)
{
    hc_conn c;
    assert_true(hc_connect(&c, port));
    hc_resp r;
    assert_int_equal(hc_request(&c, "GET", "/metrics", NULL, NULL, &r), 200);
    long v = -1;
    const char *p = r.body ? strstr(r.body, series) : NULL;
    if (p && p[strlen(series)] == ' ')
        v = strtol(p + strlen(series) + 1, NULL, 10);
    hc_resp_free(&r);
    hc_close(&c);
    return v;
}

/* series' value once it equals want, polled for at most 5 s (a worker counts itself idle
 * just after it handed its reply over, so a client can read the reply first); else the
 * last value seen. */
static long metric_settles(uint16_t port, const char *series, long want)
{
    long v = metric(port, series);
    for (int i = 0; i < 5000 && v != want; i++) {
        poll(NULL, 0, 1);
        v = metric(port, series);
    }
    return v;
}

static void test_lanes(void **state)
{
    (void)state;
    log_set_level(LOG_ERROR);
    mcp_server_info info = {"lanes", "1", NULL, NULL, NULL};
    mcp_server *srv = mcp_server_new(&info);
    err_t e;
    unsigned slow = 0, other = 0;
    assert_int_equal(mcp_server_add_lane(srv, "slow", SLOW_WORKERS, &slow, &e), ERR_OK);
    assert_int_equal(slow, 1);
    assert_int_equal(mcp_server_add_lane(srv, "slow", 1, &other, &e), ERR_EXISTS);
    assert_int_equal(mcp_server_add_lane(srv, "Bad Name", 1, &other, &e), ERR_INVALID);
    assert_int_equal(mcp_server_add_lane(srv, "none", 0, &other, &e), ERR_INVALID);
    mcp_tool_def hd = {.name = "hold", .description = "held until released", .fn = hold};
    mcp_tool_def qd = {.name = "quick", .description = "answers at once", .fn = quick};
    assert_int_equal(mcp_server_add_tool(srv, &hd, &e), ERR_OK);
    assert_int_equal(mcp_server_add_tool(srv, &qd, &e), ERR_OK);
    assert_int_equal(mcp_server_set_tool_lane(srv, "hold", slow, &e), ERR_OK);
    assert_int_equal(mcp_server_set_tool_lane(srv, "nope", slow, &e), ERR_NOTFOUND);
    assert_int_equal(mcp_server_set_tool_lane(srv, "quick", 7, &e), ERR_NOTFOUND);
    assert_int_equal(mcp_server_lane_count(srv), 2);
    assert_string_equal(mcp_server_lane_name(srv, 0), "default");
    assert_int_equal(mcp_server_lane_workers(srv, 1), SLOW_WORKERS);

    mcp_http_opts o = {0};
    o.workers = 1; /* one thread for the default lane is enough */
    mcp_http *h = mcp_http_start(srv, &o, &e);
    assert_non_null(h);
    uint16_t port = mcp_http_port(h);
    mcp_http_add_route(h, "GET", "/metrics", route_metrics, h);
    hc_conn c0;
    assert_true(hc_connect(&c0, port));
    char *sid = open_session(&c0, "2025-11-25");
    char *old_sid = open_session(&c0, "2025-03-26"); /* batches are of that version */

    /* four held calls: two run (the lane's threads), two wait in its queue, and a batch
     * starting with a held call waits behind them */
    enum {
        HELD = 4
    };
    hc_conn hcs[HELD + 1];
    char body[512], hdr[256];
    snprintf(hdr, sizeof hdr, ACCEPT_BOTH "Mcp-Session-Id: %s\r\n", sid);
    for (int i = 0; i < HELD; i++) {
        assert_true(hc_connect(&hcs[i], port));
        call_body(body, sizeof body, 10 + i, "hold");
        assert_true(hc_send(&hcs[i], "POST", "/mcp", hdr, body, strlen(body)));
    }
    wait_running(SLOW_WORKERS);
    char b1[256], b2[256];
    call_body(b1, sizeof b1, 20, "quick");
    call_body(b2, sizeof b2, 21, "hold");
    snprintf(body, sizeof body, "[%s,%s]", b2, b1);
    char old_hdr[256];
    snprintf(old_hdr, sizeof old_hdr, ACCEPT_BOTH "Mcp-Session-Id: %s\r\n", old_sid);
    assert_true(hc_connect(&hcs[HELD], port));
    assert_true(hc_send(&hcs[HELD], "POST", "/mcp", old_hdr, body, strlen(body)));
    /* the queue is seen by /metrics (polled until the server has read the requests) */
    while (metric(port, "ctxd_mcp_queued_requests{lane=\"slow\"}") < HELD - SLOW_WORKERS + 1)
        continue;
    assert_int_equal(metric(port, "ctxd_mcp_workers{lane=\"slow\"}"), SLOW_WORKERS);
    assert_int_equal(metric(port, "ctxd_mcp_workers_busy{lane=\"slow\"}"), SLOW_WORKERS);
    assert_int_equal(metric(port, "ctxd_mcp_workers{lane=\"default\"}"), 1);

    /* the default lane answers meanwhile, several times */
    for (int i = 0; i < 3; i++) {
        hc_resp r;
        call_body(body, sizeof body, 30 + i, "quick");
        assert_int_equal(post(&c0, sid, body, &r), 200);
        assert_non_null(strstr(r.body, "\"quick\""));
        hc_resp_free(&r);
    }
    assert_int_equal(gate_done(), 0); /* ... while every held call still waits */

    pthread_mutex_lock(&g_gate.mu);
    g_gate.open = true;
    pthread_cond_broadcast(&g_gate.cv);
    pthread_mutex_unlock(&g_gate.mu);
    for (int i = 0; i <= HELD; i++) {
        hc_resp r;
        assert_true(hc_read_head(&hcs[i], &r));
        assert_true(hc_read_body(&hcs[i], &r));
        if (r.status != 200)
            fail_msg("call %d: %d %s", i, r.status, r.body);
        assert_non_null(strstr(r.body, "\"held\""));
        if (i == HELD)
            assert_non_null(strstr(r.body, "\"quick\""));
        hc_resp_free(&r);
        hc_close(&hcs[i]);
    }
    assert_int_equal(gate_done(), HELD + 1);
    assert_int_equal(metric_settles(port, "ctxd_mcp_workers_busy{lane=\"slow\"}", 0), 0);
    assert_int_equal(metric(port, "ctxd_mcp_queued_requests{lane=\"slow\"}"), 0);
    free(sid);
    free(old_sid);
    hc_close(&c0);
    mcp_http_stop(h);
    mcp_server_free(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lanes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
