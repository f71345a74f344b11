/* cli/serve_http.c — `ctxd serve` over Streamable HTTP: the auth hook building an
 * app_req per request (X-API-Key verified in constant time by auth_check_api_key,
 * `Authorization: Bearer` passed on as the token, one app_conn per MCP session so
 * resources/prompts see the identity authenticate_agent issued on it) and the routes
 * GET /health, GET /health/database (503 when the database does not answer) and
 * GET /metrics (Prometheus text: transport request counts/latency, per-tool figures,
 * database pool, query counts and errors by class).
 * Must not: log or echo API keys, tokens or the database password; block an I/O
 * thread beyond one database ping; parse MCP bodies. */
#if defined(CTXD_HAVE_APP) && defined(CTXD_HAVE_HTTP)
#include "cli/serve_http.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/sbuf.h"
#include "base/utc.h"
#include "http/mcp_http.h"
#include "store/store.h"

/* The app_conn of each MCP session, keyed by Mcp-Session-Id. The transport does not
 * tell the hook which session a request belongs to, so connections are bound lazily
 * by the header; entries are dropped on DELETE, when idle past the transport's session
 * timeout, and (least recently used first) when the table is full. */
#define CONN_MAX 4096
#define CONN_IDLE_US ((int64_t)3600 * 1000000)

typedef struct conn_ent {
    char *sid;
    app_conn *conn;
    int refs;  /* requests in flight using conn */
    bool dead; /* removed from the table; freed when refs reaches 0 */
    int64_t used_us;
} conn_ent;

typedef struct req_auth {
    app_req req; /* first: what the app sees */
    conn_ent *ent;
    bool end; /* a DELETE: drop the entry when done */
    char *bearer;
} req_auth;

struct serve_http {
    serve_http_opts o;
    mcp_http *h;
    pthread_mutex_t mu;
    conn_ent **ents;
    size_t nents;
    int64_t started_us;
};

static void ent_release_locked(conn_ent *e)
{
    if (--e->refs == 0 && e->dead) {
        app_conn_free(e->conn);
        free(e->sid);
        free(e);
    }
}

static void ent_remove_locked(serve_http *s, size_t i)
{
    conn_ent *e = s->ents[i];
    s->ents[i] = s->ents[--s->nents];
    e->dead = true;
    e->refs++;
    ent_release_locked(e);
}

static conn_ent *ent_get(serve_http *s, const char *sid)
{
    int64_t now = utc_mono_us();
    pthread_mutex_lock(&s->mu);
    conn_ent *found = NULL;
    for (size_t i = 0; i < s->nents;) {
        conn_ent *e = s->ents[i];
        if (strcmp(e->sid, sid) == 0) {
            found = e;
            i++;
        } else if (e->refs == 0 && now - e->used_us > CONN_IDLE_US) {
            ent_remove_locked(s, i);
        } else {
            i++;
        }
    }
    if (!found) {
        if (s->nents == CONN_MAX) {
            size_t lru = SIZE_MAX;
            for (size_t i = 0; i < s->nents; i++)
                if (s->ents[i]->refs == 0 &&
                    (lru == SIZE_MAX || s->ents[i]->used_us < s->ents[lru]->used_us))
                    lru = i;
            if (lru == SIZE_MAX) {
                pthread_mutex_unlock(&s->mu);
                return NULL;
            }
            ent_remove_locked(s, lru);
        }
        found = xcalloc(1, sizeof *found);
        found->sid = xstrdup(sid);
        found->conn = app_conn_new(false);
        s->ents[s->nents++] = found;
    }
    found->refs++;
    found->used_us = now;
    pthread_mutex_unlock(&s->mu);
    return found;
}

static bool auth_hook(void *ud, const mcp_http_req *r, void **out, const char **msg)
{
    serve_http *s = ud;
    (void)msg;
    req_auth *ra = xcalloc(1, sizeof *ra);
    const char *key = mcp_http_req_header(r, "X-API-Key");
    ra->req.api_key_ok = key && auth_check_api_key(s->o.auth, key);
    const char *authz = mcp_http_req_header(r, "Authorization");
    if (authz && *authz) {
        ra->bearer = xstrdup(authz);
        ra->req.bearer = ra->bearer;
    }
    /* the transport gives no peer address; X-Forwarded-For is not trusted */
    ra->req.rate_key = "http";
    const char *sid = mcp_http_req_header(r, "Mcp-Session-Id");
    const char *method = mcp_http_req_method(r);
    if (sid && *sid && strlen(sid) < 128) {
        ra->ent = ent_get(s, sid);
        ra->req.conn = ra->ent ? ra->ent->conn : NULL;
        ra->end = method && strcmp(method, "DELETE") == 0;
    }
    *out = ra;
    return true;
}

