/* http/server.c — the libmicrohttpd daemon (epoll thread pool, suspend/resume, keep-alive,
 * a connection cap and a per-peer limit, the connection guard of guard.c), the checks
 * every request passes (RFC 9112 framing 400, Host/Origin 403), dispatch to the MCP
 * endpoint or a registered route, per-connection request state, small response helpers,
 * the observer/metrics hook, and graceful start/stop. The open-file limit is raised (up
 * to the hard limit) to what the connection cap needs, or the cap lowered to fit.
 * Must not: implement MCP semantics (endpoint.c, session.c, sse.c do) or call handlers on
 * the I/O threads other than the quick ones endpoint.c chooses. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "base/log.h"
#include "base/port.h"
#include "http/http_internal.h"

uint64_t http_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void http_observe(mcp_http *h, const char *rpc_method, const char *tool, unsigned status,
                  bool rpc_error, uint64_t t0)
{
    mcp_http_request_info info = {rpc_method, tool, status, rpc_error, http_now_ns() - t0};
    http_metrics_record(h->metrics, &info);
    if (h->o.observer)
        h->o.observer(h->o.observer_ud, &info);
}

/* At most HTTP_LOG_PER_S refusals are logged a second (a hostile client cannot flood the
 * log); the next logged line says how many were left out. */
#define HTTP_LOG_PER_S 10
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t log_window_s = -1;
static unsigned log_in_window, log_dropped;

void http_log_refusal(struct MHD_Connection *c, unsigned status, const char *why)
{
    if (status < 400 || !log_enabled(LOG_WARN))
        return;
    int64_t now_s = (int64_t)(http_now_ns() / 1000000000u);
    unsigned dropped = 0;
    pthread_mutex_lock(&log_mu);
    if (now_s != log_window_s) {
        log_window_s = now_s;
        log_in_window = 0;
    }
    bool log_it = log_in_window < HTTP_LOG_PER_S;
    if (log_it) {
        log_in_window++;
        dropped = log_dropped;
        log_dropped = 0;
    } else {
        log_dropped++;
    }
    pthread_mutex_unlock(&log_mu);
    if (!log_it)
        return;
    mcp_http_req r = {.conn = c};
    char peer[64], st[8], more[24];
    mcp_http_req_peer(&r, peer, sizeof peer);
    snprintf(st, sizeof st, "%u", status);
    snprintf(more, sizeof more, "%u", dropped);
    log_field f[] = {{"status", st},
                     {"peer", peer[0] ? peer : "-"},
                     {"not_logged_before", dropped ? more : NULL}};
    log_fields(LOG_WARN, "http", f, sizeof f / sizeof f[0], "%.200s", why ? why : "refused");
}

