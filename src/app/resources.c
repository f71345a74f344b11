/* app/resources.c — the MCP resources of the contract: server://info/{_},
 * docs://tools/{_}, session://{session_id}, session://{session_id}/messages/{limit},
 * agent://{agent_id}/memory (own memory only), completion of session ids, who may
 * subscribe to them, and the notifications/resources/updated sent when a message is
 * added. Reads resolve the caller like tools (bearer header, else the token the
 * connection remembers for a request presenting its credential, else a trusted
 * transport) and apply app_vis_build; notifications go only to subscribers whose
 * identity may read the message.
 * Must not: return or announce anything the same caller could not read through the
 * tools. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_int.h"
#include "base/ids.h"
#include "base/sbuf.h"

#define APP_RES_DENIED (-32001)

/* Turns an envelope error result into a JSON-RPC error of the read. */
static json_t *fail(mcp_call *mc, json_t *err_result, int code)
{
    json_t *sc = json_object_get(err_result, "structuredContent");
    const char *msg = json_string_value(json_object_get(sc, "error"));
    const char *ecode = json_string_value(json_object_get(sc, "code"));
    mcp_call_set_error(mc, code, msg ? msg : "error",
                       json_pack("{s:s}", "code", ecode ? ecode : "INVALID_INPUT"));
    json_decref(err_result);
    return NULL;
}

static bool begin(app_t *a, mcp_call *mc, app_call *c)
{
    memset(c, 0, sizeof *c);
    c->app = a;
    c->mc = mc;
    c->req = mcp_call_auth(mc);
    c->now = app_now(a);
    json_t *r = app_access(c, NULL, APP_NEED_READ, true);
    if (r) {
        fail(mc, r, APP_RES_DENIED);
        return false;
    }
    return true;
}

static json_t *json_resource(const char *uri, json_t *v)
{
    char *t = json_dumps(v, JSON_INDENT(2));
    json_decref(v);
    json_t *r = mcp_resource_text(uri, "application/json", t ? t : "{}");
    free(t);
    return r;
}

static json_t *read_info(mcp_call *mc, const char *uri, json_t *vars, void *ud)
{
    (void)mc;
    (void)vars;
    app_t *a = ud;
    mcp_server_info i = app_server_info();
    return json_resource(uri,
                         json_pack("{s:s s:s s:s s:s s:I s:s s:o}", "name", i.name, "version",
                                   i.version, "description", i.description, "database_backend",
                                   store_name(a->st), "tools", (json_int_t)a->ntools, "protocol",
                                   MCP_LATEST_VERSION, "visibility_levels", app_vis_names()));
}

static json_t *read_docs(mcp_call *mc, const char *uri, json_t *vars, void *ud)
{
    (void)mc;
    const char *name = json_string_value(json_object_get(vars, "_"));
    json_t *arr = app_tools_doc(ud, name);
    if (json_array_size(arr) == 0) {
        json_decref(arr);
        mcp_call_set_error(mc, MCP_RESOURCE_NOT_FOUND, "no such tool",
                           json_pack("{s:s}", "uri", uri));
        return NULL;
    }
    return json_resource(uri, json_pack("{s:o}", "tools", arr));
}

