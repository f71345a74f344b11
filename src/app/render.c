/* app/render.c — records as the JSON the contract returns (messages, sessions, times)
 * and the small argument getters shared by the tools. Must not: decide visibility
 * or permissions (callers pass only what the caller may see). */
#include <limits.h>
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

bool app_json_int64(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    if (!json_is_real(v))
        return false;
    double d = json_real_value(v);
    /* every double in [-2^63, 2^63) converts to int64_t; anything else would be undefined */
    if (!(d >= -0x1p63 && d < 0x1p63) || d != (double)(int64_t)d)
        return false;
    *out = (int64_t)d;
    return true;
}

json_t *app_arg_range(app_call *c, json_t *args, const char *name, int64_t def, int64_t min,
                      int64_t max, int64_t *out)
{
    json_t *v = json_object_get(args, name);
    *out = def;
    if (!v || json_is_null(v))
        return NULL;
    int64_t n;
    if (app_json_int64(v, &n) && n >= min && n <= max) {
        *out = n;
        return NULL;
    }
    return app_error_ex(c->app, APP_INVALID_INPUT,
                        json_pack("{s:s s:I s:I}", "argument", name, "min", (json_int_t)min, "max",
                                  (json_int_t)max),
                        NULL, 0, "%s must be an integer from %lld to %lld", name, (long long)min,
                        (long long)max);
}

bool app_arg_bool(json_t *args, const char *name, bool def)
{
    json_t *v = json_object_get(args, name);
    return json_is_boolean(v) ? json_is_true(v) : def;
}
