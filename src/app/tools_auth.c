/* app/tools_auth.c — authenticate_agent and refresh_token. A login names its identity
 * (agent_id, agent_type, requested_permissions) and presents a credential: the transport
 * says which (app_req: the shared API key, an agent's own key, or — stdio — the local
 * user who started the server) and auth_login_check says what that credential may claim.
 * The credential is checked before anything is charged; logins are limited per client
 * address and per agent. Refused logins are audited and logged: auth_failed (no or an
 * invalid credential: AUTH_FAILED), auth_refused (a valid credential claiming another
 * agent, another type or more permissions than it holds: PERMISSION_DENIED).
 * A login granted less than it asked for says what and why (permissions_denied, note).
 * The connection (over HTTP: the MCP session) remembers the token issued on it, bound to
 * the credential presented (for resources and prompts, which cannot carry an auth_token).
 * Must not: log, audit or return anything secret except the caller's own new token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_int.h"
#include "base/log.h"
#include "base/sbuf.h"

/* Charged to the caller's own address only, then, if that address had room for it,
 * audited (event, with the address and the claimed agent id, never a key or token; meta
 * stolen) and logged at WARN; a flood stops at its own address's limit (RATE_LIMITED,
 * nothing written). */
static json_t *refused_as(app_call *c, const char *event, const char *tool, const char *claimed,
                          app_code code, json_t *meta, json_t *context, const char *why)
{
    json_t *r = app_rate_check_peer(c);
    if (r) {
        json_decref(meta);
        json_decref(context);
        return r;
    }
    const char *agent = claimed && auth_valid_agent_id(claimed) ? claimed : "unknown";
    const char *peer = app_call_peer(c);
    LOG_W("app", "%s refused from %s for agent %s: %s", tool, peer, agent, why);
    json_object_set_new(meta, "peer", json_string(peer));
    json_object_set_new(meta, "tool", json_string(tool));
    json_object_set_new(meta, "reason", json_string(why));
    app_audit(c, event, agent, meta);
    return app_error_ex(c->app, code, context, NULL, 0, "%s", why);
}

/* A refused login without a valid credential (no or a wrong key, an unknown or revoked
 * agent key, a token that did not resolve): auth_failed. */
static json_t *refused(app_call *c, const char *tool, const char *claimed, app_code code,
                       const char *why)
{
    return refused_as(c, "auth_failed", tool, claimed, code, json_object(), NULL, why);
}

/* The connection remembers the token issued on it (for resources and prompts, which
 * cannot carry an auth_token), bound to the credential the request presented. */
static void remember(app_call *c, const char *token, const char *current)
{
    if (!app_conn_remember(c, token, current))
        LOG_I("app", "a token was issued on an MCP session bound to another credential: "
                     "the session keeps its own");
}

/* A login with a valid credential: charged to the caller's address and to the agent's
 * logins; RATE_LIMITED when either bucket is empty, else NULL. */
static json_t *charge_login(app_call *c, const char *agent_id)
{
    json_t *r = app_rate_check_peer(c);
    return r ? r : app_rate_check_login(c, agent_id);
}

static const char *cred_name(auth_cred_kind k)
{
    switch (k) {
    case AUTH_CRED_LOCAL: return "local";
    case AUTH_CRED_SHARED: return "shared_key";
    case AUTH_CRED_AGENT: return "agent_key";
    case AUTH_CRED_NONE: break;
    }
    return "none";
}

/* The credential the request presents (the transport verified the API key). */
static auth_cred_kind cred_of(const app_req *rq)
{
    if (!rq)
        return AUTH_CRED_NONE;
    if (rq->api_key_ok)
        return rq->local ? AUTH_CRED_LOCAL : AUTH_CRED_SHARED;
    return rq->agent_key && *rq->agent_key ? AUTH_CRED_AGENT : AUTH_CRED_NONE;
}

/* A valid credential claiming what it may not: auth_refused (with what was claimed),
 * PERMISSION_DENIED. */
static json_t *claim_refused(app_call *c, const auth_claim *cl, const char *why)
{
    json_t *meta = json_pack("{s:s s:s}", "credential", cred_name(cl->cred), "agent_type",
                             cl->agent_type ? cl->agent_type : "");
    if (cl->requested_given)
        json_object_set_new(meta, "requested_permissions", auth_perms_to_json(cl->requested));
    return refused_as(c, "auth_refused", "authenticate_agent", cl->agent_id, APP_PERMISSION_DENIED,
                      meta, json_pack("{s:s}", "credential", cred_name(cl->cred)), why);
}

/* What the login asked for (requested_permissions, else the credential's default: an
 * agent key's own permissions, read and write otherwise) and was not issued: narrowed by
 * the shared key's policy (SHARED_KEY_PERMISSIONS, when nothing was requested) or by the
 * agent type's ceiling (the permission map). Sets permissions_denied on the result o
 * (always; [] when nothing was denied) and, when something was, a note naming each and
 * why. Returns the denied permissions. */