static void auth_free_hook(void *ud, void *p)
{
    serve_http *s = ud;
    req_auth *ra = p;
    if (!ra)
        return;
    if (ra->ent) {
        pthread_mutex_lock(&s->mu);
        if (ra->end && !ra->ent->dead) {
            for (size_t i = 0; i < s->nents; i++)
                if (s->ents[i] == ra->ent) {
                    ent_remove_locked(s, i);
                    break;
                }
        }
        ent_release_locked(ra->ent);
        pthread_mutex_unlock(&s->mu);
    }
    free(ra->bearer);
    free(ra);
}

/* ---- /health ------------------------------------------------------------------- */
static json_t *pool_json(const db_pool_stats *p)
{
    return json_pack("{s:i s:i s:i s:i s:i s:I s:I}", "size", p->size, "max_overflow",
                     p->max_overflow, "in_use", p->in_use, "idle", p->idle, "overflow_in_use",
                     p->overflow_in_use, "waits", (json_int_t)p->waits, "timeouts",
                     (json_int_t)p->timeouts);
}

/* The database figures; true when it answered. */
static bool db_json(serve_http *s, json_t **out)
{
    store_t *st = s->o.store;
    json_t *j = json_object();
    int64_t rtt = 0;
    err_t e;
    bool ok = store_ping(st, &rtt, &e) == ERR_OK;
    store_stats ss;
    store_get_stats(st, &ss);
    json_object_set_new(j, "status", json_string(ok ? "healthy" : "unhealthy"));
    json_object_set_new(j, "type", json_string(ss.backend));
    json_object_set_new(j, "database_type", json_string(ss.backend));
    if (ok)
        json_object_set_new(j, "latency_ms", json_real((double)rtt / 1000.0));
    else
        json_object_set_new(j, "error", json_string(err_code_name(e.code)));
    json_object_set_new(j, "pool", pool_json(&ss.pool));
    *out = j;
    return ok;
}

static void reply_json(mcp_http_response *out, unsigned status, json_t *j)
{
    out->status = status;
    out->content_type = "application/json";
    out->body = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
    out->len = out->body ? strlen(out->body) : 0;
    json_decref(j);
}

static void route_health(void *ud, const mcp_http_req *r, mcp_http_response *out)
{
    serve_http *s = ud;
    (void)r;
    json_t *db;
    bool ok = db_json(s, &db);
    char ts[UTC_ISO_LEN];
    json_t *j = json_pack(
        "{s:s s:s s:o s:{s:s s:s s:I s:I} s:s}", "status", ok ? "healthy" : "degraded", "timestamp",
        utc_format(utc_now(), ts), "database", db, "server", "name", "ctxd", "transport", "http",
        "sessions", (json_int_t)mcp_http_session_count(s->h), "uptime_seconds",
        (json_int_t)((utc_mono_us() - s->started_us) / 1000000), "version", s->o.version);
    reply_json(out, 200, j);
}

static void route_health_db(void *ud, const mcp_http_req *r, mcp_http_response *out)
{
    serve_http *s = ud;
    (void)r;
    json_t *db;
    bool ok = db_json(s, &db);
    char ts[UTC_ISO_LEN];
    json_object_set_new(db, "timestamp", json_string(utc_format(utc_now(), ts)));
    reply_json(out, ok ? 200 : 503, db);
}

/* ---- /metrics ------------------------------------------------------------------ */
static void label_escape(sbuf_t *b, const char *v)
{
    for (; v && *v; v++) {
        if (*v == '\\' || *v == '"')
            sbuf_putc(b, '\\'), sbuf_putc(b, *v);
        else if (*v == '\n')
            sbuf_puts(b, "\\n");
        else
            sbuf_putc(b, *v);
    }
}

typedef struct tool_acc {
    sbuf_t calls, errors, lat;
} tool_acc;

