/* mcp/logging.c — RFC 5424 log levels, logging/setLevel (per-session minimum) and
 * building notifications/message filtered by that level.
 * Must not: write to stderr (that is base/log) or send anything itself except through the
 * session's transport. */
#include <string.h>

#include "mcp/mcp_internal.h"

static const char *const level_names[] = {"debug", "info",     "notice", "warning",
                                          "error", "critical", "alert",  "emergency"};

const char *mcp_log_level_name(mcp_log_level lvl)
{
    return (unsigned)lvl < 8 ? level_names[lvl] : "info";
}

bool mcp_log_level_parse(const char *s, mcp_log_level *out)
{
    for (int i = 0; s && i < 8; i++)
        if (strcmp(s, level_names[i]) == 0) {
            *out = (mcp_log_level)i;
            return true;
        }
    return false;
}

/* Builds the notifications/message, or NULL when filtered out. Steals data. */
json_t *mcp_log_message(mcp_session *s, mcp_log_level lvl, const char *logger, json_t *data)
{
    pthread_mutex_lock(&s->lock);
    bool on = lvl >= s->level;
    pthread_mutex_unlock(&s->lock);
    if (!on) {
        json_decref(data);
        return NULL;
    }
    json_t *p =
        json_pack("{s:s,s:o}", "level", mcp_log_level_name(lvl), "data", data ? data : json_null());
    if (logger)
        json_object_set_new(p, "logger", json_string(logger));
    return json_pack("{s:s,s:s,s:o}", "jsonrpc", "2.0", "method", "notifications/message", "params",
                     p);
}

int mcp_session_log(mcp_session *s, mcp_log_level lvl, const char *logger, json_t *data)
{
    json_t *msg = mcp_log_message(s, lvl, logger, data);
    return msg ? mcp_session_send_json(s, NULL, msg) : 0;
}

json_t *mcp_logging_set_level(mcp_call *c, json_t *params)
{
    json_t *lv = params ? json_object_get(params, "level") : NULL;
    mcp_log_level lvl;
    if (!json_is_string(lv) || !mcp_log_level_parse(json_string_value(lv), &lvl)) {
        mcp_call_set_error(c, MCP_INVALID_PARAMS, "invalid log level", NULL);
        return NULL;
    }
    pthread_mutex_lock(&c->session->lock);
    c->session->level = lvl;
    pthread_mutex_unlock(&c->session->lock);
    return json_object();
}
