/* bench/bench_http.c — the HTTP load generator of issue 4 "Performance": N keep-alive
 * client threads (each one TCP connection, one MCP session, one agent authenticated with
 * authenticate_agent + X-API-Key, its sct_ token sent as Authorization: Bearer) drive
 * tools/call add_message, get_messages (limit 50), search_context, set_memory (64 keys per
 * agent, overwritten in turn) and get_memory (a key each agent stored) against a running
 * `ctxd serve` (--port) or an in-process host (--inproc: temp SQLite store + app +
 * mcp_http_start in this process, no process boundary). Prints one table row per
 * tool x clients: ops/s, p50/p95/p99/max latency, errors, and the CPU share of the server
 * process (--server-pid, from /proc/<pid>/stat) and of this process.
 *
 * Closed loop by default (each client sends its next request when the last returns);
 * --rate R makes it open loop (R requests/s offered over all clients, latency measured
 * from each request's scheduled time so server stalls are not hidden).
 *
 * Sessions: one shared ctxd session "write" for add_message (it grows during the run) and
 * one "read" session seeded with --seed messages for get_messages and search_context, so
 * the read figures do not depend on how many messages earlier cells wrote.
 *
 * Must not: assert on timings (it prints figures), talk to anything but 127.0.0.1, run
 * unbounded (every cell is --seconds long, every socket has a receive timeout), or need a
 * database other than the temp SQLite file it creates itself with --inproc.
 *
 * Usage: bench_http (--port PORT [--server-pid PID] | --inproc [--io-threads N]
 *        [--workers N]) [--clients 1,16,64,256] [--seconds 5] [--tools add_message,
 *        get_messages,search_context,set_memory,get_memory] [--seed 1000] [--rate OPS]
 *        [--api-key KEY]
 *        (API key also from CTXD_BENCH_API_KEY or API_KEY) */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "http_client.h"

#include "app/app.h"
#include "auth/auth.h"
#include "base/conf.h"
#include "db/db.h"
#include "http/mcp_http.h"
#include "migrate/migrate.h"
#include "store/store.h"

#define MAX_CELLS_CLIENTS 16
#define RECV_TIMEOUT_S 15

static uint16_t g_port;
static const char *g_api_key;
static double g_seconds = 5;
static int g_seed = 1000;
static char g_write_sid[128], g_read_sid[128];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char g_tmpdir[64]; /* --inproc: removed at exit, also after die() */

static void rm_tmpdir(void)
{
    if (!g_tmpdir[0])
        return;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_http: could not remove %s\n", g_tmpdir);
    g_tmpdir[0] = '\0';
}

static void die(const char *what)
{
    fprintf(stderr, "bench_http: %s\n", what);
    exit(1);
}

/* ---- one client: connection + MCP session + agent token ---------------------------- */
typedef struct client {
    hc_conn c;
    char *mcp_sid;
    char *token;
    char *hdr; /* fixed request headers (with session id and bearer) */
    size_t hdr_len;
    long next_id;
    int idx;
    /* results of the current cell */
    double *lat;
    size_t n, cap;
    unsigned errors;
    char last_err[200];
} client;

static const char BASE_HDR[] = "Accept: application/json, text/event-stream\r\n"
                               "Content-Type: application/json\r\n";

/* One POST /mcp, header + body in one writev; returns HTTP status (-1 on I/O error) and
 * the body in r (caller frees). */
static int post(client *cl, const char *extra_hdr, size_t extra_len, const char *body, size_t blen,
                hc_resp *r)
{
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Length: %zu\r\n", BASE_HDR,
                     blen);
    if (n < 0 || (size_t)n >= sizeof head)
        return -1;
    struct iovec iov[4] = {
        {head, (size_t)n}, {(void *)extra_hdr, extra_len}, {"\r\n", 2}, {(void *)body, blen}};
    size_t total = (size_t)n + extra_len + 2 + blen, done = 0;
    int iovn = 4;
    struct iovec *v = iov;
    while (done < total) {
        ssize_t k = writev(cl->c.fd, v, iovn);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        done += (size_t)k;
        size_t kk = (size_t)k;
        while (iovn && kk >= v->iov_len) {
            kk -= v->iov_len;
            v++;
            iovn--;
        }
        if (iovn) {
            v->iov_base = (char *)v->iov_base + kk;
            v->iov_len -= kk;
        }
    }
    if (!hc_read_head(&cl->c, r) || !hc_read_body(&cl->c, r))
        return -1;
    return r->status;
}