static void tool_cb(void *ud, const app_tool_stats *t)
{
    tool_acc *a = ud;
    sbuf_puts(&a->calls, "ctxd_tool_calls_total{tool=\"");
    label_escape(&a->calls, t->tool);
    sbuf_printf(&a->calls, "\"} %llu\n", (unsigned long long)t->calls);
    sbuf_puts(&a->errors, "ctxd_tool_errors_total{tool=\"");
    label_escape(&a->errors, t->tool);
    sbuf_printf(&a->errors, "\"} %llu\n", (unsigned long long)t->errors);
    const struct {
        const char *q;
        double v;
    } qs[] = {{"0.5", t->p50_us}, {"0.95", t->p95_us}, {"0.99", t->p99_us}};
    for (size_t i = 0; i < 3; i++) {
        sbuf_puts(&a->lat, "ctxd_tool_latency_seconds{tool=\"");
        label_escape(&a->lat, t->tool);
        sbuf_printf(&a->lat, "\",quantile=\"%s\"} %.9g\n", qs[i].q, qs[i].v / 1e6);
    }
    sbuf_puts(&a->lat, "ctxd_tool_latency_seconds_sum{tool=\"");
    label_escape(&a->lat, t->tool);
    sbuf_printf(&a->lat, "\"} %.9g\n", t->mean_us * (double)t->calls / 1e6);
    sbuf_puts(&a->lat, "ctxd_tool_latency_seconds_count{tool=\"");
    label_escape(&a->lat, t->tool);
    sbuf_printf(&a->lat, "\"} %llu\n", (unsigned long long)t->calls);
}

