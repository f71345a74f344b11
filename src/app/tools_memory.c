/* app/tools_memory.c — set_memory, get_memory, list_memory, delete_memory: private
 * key/value memory of the calling agent, global or session-scoped, with TTL; values
 * keep their JSON type ("123" stays a string).
 * Must not: let an agent reach another agent's memory (agent_id is always the caller). */
#include <stdlib.h>
#include <string.h>

#include "app/app_int.h"
#include "app/tools_common.h"
#include "base/ids.h"
#include "base/sbuf.h"

static json_t *scope_session(app_call *c, const char *sid)
{
    if (!sid)
        return NULL;
    return app_check_session_id(c, sid);
}

/* The key and (optional) session of a memory tool call, checked: an error
 * envelope, or NULL with *key and *sid set. */
static json_t *mem_target(app_call *c, json_t *args, const char **key, const char **sid)
{
    *key = app_arg_str(args, "key");
    json_t *r = app_check_mem_key(c, *key);
    if (r)
        return r;
    *sid = app_arg_str(args, "session_id");
    return scope_session(c, *sid);
}

static json_t *set_memory(app_call *c, json_t *args)
{
    const char *key, *sid;
    json_t *r = mem_target(c, args, &key, &sid);
    if (r)
        return r;
    json_t *value = json_object_get(args, "value");
    if (!value)
        return app_error(c->app, APP_INVALID_INPUT, "value is required");
    long ttl;
    if ((r = app_check_ttl(c, json_object_get(args, "expires_in"), &ttl)))
        return r;
    char *meta = NULL;
    if ((r = app_check_metadata(c, json_object_get(args, "metadata"), &meta)))
        return r;
    char *vtext = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!vtext) {
        free(meta);
        return app_error(c->app, APP_INVALID_INPUT, "value cannot be serialised");
    }
    if (strlen(vtext) > c->app->lim.memory_value_max || !str_utf8_valid(vtext, strlen(vtext))) {
        size_t n = strlen(vtext);
        free(vtext);
        free(meta);
        return app_error_ex(c->app, APP_MEMORY_LIMIT_EXCEEDED,
                            json_pack("{s:I s:I}", "size", (json_int_t)n, "max_size",
                                      (json_int_t)c->app->lim.memory_value_max),
                            NULL, 0, "value is %zu bytes serialised; the limit is %zu", n,
                            c->app->lim.memory_value_max);
    }
    store_mem_set in = {.agent_id = c->id.agent_id,
                        .session_id = sid,
                        .key = key,
                        .value = vtext,
                        .metadata = meta,
                        .expires_at = ttl > 0 ? c->now + (utc_us)ttl * 1000000 : 0,
                        .overwrite = app_arg_bool(args, "overwrite", true),
                        .now = c->now};
    store_audit_in au = {.event_type = "memory_set", .agent_id = c->id.agent_id, .session_id = sid};
    store_memory out;
    err_t e;
    err_code ec = store_memory_set(c->app->st, &in, &au, &out, &e);
    free(vtext);
    free(meta);
    if (ec == ERR_EXISTS)
        return app_error_ex(c->app, APP_KEY_EXISTS, json_pack("{s:s}", "key", key),
                            "Pass overwrite=true to replace it, or use another key", 0,
                            "memory key '%s' already exists", key);
    if (ec != ERR_OK)
        return app_error_store(c->app, &e, APP_SESSION_NOT_FOUND, sid ? "session" : "memory");
    json_t *o = json_pack("{s:s s:b s:o s:s s:o}", "key", key, "session_scoped", sid != NULL,
                          "expires_at", app_json_time(out.expires_at), "scope",
                          sid ? "session" : "global", "stored_at", app_json_time(out.updated_at));
    if (sid)
        json_object_set_new(o, "session_id", json_string(sid));
    store_memory_clear(&out);
    return app_ok(o);
}