/* result.structuredContent.<field> of a tools/call response as a malloc'd string. */
static char *result_field(const char *body, const char *field)
{
    const char *p = body;
    /* SSE response: take the data line */
    const char *d = strstr(body, "data: {");
    if (d)
        p = d + 6;
    json_error_t je;
    json_t *j = json_loadb(p, strcspn(p, "\n"), 0, &je);
    json_t *v =
        json_object_get(json_object_get(json_object_get(j, "result"), "structuredContent"), field);
    char *s = json_is_string(v) ? strdup(json_string_value(v)) : NULL;
    json_decref(j);
    return s;
}

static bool call_failed(int st, const hc_resp *r)
{
    return st != 200 || !r->body || strstr(r->body, "\"isError\":true") ||
           strstr(r->body, "\"error\":{\"code\"");
}

/* tools/call with a JSON arguments object given as text. */
static int tool_call(client *cl, bool with_session, const char *extra, const char *tool,
                     const char *args, hc_resp *r)
{
    char body[2048];
    int n = snprintf(body, sizeof body,
                     "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"tools/call\",\"params\":"
                     "{\"name\":\"%s\",\"arguments\":%s}}",
                     ++cl->next_id, tool, args);
    if (n < 0 || (size_t)n >= sizeof body)
        return -1;
    const char *h = with_session ? cl->hdr : extra;
    return post(cl, h, strlen(h), body, (size_t)n, r);
}