static void metric_head(sbuf_t *b, const char *name, const char *type, const char *help)
{
    sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The database figures of /metrics, the same names on every backend. */
static void db_metrics(sbuf_t *b, store_t *st)
{
    store_stats ss;
    store_get_stats(st, &ss);
    const db_pool_stats p = ss.pool;
    const db_query_stats q = ss.queries;
    metric_head(b, "ctxd_db_pool_size", "gauge", "Connections the pool keeps open.");
    sbuf_printf(b, "ctxd_db_pool_size %d\n", p.size);
    metric_head(b, "ctxd_db_pool_in_use", "gauge", "Connections currently borrowed.");
    sbuf_printf(b, "ctxd_db_pool_in_use %d\n", p.in_use);
    metric_head(b, "ctxd_db_pool_idle", "gauge", "Idle connections in the pool.");
    sbuf_printf(b, "ctxd_db_pool_idle %d\n", p.idle);
    metric_head(b, "ctxd_db_pool_overflow_in_use", "gauge",
                "Overflow connections currently borrowed.");
    sbuf_printf(b, "ctxd_db_pool_overflow_in_use %d\n", p.overflow_in_use);
    const struct {
        const char *name, *help;
        uint64_t v;
    } pc[] = {
        {"ctxd_db_pool_acquired_total", "Connections handed out.", p.acquired},
        {"ctxd_db_pool_waits_total", "Acquisitions that had to wait.", p.waits},
        {"ctxd_db_pool_timeouts_total", "Acquisitions that timed out.", p.timeouts},
        {"ctxd_db_pool_created_total", "Connections opened.", p.created},
        {"ctxd_db_pool_closed_total", "Connections closed.", p.closed},
        {"ctxd_db_pool_recycled_total", "Connections recycled for age.", p.recycled},
        {"ctxd_db_pool_preping_failures_total", "Connections that failed their liveness check.",
         p.preping_failures},
        {"ctxd_db_statements_total", "Statements executed (MongoDB: store operations).",
         q.statements},
        {"ctxd_db_slow_statements_total", "Statements slower than SLOW_QUERY_THRESHOLD_MS.",
         q.slow},
        {"ctxd_db_retries_total", "Transactions retried after a transient error.", q.retries},
    };
    for (size_t i = 0; i < sizeof pc / sizeof pc[0]; i++) {
        metric_head(b, pc[i].name, "counter", pc[i].help);
        sbuf_printf(b, "%s %llu\n", pc[i].name, (unsigned long long)pc[i].v);
    }
    metric_head(b, "ctxd_db_statement_seconds_total", "counter", "Time spent in statements.");
    sbuf_printf(b, "ctxd_db_statement_seconds_total %.6f\n", (double)q.total_us / 1e6);
    metric_head(b, "ctxd_db_errors_total", "counter", "Database errors by class.");
    for (int c = ERR_INVALID; c <= ERR_INTERNAL; c++)
        sbuf_printf(b, "ctxd_db_errors_total{class=\"%s\"} %llu\n", err_code_name((err_code)c),
                    (unsigned long long)q.errors_by_class[c]);
}

static void route_metrics(void *ud, const mcp_http_req *r, mcp_http_response *out)
{
    serve_http *s = ud;
    (void)r;
    sbuf_t b = SBUF_INIT;
    size_t n = 0;
    char *mh = mcp_http_metrics_render(s->h, &n);
    if (mh)
        sbuf_append(&b, mh, n);
    free(mh);

    tool_acc a = {SBUF_INIT, SBUF_INIT, SBUF_INIT};
    app_foreach_tool_stats(s->o.app, tool_cb, &a);
    metric_head(&b, "ctxd_tool_calls_total", "counter", "Tool calls handled by the app, per tool.");
    sbuf_append(&b, sbuf_cstr(&a.calls), a.calls.len);
    metric_head(&b, "ctxd_tool_errors_total", "counter",
                "Tool calls that returned an error envelope, per tool.");
    sbuf_append(&b, sbuf_cstr(&a.errors), a.errors.len);
    metric_head(&b, "ctxd_tool_latency_seconds", "summary",
                "Tool call latency quantiles, per tool.");
    sbuf_append(&b, sbuf_cstr(&a.lat), a.lat.len);
    sbuf_free(&a.calls);
    sbuf_free(&a.errors);
    sbuf_free(&a.lat);

    metric_head(&b, "ctxd_uptime_seconds", "gauge", "Seconds since the server started.");
    sbuf_printf(&b, "ctxd_uptime_seconds %lld\n",
                (long long)((utc_mono_us() - s->started_us) / 1000000));
    metric_head(&b, "ctxd_build_info", "gauge", "Build information (always 1).");
    sbuf_puts(&b, "ctxd_build_info{version=\"");
    label_escape(&b, s->o.version);
    sbuf_puts(&b, "\",backend=\"");
    label_escape(&b, store_name(s->o.store));
    sbuf_puts(&b, "\"} 1\n");

    db_metrics(&b, s->o.store);
    out->status = 200;
    out->content_type = "text/plain; version=0.0.4; charset=utf-8";
    out->len = b.len;
    out->body = sbuf_detach(&b);
}

/* ---- lifecycle --------------------------------------------------------------- */
serve_http *serve_http_start(const serve_http_opts *o, err_t *e)
{
    serve_http *s = xcalloc(1, sizeof *s);
    s->o = *o;
    s->ents = xcalloc(CONN_MAX, sizeof *s->ents);
    s->started_us = utc_mono_us();
    pthread_mutex_init(&s->mu, NULL);
    mcp_http_opts ho = {0};
    ho.bind_addr = o->host;
    ho.port = o->port;
    ho.auth = auth_hook;
    ho.auth_free = auth_free_hook;
    ho.auth_ud = s;
    const char *hosts[] = {o->host, NULL};
    /* a non-loopback bind address is a host name clients will legitimately use */
    if (o->host && strcmp(o->host, "0.0.0.0") != 0 && strcmp(o->host, "::") != 0)
        ho.allowed_hosts = hosts;
    s->h = mcp_http_start(o->srv, &ho, e);
    if (!s->h) {
        pthread_mutex_destroy(&s->mu);
        free(s->ents);
        free(s);
        return NULL;
    }
    mcp_http_add_route(s->h, "GET", "/health", route_health, s);
    mcp_http_add_route(s->h, "GET", "/health/database", route_health_db, s);
    mcp_http_add_route(s->h, "GET", "/metrics", route_metrics, s);
    return s;
}

uint16_t serve_http_port(const serve_http *s)
{
    return mcp_http_port(s->h);
}

void serve_http_stop(serve_http *s)
{
    if (!s)
        return;
    mcp_http_stop(s->h);
    pthread_mutex_lock(&s->mu);
    while (s->nents)
        ent_remove_locked(s, s->nents - 1);
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_destroy(&s->mu);
    free(s->ents);
    free(s);
}
#else
typedef int serve_http_unavailable; /* this build has no HTTP transport or no app */
#endif
