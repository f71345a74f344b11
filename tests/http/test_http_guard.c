/* tests/http/test_http_guard.c — the transport's defences, each on a server of its own
 * (fixture tools on mcp/ + http/, raw loopback sockets): a per-peer connection limit and
 * a connection cap leave another peer (127.0.0.2) served while one peer holds idle and
 * half-sent connections; a request head must be complete within the head deadline even
 * when the client keeps trickling bytes (also on a kept-alive connection); the open-file
 * limit is raised to fit the connection cap; Host/Origin
 * validation on every route (/health, /metrics, unknown paths); HTTP/1.1 without Host,
 * duplicate Host, duplicate or conflicting Content-Length and Content-Length with
 * Transfer-Encoding are 400; a body over the limit sent without `Expect: 100-continue`
 * gets its 413 with the JSON-RPC error body (not a connection reset); /metrics labels
 * stay few and valid whatever method and tool names clients send (checked with
 * `promtool check metrics` when it is installed).
 * Must not: sleep for timing. Trickling is paced by poll() waiting for the server's close;
 * socket timeouts and loop bounds only stop a hung test. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/log.h"
#include "http/mcp_http.h"
#include "http_client.h"
#include "mcp_fixtures.h"

#define ACCEPT_BOTH \
    "Accept: application/json, text/event-stream\r\nContent-Type: application/json\r\n"
#define INIT_BODY \
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":" \
    "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}"
#define HANG_GUARD_S 30

static mcp_server *g_srv;

static int group_setup(void **state)
{
    (void)state;
    log_set_level(LOG_ERROR);
    static const mcp_server_info info = {"http-guard", "1", NULL, NULL, NULL};
    g_srv = mcp_server_new(&info);
    return mcp_fixtures_register(g_srv, NULL) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    mcp_fixtures_release();
    mcp_server_free(g_srv);
    return 0;
}

/* GET /health and GET /metrics answer "ok": what matters here is whether they answer. */
static void route_ok(void *ud, const mcp_http_req *req, mcp_http_response *out)
{
    (void)ud;
    (void)req;
    out->body = strdup("ok\n");
    out->len = 3;
}

static mcp_http *start(const mcp_http_opts *o)
{
    err_t e;
    err_clear(&e);
    mcp_http *h = mcp_http_start(g_srv, o, &e);
    assert_non_null(h);
    mcp_http_add_route(h, "GET", "/health", route_ok, NULL);
    mcp_http_add_route(h, "GET", "/metrics", route_ok, NULL);
    return h;
}