static bool client_setup(client *cl, int idx)
{
    memset(cl, 0, sizeof *cl);
    cl->idx = idx;
    if (!hc_connect(&cl->c, g_port))
        return false;
    struct timeval tv = {.tv_sec = RECV_TIMEOUT_S};
    setsockopt(cl->c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(cl->c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    hc_resp r;
    const char *init = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":"
                       "{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},"
                       "\"clientInfo\":{\"name\":\"bench_http\",\"version\":\"1\"}}}";
    int st = post(cl, "", 0, init, strlen(init), &r);
    cl->mcp_sid = st == 200 ? hc_header(&r, "Mcp-Session-Id") : NULL;
    hc_resp_free(&r);
    if (!cl->mcp_sid)
        return false;
    char h[512];
    int hn = snprintf(h, sizeof h, "Mcp-Session-Id: %s\r\nMCP-Protocol-Version: 2025-11-25\r\n",
                      cl->mcp_sid);
    const char *note = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";
    st = post(cl, h, (size_t)hn, note, strlen(note), &r);
    hc_resp_free(&r);
    if (st != 202 && st != 200)
        return false;
    char h2[768], args[256];
    snprintf(h2, sizeof h2, "%sX-API-Key: %s\r\n", h, g_api_key);
    snprintf(args, sizeof args, "{\"agent_id\":\"bench-agent-%d\",\"agent_type\":\"claude\"}", idx);
    st = tool_call(cl, false, h2, "authenticate_agent", args, &r);
    cl->token = st == 200 ? result_field(r.body, "token") : NULL;
    if (!cl->token)
        fprintf(stderr, "bench_http: authenticate_agent failed (%d): %.300s\n", st,
                r.body ? r.body : "");
    hc_resp_free(&r);
    if (!cl->token)
        return false;
    size_t cap = strlen(h) + strlen(cl->token) + 64;
    cl->hdr = malloc(cap);
    cl->hdr_len = (size_t)snprintf(cl->hdr, cap, "%sAuthorization: Bearer %s\r\n", h, cl->token);
    /* what get_memory reads: memory is the agent's own */
    const char *mem = "{\"key\":\"bench-get\",\"value\":\"the quick brown fox\"}";
    st = tool_call(cl, true, NULL, "set_memory", mem, &r);
    bool ok = !call_failed(st, &r);
    if (!ok)
        fprintf(stderr, "bench_http: set_memory failed (%d): %.300s\n", st, r.body ? r.body : "");
    hc_resp_free(&r);
    return ok;
}

static void client_teardown(client *cl)
{
    if (cl->mcp_sid && cl->c.fd >= 0) {
        char h[512];
        snprintf(h, sizeof h, "Mcp-Session-Id: %s\r\nMCP-Protocol-Version: 2025-11-25\r\n",
                 cl->mcp_sid);
        hc_send(&cl->c, "DELETE", "/mcp", h, NULL, 0);
        hc_resp r;
        if (hc_read_head(&cl->c, &r))
            hc_read_body(&cl->c, &r);
        hc_resp_free(&r);
    }
    hc_close(&cl->c);
    free(cl->mcp_sid);
    free(cl->token);
    free(cl->hdr);
    free(cl->lat);
}

/* ---- cells ---------------------------------------------------------------------------- */
typedef enum {
    T_ADD,
    T_GET,
    T_SEARCH,
    T_SETMEM,
    T_GETMEM,
    T_COUNT
} tool_kind;
static const char *const TOOL_NAMES[T_COUNT] = {"add_message", "get_messages", "search_context",
                                                "set_memory", "get_memory"};

typedef struct cell_ctl {
    pthread_barrier_t start, done;
    tool_kind tool;
    double t0, end;
    double interval; /* > 0: each client sends one request per interval (--rate) */
    int nclients;
    bool quit;
} cell_ctl;

typedef struct thread_arg {
    client *cl;
    cell_ctl *ctl;
    int idx;
    bool ok;
    pthread_barrier_t *ready;
} thread_arg;

/* sched: when the request was due (paced runs: latency counts from then, so a stalled
 * server is not hidden by the client waiting — no coordinated omission); 0 = now. */
static void one_request(client *cl, tool_kind t, unsigned long seq, double sched)
{
    char args[512];
    switch (t) {
    case T_ADD:
        snprintf(args, sizeof args,
                 "{\"session_id\":\"%s\",\"content\":\"bench message %d/%lu: the quick brown fox "
                 "reports progress on the load test\",\"visibility\":\"public\"}",
                 g_write_sid, cl->idx, seq);
        break;
    case T_GET:
        snprintf(args, sizeof args, "{\"session_id\":\"%s\",\"limit\":50}", g_read_sid);
        break;
    case T_SEARCH:
        snprintf(args, sizeof args,
                 "{\"session_id\":\"%s\",\"query\":\"quick brown fox\",\"limit\":10}", g_read_sid);
        break;
    case T_SETMEM: /* 64 keys per client, overwritten in turn */
        snprintf(args, sizeof args,
                 "{\"key\":\"bench-%lu\",\"value\":{\"step\":%lu,\"note\":\"the quick brown "
                 "fox\"},\"expires_in\":3600}",
                 seq % 64, seq);
        break;
    default: /* the key client_setup stored for this client's agent */
        snprintf(args, sizeof args, "{\"key\":\"bench-get\"}");
        break;
    }
    hc_resp r;
    double t0 = sched > 0 ? sched : now_s();
    int st = tool_call(cl, true, NULL, TOOL_NAMES[t], args, &r);
    double dt = now_s() - t0;
    if (call_failed(st, &r)) {
        if (!cl->errors)
            snprintf(cl->last_err, sizeof cl->last_err, "HTTP %d: %.150s", st,
                     r.body ? r.body : "(no body)");
        cl->errors++;
        if (st < 0) { /* the connection is unusable: stop this client for the cell */
            hc_resp_free(&r);
            hc_close(&cl->c);
            return;
        }
    } else {
        if (cl->n == cl->cap) {
            cl->cap = cl->cap * 2 + 4096;
            cl->lat = realloc(cl->lat, cl->cap * sizeof *cl->lat);
            if (!cl->lat)
                die("out of memory");
        }
        cl->lat[cl->n++] = dt;
    }
    hc_resp_free(&r);
}

static void *client_main(void *p)
{
    thread_arg *a = p;
    a->ok = client_setup(a->cl, a->idx);
    pthread_barrier_wait(a->ready);
    unsigned long seq = 0;
    for (;;) {
        pthread_barrier_wait(&a->ctl->start);
        if (a->ctl->quit)
            break;
        if (a->ctl->interval <= 0) {
            while (a->ok && a->cl->c.fd >= 0 && now_s() < a->ctl->end)
                one_request(a->cl, a->ctl->tool, seq++, 0);
        } else {
            /* open loop: this client's share of --rate, start times staggered */
            double next = a->ctl->t0 + a->ctl->interval * (double)a->idx / (double)a->ctl->nclients;
            while (a->ok && a->cl->c.fd >= 0 && next < a->ctl->end) {
                double wait = next - now_s();
                if (wait > 0) {
                    struct timespec ts = {(time_t)wait,
                                          (long)((wait - (double)(time_t)wait) * 1e9)};
                    nanosleep(&ts, NULL);
                }
                one_request(a->cl, a->ctl->tool, seq++, next);
                next += a->ctl->interval;
            }
        }
        pthread_barrier_wait(&a->ctl->done);
    }
    client_teardown(a->cl);
    return NULL;
}

static int cmp_d(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* utime+stime of a process in seconds (from /proc/<pid>/stat), -1 if unreadable. */
static double proc_cpu_s(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long ut = 0, st = 0;
    /* after ")": state(3) ... utime is field 14, stime 15 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static long g_server_pid;
static bool g_inproc;
static double g_rate; /* --rate: offered ops/s over all clients; 0 = closed loop */

static void run_clients(int n, const bool *tools)
{
    client *cls = calloc((size_t)n, sizeof *cls);
    thread_arg *ta = calloc((size_t)n, sizeof *ta);
    pthread_t *th = calloc((size_t)n, sizeof *th);
    cell_ctl ctl = {0};
    pthread_barrier_t ready;
    pthread_barrier_init(&ready, NULL, (unsigned)n + 1);
    pthread_barrier_init(&ctl.start, NULL, (unsigned)n + 1);
    pthread_barrier_init(&ctl.done, NULL, (unsigned)n + 1);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 256 * 1024);
    double t_setup = now_s();
    for (int i = 0; i < n; i++) {
        ta[i] = (thread_arg){.cl = &cls[i], .ctl = &ctl, .idx = i, .ready = &ready};
        if (pthread_create(&th[i], &at, client_main, &ta[i]) != 0)
            die("pthread_create failed");
    }
    pthread_barrier_wait(&ready);
    int ok = 0;
    for (int i = 0; i < n; i++)
        ok += ta[i].ok;
    if (ok < n)
        fprintf(stderr, "bench_http: %d of %d clients failed to set up\n", n - ok, n);
    fprintf(stderr, "  (%d clients connected+initialized+authenticated in %.2f s)\n", n,
            now_s() - t_setup);
    for (int t = 0; t < T_COUNT; t++) {
        if (!tools[t])
            continue;
        for (int i = 0; i < n; i++) {
            cls[i].n = 0;
            cls[i].errors = 0;
            cls[i].last_err[0] = '\0';
        }
        ctl.tool = (tool_kind)t;
        double srv0 = g_server_pid ? proc_cpu_s(g_server_pid) : -1, me0 = self_cpu_s();
        double t0 =
            now_s() + (g_rate > 0 ? 0.01 : 0.0); /* paced: first slots after the start barrier */
        ctl.t0 = t0;
        ctl.end = t0 + g_seconds;
        ctl.nclients = n;
        ctl.interval = g_rate > 0 ? (double)n / g_rate : 0;
        pthread_barrier_wait(&ctl.start);
        pthread_barrier_wait(&ctl.done);
        double el = now_s() - t0;
        double srv1 = g_server_pid ? proc_cpu_s(g_server_pid) : -1, me1 = self_cpu_s();
        size_t total = 0;
        unsigned errors = 0;
        const char *err = NULL;
        for (int i = 0; i < n; i++) {
            total += cls[i].n;
            errors += cls[i].errors;
            if (!err && cls[i].last_err[0])
                err = cls[i].last_err;
        }
        double *all = malloc((total ? total : 1) * sizeof *all);
        size_t k = 0;
        for (int i = 0; i < n; i++) {
            memcpy(all + k, cls[i].lat, cls[i].n * sizeof *all);
            k += cls[i].n;
        }
        qsort(all, total, sizeof *all, cmp_d);
#define PCT(p) (total ? all[(size_t)((double)(total - 1) * (p))] * 1e3 : 0.0)
        char srv[32] = "-";
        if (srv0 >= 0 && srv1 >= 0)
            snprintf(srv, sizeof srv, "%.0f%%", 100.0 * (srv1 - srv0) / el);
        printf("%-15s %7d %9.0f %9.3f %9.3f %9.3f %9.3f %7u %7s %6.0f%%\n", TOOL_NAMES[t], n,
               (double)total / el, PCT(0.50), PCT(0.95), PCT(0.99),
               total ? all[total - 1] * 1e3 : 0.0, errors, g_inproc ? "(in)" : srv,
               100.0 * (me1 - me0) / el);
        fflush(stdout);
        if (err)
            fprintf(stderr, "  first error: %s\n", err);
        free(all);
    }
    ctl.quit = true;
    pthread_barrier_wait(&ctl.start);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    pthread_attr_destroy(&at);
    pthread_barrier_destroy(&ready);
    pthread_barrier_destroy(&ctl.start);
    pthread_barrier_destroy(&ctl.done);
    free(cls);
    free(ta);
    free(th);
}

/* The owner agent creates the two shared sessions and seeds the read session. */
static void prepare_sessions(void)
{
    client owner;
    if (!client_setup(&owner, 999999))
        die("cannot set up the owner client (is the server up, is the API key right?)");
    hc_resp r;
    const char *which[2] = {"bench write session", "bench read session"};
    char *sids[2];
    for (int i = 0; i < 2; i++) {
        char args[128];
        snprintf(args, sizeof args, "{\"purpose\":\"%s\"}", which[i]);
        int st = tool_call(&owner, true, NULL, "create_session", args, &r);
        sids[i] = st == 200 ? result_field(r.body, "session_id") : NULL;
        if (!sids[i]) {
            fprintf(stderr, "create_session: %.300s\n", r.body ? r.body : "");
            die("create_session failed");
        }
        hc_resp_free(&r);
    }
    snprintf(g_write_sid, sizeof g_write_sid, "%s", sids[0]);
    snprintf(g_read_sid, sizeof g_read_sid, "%s", sids[1]);
    free(sids[0]);
    free(sids[1]);
    static const char *const words[] = {"deploy",  "review",   "quick",   "brown",
                                        "fox",     "database", "latency", "agent",
                                        "context", "search",   "token",   "budget"};
    for (int i = 0; i < g_seed; i++) {
        char args[512];
        snprintf(args, sizeof args,
                 "{\"session_id\":\"%s\",\"content\":\"seed %d: %s %s %s about the %s %s\","
                 "\"visibility\":\"public\"}",
                 g_read_sid, i, words[i % 12], words[(i * 7 + 3) % 12], words[(i * 5 + 1) % 12],
                 words[(i * 3 + 2) % 12], words[(i * 11 + 4) % 12]);
        int st = tool_call(&owner, true, NULL, "add_message", args, &r);
        if (call_failed(st, &r)) {
            fprintf(stderr, "seed add_message: %.300s\n", r.body ? r.body : "");
            die("seeding failed");
        }
        hc_resp_free(&r);
    }
    client_teardown(&owner);
}

/* ---- in-process host ------------------------------------------------------------------ */
typedef struct inproc {
    char dir[64];
    conf_t *conf;
    store_t *st;
    auth_ctx *auth;
    app_t *app;
    mcp_server *srv;
    mcp_http *http;
} inproc;

typedef struct inproc_req {
    app_req req;
    char *bearer;
} inproc_req;

static bool inproc_auth(void *ud, const mcp_http_req *hr, void **out, const char **msg)
{
    inproc *ip = ud;
    (void)msg;
    inproc_req *r = calloc(1, sizeof *r);
    const char *b = mcp_http_req_header(hr, "Authorization");
    const char *k = mcp_http_req_header(hr, "X-API-Key");
    r->bearer = b ? strdup(b) : NULL;
    r->req.bearer = r->bearer;
    r->req.api_key_ok = k && auth_check_api_key(ip->auth, k);
    r->req.rate_key = "127.0.0.1";
    *out = &r->req;
    return true;
}

static void inproc_auth_free(void *ud, void *p)
{
    (void)ud;
    inproc_req *r = (inproc_req *)p; /* req is the first member */
    if (r) {
        free(r->bearer);
        free(r);
    }
}

static void ck(err_code rc, const err_t *e, const char *what)
{
    if (rc != ERR_OK) {
        fprintf(stderr, "bench_http --inproc: %s: %s\n", what, e->msg);
        exit(1);
    }
}

static void inproc_start(inproc *ip, unsigned io_threads, unsigned workers)
{
    err_t e;
    snprintf(ip->dir, sizeof ip->dir, "/tmp/ctxd-bench-http.XXXXXX");
    if (!mkdtemp(ip->dir))
        die("mkdtemp failed");
    snprintf(g_tmpdir, sizeof g_tmpdir, "%s", ip->dir);
    atexit(rm_tmpdir);
    char url[128];
    snprintf(url, sizeof url, "sqlite:///%s/ctxd.db", ip->dir);
    ip->conf = conf_defaults();
    ck(conf_set(ip->conf, "API_KEY", g_api_key, CONF_SRC_FLAG, &e), &e, "API_KEY");
    ck(conf_set(ip->conf, "JWT_SECRET_KEY", "bench-jwt-secret-bench-jwt-secret-0123456789",
                CONF_SRC_FLAG, &e),
       &e, "JWT_SECRET_KEY");
    /* the limiter stays in the path, with a limit the benchmark cannot reach */
    ck(conf_set(ip->conf, "RATE_LIMIT_PER_MINUTE", "60000000", CONF_SRC_FLAG, &e), &e,
       "RATE_LIMIT");
    ck(conf_set(ip->conf, "RATE_LIMIT_BURST", "1000000", CONF_SRC_FLAG, &e), &e,
       "RATE_LIMIT_BURST");
    db_t *db;
    ck(db_open(url, NULL, &db, &e), &e, "db_open");
    ck(migrate_up(db, -1, NULL, &e), &e, "migrate");
    db_close(db);
    ck(store_open(url, ip->conf, &ip->st, &e), &e, "store_open");
    ck(auth_ctx_from_conf(ip->conf, ip->st, &ip->auth, &e), &e, "auth");
    ck(app_from_conf(ip->conf, ip->st, ip->auth, &ip->app, &e), &e, "app");
    mcp_server_info info = app_server_info();
    ip->srv = mcp_server_new(&info);
    ck(app_register(ip->app, ip->srv, &e), &e, "app_register");
    mcp_http_opts o = {0};
    o.io_threads = io_threads;
    o.workers = workers;
    o.max_connections = 2048;
    o.auth = inproc_auth;
    o.auth_free = inproc_auth_free;
    o.auth_ud = ip;
    ip->http = mcp_http_start(ip->srv, &o, &e);
    if (!ip->http)
        ck(ERR_INVALID, &e, "mcp_http_start");
    g_port = mcp_http_port(ip->http);
    fprintf(stderr,
            "bench_http: in-process host on 127.0.0.1:%u (SQLite %s, io_threads %u, workers %u)\n",
            g_port, url, io_threads ? io_threads : 2, workers ? workers : 8);
}

static void inproc_stop(inproc *ip)
{
    mcp_http_stop(ip->http);
    mcp_server_free(ip->srv);
    app_free(ip->app);
    auth_ctx_free(ip->auth);
    store_close(ip->st);
    conf_free(ip->conf);
    rm_tmpdir();
}

static void usage(void)
{
    fputs("usage: bench_http (--port PORT [--server-pid PID] | --inproc [--io-threads N] "
          "[--workers N])\n"
          "                  [--clients 1,16,64,256] [--seconds 5] [--seed 1000] [--rate OPS]\n"
          "                  [--tools "
          "add_message,get_messages,search_context,set_memory,get_memory]\n"
          "                  [--api-key KEY]\n"
          "API key: --api-key, else CTXD_BENCH_API_KEY, else API_KEY. --rate: open loop, the\n"
          "clients together offer OPS requests/s (latency from the scheduled send time);\n"
          "default: closed loop, each client sends its next request when the last returns.\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    int clients[MAX_CELLS_CLIENTS] = {1, 16, 64, 256};
    int nclients = 4;
    bool tools[T_COUNT] = {true, true, true, true, true};
    unsigned io_threads = 0, workers = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--inproc")) {
            g_inproc = true;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--port"))
            g_port = (uint16_t)atoi(v);
        else if (!strcmp(a, "--server-pid"))
            g_server_pid = atol(v);
        else if (!strcmp(a, "--seconds"))
            g_seconds = atof(v);
        else if (!strcmp(a, "--rate"))
            g_rate = atof(v);
        else if (!strcmp(a, "--seed"))
            g_seed = atoi(v);
        else if (!strcmp(a, "--api-key"))
            g_api_key = v;
        else if (!strcmp(a, "--io-threads"))
            io_threads = (unsigned)atoi(v);
        else if (!strcmp(a, "--workers"))
            workers = (unsigned)atoi(v);
        else if (!strcmp(a, "--clients")) {
            nclients = 0;
            char *s = strdup(v), *save = NULL;
            for (char *t = strtok_r(s, ",", &save); t && nclients < MAX_CELLS_CLIENTS;
                 t = strtok_r(NULL, ",", &save))
                clients[nclients++] = atoi(t);
            free(s);
        } else if (!strcmp(a, "--tools")) {
            memset(tools, 0, sizeof tools);
            for (int t = 0; t < T_COUNT; t++)
                tools[t] = strstr(v, TOOL_NAMES[t]) != NULL;
        } else
            usage();
    }
    if (!g_api_key)
        g_api_key = getenv("CTXD_BENCH_API_KEY");
    if (!g_api_key)
        g_api_key = getenv("API_KEY");
    if (g_seconds <= 0 || g_seconds > 600 || g_seed < 0 || g_seed > 1000000 || g_rate < 0 ||
        g_rate > 1e6)
        usage();
    for (int i = 0; i < nclients; i++)
        if (clients[i] < 1 || clients[i] > 1000)
            usage();
    inproc ip = {0};
    if (g_inproc) {
        if (!g_api_key)
            g_api_key = "bench-api-key-0123456789abcdef";
        inproc_start(&ip, io_threads, workers);
    }
    if (!g_port || !g_api_key)
        usage();
    prepare_sessions();
    printf("# bench_http: %s 127.0.0.1:%u, %.1f s per cell, read session seeded with %d messages\n",
           g_inproc ? "in-process host" : "server", g_port, g_seconds, g_seed);
    if (g_rate > 0)
        printf("# open loop: %.0f requests/s offered over all clients\n", g_rate);
    else
        printf("# closed loop: each client sends its next request when the previous returns\n"
               "# (so mean latency = clients / ops/s: 64 clients at 10000/s means 6.4 ms)\n");
    printf("# latency in ms (client-side, request written -> response read); srv cpu = server "
           "process\n"
           "# CPU time / wall time (200%% = both cores), gen cpu = this generator's\n");
    printf("%-15s %7s %9s %9s %9s %9s %9s %7s %7s %7s\n", "tool", "clients", "ops/s", "p50", "p95",
           "p99", "max", "errors", "srv cpu", "gen cpu");
    fflush(stdout);
    for (int i = 0; i < nclients; i++)
        run_clients(clients[i], tools);
    if (g_inproc)
        inproc_stop(&ip);
    return 0;
}
