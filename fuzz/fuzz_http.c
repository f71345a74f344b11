/* fuzz/fuzz_http.c — libFuzzer harness for the HTTP request path of `ctxd serve`: the
 * product's own wiring (src/cli/serve_http.c: the X-API-Key / bearer auth hook, the app's
 * per-session state, /health, /health/database, /metrics) over the Streamable HTTP
 * transport (src/http/) and the real app on the in-memory store of app_fixture.c.
 * libmicrohttpd reads requests only from sockets, so the server runs in this process on
 * an ephemeral 127.0.0.1 port and each request is sent on a new connection.
 *
 * An input is up to 4 requests separated by a line "%%", each a head (request line and
 * headers, LF or CRLF) and after an empty line its body. The harness completes each one
 * so the server answers and closes: it drops Content-Length, Transfer-Encoding and
 * Connection from the head and adds "Connection: close" and the body's true length (a
 * wrong length would only make the server wait). "@SID@" in an input becomes the id of
 * an initialized 2025-11-25 MCP session the harness makes in process, "@OLD@" that of a
 * 2025-03-26 one (batches). After each input every MCP session is ended and the database
 * is reset as in fuzz_mcp. The API key is FZ_API_KEY; the seed corpus holds a bearer JWT
 * for the fixture's key.
 *
 * Properties: every answer is an HTTP/1.x response and never a 500; no answer shows the
 * JWT secret, nor the API key unless the input itself held it.
 * FUZZ_VERBOSE=1 prints each request and its answer.
 * Must not: listen anywhere but 127.0.0.1, or wait for an answer without end: an SSE
 * stream (which lasts as long as its session) is ended by ending every session, and so
 * is anything else after 1 s of silence. */
#include "fuzz.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app_fixture.h"
#include "base/sbuf.h"
#include "cli/serve_http.h"
#include "http/http_internal.h"

#define STALL_MS 1000      /* silence after which the harness ends every session */
#define STREAM_STALL_MS 20 /* the same once the answer is an SSE stream (of any method) */
#define MAX_REQUESTS 4     /* requests per input, each on its own connection */
#define SEPARATOR "\n%%\n" /* between the requests of an input */

static mcp_http *g_h; /* the transport serve_http_start made (caught by the wrapper) */
static uint16_t g_port;
static bool g_verbose; /* FUZZ_VERBOSE=1: print what was sent and answered */

/* serve_http.c's call of mcp_http_start, wrapped at link time (-Wl,--wrap), so the
 * harness can reach the transport's sessions; serve_http.c stays as ctxd has it. */
mcp_http *__real_mcp_http_start(mcp_server *srv, const mcp_http_opts *opts, err_t *e);
mcp_http *__wrap_mcp_http_start(mcp_server *srv, const mcp_http_opts *opts, err_t *e);
mcp_http *__wrap_mcp_http_start(mcp_server *srv, const mcp_http_opts *opts, err_t *e)
{
    g_h = __real_mcp_http_start(srv, opts, e);
    return g_h;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    g_verbose = getenv("FUZZ_VERBOSE") != NULL;
    fz_app *f = fz_app_get();
    serve_http_opts o = {.host = "127.0.0.1",
                         .port = 0,
                         .srv = f->srv,
                         .app = f->app,
                         .auth = f->auth,
                         .version = "fuzz"};
    err_t e = {0};
    serve_http *s = serve_http_start(&o, &e);
    if (!s || !g_h) {
        fprintf(stderr, "fuzz_http: cannot start the server: %s\n", e.msg);
        exit(1);
    }
    g_port = serve_http_port(s);
    return 0; /* the server lives as long as the process */
}

/* An initialized MCP session of the transport, as a POST initialize makes one. */
static void new_session(const char *version, char id[IDS_UUID_LEN])
{
    http_sess *s = http_sess_create(g_h);
    char *init = fz_initialize_body(version);
    mcp_reply r;
    mcp_session_handle(s->ms, init, strlen(init), &(mcp_request_ctx){NULL, NULL}, &r);
    FZ_CHECK(r.initialized, "initialize failed: %s", r.json ? r.json : "");
    mcp_reply_free(&r);
    free(init);
    mcp_session_handle(s->ms, FZ_INITIALIZED, strlen(FZ_INITIALIZED),
                       &(mcp_request_ctx){NULL, NULL}, &r);
    mcp_reply_free(&r);
    http_sess_publish(s);
    memcpy(id, s->id, IDS_UUID_LEN);
    http_sess_unref(s);
}