static auth_perms report_denied(app_call *c, json_t *o, const auth_claim *cl, const auth_grant *g,
                                const auth_identity *id)
{
    auth_perms asked = cl->requested_given           ? cl->requested
                       : cl->cred == AUTH_CRED_AGENT ? g->permissions
                                                     : AUTH_PERM_READ | AUTH_PERM_WRITE;
    auth_perms by_policy = asked & ~g->permissions, by_type = g->permissions & ~id->permissions;
    json_object_set_new(o, "permissions_denied", auth_perms_to_json(by_policy | by_type));
    if (!(by_policy | by_type))
        return 0;
    char all[64], p[64], cap[64];
    sbuf_t b = SBUF_INIT;
    sbuf_printf(&b, "Not granted: %s.", auth_perms_format(by_policy | by_type, all, sizeof all));
    if (by_type) {
        auth_perms allowed = auth_permmap_lookup(auth_ctx_perms(c->app->auth), id->agent_type);
        sbuf_printf(&b,
                    " Agent type '%s' may hold only %s under the server's permission map "
                    "(built in, or PERMISSIONS_CONFIG_FILE), so %s was left out: use an agent "
                    "type that may hold it, or ask the operator.",
                    id->agent_type, *auth_perms_format(allowed, cap, sizeof cap) ? cap : "nothing",
                    auth_perms_format(by_type, p, sizeof p));
    }
    if (by_policy)
        sbuf_printf(&b,
                    " The shared API key claims only what SHARED_KEY_PERMISSIONS allows, so %s "
                    "was left out: an agent key of its own (ctxd agent add) may hold more.",
                    auth_perms_format(by_policy, p, sizeof p));
    json_object_set_new(o, "note", json_string(sbuf_cstr(&b)));
    sbuf_free(&b);
    return by_policy | by_type;
}

static json_t *authenticate_agent(app_call *c, json_t *args)
{
    const char *agent_id = app_arg_str(args, "agent_id");
    auth_claim cl = {.cred = cred_of(c->req), .agent_key = c->req ? c->req->agent_key : NULL};
    /* a credential first: nothing is charged to anyone else before it is checked */
    if (cl.cred == AUTH_CRED_NONE)
        return refused(c, "authenticate_agent", agent_id, APP_AUTH_FAILED,
                       "the server API key was not presented (HTTP: X-API-Key header, with the "
                       "server's API key or the agent's own key; stdio: API_KEY in the server's "
                       "environment)");
    cl.agent_type = app_arg_str(args, "agent_type");
    if (!agent_id || !auth_valid_agent_id(agent_id))
        return app_error(c->app, APP_INVALID_INPUT,
                         "agent_id must be 1..%d characters without control characters",
                         AUTH_AGENT_ID_MAX);
    if (cl.agent_type && !auth_valid_agent_type(cl.agent_type))
        return app_error(c->app, APP_INVALID_INPUT,
                         "agent_type must be 1..%d characters without control characters",
                         AUTH_AGENT_TYPE_MAX);
    cl.agent_id = agent_id;
    json_t *rp = json_object_get(args, "requested_permissions");
    err_t e;
    if (rp && !json_is_null(rp)) {
        if (auth_perms_from_json(rp, &cl.requested, &e) != ERR_OK)
            return app_error(c->app, APP_INVALID_INPUT, "requested_permissions: %s", e.msg);
        cl.requested_given = true;
    }
    auth_grant g;
    switch (auth_login_check(c->app->auth, &cl, &g, &e)) {
    case AUTH_LOGIN_OK: break;
    case AUTH_LOGIN_NO_CREDENTIAL:
        return refused(c, "authenticate_agent", agent_id, APP_AUTH_FAILED, g.why);
    case AUTH_LOGIN_REFUSED: return claim_refused(c, &cl, g.why);
    case AUTH_LOGIN_STORE_ERROR:
        return app_error_store(c->app, &e, APP_AUTH_FAILED, "checking the credential");
    }
    json_t *r = charge_login(c, g.agent_id);
    if (r)
        return r;
    auth_issued is;
    if (auth_issue(c->app->auth, g.agent_id, g.agent_type, g.permissions, &is, &e) != ERR_OK)
        return app_error_store(c->app, &e, APP_AUTH_FAILED, "issuing the token");
    remember(c, is.token, NULL);
    json_t *o = json_pack("{s:s s:s s:s s:o s:o s:s s:o s:s}", "token", is.token, "agent_id",
                          is.id.agent_id, "agent_type", is.id.agent_type, "permissions",
                          auth_perms_to_json(is.id.permissions), "expires_at",
                          app_json_time(is.id.expires_at), "token_type", "Protected", "issued_at",
                          app_json_time(is.id.issued_at), "token_format", "sct_*");
    auth_perms denied = report_denied(c, o, &cl, &g, &is.id);
    json_t *meta =
        json_pack("{s:s s:s}", "agent_type", is.id.agent_type, "credential", cred_name(cl.cred));
    if (denied)
        json_object_set_new(meta, "permissions_denied", auth_perms_to_json(denied));
    app_audit(c, "agent_authenticated", is.id.agent_id, meta);
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
    json_t *r = s == AUTH_OK ? charge_login(c, who.agent_id) : NULL;
    if (r)
        return r;
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
    app_audit(c, "token_refreshed", is.id.agent_id,
              json_pack("{s:s}", "agent_type", is.id.agent_type));
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
     "(claude, gemini, codex, cursor, copilot, qwen, windsurf, kiro, opencode, zed, cline: "
     "read,write; admin/system: read,write,admin,debug; test: read,write,debug; generic and "
     "unknown: read); what was not granted is listed in permissions_denied, with a note saying "
     "why. Over HTTP the X-API-Key header carries the server's API key or the agent's own key "
     "(which authenticates exactly its agent).",
     NULL, APP_NEED_NONE, authenticate_agent},
    {"refresh_token", "Refresh token",
     "Exchange a valid token for a fresh one (the old token stops working).", NULL, APP_NEED_NONE,
     refresh_token},
    {NULL, NULL, NULL, NULL, 0, NULL},
};
