/* app/tools_session.c — create_session (open, or restricted to listed agents and agent
 * types: allowed_agents / allowed_types, stored as the session's access), get_session,
 * list_sessions (message counts and participants over the messages the caller may read;
 * restricted sessions only for those they admit).
 * Must not: bypass app_vis_build for the messages it returns or counts. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_int.h"
#include "app/tools_common.h"
#include "base/ids.h"
#include "base/sbuf.h"

#define APP_ACCESS_MAX 100 /* entries of allowed_agents, of allowed_types */

/* allowed_agents / allowed_types (each an array of valid names, or null/absent) into the
 * session's access {"agents": [...], "types": [...]} (*out malloc'd; NULL: an open
 * session), or an INVALID_INPUT result naming the argument. */
static json_t *access_arg(app_call *c, json_t *args, char **out)
{
    static const struct {
        const char *arg, *key;
        bool (*valid)(const char *);
        int max;
    } lists[] = {{"allowed_agents", "agents", auth_valid_agent_id, AUTH_AGENT_ID_MAX},
                 {"allowed_types", "types", auth_valid_agent_type, AUTH_AGENT_TYPE_MAX}};
    *out = NULL;
    json_t *acc = json_object();
    bool restricted = false;
    for (size_t k = 0; k < 2; k++) {
        json_t *v = json_object_get(args, lists[k].arg), *x;
        json_t *names = json_array();
        json_object_set_new(acc, lists[k].key, names);
        if (!v || json_is_null(v))
            continue;
        restricted = true;
        size_t i;
        bool ok = json_is_array(v) && json_array_size(v) <= APP_ACCESS_MAX;
        json_array_foreach (v, i, x) {
            ok = ok && json_is_string(x) && lists[k].valid(json_string_value(x));
            if (ok)
                json_array_append(names, x);
        }
        if (!ok) {
            json_decref(acc);
            return app_error_ex(
                c->app, APP_INVALID_INPUT, json_pack("{s:s}", "argument", lists[k].arg), NULL, 0,
                "%s must be an array of at most %d names (1..%d characters each, without "
                "control characters)",
                lists[k].arg, APP_ACCESS_MAX, lists[k].max);
        }
    }
    if (restricted)
        *out = json_dumps(acc, JSON_COMPACT);
    json_decref(acc);
    return NULL;
}

/* allowed_agents and allowed_types of a restricted session into o (nothing for an open
 * one), as create_session took them. */
static void put_access(json_t *o, const char *access)
{
    json_error_t je;
    json_t *acc = access ? json_loads(access, 0, &je) : NULL;
    if (!acc)
        return;
    json_object_set(o, "allowed_agents", json_object_get(acc, "agents"));
    json_object_set(o, "allowed_types", json_object_get(acc, "types"));
    json_decref(acc);
}

static json_t *create_session(app_call *c, json_t *args)
{
    const char *purpose_in = app_arg_str(args, "purpose");
    if (!purpose_in || !str_utf8_valid(purpose_in, strlen(purpose_in)))
        return app_error(c->app, APP_INVALID_INPUT, "purpose must be a non-empty UTF-8 string");
    char *pbuf = xstrdup(purpose_in);
    char *purpose = str_trim(pbuf);
    if (!*purpose || app_utf8_cps(purpose) > c->app->lim.purpose_max_chars) {
        free(pbuf);
        return app_error(c->app, APP_INVALID_INPUT, "purpose must be 1..%zu characters",
                         c->app->lim.purpose_max_chars);
    }
    char *meta = NULL, *access = NULL;
    json_t *r = app_check_metadata(c, json_object_get(args, "metadata"), &meta);
    if (!r)
        r = access_arg(c, args, &access);
    if (r) {
        free(pbuf);
        free(meta);
        return r;
    }
    char sid[IDS_SESSION_LEN];
    ids_session(sid);
    store_session s = {.id = sid,
                       .purpose = purpose,
                       .created_by = c->id.agent_id,
                       .metadata = meta,
                       .access = access,
                       .is_active = true,
                       .created_at = c->now,
                       .updated_at = c->now};
    store_audit_in au = {.event_type = "session_created", .agent_id = c->id.agent_id};
    err_t e;
    err_code ec = store_session_create(c->app->st, &s, &au, &e);
    free(pbuf);
    free(meta);
    if (ec != ERR_OK) {
        free(access);
        return app_error_store(c->app, &e, APP_SESSION_NOT_FOUND, "creating the session");
    }
    json_t *o = json_pack("{s:s s:s s:o}", "session_id", sid, "created_by", c->id.agent_id,
                          "created_at", app_json_time(c->now));
    put_access(o, access);
    free(access);
    return app_ok(o);
}