static json_t *get_memory(app_call *c, json_t *args)
{
    const char *key, *sid;
    json_t *r = mem_target(c, args, &key, &sid);
    if (r)
        return r;
    store_memory m;
    err_t e;
    if (store_memory_get(c->app->st, c->id.agent_id, sid, key, c->now, &m, &e) != ERR_OK)
        return e.code == ERR_NOTFOUND
                   ? app_error_ex(c->app, APP_MEMORY_NOT_FOUND, json_pack("{s:s}", "key", key),
                                  NULL, 0, "memory key '%s' not found (or expired)", key)
                   : app_error_store(c->app, &e, APP_MEMORY_NOT_FOUND, "memory");
    json_t *o = json_pack("{s:s s:o s:o s:o s:o s:o s:s}", "key", key, "value",
                          app_json_parse_text(m.value), "metadata", app_json_parse_text(m.metadata),
                          "created_at", app_json_time(m.created_at), "updated_at",
                          app_json_time(m.updated_at), "expires_at", app_json_time(m.expires_at),
                          "scope", sid ? "session" : "global");
    if (sid)
        json_object_set_new(o, "session_id", json_string(sid));
    store_memory_clear(&m);
    return app_ok(o);
}

static json_t *list_memory(app_call *c, json_t *args)
{
    const char *sid = app_arg_str(args, "session_id");
    int64_t limit;
    json_t *r = app_arg_range(c, args, "limit", 50, 1, 200, &limit);
    if (r)
        return r;
    store_mem_query q = {.agent_id = c->id.agent_id,
                         .scope = STORE_MEM_GLOBAL,
                         .prefix = app_arg_str(args, "prefix"),
                         .limit = (int)limit,
                         .now = c->now};
    if (q.prefix && !str_utf8_valid(q.prefix, strlen(q.prefix)))
        return app_error(c->app, APP_INVALID_INPUT, "prefix is not valid UTF-8");
    if (sid && strcmp(sid, "all") == 0) {
        q.scope = STORE_MEM_ALL;
    } else if (sid) {
        if ((r = app_check_session_id(c, sid)))
            return r;
        q.scope = STORE_MEM_SESSION;
        q.session_id = sid;
    }
    store_memories ms;
    err_t e;
    if (store_memory_list(c->app->st, &q, &ms, &e) != ERR_OK)
        return app_error_store(c->app, &e, APP_SESSION_NOT_FOUND, "memory");
    json_t *arr = json_array();
    for (size_t i = 0; i < ms.n; i++) {
        store_memory *m = &ms.v[i];
        json_array_append_new(
            arr, json_pack("{s:s s:s s:o s:o s:o s:o s:I}", "key", m->key, "scope",
                           m->session_id ? "session" : "global", "session_id",
                           m->session_id ? json_string(m->session_id) : json_null(), "created_at",
                           app_json_time(m->created_at), "updated_at", app_json_time(m->updated_at),
                           "expires_at", app_json_time(m->expires_at), "value_size",
                           (json_int_t)(m->value ? strlen(m->value) : 0)));
    }
    size_t n = ms.n;
    store_memories_free(&ms);
    return app_ok(json_pack("{s:o s:I}", "entries", arr, "count", (json_int_t)n));
}

static json_t *delete_memory(app_call *c, json_t *args)
{
    const char *key, *sid;
    json_t *r = mem_target(c, args, &key, &sid);
    if (r)
        return r;
    store_audit_in au = {
        .event_type = "memory_deleted", .agent_id = c->id.agent_id, .session_id = sid};
    bool deleted = false;
    err_t e;
    if (store_memory_delete(c->app->st, c->id.agent_id, sid, key, &au, &deleted, &e) != ERR_OK)
        return app_error_store(c->app, &e, APP_MEMORY_NOT_FOUND, "memory");
    return app_ok(json_pack("{s:s s:b s:s}", "key", key, "deleted", deleted, "scope",
                            sid ? "session" : "global"));
}

const app_tool app_tools_memory[] = {
    {"set_memory", "Set memory",
     "Store a value (any JSON, type preserved) under a key in your private memory, global "
     "or scoped to a session, optionally expiring after expires_in seconds (0/null = never).",
     APP_RW, APP_NEED_WRITE, set_memory},
    {"get_memory", "Get memory", "A value from your private memory (with its original JSON type).",
     APP_RO, APP_NEED_READ, get_memory},
    {"list_memory", "List memory",
     "Keys of your private memory: session_id null = global, a session id = that session, "
     "\"all\" = both; prefix is a literal prefix.",
     APP_RO, APP_NEED_READ, list_memory},
    {"delete_memory", "Delete memory", "Remove a key from your private memory.", APP_DEL,
     APP_NEED_WRITE, delete_memory},
    {NULL, NULL, NULL, NULL, 0, NULL},
};