/* The input with its placeholders replaced by the ids of fresh sessions (made only for a
 * placeholder the input holds). */
static void expand(const uint8_t *data, size_t size, sbuf_t *out)
{
    static const char *const marks[] = {"@SID@", "@OLD@"};
    static const char *const versions[] = {"2025-11-25", "2025-03-26"};
    char ids[2][IDS_UUID_LEN] = {"", ""};
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *at = memchr(p, '@', (size_t)(end - p));
        if (!at) {
            sbuf_append(out, p, (size_t)(end - p));
            break;
        }
        sbuf_append(out, p, (size_t)(at - p));
        int k = -1;
        for (int i = 0; i < 2 && k < 0; i++)
            if (end - at >= 5 && memcmp(at, marks[i], 5) == 0)
                k = i;
        if (k < 0) {
            sbuf_putc(out, '@');
            p = at + 1;
            continue;
        }
        if (!ids[k][0])
            new_session(versions[k], ids[k]);
        sbuf_puts(out, ids[k]);
        p = at + 5;
    }
}

static bool header_is(const char *line, size_t n, const char *name)
{
    size_t k = strlen(name);
    return n > k && line[k] == ':' && strncasecmp(line, name, k) == 0;
}

/* One request of an input made complete, so the server answers it and closes: its head
 * lines (ending in CRLF) up to the first empty line, without the Content-Length,
 * Transfer-Encoding and Connection headers it may hold, then "Connection: close", the
 * body's true Content-Length, the empty line and the body (the rest). */
static void build_request(const char *p, size_t n, sbuf_t *out)
{
    const char *end = p + n;
    while (p < end) {
        const char *line = p;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t ln = (size_t)((nl ? nl : end) - line);
        p = nl ? nl + 1 : end;
        if (ln > 0 && line[ln - 1] == '\r')
            ln--;
        if (ln == 0)
            break; /* the end of the head */
        if (header_is(line, ln, "Content-Length") || header_is(line, ln, "Transfer-Encoding") ||
            header_is(line, ln, "Connection"))
            continue;
        sbuf_append(out, line, ln);
        sbuf_puts(out, "\r\n");
    }
    sbuf_printf(out, "Connection: close\r\nContent-Length: %zu\r\n\r\n", (size_t)(end - p));
    sbuf_append(out, p, (size_t)(end - p));
}

/* Whether the answer so far holds the head of an SSE response (a stream the server
 * keeps open until its session ends). */
static bool is_stream(const sbuf_t *ans)
{
    const char *p = ans->p ? ans->p : "";
    const char *head_end = memmem(p, ans->len, "\r\n\r\n", 4);
    return head_end && memmem(p, (size_t)(head_end - p), "text/event-stream", 17);
}

/* A connection to the server. libFuzzer's timer signal can interrupt connect(): the
 * connection then completes on its own, so wait for it and read its outcome. */
