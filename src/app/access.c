/* app/access.c — who is calling and whether they may: resolves the caller from an
 * auth_token argument, the request's bearer header, (for resources and prompts) the
 * token remembered by the connection — only for a request that presents the credential
 * the connection is bound to (the API key, an agent key, or the token), and resolved anew
 * each time — or a trusted transport's identity; default deny otherwise; the one
 * permission check (read on reads, write on writes, admin on admin tools); which
 * sessions admit whom (restricted sessions: the rule in C, beside app_vis_build's store
 * clause); per-connection and per-MCP-session state, the count of MCP sessions per client
 * address and in all; rate limiting (agents' calls, client addresses before
 * authentication, logins per agent, each in buckets of their own); standalone audit
 * records.
 * Must not: log or echo tokens or keys; compare secrets other than in constant time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_int.h"
#include "auth/codec.h"
#include "base/log.h"
#include "base/sbuf.h"

app_conn *app_conn_new(bool trusted)
{
    app_conn *c = xcalloc(1, sizeof *c);
    c->trusted = trusted;
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

static void forget_token(app_conn *c)
{
    if (c->token) {
        memset(c->token, 0, strlen(c->token));
        free(c->token);
        c->token = NULL;
    }
}

void app_conn_free(app_conn *c)
{
    if (!c)
        return;
    forget_token(c);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* ---- MCP sessions: state, accounting ---- */

void app_sessions_init(app_t *a)
{
    pthread_mutex_init(&a->sess_mu, NULL);
    app_counts_init(&a->peers);
}

void app_sessions_fini(app_t *a)
{
    app_counts_fini(&a->peers);
    pthread_mutex_destroy(&a->sess_mu);
}

void app_session_open(mcp_session *s, bool trusted)
{
    if (s)
        mcp_session_set_userdata(s, app_conn_new(trusted));
}

/* With c->mu held: binds c to the key rq presents (the API key, else an agent key). */
static void bind_key(app_conn *c, const app_req *rq)
{
    if (rq->api_key_ok)
        c->by_key = true;
    else if (rq->agent_key && !c->key_digest[0])
        auth_agent_key_digest(rq->agent_key, c->key_digest);
}

app_admit app_session_admit(app_t *a, mcp_session *s, const app_req *rq)
{
    app_conn *c = s ? mcp_session_userdata(s) : NULL;
    if (!a || !c)
        return APP_ADMIT_OK;
    const char *peer = rq && rq->rate_key && *rq->rate_key ? rq->rate_key : "anonymous";
    app_admit v = APP_ADMIT_OK;
    pthread_mutex_lock(&a->sess_mu);
    if (a->nsess >= a->lim_sessions)
        v = APP_ADMIT_FULL;
    else if (!app_counts_take(&a->peers, peer, a->lim_sessions_per_peer, NULL))
        v = APP_ADMIT_PEER_FULL;
    if (v == APP_ADMIT_OK) {
        a->nsess++;
        c->app = a;
        snprintf(c->peer, sizeof c->peer, "%s", peer);
    }
    pthread_mutex_unlock(&a->sess_mu);
    if (v == APP_ADMIT_OK && rq && (rq->api_key_ok || rq->agent_key)) {
        pthread_mutex_lock(&c->mu);
        bind_key(c, rq);
        pthread_mutex_unlock(&c->mu);
    }
    return v;
}

/* Uncounts an admitted session. */
static void session_leave(app_conn *c)
{
    app_t *a = c->app;
    if (!a)
        return;
    pthread_mutex_lock(&a->sess_mu);
    app_counts_give(&a->peers, c->peer);
    a->nsess--;
    pthread_mutex_unlock(&a->sess_mu);
    c->app = NULL;
}

void app_session_close(mcp_session *s)
{
    if (!s)
        return;
    app_conn *c = mcp_session_userdata(s);
    mcp_session_unsubscribe_all(s); /* no update uses c any more */
    if (c)
        session_leave(c);
    app_conn_free(c);
    mcp_session_set_userdata(s, NULL);
}

app_conn *app_call_conn(const app_call *c)
{
    if (c->req && c->req->conn)
        return c->req->conn;
    return c->mc ? mcp_session_userdata(mcp_call_session(c->mc)) : NULL;
}