MHD_RESULT_T http_reply(struct MHD_Connection *c, unsigned status, const char *ctype,
                        const char *body, size_t len, const char *sess_id)
{
    if (status >= 400)
        http_log_refusal(c, status, body && len ? body : "refused");
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (ctype)
        MHD_add_response_header(r, "Content-Type", ctype);
    if (sess_id)
        MHD_add_response_header(r, "Mcp-Session-Id", sess_id);
    MHD_RESULT_T ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

MHD_RESULT_T http_reply_rpc_error(struct MHD_Connection *c, unsigned status, int code,
                                  const char *msg)
{
    http_log_refusal(c, status, msg);
    json_t *j = json_pack("{s:s,s:n,s:{s:i,s:s}}", "jsonrpc", "2.0", "id", "error", "code", code,
                          "message", msg);
    char *txt = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(txt), txt, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_RESULT_T ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

const char *mcp_http_req_header(const mcp_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}
const char *mcp_http_req_method(const mcp_http_req *r)
{
    return r->method;
}
const char *mcp_http_req_path(const mcp_http_req *r)
{
    return r->path;
}

bool mcp_http_req_peer(const mcp_http_req *r, char *buf, size_t n)
{
    if (n)
        buf[0] = '\0';
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (!sa || n == 0)
        return false;
    const void *addr = NULL;
    if (sa->sa_family == AF_INET)
        addr = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
    else if (sa->sa_family == AF_INET6)
        addr = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    if (!addr || !inet_ntop(sa->sa_family, addr, buf, (socklen_t)n)) {
        buf[0] = '\0';
        return false;
    }
    return true;
}

void mcp_http_add_route(mcp_http *h, const char *method, const char *path, mcp_http_route_fn fn,
                        void *ud)
{
    http_route *rt = xcalloc(1, sizeof *rt);
    rt->method = xstrdup(method);
    rt->path = xstrdup(path);
    rt->fn = fn;
    rt->ud = ud;
    pthread_rwlock_wrlock(&h->routes_lock);
    rt->next = h->routes;
    h->routes = rt;
    pthread_rwlock_unlock(&h->routes_lock);
}

static MHD_RESULT_T run_route(mcp_http *h, struct MHD_Connection *conn, const char *method,
                              const char *url, bool *found)
{
    bool head = strcmp(method, "HEAD") == 0;
    http_route *hit = NULL;
    bool path_known = false;
    pthread_rwlock_rdlock(&h->routes_lock);
    for (http_route *rt = h->routes; rt; rt = rt->next)
        if (strcmp(rt->path, url) == 0) {
            path_known = true;
            if (strcmp(rt->method, method) == 0 || (head && strcmp(rt->method, "GET") == 0))
                hit = rt;
        }
    pthread_rwlock_unlock(&h->routes_lock);
    *found = path_known;
    if (!hit)
        return path_known ? http_reply(conn, 405, "text/plain", "method not allowed\n", 19, NULL)
                          : MHD_NO;
    mcp_http_req req = {conn, method, url};
    mcp_http_response out = {200, NULL, NULL, 0};
    hit->fn(hit->ud, &req, &out);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(out.body ? out.len : 0, out.body ? out.body : (void *)"",
                                        out.body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type",
                            out.content_type ? out.content_type : "text/plain; charset=utf-8");
    MHD_RESULT_T ret = MHD_queue_response(conn, out.status ? out.status : 200, r);
    MHD_destroy_response(r);
    return ret;
}

/* The first call (the head is complete, the body not read): the checks every request
 * passes. True if it answered (*ret). */
static bool refuse_head(mcp_http *h, struct MHD_Connection *conn, const char *version,
                        MHD_RESULT_T *ret)
{
    const char *bad = http_head_problem(conn, version);
    if (bad) {
        *ret = http_reply_rpc_error(conn, 400, -32000, bad);
        return true;
    }
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    bool host_ok = http_host_allowed(h, host);
    if (!host_ok || !http_origin_allowed(h, origin)) {
        /* names the header and its value (printable ASCII, at most 100 bytes, else not) */
        const char *what = host_ok ? "Origin" : "Host", *v = host_ok ? origin : host;
        size_t n = strlen(v);
        bool show = n <= 100;
        for (size_t i = 0; show && i < n; i++)
            show = v[i] >= 0x20 && v[i] < 0x7f && v[i] != '\'' && v[i] != '\\';
        char msg[192];
        snprintf(msg, sizeof msg,
                 "Forbidden: invalid Host or Origin: %s%s%s%s is not a host name this server "
                 "answers to",
                 what, show ? " '" : "", show ? v : "", show ? "'" : "");
        *ret = http_reply_rpc_error(conn, 403, -32000, msg);
        return true;
    }
    return false;
}

static MHD_RESULT_T on_request(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    mcp_http *h = cls;
    http_conn *hc = *con_cls;
    bool fresh = !hc;
    if (fresh) {
        hc = xcalloc(1, sizeof *hc);
        *con_cls = hc;
        http_guard_request_began(conn);
        MHD_RESULT_T ret;
        if (refuse_head(h, conn, version, &ret)) {
            hc->kind = CK_DONE;
            if (http_has_body(conn)) /* answered unread: drain it after the close */
                http_guard_linger(conn);
            return ret;
        }
        /* Answering now makes libmicrohttpd close the connection, so everything but POST
         * (whose checks may refuse the body unread) is answered on the next call. */
        bool mcp = strcmp(url, "/mcp") == 0 || strcmp(url, "/mcp/") == 0;
        if (!mcp || strcmp(method, "POST") != 0) {
            hc->kind = mcp ? CK_NEW : CK_ROUTE;
            return MHD_YES;
        }
    }
    if (hc->kind == CK_ROUTE || (hc->kind == CK_NEW && strcmp(method, "POST") != 0)) {
        if (*upload_size > 0) { /* a body nobody wants */
            *upload_size = 0;
            return MHD_YES;
        }
        if (hc->kind == CK_NEW)
            goto mcp;
        {
            hc->kind = CK_DONE;
            bool found;
            MHD_RESULT_T ret = run_route(h, conn, method, url, &found);
            if (found)
                return ret;
            return http_reply(conn, 404, "text/plain", "not found\n", 10, NULL);
        }
    }
mcp:
    if (hc->kind == CK_NEW && atomic_load(&h->stopping)) {
        hc->kind = CK_DONE;
        return http_reply_rpc_error(conn, 503, -32000, "Server shutting down");
    }
    if (hc->kind == CK_DONE && !hc->post)
        return MHD_NO; /* body of a request already answered: drop the connection */
    MHD_RESULT_T ret = http_mcp_endpoint(h, conn, method, upload, upload_size, hc);
    if (fresh && hc->kind == CK_DONE && http_has_body(conn))
        http_guard_linger(conn); /* refused before the body was read */
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    mcp_http *h = cls;
    http_guard_request_ended(conn);
    http_conn *hc = *con_cls;
    if (!hc)
        return;
    if (hc->post)
        http_post_unref(hc->post);
    if (hc->has_auth && hc->auth && h->o.auth_free)
        h->o.auth_free(h->o.auth_ud, hc->auth);
    sbuf_free(&hc->body);
    free(hc);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode toe)
{
    mcp_http *h = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        http_guard_conn_started(h->guard, conn, socket_ctx);
    else
        http_guard_conn_closed(h->guard, socket_ctx);
}

/* Raises the soft open-file limit to what max_connections needs (plus room for the
 * database and files), up to the hard limit; lowers max_connections if that is not
 * enough. */
static void fit_open_files(mcp_http *h)
{
    const rlim_t spare = 256;
    rlim_t need = (rlim_t)h->o.max_connections + spare;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return;
    rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
    if (want > rl.rlim_cur) {
        struct rlimit up = {want, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl.rlim_cur = want;
    }
    if (rl.rlim_cur >= need)
        return;
    unsigned fit =
        rl.rlim_cur > 2 * spare ? (unsigned)(rl.rlim_cur - spare) : (unsigned)(rl.rlim_cur / 2);
    LOG_W("http", "the open-file limit (%llu) allows %u connections, not %u: serving at most %u",
          (unsigned long long)rl.rlim_cur, fit, h->o.max_connections, fit);
    h->o.max_connections = fit;
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    LOG_D("http", "libmicrohttpd: %s", buf);
}

/* A NULL-terminated copy of a NULL-terminated list of strings (never NULL itself). */
static char **copy_list(const char *const *l)
{
    size_t n = 0;
    while (l && l[n])
        n++;
    char **c = xcalloc(n + 1, sizeof *c);
    for (size_t i = 0; i < n; i++)
        c[i] = xstrdup(l[i]);
    return c;
}

static void free_list(char **l)
{
    for (char **p = l; p && *p; p++)
        free(*p);
    free(l);
}

mcp_http *mcp_http_start(mcp_server *srv, const mcp_http_opts *opts, err_t *e)
{
    mcp_http *h = xcalloc(1, sizeof *h);
    h->srv = srv;
    if (opts)
        h->o = *opts;
    if (!h->o.bind_addr)
        h->o.bind_addr = "127.0.0.1";
    if (!h->o.io_threads)
        h->o.io_threads = 2;
    if (!h->o.workers)
        h->o.workers = 8;
    if (!h->o.max_body)
        h->o.max_body = MCP_HTTP_DEFAULT_MAX_BODY;
    if (!h->o.max_connections)
        h->o.max_connections = MCP_HTTP_DEFAULT_MAX_CONNECTIONS;
    if (!h->o.max_connections_per_peer)
        h->o.max_connections_per_peer = MCP_HTTP_DEFAULT_MAX_CONNECTIONS_PER_PEER;
    if (!h->o.head_timeout)
        h->o.head_timeout = MCP_HTTP_DEFAULT_HEAD_TIMEOUT;
    if (!h->o.connection_timeout)
        h->o.connection_timeout = 120;
    if (!h->o.sse_retry_ms)
        h->o.sse_retry_ms = 1000;
    if (!h->o.event_store)
        h->o.event_store = 256;
    if (!h->o.session_idle_timeout)
        h->o.session_idle_timeout = 3600;
    h->hosts = copy_list(h->o.allowed_hosts);
    h->origins = copy_list(h->o.allowed_origins);
    h->o.allowed_hosts = h->o.allowed_origins = NULL;
    if (!h->o.tls_cert_pem != !h->o.tls_key_pem) {
        err_set(e, ERR_INVALID, "http: TLS needs both a certificate and a private key");
        mcp_http_stop(h);
        return NULL;
    }
    if (h->o.tls_cert_pem) {
        h->tls_cert = xstrdup(h->o.tls_cert_pem);
        h->tls_key = xstrdup(h->o.tls_key_pem);
    }
    h->o.tls_cert_pem = h->o.tls_key_pem = NULL; /* not kept: the copies are */
    h->o.bind_addr = NULL;                       /* not kept: only used below */
    atomic_init(&h->stopping, false);
    pthread_rwlock_init(&h->routes_lock, NULL);
    pthread_mutex_init(&h->sess_lock, NULL);
    h->metrics = http_metrics_new();
    h->names = http_names_new(srv);
    signal(SIGPIPE, SIG_IGN);
    fit_open_files(h);

    const char *bind = opts && opts->bind_addr ? opts->bind_addr : "127.0.0.1";
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    /* epoll where libmicrohttpd has it (Linux), else poll(2) (base/port.h) */
    unsigned loop = PORT_LINUX && MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES
                        ? MHD_USE_EPOLL
                        : MHD_USE_POLL;
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | loop | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    uint16_t port = opts ? opts->port : 0;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, bind, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
    } else if (inet_pton(AF_INET6, bind, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        flags |= MHD_USE_IPv6;
    } else {
        err_set(e, ERR_INVALID, "http: bind address '%s' is not an IP address", bind);
        mcp_http_stop(h);
        return NULL;
    }
    h->guard = http_guard_start(h->o.head_timeout);
    if (!h->guard) {
        err_set(e, ERR_IO, "http: cannot start the connection guard thread");
        mcp_http_stop(h);
        return NULL;
    }
    http_workers_start(h);
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}};
    if (h->tls_cert) {
        flags |= MHD_USE_TLS;
        tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert};
        tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key};
    }
    h->d = MHD_start_daemon(
        flags, port, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)h->o.io_threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)h->o.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)h->o.max_connections_per_peer, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)h->o.connection_timeout, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
    if (!h->d) {
        if (h->tls_cert)
            err_set(e, ERR_IO,
                    "http: cannot listen with TLS on %s:%u (address in use, or a certificate "
                    "or key libmicrohttpd refused: see the log line before)",
                    bind, (unsigned)port);
        else
            err_set(e, ERR_IO, "http: cannot listen on %s:%u (address in use?)", bind,
                    (unsigned)port);
        mcp_http_stop(h);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : port;
    return h;
}