static int connect_server(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(g_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&a, sizeof a);
    if (rc != 0 && fd >= 0 && errno == EINTR) {
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        int err = 0;
        socklen_t len = sizeof err;
        while ((rc = poll(&pf, 1, -1)) < 0 && errno == EINTR) {
        }
        if (rc > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
            rc = 0;
        else
            errno = err ? err : errno;
    }
    if (rc != 0) {
        perror("fuzz_http: connect");
        abort();
    }
    return fd;
}

/* Sends one request on a new connection and reads the answer to its end. A GET stream
 * (or anything else the server keeps open) ends when the harness ends every session:
 * right away for a GET stream, after STREAM_STALL_MS of silence for any other stream (a
 * request line the server reads as GET that is not "GET " to the harness, a POST whose
 * stream outlives its answer), after STALL_MS otherwise. */
static void exchange(const sbuf_t *req, bool get, sbuf_t *ans)
{
    int fd = connect_server();
    size_t off = 0;
    while (off < req->len) {
        ssize_t n = send(fd, req->p + off, req->len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* the server closed early (it refused the head): read what it said */
        off += (size_t)n;
    }
    bool ended = false;
    char buf[65536];
    for (int stalls = 0; stalls < 2;) {
        if (!ended && get && is_stream(ans)) {
            http_sess_end_all(g_h);
            ended = true;
        }
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int ready = poll(&pf, 1, !ended && is_stream(ans) ? STREAM_STALL_MS : STALL_MS);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0) {
            stalls++;
            if (!ended)
                http_sess_end_all(g_h);
            ended = true;
            continue;
        }
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        sbuf_append(ans, buf, (size_t)n);
    }
    close(fd);
}

static void check_answer(const uint8_t *data, size_t size, const sbuf_t *ans)
{
    const char *p = ans->p ? ans->p : "";
    if (ans->len == 0)
        return; /* libmicrohttpd may close without a word on a head it cannot parse */
    FZ_CHECK(ans->len >= 12 && memcmp(p, "HTTP/1.", 7) == 0, "not an HTTP response: %.80s", p);
    FZ_CHECK(memcmp(p + 8, " 500", 4) != 0, "a 500 answer: %.300s", p);
    FZ_CHECK(!memmem(p, ans->len, FZ_JWT_SECRET, strlen(FZ_JWT_SECRET)) ||
                 memmem(data, size, FZ_JWT_SECRET, strlen(FZ_JWT_SECRET)),
             "an answer shows the JWT secret");
    FZ_CHECK(!memmem(p, ans->len, FZ_API_KEY, strlen(FZ_API_KEY)) ||
                 memmem(data, size, FZ_API_KEY, strlen(FZ_API_KEY)),
             "an answer shows the API key");
}

/* Whether the server has finished with everything an input started: no connection open
 * in libmicrohttpd, no MCP session in the table, no post queued or running in a lane. */
static bool server_idle(void)
{
    const union MHD_DaemonInfo *di =
        MHD_get_daemon_info(g_h->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    if (di && di->num_connections > 0)
        return false;
    if (mcp_http_session_count(g_h) > 0)
        return false;
    bool idle = true;
    pthread_mutex_lock(&g_h->qlock);
    for (unsigned i = 0; i < g_h->nlanes; i++)
        idle = idle && g_h->lanes[i].queued == 0 && g_h->lanes[i].busy == 0;
    pthread_mutex_unlock(&g_h->qlock);
    return idle;
}

/* Waits (at most about STALL_MS) until the server's threads have freed what the input
 * made them allocate, so every input ends with as many frees as mallocs: otherwise
 * libFuzzer suspects a leak after such an input and runs LeakSanitizer's whole-heap scan
 * (measured on the campaign corpus: a seventh of the harness's CPU time). */
static void wait_server_idle(void)
{
    for (int i = 0; i < STALL_MS && !server_idle(); i++)
        poll(NULL, 0, i < 50 ? 0 : 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_app *f = fz_app_get();
    sbuf_t in = SBUF_INIT;
    expand(data, size, &in);
    const char *p = in.p ? in.p : "", *end = p + in.len;
    for (int i = 0; i < MAX_REQUESTS && (i == 0 || p < end); i++) {
        const char *sep = memmem(p, (size_t)(end - p), SEPARATOR, strlen(SEPARATOR));
        const char *re = sep ? sep : end;
        sbuf_t req = SBUF_INIT, ans = SBUF_INIT;
        build_request(p, (size_t)(re - p), &req);
        exchange(&req, req.len >= 4 && memcmp(req.p, "GET ", 4) == 0, &ans);
        if (g_verbose)
            fprintf(stderr, ">>>\n%.*s\n<<<\n%.*s\n", (int)req.len, req.p, (int)ans.len,
                    ans.p ? ans.p : "");
        check_answer(data, size, &ans);
        sbuf_free(&req);
        sbuf_free(&ans);
        p = sep ? sep + strlen(SEPARATOR) : end;
    }
    sbuf_free(&in);
    http_sess_end_all(g_h);
    wait_server_idle();
    fz_app_reset(f);
    return 0;
}