/* Socket timeouts that end a hung test (never reached when the server behaves). */
static void hang_guard(int fd)
{
    struct timeval tv = {HANG_GUARD_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* Sends raw request bytes from `local` (NULL = 127.0.0.1) and reads the response; the
 * status, or -1 when the server closed the connection without answering. */
static int raw(uint16_t port, const char *local, const char *req, hc_resp *r)
{
    hc_conn c;
    memset(r, 0, sizeof *r);
    if (!hc_connect_from(&c, port, local))
        return -1;
    hang_guard(c.fd);
    int status = -1;
    if (hc_write_all(c.fd, req, strlen(req)) && hc_read_head(&c, r) && hc_read_body(&c, r))
        status = r->status;
    hc_close(&c);
    return status;
}

static int raw_status(uint16_t port, const char *req)
{
    hc_resp r;
    int status = raw(port, NULL, req, &r);
    hc_resp_free(&r);
    return status;
}

/* A full GET /health from `local`: its status, or -1 if the server did not answer. */
static int health_from(uint16_t port, const char *local)
{
    hc_resp r;
    int status = raw(port, local, "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n", &r);
    hc_resp_free(&r);
    return status;
}

/* Trickles header lines on c (one per poll interval) until the server closes the
 * connection; true if it did without answering, false if it answered or never closed. */
static bool trickle_until_cut(hc_conn *c)
{
    for (int i = 0; i < HANG_GUARD_S * 4; i++) {
        if (!hc_write_all(c->fd, "X-Slow: 1\r\n", 11))
            return true; /* reset: cut */
        struct pollfd p = {c->fd, POLLIN, 0};
        if (poll(&p, 1, 250) > 0) {
            char buf[256];
            ssize_t k = read(c->fd, buf, sizeof buf);
            return k <= 0; /* EOF or reset: cut; any bytes: it answered */
        }
    }
    return false;
}

/* ---- 1. connection exhaustion and slowloris --------------------------------------- */

static void test_peer_limit_keeps_other_peers_served(void **state)
{
    (void)state;
    mcp_http_opts o = {0};
    o.max_connections = 8;
    o.max_connections_per_peer = 3;
    o.head_timeout = 600; /* the idle sockets stay for this test */
    mcp_http *h = start(&o);
    uint16_t port = mcp_http_port(h);
    enum {
        N = 40
    };
    hc_conn idle[N];
    for (int i = 0; i < N; i++) {
        assert_true(hc_connect(&idle[i], port));
        if (i % 2) /* half of them stop in the middle of a head */
            assert_true(
                hc_write_all(idle[i].fd, "GET /health HTTP/1.1\r\nHost: localhost\r\n", 39));
    }
    /* another peer is served: a route and the MCP endpoint */
    assert_int_equal(health_from(port, "127.0.0.2"), 200);
    hc_conn c;
    hc_resp r;
    assert_true(hc_connect_from(&c, port, "127.0.0.2"));
    hang_guard(c.fd);
    assert_int_equal(hc_request(&c, "POST", "/mcp", ACCEPT_BOTH, INIT_BODY, &r), 200);
    hc_resp_free(&r);
    hc_close(&c);
    /* the first peer is at its limit: a further connection of its own is refused */
    assert_int_equal(health_from(port, "127.0.0.1"), -1);
    for (int i = 0; i < N; i++)
        hc_close(&idle[i]);
    mcp_http_stop(h);
}

static void test_head_deadline_cuts_tricklers(void **state)
{
    (void)state;
    mcp_http_opts o = {0};
    o.head_timeout = 2;
    mcp_http *h = start(&o);
    uint16_t port = mcp_http_port(h);
    /* a client that keeps sending header lines is cut although it never goes quiet */
    hc_conn t;
    assert_true(hc_connect(&t, port));
    hang_guard(t.fd);
    assert_true(hc_write_all(t.fd, "GET /health HTTP/1.1\r\nHost: localhost\r\n", 39));
    assert_true(trickle_until_cut(&t));
    hc_close(&t);
    /* the same on a kept-alive connection after a request that was answered */
    hc_resp r;
    assert_true(hc_connect(&t, port));
    hang_guard(t.fd);
    assert_int_equal(hc_request(&t, "GET", "/health", NULL, NULL, &r), 200);
    hc_resp_free(&r);
    assert_true(hc_write_all(t.fd, "GET /health HTTP/1.1\r\n", 22));
    assert_true(trickle_until_cut(&t));
    hc_close(&t);
    /* a connection that sends nothing at all is closed too */
    assert_true(hc_connect(&t, port));
    hang_guard(t.fd);
    char b;
    assert_true(read(t.fd, &b, 1) <= 0);
    hc_close(&t);
    /* and ordinary clients are served */
    assert_int_equal(health_from(port, NULL), 200);
    mcp_http_stop(h);
}

/* The connection cap needs file descriptors: the soft open-file limit is raised to fit. */
static void test_open_file_limit_fits_the_cap(void **state)
{
    (void)state;
    struct rlimit saved, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    if (saved.rlim_max != RLIM_INFINITY && saved.rlim_max < 2048 + 256)
        skip(); /* the hard limit leaves no room to raise */
    low = (struct rlimit){1024, saved.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    mcp_http_opts o = {0};
    o.max_connections = 2048;
    mcp_http *h = start(&o);
    struct rlimit now;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &now), 0);
    assert_true(now.rlim_cur >= 2048 + 256);
    assert_int_equal(health_from(mcp_http_port(h), NULL), 200);
    mcp_http_stop(h);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
}

/* ---- 2. Host/Origin on every route --------------------------------------------------- */

static void test_routes_check_host_and_origin(void **state)
{
    (void)state;
    mcp_http *h = start(NULL);
    uint16_t port = mcp_http_port(h);
    hc_resp r;
    const char *paths[] = {"/health", "/metrics", "/nope"};
    for (size_t i = 0; i < 3; i++) {
        char req[256];
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: evil.example:80\r\n\r\n", paths[i]);
        assert_int_equal(raw(port, NULL, req, &r), 403);
        assert_non_null(strstr(r.body, "invalid Host or Origin"));
        hc_resp_free(&r);
        snprintf(req, sizeof req,
                 "GET %s HTTP/1.1\r\nHost: localhost\r\nOrigin: http://evil.example\r\n\r\n",
                 paths[i]);
        assert_int_equal(raw_status(port, req), 403);
        snprintf(req, sizeof req,
                 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:8\r\nOrigin: http://localhost:3000\r\n\r\n",
                 paths[i]);
        assert_int_equal(raw_status(port, req), i < 2 ? 200 : 404);
    }
    mcp_http_stop(h);
}

/* ---- 3. Host and Content-Length framing ------------------------------------------- */

static void test_framing_errors_are_400(void **state)
{
    (void)state;
    mcp_http *h = start(NULL);
    uint16_t port = mcp_http_port(h);
    hc_resp r;
    /* HTTP/1.1 without Host, on a route and on the MCP endpoint */
    assert_int_equal(raw(port, NULL, "GET /health HTTP/1.1\r\n\r\n", &r), 400);
    assert_non_null(strstr(r.body, "Host"));
    hc_resp_free(&r);
    char req[1024];
    size_t il = strlen(INIT_BODY);
    snprintf(req, sizeof req, "POST /mcp HTTP/1.1\r\n" ACCEPT_BOTH "Content-Length: %zu\r\n\r\n%s",
             il, INIT_BODY);
    assert_int_equal(raw_status(port, req), 400);
    /* HTTP/1.0 needs no Host */
    assert_int_equal(raw_status(port, "GET /health HTTP/1.0\r\n\r\n"), 200);
    /* two Host headers */
    assert_int_equal(
        raw_status(port, "GET /health HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\n\r\n"),
        400);
    /* duplicate Content-Length, equal or not, and Content-Length with chunked: each
     * would otherwise be a valid initialize */
    char framing[3][128];
    snprintf(framing[0], sizeof framing[0], "Content-Length: %zu\r\nContent-Length: %zu\r\n\r\n",
             il, il);
    snprintf(framing[1], sizeof framing[1], "Content-Length: %zu\r\nContent-Length: 40\r\n\r\n",
             il);
    snprintf(framing[2], sizeof framing[2],
             "Content-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n", il);
    for (size_t i = 0; i < 3; i++) {
        snprintf(req, sizeof req, "POST /mcp HTTP/1.1\r\nHost: localhost\r\n" ACCEPT_BOTH "%s%s%s",
                 framing[i], INIT_BODY, i == 2 ? "\r\n0\r\n\r\n" : "");
        assert_int_equal(raw(port, NULL, req, &r), 400);
        char *conn = hc_header(&r, "Connection");
        assert_non_null(conn); /* the framing is unknown: the connection ends */
        assert_string_equal(conn, "close");
        free(conn);
        assert_non_null(strstr(r.body, "Content-Length"));
        hc_resp_free(&r);
    }
    assert_int_equal(raw_status(port, "GET /health HTTP/1.1\r\nHost: localhost\r\n"
                                      "Content-Length: 0\r\nContent-Length: 0\r\n\r\n"),
                     400);
    /* the well-formed request is still served */
    assert_int_equal(health_from(port, NULL), 200);
    mcp_http_stop(h);
}

/* ---- 4. a body over the limit without Expect: 100-continue ------------------------- */

static void test_oversized_body_gets_413(void **state)
{
    (void)state;
    mcp_http *h = start(NULL); /* the default limit: 4 MiB */
    uint16_t port = mcp_http_port(h);
    size_t n = MCP_HTTP_DEFAULT_MAX_BODY + 1;
    char *body = malloc(n);
    memset(body, ' ', n);
    body[0] = '{';
    body[n - 1] = '}';
    for (int round = 0; round < 2; round++) {
        hc_conn c;
        assert_true(hc_connect(&c, port));
        hang_guard(c.fd);
        char head[512];
        snprintf(head, sizeof head,
                 "POST /mcp HTTP/1.1\r\nHost: localhost\r\n" ACCEPT_BOTH
                 "Content-Length: %zu\r\n\r\n",
                 n);
        assert_true(hc_write_all(c.fd, head, strlen(head)));
        assert_true(hc_write_all(c.fd, body, n)); /* no reset while the body is sent */
        hc_resp r;
        assert_true(hc_read_head(&c, &r));
        assert_int_equal(r.status, 413);
        assert_true(hc_read_body(&c, &r));
        assert_non_null(strstr(r.body, "\"code\":-32600"));
        assert_non_null(strstr(r.body, "Request body too large"));
        hc_resp_free(&r);
        hc_close(&c);
    }
    free(body);
    assert_int_equal(health_from(port, NULL), 200);
    mcp_http_stop(h);
}

/* ---- 5. /metrics labels -------------------------------------------------------------- */

/* Well-formed UTF-8 (lead byte, then the right number of continuation bytes). */
static bool valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char b = s[i];
        size_t k = b < 0x80             ? 0
                   : (b & 0xe0) == 0xc0 ? 1
                   : (b & 0xf0) == 0xe0 ? 2
                   : (b & 0xf8) == 0xf0 ? 3
                                        : 4;
        if (k == 4 || n - i <= k)
            return false;
        for (size_t j = 1; j <= k; j++)
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
        i += k + 1;
    }
    return true;
}