uint16_t mcp_http_port(const mcp_http *h)
{
    return h->port;
}

void mcp_http_stop(mcp_http *h)
{
    if (!h)
        return;
    atomic_store(&h->stopping, true);
    if (h->d)
        MHD_quiesce_daemon(h->d); /* stop accepting */
    http_sess_end_all(h);         /* cancel in-flight requests, end SSE streams */
    if (h->threads)
        http_workers_stop(h); /* finish queued and running requests */
    if (h->d)
        MHD_stop_daemon(h->d); /* closes connections: requests complete, refs drop */
    if (h->guard)
        http_guard_stop(h->guard); /* after the daemon: it tracks the daemon's connections */
    http_names_free(h->names);     /* no request is left to label */
    while (h->routes) {
        http_route *rt = h->routes;
        h->routes = rt->next;
        free(rt->method);
        free(rt->path);
        free(rt);
    }
    free_list(h->origins);
    free_list(h->hosts);
    if (h->tls_key)
        memset(h->tls_key, 0, strlen(h->tls_key)); /* the private key leaves no copy */
    free(h->tls_key);
    free(h->tls_cert);
    http_metrics_free(h->metrics);
    pthread_rwlock_destroy(&h->routes_lock);
    pthread_mutex_destroy(&h->sess_lock);
    free(h);
}

char *mcp_http_metrics_render(mcp_http *h, size_t *len)
{
    sbuf_t b = SBUF_INIT;
    http_metrics_render(h->metrics, &b);
    sbuf_puts(&b, "# HELP ctxd_mcp_sessions Live MCP sessions over HTTP.\n"
                  "# TYPE ctxd_mcp_sessions gauge\n");
    sbuf_printf(&b, "ctxd_mcp_sessions %zu\n", mcp_http_session_count(h));
    http_workers_render(h, &b);
    if (len)
        *len = b.len;
    char *s = sbuf_detach(&b);
    return s ? s : xstrdup("");
}