/* ---- the credential a connection is bound to ---- */

/* The token of the request's bearer header (span), if any. */
static bool req_bearer(const app_req *rq, const char **tok, size_t *n)
{
    return rq && rq->bearer && auth_bearer(rq->bearer, tok, n);
}

/* With c->mu held: does rq present the credential c is bound to? */
static bool presents(const app_conn *c, const app_req *rq)
{
    if (c->by_key && rq && rq->api_key_ok)
        return true;
    if (c->key_digest[0] && rq && rq->agent_key) {
        char d[AUTH_DIGEST_HEX];
        auth_agent_key_digest(rq->agent_key, d);
        if (auth_ct_equal(c->key_digest, strlen(c->key_digest), d, strlen(d)))
            return true;
    }
    const char *tok;
    size_t n;
    return c->token && req_bearer(rq, &tok, &n) &&
           auth_ct_equal(c->token, strlen(c->token), tok, n);
}

/* With c->mu held: is c bound to nothing? */
static bool unbound(const app_conn *c)
{
    return !c->by_key && !c->key_digest[0] && !c->token;
}

bool app_session_owner(mcp_session *s, const app_req *rq)
{
    app_conn *c = s ? mcp_session_userdata(s) : NULL;
    if (!c || c->trusted)
        return true;
    pthread_mutex_lock(&c->mu);
    bool ok = unbound(c) || presents(c, rq);
    pthread_mutex_unlock(&c->mu);
    return ok;
}

bool app_call_owns_conn(const app_call *c)
{
    app_conn *conn = app_call_conn(c);
    if (!conn || conn->trusted)
        return true;
    pthread_mutex_lock(&conn->mu);
    bool ok = unbound(conn) || presents(conn, c->req);
    pthread_mutex_unlock(&conn->mu);
    return ok;
}

bool app_conn_remember(app_call *c, const char *token, const char *current)
{
    app_conn *conn = app_call_conn(c);
    if (!conn)
        return true;
    pthread_mutex_lock(&conn->mu);
    bool ok = unbound(conn) || presents(conn, c->req) ||
              (current && conn->token && auth_ct_streq(conn->token, current));
    if (ok) {
        if (c->req)
            bind_key(conn, c->req);
        forget_token(conn);
        conn->token = xstrdup(token);
    }
    pthread_mutex_unlock(&conn->mu);
    return ok;
}

void app_conn_adopt(app_call *c, const char *token)
{
    app_conn *conn = app_call_conn(c);
    if (!conn)
        return;
    pthread_mutex_lock(&conn->mu);
    if (!conn->token)
        conn->token = xstrdup(token);
    pthread_mutex_unlock(&conn->mu);
}

/* The trusted identity into id. */
static void trusted_identity(const app_t *a, auth_identity *id)
{
    memset(id, 0, sizeof *id);
    snprintf(id->agent_id, sizeof id->agent_id, "%s", a->trusted_id);
    snprintf(id->agent_type, sizeof id->agent_type, "%s", a->trusted_type);
    id->permissions = AUTH_PERM_READ | AUTH_PERM_WRITE;
}

/* The connection's remembered token resolved now: AUTH_OK, its failure, or
 * AUTH_TOKEN_AUTHENTICATION_FAILED with *none when it remembers no token. */
static auth_status conn_resolve(app_t *a, app_conn *conn, auth_identity *out, bool *none, err_t *e)
{
    pthread_mutex_lock(&conn->mu);
    char *tok = conn->token ? xstrdup(conn->token) : NULL;
    pthread_mutex_unlock(&conn->mu);
    *none = !tok;
    if (!tok)
        return AUTH_TOKEN_AUTHENTICATION_FAILED;
    auth_status st = auth_resolve(a->auth, tok, out, e);
    memset(tok, 0, strlen(tok));
    free(tok);
    return st;
}

bool app_conn_identity(app_t *a, app_conn *conn, auth_identity *out)
{
    if (!conn)
        return false;
    bool none;
    err_t e;
    if (conn_resolve(a, conn, out, &none, &e) == AUTH_OK)
        return true;
    if (!conn->trusted)
        return false;
    trusted_identity(a, out);
    return true;
}

