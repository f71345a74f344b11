/* cli/serve_http.c — `ctxd serve` over Streamable HTTP: wires the transport (http/) to
 * the app (app/). The auth hook builds an app_req per request (X-API-Key verified in
 * constant time by auth_check_api_key, or else, when it has an agent key's shape, passed
 * on as one for authenticate_agent to look up; `Authorization: Bearer` passed on as the token,
 * the peer address as the key of the pre-authentication rate limit); each MCP session
 * carries the app's per-session state (app_session_open/close on the transport's
 * session hooks), so resources and prompts see the identity authenticate_agent issued
 * on that session to requests presenting its credential; sessions are counted per
 * client address and in all (app_session_admit), and a session's GET stream and DELETE
 * need its credential (app_session_owner). The routes GET /health, GET /health/database (503 when the database
 * does not answer) and GET /metrics (the transport's request metrics, then the app's
 * and the database's figures) answer with what app/ renders. The connection limits come
 * from HTTP_MAX_CONNECTIONS, HTTP_MAX_CONNECTIONS_PER_CLIENT and HTTP_HEADER_TIMEOUT; the
 * names and origins answered and HTTPS from serve_expose.c.
 * Must not: log or echo API keys, tokens or the database password; block an I/O thread
 * beyond one database ping; parse MCP bodies; compute what app/ reports. */
#include "cli/serve_http.h"

#include <stdlib.h>
#include <string.h>

#include "base/sbuf.h"
#include "cli/serve_expose.h"
#include "http/mcp_http.h"

typedef struct req_auth {
    app_req req; /* first: what the app sees */
    char *bearer;
    char *agent_key;
    char peer[64];
} req_auth;

struct serve_http {
    serve_http_opts o;
    mcp_http *h;
    bool tls; /* serving HTTPS */
};

static bool auth_hook(void *ud, const mcp_http_req *r, void **out, const char **msg)
{
    serve_http *s = ud;
    (void)msg;
    req_auth *ra = xcalloc(1, sizeof *ra);
    const char *key = mcp_http_req_header(r, "X-API-Key");
    ra->req.api_key_ok = key && auth_check_api_key(s->o.auth, key);
    if (key && !ra->req.api_key_ok && auth_agent_key_shaped(key)) /* checked at login */
        ra->req.agent_key = ra->agent_key = xstrdup(key);
    const char *authz = mcp_http_req_header(r, "Authorization");
    if (authz && *authz) {
        ra->bearer = xstrdup(authz);
        ra->req.bearer = ra->bearer;
    }
    /* per client address; X-Forwarded-For is not trusted */
    ra->req.rate_key = mcp_http_req_peer(r, ra->peer, sizeof ra->peer) ? ra->peer : "http";
    *out = ra;
    return true;
}

static void auth_free_hook(void *ud, void *p)
{
    (void)ud;
    req_auth *ra = p;
    if (!ra)
        return;
    free(ra->bearer);
    if (ra->agent_key) {
        memset(ra->agent_key, 0, strlen(ra->agent_key));
        free(ra->agent_key);
    }
    free(ra);
}

static void session_open(void *ud, mcp_session *ms)
{
    (void)ud;
    app_session_open(ms, false);
}

static void session_close(void *ud, mcp_session *ms)
{
    (void)ud;
    app_session_close(ms);
}

/* A new session counts against MCP_MAX_SESSIONS(_PER_PEER); its GET stream and its end
 * need the credential it is bound to (the session id alone is not one). */
static unsigned session_check(void *ud, mcp_session *ms, void *auth, mcp_http_session_op op,
                              const char **msg)
{
    serve_http *s = ud;
    const app_req *rq = auth; /* the first member of req_auth */
    if (op != MCP_HTTP_SESSION_CREATE) {
        if (app_session_owner(ms, rq))
            return 0;
        *msg = "Forbidden: this MCP session is bound to another credential (present its "
               "X-API-Key or bearer token)";
        return 403;
    }
    switch (app_session_admit(s->o.app, ms, rq)) {
    case APP_ADMIT_OK: return 0;
    case APP_ADMIT_PEER_FULL:
        *msg = "Too Many Requests: this client address holds MCP_MAX_SESSIONS_PER_PEER MCP "
               "sessions; end one (DELETE) or let one expire";
        return 429;
    default:
        *msg = "Service Unavailable: the server holds MCP_MAX_SESSIONS MCP sessions";
        return 503;
    }
}

