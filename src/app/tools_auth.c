/* app/tools_auth.c — authenticate_agent (mints a protected token after the transport
 * verified the API key; over stdio the key comes from the server's environment) and
 * refresh_token. The API key is checked before anything is charged; logins are limited
 * per client address and per agent; refused ones are audited (auth_failed) and logged.
 * The connection (over HTTP: the MCP session) remembers the token issued on it, bound to
 * the credential presented (for resources and prompts, which cannot carry an auth_token).
 * Must not: log or return anything secret except the caller's own new token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_int.h"
#include "base/log.h"

/* Token issuance is written by auth/ (token_put) without an audit hook, so the audit
 * record follows in its own transaction; a failure is logged, not returned. */
static void audit(app_call *c, const char *event, const char *agent_id, json_t *meta)
{
    char *t = json_dumps(meta, JSON_COMPACT);
    json_decref(meta);
    store_audit_in au = {.event_type = event, .agent_id = agent_id, .metadata = t};
    err_t e;
    if (store_audit_append(c->app->st, &au, &e) != ERR_OK)
        LOG_W("app", "audit record for %s failed: %s", event, e.msg);
    free(t);
}

/* A refused login (no or a wrong API key, a token that did not resolve): charged to the
 * caller's own address only, then, if that address had room for it, audited (event
 * auth_failed with the address and the claimed agent id, never the key or token) and
 * logged at WARN; a flood stops at its own address's limit (RATE_LIMITED, nothing
 * written). */
static json_t *refused(app_call *c, const char *tool, const char *claimed, app_code code,
                       const char *why)
{
    json_t *r = app_rate_check_peer(c);
    if (r)
        return r;
    const char *agent = claimed && auth_valid_agent_id(claimed) ? claimed : "unknown";
    const char *peer = app_call_peer(c);
    LOG_W("app", "%s refused from %s for agent %s: %s", tool, peer, agent, why);
    audit(c, "auth_failed", agent,
          json_pack("{s:s s:s s:s}", "peer", peer, "tool", tool, "reason", why));
    return app_error(c->app, code, "%s", why);
}

/* The connection remembers the token issued on it (for resources and prompts, which
 * cannot carry an auth_token), bound to the credential the request presented. */
static void remember(app_call *c, const char *token, const char *current)
{
    if (!app_conn_remember(c, token, current))
        LOG_I("app", "a token was issued on an MCP session bound to another credential: "
                     "the session keeps its own");
}

static json_t *authenticate_agent(app_call *c, json_t *args)
{
    const char *agent_id = app_arg_str(args, "agent_id");
    /* the key first: nothing is charged to anyone else before it is checked */
    if (!c->req || !c->req->api_key_ok)
        return refused(c, "authenticate_agent", agent_id, APP_AUTH_FAILED,
                       "the server API key was not presented (HTTP: X-API-Key header; stdio: "
                       "API_KEY in the server's environment)");
    const char *agent_type = app_arg_str(args, "agent_type");
    if (!agent_type)
        agent_type = "generic";
    if (!agent_id || !auth_valid_agent_id(agent_id))
        return app_error(c->app, APP_INVALID_INPUT,
                         "agent_id must be 1..%d characters without control characters",
                         AUTH_AGENT_ID_MAX);
    if (!auth_valid_agent_type(agent_type))
        return app_error(c->app, APP_INVALID_INPUT,
                         "agent_type must be 1..%d characters without control characters",
                         AUTH_AGENT_TYPE_MAX);
    json_t *r = app_rate_check_peer(c);
    if (!r)
        r = app_rate_check_login(c, agent_id);
    if (r)
        return r;
    auth_perms req = AUTH_PERM_READ | AUTH_PERM_WRITE;
    json_t *rp = json_object_get(args, "requested_permissions");
    err_t e;
    if (rp && !json_is_null(rp) && auth_perms_from_json(rp, &req, &e) != ERR_OK)
        return app_error(c->app, APP_INVALID_INPUT, "requested_permissions: %s", e.msg);
    auth_issued is;
    if (auth_issue(c->app->auth, agent_id, agent_type, req, &is, &e) != ERR_OK)
        return app_error_store(c->app, &e, APP_AUTH_FAILED, "issuing the token");
    remember(c, is.token, NULL);
    audit(c, "agent_authenticated", is.id.agent_id,
          json_pack("{s:s}", "agent_type", is.id.agent_type));
    json_t *o = json_pack("{s:s s:s s:s s:o s:o s:s s:o s:s}", "token", is.token, "agent_id",
                          is.id.agent_id, "agent_type", is.id.agent_type, "permissions",
                          auth_perms_to_json(is.id.permissions), "expires_at",
                          app_json_time(is.id.expires_at), "token_type", "Protected", "issued_at",
                          app_json_time(is.id.issued_at), "token_format", "sct_*");
    memset(&is, 0, sizeof is);
    return app_ok(o);
}

static json_t *refresh_token(app_call *c, json_t *args)
{
    const char *cur = app_arg_str(args, "current_token");
    if (!cur || !*cur)
        return app_error(c->app, APP_INVALID_TOKEN_FORMAT, "current_token is required");
    /* whose token it is decides the login bucket; a token that does not resolve is a
     * refused login of the caller's own address */
    auth_identity who;
    err_t e;
    auth_status s = auth_resolve(c->app->auth, cur, &who, &e);
    if (s == AUTH_OK) {
        json_t *r = app_rate_check_peer(c);
        if (!r)
            r = app_rate_check_login(c, who.agent_id);
        if (r)
            return r;
    }
    auth_issued is;
    if (s == AUTH_OK)
        s = auth_refresh(c->app->auth, cur, &is, &e);
    switch (s) {
    case AUTH_OK: break;
    case AUTH_INVALID_TOKEN_FORMAT:
        return app_error(c->app, APP_INVALID_TOKEN_FORMAT, "current_token is not a valid token");
    case AUTH_TOKEN_EXPIRED:
        return app_error(c->app, APP_TOKEN_EXPIRED,
                         "current_token has expired: authenticate again");
    case AUTH_STORE_ERROR:
        return app_error_store(c->app, &e, APP_TOKEN_AUTHENTICATION_FAILED, "refreshing the token");
    default:
        return refused(c, "refresh_token", NULL, APP_TOKEN_AUTHENTICATION_FAILED,
                       "current_token could not be authenticated");
    }
    remember(c, is.token, cur);
    audit(c, "token_refreshed", is.id.agent_id, json_pack("{s:s}", "agent_type", is.id.agent_type));
    long long in = (is.id.expires_at - c->now) / 1000000;
    json_t *o =
        json_pack("{s:s s:I s:o s:s s:o}", "token", is.token, "expires_in",
                  (json_int_t)(in > 0 ? in : 0), "expires_at", app_json_time(is.id.expires_at),
                  "token_type", "Protected", "issued_at", app_json_time(is.id.issued_at));
    memset(&is, 0, sizeof is);
    return app_ok(o);
}

const app_tool app_tools_auth[] = {
    {"authenticate_agent", "Authenticate agent",
     "Authenticate an agent and get a token to pass as auth_token to every other tool. "
     "Permissions granted = requested_permissions limited by what the agent_type allows "
     "(claude/gemini: read,write; admin/system: read,write,admin,debug; test: read,write,debug; "
     "generic and unknown: read).",
     NULL, APP_NEED_NONE, authenticate_agent},
    {"refresh_token", "Refresh token",
     "Exchange a valid token for a fresh one (the old token stops working).", NULL, APP_NEED_NONE,
     refresh_token},
    {NULL, NULL, NULL, NULL, 0, NULL},
};