bool app_is_admin(const auth_identity *id)
{
    return auth_has(id, AUTH_PERM_ADMIN);
}

/* ---- restricted sessions ---- */

/* Does the JSON array `list` of the access object hold name? */
static bool listed(const json_t *access, const char *list, const char *name)
{
    const json_t *a = json_object_get(access, list), *v;
    size_t i;
    json_array_foreach (a, i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
            return true;
    return false;
}

bool app_session_admits(const store_session *s, const auth_identity *id)
{
    if (!s->access || app_is_admin(id))
        return true;
    if (s->created_by && strcmp(s->created_by, id->agent_id) == 0)
        return true;
    json_error_t je;
    json_t *acc = json_loads(s->access, 0, &je);
    bool ok = listed(acc, "agents", id->agent_id) || listed(acc, "types", id->agent_type);
    json_decref(acc);
    return ok;
}

json_t *app_session_check(app_call *c, const char *sid)
{
    if (app_is_admin(&c->id))
        return NULL;
    store_session s;
    err_t e;
    err_code rc = store_session_head(c->app->st, sid, &s, &e);
    if (rc == ERR_NOTFOUND)
        return NULL; /* the tool answers as for any missing session */
    if (rc != ERR_OK)
        return app_error_store(c->app, &e, APP_SESSION_NOT_FOUND, "session");
    bool ok = app_session_admits(&s, &c->id);
    store_session_clear(&s);
    return ok ? NULL : app_error(c->app, APP_SESSION_NOT_FOUND, "session not found");
}

void app_audit(app_call *c, const char *event, const char *agent_id, json_t *meta)
{
    char *t = json_dumps(meta, JSON_COMPACT);
    json_decref(meta);
    store_audit_in au = {.event_type = event, .agent_id = agent_id, .metadata = t};
    err_t e;
    if (store_audit_append(c->app->st, &au, &e) != ERR_OK)
        LOG_W("app", "audit record for %s failed: %s", event, e.msg);
    free(t);
}

static app_code status_code(auth_status s)
{
    switch (s) {
    case AUTH_INVALID_TOKEN_FORMAT: return APP_INVALID_TOKEN_FORMAT;
    case AUTH_TOKEN_EXPIRED: return APP_TOKEN_EXPIRED;
    case AUTH_STORE_ERROR: return APP_DATABASE_UNAVAILABLE;
    default: return APP_TOKEN_AUTHENTICATION_FAILED;
    }
}

static json_t *status_error(app_call *c, auth_status s, const err_t *e)
{
    if (s == AUTH_STORE_ERROR)
        return app_error_store(c->app, e, APP_TOKEN_AUTHENTICATION_FAILED, "token");
    switch (s) {
    case AUTH_INVALID_TOKEN_FORMAT:
        return app_error(c->app, APP_INVALID_TOKEN_FORMAT,
                         "auth_token is not a valid token (expected sct_<uuid> or a JWT)");
    case AUTH_TOKEN_EXPIRED: return app_error(c->app, APP_TOKEN_EXPIRED, "the token has expired");
    default: return app_error(c->app, status_code(s), "the token could not be authenticated");
    }
}

/* A presented token that did not resolve (event token_refused, agent "unknown") or an
 * identity asking for more than it holds (permission_denied, its agent): audited with the
 * peer, what was asked (the tool, else the MCP method) and why, while the caller's own
 * bucket (its address; the agent) has room; past that nothing is written (a flood fills
 * no log), and the answer is the same. */
static void audit_refusal(app_call *c, const char *event, const char *agent, const char *why)
{
    json_t *r = agent ? app_rate_check(c, agent) : app_rate_check_peer(c);
    if (r) {
        json_decref(r);
        return;
    }
    const char *what = c->tool ? c->tool : c->mc ? mcp_call_method(c->mc) : NULL;
    app_audit(c, event, agent ? agent : "unknown",
              json_pack("{s:s s:s s:s}", "peer", app_call_peer(c), "request", what ? what : "",
                        "reason", why));
}

void app_audit_denied(app_call *c, const json_t *r)
{
    const json_t *sc = json_object_get(r, "structuredContent");
    const char *code = json_string_value(json_object_get(sc, "code"));
    if (c->authed && code && strcmp(code, "PERMISSION_DENIED") == 0)
        audit_refusal(c, "permission_denied", c->id.agent_id,
                      json_string_value(json_object_get(sc, "error")));
}

json_t *app_access(app_call *c, const char *token, int need, bool allow_conn)
{
    const app_req *rq = c->req;
    app_conn *conn = app_call_conn(c);
    c->authed = false;
    if (token && !*token)
        token = NULL;
    if (!token && rq && rq->bearer && *rq->bearer)
        token = rq->bearer;
    err_t e;
    if (token) {
        auth_status s = auth_resolve(c->app->auth, token, &c->id, &e);
        if (s != AUTH_OK && s != AUTH_STORE_ERROR)
            audit_refusal(c, "token_refused", NULL, auth_status_code(s));
        if (s != AUTH_OK)
            return status_error(c, s, &e);
        c->authed = true;
    } else if (allow_conn && conn && app_call_owns_conn(c)) {
        /* the remembered token, for a request that presents its credential again */
        bool none;
        auth_status s = conn_resolve(c->app, conn, &c->id, &none, &e);
        if (s != AUTH_OK && !none)
            return status_error(c, s, &e);
        c->authed = s == AUTH_OK;
    }
    if (!c->authed && conn && conn->trusted) {
        trusted_identity(c->app, &c->id);
        c->authed = true;
    }
    if (!c->authed)
        return app_error(
            c->app, APP_AUTH_FAILED,
            "authentication required: pass the token from authenticate_agent as auth_token");
    auth_perms p = need == APP_NEED_ADMIN   ? AUTH_PERM_ADMIN
                   : need == APP_NEED_WRITE ? AUTH_PERM_WRITE
                   : need == APP_NEED_READ  ? AUTH_PERM_READ
                                            : 0;
    if (p && !auth_has(&c->id, p)) {
        char why[64];
        snprintf(why, sizeof why, "permission '%s' required", auth_perm_name(p));
        audit_refusal(c, "permission_denied", c->id.agent_id, why);
        return app_error_ex(c->app, APP_PERMISSION_DENIED,
                            json_pack("{s:s s:s}", "required_permission", auth_perm_name(p),
                                      "agent_type", c->id.agent_type),
                            NULL, 0, "permission '%s' required", auth_perm_name(p));
    }
    return NULL;
}

/* ---- rate limits: one bucket per agent's calls, per client address before
 * authentication, per agent's logins; the kinds are apart (a control character no
 * agent id contains starts the keys of the last two) ---- */

const char *app_call_peer(const app_call *c)
{
    return c->req && c->req->rate_key && *c->req->rate_key ? c->req->rate_key : "anonymous";
}

/* which: the bucket family (APP_RL_AGENT, _PEER, _LOGIN), counted when it refuses */
static json_t *rate_take(app_call *c, int which, const char *kind, const char *key)
{
    long retry = 0;
    if (!c->app->rl)
        return NULL;
    char k[AUTH_AGENT_ID_BUF + 16];
    snprintf(k, sizeof k, "%s%s", kind, key && *key ? key : "anonymous");
    if (auth_rl_take(c->app->rl, k, 1.0, &retry))
        return NULL;
    atomic_fetch_add_explicit(&c->app->rate_limited[which], 1, memory_order_relaxed);
    return app_error_ex(c->app, APP_RATE_LIMITED, NULL, NULL, retry > 0 ? retry : 1,
                        "rate limit exceeded; retry in %ld s", retry > 0 ? retry : 1);
}

json_t *app_rate_check(app_call *c, const char *key)
{
    return rate_take(c, APP_RL_AGENT, "", key);
}

json_t *app_rate_check_peer(app_call *c)
{
    return rate_take(c, APP_RL_PEER, "\x01peer\x01", app_call_peer(c));
}

json_t *app_rate_check_login(app_call *c, const char *agent_id)
{
    return rate_take(c, APP_RL_LOGIN, "\x01login\x01", agent_id);
}