static void reply_json(mcp_http_response *out, unsigned status, char *body)
{
    out->status = status;
    out->content_type = "application/json";
    out->body = body;
    out->len = body ? strlen(body) : 0;
}

static void route_health(void *ud, const mcp_http_req *r, mcp_http_response *out)
{
    serve_http *s = ud;
    (void)r;
    app_health_info hi = {
        .transport = "http", .sessions = mcp_http_session_count(s->h), .version = s->o.version};
    reply_json(out, 200, app_health_json(s->o.app, &hi));
}

static void route_health_db(void *ud, const mcp_http_req *r, mcp_http_response *out)
{
    serve_http *s = ud;
    (void)r;
    bool ok;
    char *body = app_health_database_json(s->o.app, &ok);
    reply_json(out, ok ? 200 : 503, body);
}

static void route_metrics(void *ud, const mcp_http_req *r, mcp_http_response *out)
{
    serve_http *s = ud;
    (void)r;
    sbuf_t b = SBUF_INIT;
    size_t n = 0;
    char *mh = mcp_http_metrics_render(s->h, &n);
    sbuf_append(&b, mh, n);
    free(mh);
    app_metrics_render(s->o.app, s->o.version, &b);
    out->status = 200;
    out->content_type = "text/plain; version=0.0.4; charset=utf-8";
    out->len = b.len;
    out->body = sbuf_detach(&b);
}

serve_http *serve_http_start(const serve_http_opts *o, err_t *e)
{
    serve_http *s = xcalloc(1, sizeof *s);
    s->o = *o;
    mcp_http_opts ho = {0};
    ho.bind_addr = o->host;
    ho.port = o->port;
    ho.auth = auth_hook;
    ho.auth_free = auth_free_hook;
    ho.auth_ud = s;
    ho.on_session = session_open;
    ho.on_session_end = session_close;
    ho.session_check = session_check;
    ho.session_ud = s;
    /* connection limits (validated with the rest of the configuration at start-up) */
    const struct {
        const char *var;
        unsigned *dst;
    } lim[] = {{"HTTP_MAX_CONNECTIONS", &ho.max_connections},
               {"HTTP_MAX_CONNECTIONS_PER_CLIENT", &ho.max_connections_per_peer},
               {"HTTP_HEADER_TIMEOUT", &ho.head_timeout}};
    for (size_t i = 0; o->conf && i < sizeof lim / sizeof lim[0]; i++) {
        long v;
        if (conf_get_int(o->conf, lim[i].var, 0, &v, e) != ERR_OK) {
            free(s);
            return NULL;
        }
        *lim[i].dst = (unsigned)v;
    }
    serve_expose x;
    if (serve_expose_load(o->conf, o->host, &x, e) != ERR_OK) {
        free(s);
        return NULL;
    }
    serve_expose_apply(&x, &ho);
    s->tls = x.cert != NULL;
    s->h = mcp_http_start(o->srv, &ho, e); /* copies what it keeps of x */
    if (s->h)
        serve_expose_warn(&x, o->host);
    serve_expose_free(&x);
    if (!s->h) {
        free(s);
        return NULL;
    }
    mcp_http_add_route(s->h, "GET", "/health", route_health, s);
    mcp_http_add_route(s->h, "GET", "/health/database", route_health_db, s);
    mcp_http_add_route(s->h, "GET", "/metrics", route_metrics, s);
    return s;
}

bool serve_http_tls(const serve_http *s)
{
    return s->tls;
}

uint16_t serve_http_port(const serve_http *s)
{
    return mcp_http_port(s->h);
}

void serve_http_stop(serve_http *s)
{
    if (!s)
        return;
    mcp_http_stop(s->h); /* ends every session: their app state is freed */
    free(s);
}
