/* app/limits.c — the enforced input limits of docs/mcp-interface.md: content sanitising
 * (control characters except \n\t\r removed, trimmed) and size in code points, UTF-8
 * validity, metadata shape and size, memory keys, TTLs, session ids; each failure is
 * the contract's error code. Must not: touch the store. */
#include <stdlib.h>
#include <string.h>

#include "app/app_int.h"
#include "base/ids.h"
#include "base/sbuf.h"

size_t app_utf8_cps(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

json_t *app_check_content(app_call *c, const char *in, char **out)
{
    *out = NULL;
    if (!in)
        return app_error(c->app, APP_INVALID_INPUT, "content is required");
    size_t n = strlen(in);
    if (!str_utf8_valid(in, n))
        return app_error(c->app, APP_INVALID_INPUT, "content is not valid UTF-8");
    char *s = xmalloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)in[i];
        if (ch < 0x20 && ch != '\n' && ch != '\t' && ch != '\r')
            continue;
        if (ch == 0x7F)
            continue;
        s[k++] = (char)ch;
    }
    s[k] = 0;
    char *t = str_trim(s);
    size_t cps = app_utf8_cps(t);
    if (cps == 0) {
        free(s);
        return app_error(c->app, APP_INVALID_INPUT,
                         "content is empty after removing control characters and white space");
    }
    if (cps > c->app->lim.content_max_chars) {
        free(s);
        return app_error_ex(c->app, APP_CONTENT_TOO_LARGE,
                            json_pack("{s:I s:I}", "length", (json_int_t)cps, "max_length",
                                      (json_int_t)c->app->lim.content_max_chars),
                            "Split the content into several messages", 0,
                            "content is %zu characters; the limit is %zu", cps,
                            c->app->lim.content_max_chars);
    }
    *out = xstrdup(t);
    free(s);
    return NULL;
}

static bool strings_valid(json_t *v, int depth)
{
    if (depth > 64)
        return false;
    const char *k;
    json_t *x;
    size_t i;
    if (json_is_string(v))
        return str_utf8_valid(json_string_value(v), json_string_length(v)) &&
               strlen(json_string_value(v)) == json_string_length(v);
    if (json_is_object(v)) {
        json_object_foreach (v, k, x)
            if (!strings_valid(x, depth + 1))
                return false;
    } else if (json_is_array(v)) {
        json_array_foreach (v, i, x)
            if (!strings_valid(x, depth + 1))
                return false;
    }
    return true;
}

json_t *app_check_metadata(app_call *c, json_t *v, char **out)
{
    *out = NULL;
    if (!v || json_is_null(v))
        return NULL;
    json_t *obj = v;
    json_t *parsed = NULL;
    if (json_is_string(v)) {
        json_error_t je;
        parsed = json_loads(json_string_value(v), JSON_REJECT_DUPLICATES, &je);
        obj = parsed;
    }
    const app_limits *L = &c->app->lim;
    json_t *err = NULL;
    if (!json_is_object(obj)) {
        err = app_error(c->app, APP_INVALID_METADATA_FORMAT, "metadata must be a JSON object");
    } else if (json_object_size(obj) > L->metadata_max_keys) {
        err = app_error(c->app, APP_INVALID_METADATA_FORMAT,
                        "metadata has %zu keys; at most %zu are allowed", json_object_size(obj),
                        L->metadata_max_keys);
    } else if (!strings_valid(obj, 0)) {
        err = app_error(c->app, APP_INVALID_METADATA_FORMAT,
                        "metadata contains invalid UTF-8 or NUL characters");
    } else {
        const char *k;
        json_t *x;
        json_object_foreach (obj, k, x) {
            if (!*k || app_utf8_cps(k) > L->metadata_key_max) {
                err = app_error(c->app, APP_INVALID_METADATA_FORMAT,
                                "metadata keys must be 1..%zu characters", L->metadata_key_max);
                break;
            }
        }
        if (!err) {
            char *text = json_dumps(obj, JSON_COMPACT);
            if (!text || strlen(text) > L->metadata_max_chars) {
                err = app_error(c->app, APP_INVALID_METADATA_FORMAT,
                                "metadata is larger than %zu characters serialised",
                                L->metadata_max_chars);
                free(text);
            } else {
                *out = text;
            }
        }
    }
    json_decref(parsed);
    return err;
}

json_t *app_check_mem_key(app_call *c, const char *key)
{
    if (!key || !*key)
        return app_error(c->app, APP_INVALID_KEY, "key must not be empty");
    if (!str_utf8_valid(key, strlen(key)))
        return app_error(c->app, APP_INVALID_KEY, "key is not valid UTF-8");
    if (app_utf8_cps(key) > c->app->lim.memory_key_max)
        return app_error(c->app, APP_INVALID_KEY, "key is longer than %zu characters",
                         c->app->lim.memory_key_max);
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        if (*p <= 0x20 || *p == 0x7F)
            return app_error(c->app, APP_INVALID_KEY,
                             "key must not contain white space or control characters");
    return NULL;
}

json_t *app_check_ttl(app_call *c, json_t *v, long *ttl)
{
    *ttl = 0;
    if (!v || json_is_null(v))
        return NULL;
    int64_t n = 0;
    bool in_range = true; /* n holds the value (false: a number beyond int64) */
    if (json_is_number(v)) {
        if (!app_json_int64(v, &n)) {
            double d = json_real_value(v);
            if (d > -0x1p63 && d < 0x1p63) /* not integral */
                return app_error(c->app, APP_INVALID_TTL_FORMAT,
                                 "expires_in must be a whole number of seconds");
            in_range = false;
        }
    } else if (json_is_string(v)) {
        long l;
        if (!str_to_long(json_string_value(v), -1099511627776L, 1099511627776L, &l))
            return app_error(c->app, APP_INVALID_TTL_FORMAT,
                             "expires_in must be an integer number of seconds");
        n = l;
    } else {
        return app_error(c->app, APP_INVALID_TTL_FORMAT,
                         "expires_in must be an integer number of seconds");
    }
    if (!in_range || n < 0 || n > c->app->lim.ttl_max_s)
        return app_error_ex(
            c->app, APP_INVALID_TTL_VALUE,
            json_pack("{s:o s:i s:I}", "expires_in", in_range ? json_integer(n) : json_deep_copy(v),
                      "min", 0, "max", (json_int_t)c->app->lim.ttl_max_s),
            NULL, 0, "expires_in must be 0 (permanent) .. %ld seconds", c->app->lim.ttl_max_s);
    *ttl = (long)n;
    return NULL;
}

json_t *app_arg_session(app_call *c, json_t *args, const char **sid)
{
    *sid = app_arg_str(args, "session_id");
    return app_check_session_id(c, *sid);
}

json_t *app_check_session_id(app_call *c, const char *sid)
{
    if (!sid || !*sid)
        return app_error(c->app, APP_INVALID_INPUT, "session_id is required");
    if (!ids_is_session(sid))
        return app_error(c->app, APP_SESSION_NOT_FOUND, "session not found");
    return app_session_check(c, sid); /* a restricted session the caller may not enter */
}