static json_t *session_read(app_t *a, mcp_call *mc, const char *uri, const char *sid, int limit,
                            bool with_session)
{
    app_call c;
    if (!begin(a, mc, &c))
        return NULL;
    if (!ids_is_session(sid)) {
        mcp_call_set_error(mc, MCP_RESOURCE_NOT_FOUND, "session not found",
                           json_pack("{s:s}", "uri", uri));
        return NULL;
    }
    store_vis vis;
    json_t *r = app_vis_build(&c, &c.id, NULL, &vis);
    if (r)
        return fail(mc, r, APP_RES_DENIED);
    store_session s;
    err_t e;
    if (store_session_get(a->st, sid, &s, &e) != ERR_OK) {
        if (e.code == ERR_NOTFOUND) {
            mcp_call_set_error(mc, MCP_RESOURCE_NOT_FOUND, "session not found",
                               json_pack("{s:s}", "uri", uri));
            return NULL;
        }
        return fail(mc, app_error_store(a, &e, APP_SESSION_NOT_FOUND, "session"),
                    MCP_INTERNAL_ERROR);
    }
    if (!app_session_admits(&s, &c.id)) { /* a restricted session: as if missing */
        store_session_clear(&s);
        mcp_call_set_error(mc, MCP_RESOURCE_NOT_FOUND, "session not found",
                           json_pack("{s:s}", "uri", uri));
        return NULL;
    }
    store_msg_query q = {.session_id = sid, .vis = vis, .limit = limit, .newest_first = true};
    store_messages ms;
    int64_t total = 0;
    if (store_message_list(a->st, &q, &ms, &total, &e) != ERR_OK) {
        store_session_clear(&s);
        return fail(mc, app_error_store(a, &e, APP_SESSION_NOT_FOUND, "session"),
                    MCP_INTERNAL_ERROR);
    }
    json_t *arr = json_array();
    for (size_t i = ms.n; i-- > 0;) /* oldest first */
        json_array_append_new(arr, app_json_message(&ms.v[i]));
    json_t *o = json_object();
    if (with_session)
        json_object_set_new(o, "session", app_json_session(&s));
    else
        json_object_set_new(o, "session_id", json_string(sid));
    json_object_set_new(o, "messages", arr);
    json_object_set_new(o, "message_count", json_integer(total));
    json_object_set_new(o, "last_updated", app_json_time(s.updated_at));
    store_messages_free(&ms);
    store_session_clear(&s);
    return json_resource(uri, o);
}

static json_t *read_session(mcp_call *mc, const char *uri, json_t *vars, void *ud)
{
    return session_read(ud, mc, uri, json_string_value(json_object_get(vars, "session_id")), 50,
                        true);
}

static json_t *read_session_messages(mcp_call *mc, const char *uri, json_t *vars, void *ud)
{
    long limit;
    if (!str_to_long(json_string_value(json_object_get(vars, "limit")), 1, 1000, &limit)) {
        mcp_call_set_error(mc, MCP_INVALID_PARAMS, "limit must be an integer 1..1000", NULL);
        return NULL;
    }
    return session_read(ud, mc, uri, json_string_value(json_object_get(vars, "session_id")),
                        (int)limit, false);
}

static json_t *read_memory(mcp_call *mc, const char *uri, json_t *vars, void *ud)
{
    app_t *a = ud;
    app_call c;
    if (!begin(a, mc, &c))
        return NULL;
    const char *agent = json_string_value(json_object_get(vars, "agent_id"));
    if (!agent || strcmp(agent, c.id.agent_id) != 0)
        return fail(mc,
                    app_error(a, APP_PERMISSION_DENIED, "agents may only read their own memory"),
                    APP_RES_DENIED);
    store_mem_query q = {
        .agent_id = c.id.agent_id, .scope = STORE_MEM_ALL, .limit = 200, .now = c.now};
    store_memories ms;
    err_t e;
    if (store_memory_list(a->st, &q, &ms, &e) != ERR_OK)
        return fail(mc, app_error_store(a, &e, APP_MEMORY_NOT_FOUND, "memory"), MCP_INTERNAL_ERROR);
    json_t *glob = json_object(), *sess = json_object();
    for (size_t i = 0; i < ms.n; i++) {
        store_memory *m = &ms.v[i];
        json_t *ent =
            json_pack("{s:o s:o s:o}", "value", app_json_parse_text(m->value), "updated_at",
                      app_json_time(m->updated_at), "expires_at", app_json_time(m->expires_at));
        if (m->session_id) {
            json_t *so = json_object_get(sess, m->session_id);
            if (!so) {
                so = json_object();
                json_object_set_new(sess, m->session_id, so);
            }
            json_object_set_new(so, m->key, ent);
        } else {
            json_object_set_new(glob, m->key, ent);
        }
    }
    size_t n = ms.n;
    store_memories_free(&ms);
    return json_resource(uri, json_pack("{s:s s:o s:o s:I}", "agent_id", c.id.agent_id, "global",
                                        glob, "sessions", sess, "count", (json_int_t)n));
}