static json_t *get_session(app_call *c, json_t *args)
{
    const char *sid = app_arg_str(args, "session_id");
    json_t *r = app_check_session_id(c, sid);
    if (r)
        return r;
    store_vis vis;
    if ((r = app_vis_build(c, &c->id, NULL, &vis)))
        return r;
    store_session s;
    err_t e;
    if (store_session_get(c->app->st, sid, &s, &e) != ERR_OK)
        return app_error_store(c->app, &e, APP_SESSION_NOT_FOUND, "session");
    store_msg_query q = {.session_id = sid, .vis = vis, .limit = 50, .newest_first = true};
    store_messages ms;
    int64_t total = 0;
    if (store_message_list(c->app->st, &q, &ms, &total, &e) != ERR_OK) {
        store_session_clear(&s);
        return app_error_store(c->app, &e, APP_SESSION_NOT_FOUND, "session");
    }
    json_t *so = app_json_session(&s);
    put_access(so, s.access);
    json_t *o = json_pack("{s:o s:o s:I}", "session", so, "messages", app_json_messages(&ms),
                          "message_count", (json_int_t)total);
    store_messages_free(&ms);
    store_session_clear(&s);
    return app_ok(o);
}

static json_t *list_sessions(app_call *c, json_t *args)
{
    int64_t limit, offset;
    json_t *r;
    if ((r = app_arg_range(c, args, "limit", 50, 1, 200, &limit)) ||
        (r = app_arg_range(c, args, "offset", 0, 0, INT_MAX, &offset)))
        return r;
    store_session_query q = {.limit = (int)limit,
                             .offset = (int)offset,
                             .created_by = app_arg_str(args, "created_by"),
                             .active_only = app_arg_bool(args, "active_only", true)};
    if ((r = app_vis_build(c, &c->id, NULL, &q.vis))) /* counts over what c may read */
        return r;
    store_sessions ss;
    int64_t total = 0;
    err_t e;
    if (store_session_list(c->app->st, &q, &ss, &total, &e) != ERR_OK)
        return app_error_store(c->app, &e, APP_SESSION_NOT_FOUND, "sessions");
    json_t *arr = json_array();
    for (size_t i = 0; i < ss.n; i++) {
        json_t *o = app_json_session(&ss.v[i]);
        put_access(o, ss.v[i].access);
        json_object_set_new(o, "session_id", json_string(ss.v[i].id));
        json_object_set_new(o, "message_count", json_integer(ss.v[i].message_count));
        json_object_set_new(o, "last_activity", app_json_time(ss.v[i].last_activity));
        json_t *p = json_array();
        for (size_t k = 0; k < ss.v[i].nparticipants; k++)
            json_array_append_new(p, json_string(ss.v[i].participants[k]));
        json_object_set_new(o, "participants", p);
        json_array_append_new(arr, o);
    }
    size_t n = ss.n;
    store_sessions_free(&ss);
    return app_ok(json_pack("{s:o s:I s:I s:b}", "sessions", arr, "count", (json_int_t)n,
                            "total_count", (json_int_t)total, "has_more",
                            (int64_t)q.offset + (int64_t)n < total));
}

const app_tool app_tools_session[] = {
    {"create_session", "Create session",
     "Create a shared session for agents to collaborate in. Returns its session_id. With "
     "allowed_agents and/or allowed_types only those agents (and you, and admins) can see or "
     "use it.",
     APP_RW, APP_NEED_WRITE, create_session},
    {"get_session", "Get session",
     "A session with its newest visible messages (at most 50, newest first).", APP_RO,
     APP_NEED_READ, get_session},
    {"list_sessions", "List sessions",
     "Sessions by most recent activity, with message_count, participants and last_activity.",
     APP_RO, APP_NEED_READ, list_sessions},
    {NULL, NULL, NULL, NULL, 0, NULL},
};
