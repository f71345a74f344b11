/* app/envelope.c — the error envelope of docs/mcp-interface.md: tool results with
 * isError:true whose text (and structuredContent) is {success:false, error, code,
 * severity, recoverable, suggestions?, context?, retry_after?, timestamp}, the mapping
 * of store errors to codes (only transient ones are recoverable), and the success
 * wrapper. Must not: put tokens, keys or SQL text into an error. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "app/app_int.h"
#include "base/log.h"

static const char *const NAMES[APP_CODE_COUNT] = {
    "INVALID_INPUT",         "INVALID_VISIBILITY",   "INVALID_METADATA_FORMAT",
    "INVALID_KEY",           "KEY_EXISTS",           "INVALID_TTL_VALUE",
    "INVALID_TTL_FORMAT",    "INVALID_DATETIME",     "CONTENT_TOO_LARGE",
    "MEMORY_LIMIT_EXCEEDED", "SESSION_NOT_FOUND",    "MESSAGE_NOT_FOUND",
    "MEMORY_NOT_FOUND",      "INVALID_TOKEN_FORMAT", "TOKEN_AUTHENTICATION_FAILED",
    "TOKEN_EXPIRED",         "AUTH_FAILED",          "PERMISSION_DENIED",
    "RATE_LIMITED",          "DATABASE_UNAVAILABLE",
};

const char *app_code_name(app_code c)
{
    return (unsigned)c < APP_CODE_COUNT ? NAMES[c] : "INVALID_INPUT";
}

app_code app_code_of(const char *name)
{
    for (int i = 0; name && i < APP_CODE_COUNT; i++)
        if (strcmp(NAMES[i], name) == 0)
            return (app_code)i;
    return APP_CODE_COUNT;
}

static const char *severity(app_code c)
{
    switch (c) {
    case APP_DATABASE_UNAVAILABLE: return "critical";
    case APP_RATE_LIMITED: return "warning";
    default: return "error";
    }
}

static const char *default_suggestion(app_code c)
{
    switch (c) {
    case APP_INVALID_TOKEN_FORMAT:
    case APP_TOKEN_AUTHENTICATION_FAILED:
    case APP_TOKEN_EXPIRED:
        return "Call authenticate_agent (or refresh_token) for a fresh token and pass it as "
               "auth_token";
    case APP_AUTH_FAILED:
        return "Authenticate first: call authenticate_agent and pass the token as auth_token";
    case APP_PERMISSION_DENIED: return "Use an agent type whose permissions allow this operation";
    case APP_SESSION_NOT_FOUND:
        return "Check the session_id (list_sessions shows existing sessions)";
    case APP_RATE_LIMITED: return "Wait retry_after seconds before calling again";
    case APP_DATABASE_UNAVAILABLE: return "Retry later; if it persists check the database";
    default: return NULL;
    }
}

json_t *app_error_ex(app_t *a, app_code code, json_t *context, const char *suggestion,
                     long retry_after, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    bool recoverable = retry_after > 0;
    char ts[UTC_ISO_LEN];
    json_t *o = json_pack("{s:b s:s s:s s:s s:b s:s}", "success", 0, "error", msg, "code",
                          app_code_name(code), "severity", severity(code), "recoverable",
                          recoverable, "timestamp", utc_format(utc_now(), ts));
    const char *sug = suggestion ? suggestion : default_suggestion(code);
    if (sug)
        json_object_set_new(o, "suggestions", json_pack("[s]", sug));
    if (context)
        json_object_set_new(o, "context", context);
    if (retry_after > 0)
        json_object_set_new(o, "retry_after", json_integer(retry_after));
    if (a)
        atomic_fetch_add_explicit(&a->err_counts[code], 1, memory_order_relaxed);
    char *text = json_dumps(o, JSON_COMPACT);
    json_t *r = json_pack("{s:[{s:s s:s}] s:o s:b}", "content", "type", "text", "text",
                          text ? text : "{}", "structuredContent", o, "isError", 1);
    free(text);
    return r;
}

json_t *app_error_store(app_t *a, const err_t *e, app_code notfound, const char *what)
{
    switch (e->code) {
    case ERR_NOTFOUND: return app_error(a, notfound, "%s not found", what);
    case ERR_EXISTS:
        return app_error(a, APP_KEY_EXISTS, "%s already exists (use overwrite=true to replace it)",
                         what);
    case ERR_INVALID:
    case ERR_UNIQUE:
    case ERR_CONSTRAINT: return app_error(a, APP_INVALID_INPUT, "%s: %s", what, e->msg);
    case ERR_BUSY:
    case ERR_CONN:
    case ERR_TIMEOUT:
        LOG_W("app", "%s: transient database error (%s): %s", what, err_code_name(e->code), e->msg);
        return app_error_ex(a, APP_DATABASE_UNAVAILABLE, NULL, NULL, 1,
                            "the database is temporarily unavailable (%s)", err_code_name(e->code));
    default:
        LOG_E("app", "%s: database error (%s): %s", what, err_code_name(e->code), e->msg);
        return app_error(a, APP_DATABASE_UNAVAILABLE, "database error (%s)",
                         err_code_name(e->code));
    }
}

json_t *app_ok(json_t *obj)
{
    json_t *o = json_object();
    json_object_set_new(o, "success", json_true());
    json_object_update(o, obj);
    json_decref(obj);
    return mcp_result_structured(o);
}