static json_t *complete_session(mcp_call *mc, const char *arg, const char *value, json_t *ctx,
                                void *ud)
{
    (void)ctx;
    app_t *a = ud;
    if (strcmp(arg, "session_id") != 0)
        return NULL;
    app_call c = {.app = a, .mc = mc, .req = mcp_call_auth(mc), .now = app_now(a)};
    json_t *r = app_access(&c, NULL, APP_NEED_READ, true);
    if (r) {
        json_decref(r);
        return NULL;
    }
    store_session_query q = {.limit = 100, .active_only = true}; /* ids only: counts nothing */
    if (!app_is_admin(&c.id)) { /* only sessions that admit the caller */
        q.vis.member_id = c.id.agent_id;
        q.vis.member_type = c.id.agent_type;
    }
    store_sessions ss;
    err_t e;
    if (store_session_list(a->st, &q, &ss, NULL, &e) != ERR_OK)
        return NULL;
    json_t *arr = json_array();
    for (size_t i = 0; i < ss.n; i++)
        if (!value || str_starts_with(ss.v[i].id, value))
            json_array_append_new(arr, json_string(ss.v[i].id));
    store_sessions_free(&ss);
    return arr;
}

static json_t *complete_docs(mcp_call *mc, const char *arg, const char *value, json_t *ctx,
                             void *ud)
{
    (void)mc;
    (void)ctx;
    app_t *a = ud;
    if (strcmp(arg, "_") != 0)
        return NULL;
    json_t *arr = json_array();
    for (size_t i = 0; i < a->ntools; i++)
        if (!value || str_starts_with(a->tool_names[i], value))
            json_array_append_new(arr, json_string(a->tool_names[i]));
    return arr;
}

#define T_INFO "server://info/{_}"
#define T_DOCS "docs://tools/{_}"
#define T_SESSION "session://{session_id}"
#define T_SESSION_MESSAGES "session://{session_id}/messages/{limit}"
#define T_MEMORY "agent://{agent_id}/memory"

/* ---- subscriptions ---- */

static bool refuse(mcp_call *mc, app_t *a, app_code code, const char *msg)
{
    fail(mc, app_error(a, code, "%s", msg), APP_RES_DENIED);
    return false;
}

/* resources/subscribe needs an identity (the request's bearer, or the token the MCP
 * session remembers for a request presenting its credential) that may read the
 * resource: the read is made and its error, if any, is the subscribe's. A session
 * subscribes as its owner: a request that does not present the session's credential is
 * refused, also for unsubscribe. A subscription made with a bearer on a session that
 * remembers no token binds the session to that token. The subscriber is the connection
 * state, whose identity is resolved again for every notification. */
static bool subscribe_check(app_t *a, mcp_call *mc, const char *uri, json_t *vars, bool on,
                            void **subscriber, mcp_read_fn read)
{
    app_call c = {.app = a, .mc = mc, .req = mcp_call_auth(mc), .now = app_now(a)};
    app_conn *conn = app_call_conn(&c);
    if (!conn)
        return refuse(mc, a, APP_AUTH_FAILED, "subscriptions need an MCP session");
    json_t *r = on ? app_access(&c, NULL, APP_NEED_READ, true) : NULL;
    if (r) {
        fail(mc, r, APP_RES_DENIED);
        return false;
    }
    if (!app_call_owns_conn(&c))
        return refuse(mc, a, APP_AUTH_FAILED,
                      "this MCP session is bound to another credential: present its API key "
                      "or token");
    if (!on)
        return true;
    json_t *res = read(mc, uri, vars, a);
    if (!res)
        return false;
    json_decref(res);
    const char *tok;
    size_t n;
    if (c.req && c.req->bearer && auth_bearer(c.req->bearer, &tok, &n)) {
        char *t = xstrndup(tok, n);
        app_conn_adopt(&c, t);
        memset(t, 0, n);
        free(t);
    }
    *subscriber = conn;
    return true;
}

#define SUBSCRIBE_CHECK(name, read) \
    static bool name(mcp_call *mc, const char *uri, json_t *vars, bool on, void **subscriber, \
                     void *ud) \
    { \
        return subscribe_check(ud, mc, uri, vars, on, subscriber, read); \
    }
