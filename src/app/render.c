/* app/render.c — records as the JSON the contract returns (messages, sessions, times)
 * and the small argument getters shared by the tools. Must not: decide visibility
 * or permissions (callers pass only what the caller may see). */
#include <string.h>

#include "app/app_int.h"

json_t *app_json_time(utc_us t)
{
    char b[UTC_ISO_LEN];
    return t ? json_string(utc_format(t, b)) : json_null();
}

json_t *app_json_parse_text(const char *text)
{
    if (!text)
        return json_null();
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    return v ? v : json_null();
}

json_t *app_json_message(const store_message *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(m->id));
    json_object_set_new(o, "session_id", json_string(m->session_id ? m->session_id : ""));
    json_object_set_new(o, "sender", json_string(m->sender ? m->sender : ""));
    json_object_set_new(o, "sender_type", json_string(m->sender_type ? m->sender_type : "generic"));
    json_object_set_new(o, "content", json_string(m->content ? m->content : ""));
    json_object_set_new(o, "visibility", json_string(store_visibility_name(m->visibility)));
    json_object_set_new(o, "message_type",
                        json_string(m->message_type ? m->message_type : "agent_response"));
    json_object_set_new(o, "metadata", app_json_parse_text(m->metadata));
    json_object_set_new(o, "timestamp", app_json_time(m->created_at));
    json_object_set_new(o, "parent_message_id",
                        m->parent_id ? json_integer(m->parent_id) : json_null());
    return o;
}

json_t *app_json_messages(const store_messages *ms)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < ms->n; i++)
        json_array_append_new(arr, app_json_message(&ms->v[i]));
    return arr;
}

json_t *app_json_session(const store_session *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(s->id));
    json_object_set_new(o, "purpose", json_string(s->purpose ? s->purpose : ""));
    json_object_set_new(o, "created_by", json_string(s->created_by ? s->created_by : ""));
    json_object_set_new(o, "created_at", app_json_time(s->created_at));
    json_object_set_new(o, "updated_at", app_json_time(s->updated_at));
    json_object_set_new(o, "is_active", json_boolean(s->is_active));
    json_object_set_new(o, "metadata", app_json_parse_text(s->metadata));
    return o;
}

const char *app_arg_str(json_t *args, const char *name)
{
    return json_string_value(json_object_get(args, name));
}

long app_arg_int(json_t *args, const char *name, long def)
{
    json_t *v = json_object_get(args, name);
    if (json_is_integer(v))
        return (long)json_integer_value(v);
    if (json_is_real(v))
        return (long)json_real_value(v);
    return def;
}

bool app_arg_bool(json_t *args, const char *name, bool def)
{
    json_t *v = json_object_get(args, name);
    return json_is_boolean(v) ? json_is_true(v) : def;
}
