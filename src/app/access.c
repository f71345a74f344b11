/* app/access.c — who is calling and whether they may: resolves the caller from an
 * auth_token argument, the request's bearer header, (for resources and prompts) the
 * identity remembered by the connection, or a trusted transport's identity; default
 * deny otherwise; the one permission check (read on reads, write on writes, admin on
 * admin tools); per-connection and per-MCP-session state; rate limiting. Must not: log or echo tokens. */
#include <stdlib.h>
#include <string.h>

#include "app/app_int.h"
#include "base/sbuf.h"

app_conn *app_conn_new(bool trusted)
{
    app_conn *c = xcalloc(1, sizeof *c);
    c->trusted = trusted;
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void app_conn_free(app_conn *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    memset(&c->id, 0, sizeof c->id);
    free(c);
}

void app_session_open(mcp_session *s, bool trusted)
{
    if (s)
        mcp_session_set_userdata(s, app_conn_new(trusted));
}

void app_session_close(mcp_session *s)
{
    if (!s)
        return;
    app_conn_free(mcp_session_userdata(s));
    mcp_session_set_userdata(s, NULL);
}

app_conn *app_call_conn(const app_call *c)
{
    if (c->req && c->req->conn)
        return c->req->conn;
    return c->mc ? mcp_session_userdata(mcp_call_session(c->mc)) : NULL;
}

bool app_is_admin(const auth_identity *id)
{
    return auth_has(id, AUTH_PERM_ADMIN);
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

json_t *app_access(app_call *c, const char *token, int need, bool allow_conn)
{
    const app_req *rq = c->req;
    app_conn *conn = app_call_conn(c);
    c->authed = false;
    if (token && !*token)
        token = NULL;
    if (!token && rq && rq->bearer && *rq->bearer)
        token = rq->bearer;
    if (token) {
        err_t e;
        auth_status s = auth_resolve(c->app->auth, token, &c->id, &e);
        if (s != AUTH_OK)
            return status_error(c, s, &e);
        c->authed = true;
    } else if (allow_conn && conn) {
        pthread_mutex_lock(&conn->mu);
        if (conn->has_id && (conn->id.expires_at == 0 || conn->id.expires_at > c->now)) {
            c->id = conn->id;
            c->authed = true;
        }
        pthread_mutex_unlock(&conn->mu);
    }
    if (!c->authed && conn && conn->trusted) {
        memset(&c->id, 0, sizeof c->id);
        snprintf(c->id.agent_id, sizeof c->id.agent_id, "%s", c->app->trusted_id);
        snprintf(c->id.agent_type, sizeof c->id.agent_type, "%s", c->app->trusted_type);
        c->id.permissions = AUTH_PERM_READ | AUTH_PERM_WRITE;
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
    if (p && !auth_has(&c->id, p))
        return app_error_ex(c->app, APP_PERMISSION_DENIED,
                            json_pack("{s:s s:s}", "required_permission", auth_perm_name(p),
                                      "agent_type", c->id.agent_type),
                            NULL, 0, "permission '%s' required", auth_perm_name(p));
    return NULL;
}

json_t *app_rate_check(app_call *c, const char *key)
{
    long retry = 0;
    if (!c->app->rl)
        return NULL;
    if (auth_rl_take(c->app->rl, key && *key ? key : "anonymous", 1.0, &retry))
        return NULL;
    return app_error_ex(c->app, APP_RATE_LIMITED, NULL, NULL, retry > 0 ? retry : 1,
                        "rate limit exceeded; retry in %ld s", retry > 0 ? retry : 1);
}