static size_t count_lines(const char *text, const char *prefix)
{
    size_t n = 0, pl = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, prefix, pl) == 0)
            n++;
    return n;
}

/* promtool check metrics on text: its exit status, or -1 when promtool is not installed. */
static int promtool(const char *text, size_t len)
{
    if (system("command -v promtool >/dev/null 2>&1") != 0)
        return -1;
    FILE *p = popen("promtool check metrics", "w");
    assert_non_null(p);
    fwrite(text, 1, len, p);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void test_metrics_labels_bounded_and_valid(void **state)
{
    (void)state;
    mcp_http *h = start(NULL);
    uint16_t port = mcp_http_port(h);
    hc_conn c;
    hc_resp r;
    assert_true(hc_connect(&c, port));
    hang_guard(c.fd);
    assert_int_equal(hc_request(&c, "POST", "/mcp", ACCEPT_BOTH, INIT_BODY, &r), 200);
    char *sid = hc_header(&r, "Mcp-Session-Id");
    hc_resp_free(&r);
    char hdr[256];
    snprintf(hdr, sizeof hdr, ACCEPT_BOTH "Mcp-Session-Id: %s\r\n", sid);
    assert_int_equal(hc_request(&c, "POST", "/mcp", hdr,
                                "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
                                &r),
                     202);
    hc_resp_free(&r);
    /* 46 x "é" = 92 bytes: cut at any odd byte count it splits a character */
    char wide[200] = "";
    for (int i = 0; i < 46; i++)
        strcat(wide, "\xc3\xa9");
    const char *odd[] = {wide, "a\\\"b\\\\c\\nd", "\\u00ff\\u0000x", "tools/call\\u0000"};
    char body[512];
    for (int i = 0; i < 3000; i++) {
        const char *m = i < 4 ? odd[i] : NULL;
        char name[64];
        snprintf(name, sizeof name, "x/%d", i);
        if (i % 3 == 2) /* an unknown tool */
            snprintf(body, sizeof body,
                     "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\","
                     "\"params\":{\"name\":\"%s\"}}",
                     i, m ? m : name);
        else
            snprintf(body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\"}", i,
                     m ? m : name);
        int st = hc_request(&c, "POST", "/mcp", hdr, body, &r);
        assert_true(st == 200 || (m && st == 400)); /* an odd name may not even parse */
        hc_resp_free(&r);
    }
    for (size_t i = 0; i < 4; i++) { /* the odd names also as tool names */
        snprintf(body, sizeof body,
                 "{\"jsonrpc\":\"2.0\",\"id\":%zu,\"method\":\"tools/call\","
                 "\"params\":{\"name\":\"%s\"}}",
                 i, odd[i]);
        int st = hc_request(&c, "POST", "/mcp", hdr, body, &r);
        assert_true(st == 200 || st == 400);
        hc_resp_free(&r);
    }
    /* a known tool keeps its label */
    assert_int_equal(hc_request(&c, "POST", "/mcp", hdr,
                                "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\","
                                "\"params\":{\"name\":\"test_simple_text\"}}",
                                &r),
                     200);
    hc_resp_free(&r);
    size_t len;
    char *m = mcp_http_metrics_render(h, &len);
    assert_true(valid_utf8((const unsigned char *)m, len));
    size_t series = count_lines(m, "ctxd_mcp_requests_total{");
    assert_true(series >= 4);
    assert_true(series <= 16);
    assert_non_null(
        strstr(m, "ctxd_mcp_requests_total{method=\"other\",tool=\"\",status=\"200\"}"));
    assert_non_null(
        strstr(m, "ctxd_mcp_requests_total{method=\"tools/call\",tool=\"other\",status=\"200\"}"));
    assert_non_null(strstr(m, "method=\"tools/call\",tool=\"test_simple_text\""));
    assert_null(strstr(m, "x/1"));
    assert_null(strstr(m, "\xc3\xa9"));
    int pt = promtool(m, len);
    if (pt >= 0)
        assert_int_equal(pt, 0);
    free(m);
    free(sid);
    hc_close(&c);
    mcp_http_stop(h);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peer_limit_keeps_other_peers_served),
        cmocka_unit_test(test_head_deadline_cuts_tricklers),
        cmocka_unit_test(test_open_file_limit_fits_the_cap),
        cmocka_unit_test(test_routes_check_host_and_origin),
        cmocka_unit_test(test_framing_errors_are_400),
        cmocka_unit_test(test_oversized_body_gets_413),
        cmocka_unit_test(test_metrics_labels_bounded_and_valid),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