SUBSCRIBE_CHECK(sub_info, read_info)
SUBSCRIBE_CHECK(sub_docs, read_docs)
SUBSCRIBE_CHECK(sub_session, read_session)
SUBSCRIBE_CHECK(sub_session_messages, read_session_messages)
SUBSCRIBE_CHECK(sub_memory, read_memory)
#undef SUBSCRIBE_CHECK

/* Is m visible through vis? The store's reading of a store_vis (store.h), for one
 * message in memory. */
static bool vis_admits(const store_vis *vis, const store_message *m)
{
    if (vis->any & STORE_VIS_BIT(m->visibility))
        return true;
    if (m->visibility == STORE_VIS_PRIVATE && vis->private_of)
        return strcmp(m->sender, vis->private_of) == 0;
    if (m->visibility == STORE_VIS_AGENT_ONLY && vis->agent_only_of)
        return m->sender_type && strcmp(m->sender_type, vis->agent_only_of) == 0;
    return false;
}

typedef struct hearing {
    app_t *a;
    const store_message *m;
    store_session s; /* the message's session, read for the first subscriber */
    int have;        /* 0: not read yet, 1: read, -1: could not be read */
} hearing;

/* May the subscriber (an app_conn) hear of message m? Its identity now, read
 * permission, the visibility rule, and whether the session admits it. */
static bool may_hear(void *ud, mcp_session *s, void *subscriber, const char *uri)
{
    (void)s;
    (void)uri;
    hearing *h = ud;
    auth_identity id;
    if (!app_conn_identity(h->a, subscriber, &id) || !auth_has(&id, AUTH_PERM_READ))
        return false;
    app_call c = {.app = h->a};
    store_vis vis;
    json_t *r = app_vis_build(&c, &id, NULL, &vis);
    if (r) {
        json_decref(r);
        return false;
    }
    if (!vis_admits(&vis, h->m))
        return false;
    if (h->have == 0) {
        err_t e;
        h->have = store_session_head(h->a->st, h->m->session_id, &h->s, &e) == ERR_OK ? 1 : -1;
    }
    return h->have > 0 && app_session_admits(&h->s, &id);
}

/* A message was added: the subscribers of session://{sid} and of any
 * session://{sid}/messages/{limit} who may read it hear notifications/resources/updated,
 * and nothing else is sent (no notifications/message). The index finds them by sid. */
void app_notify_message(app_t *a, const store_message *m)
{
    if (!a->srv || !m || !m->session_id)
        return;
    json_t *bound = json_pack("{s:s}", "session_id", m->session_id);
    if (!bound)
        return; /* not UTF-8: no subscription can name it */
    hearing h = {a, m, {0}, 0};
    mcp_resource_updated_where(a->srv, T_SESSION, bound, may_hear, &h);
    mcp_resource_updated_where(a->srv, T_SESSION_MESSAGES, bound, may_hear, &h);
    json_decref(bound);
    store_session_clear(&h.s);
}

err_code app_register_resources(app_t *a, mcp_server *srv, err_t *e)
{
    const mcp_template_def t[] = {
        {T_INFO, "server_info", "Server information",
         "Name, version, database backend and features of this ctxd server", "application/json",
         read_info, NULL, a},
        {T_DOCS, "tool_docs", "Tool documentation",
         "Descriptions and input schemas of the tools ({_} = a tool name or \"all\")",
         "application/json", read_docs, complete_docs, a},
        {T_SESSION_MESSAGES, "session_messages", "Session messages",
         "The newest {limit} messages of a session visible to you, oldest first",
         "application/json", read_session_messages, complete_session, a},
        {T_SESSION, "session", "Session",
         "A session and its newest 50 messages visible to you (subscribe for updates)",
         "application/json", read_session, complete_session, a},
        {T_MEMORY, "agent_memory", "Agent memory",
         "Your own memory entries (global and per session)", "application/json", read_memory, NULL,
         a},
    };
    const mcp_subscribe_fn checks[] = {sub_info, sub_docs, sub_session_messages, sub_session,
                                       sub_memory};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if (mcp_server_add_template(srv, &t[i], e) != ERR_OK ||
            mcp_server_set_subscribe_check(srv, t[i].uri_template, checks[i], a, e) != ERR_OK)
            return err_prefix(e, "registering resource %s", t[i].uri_template);
    return ERR_OK;
}
