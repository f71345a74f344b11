/* mcp/http_support.c — read-only accessors on parsed messages for the HTTP transport
 * (see http_support.h).
 * Must not: modify messages or sessions. */
#include "mcp/http_support.h"
#include "mcp/mcp_internal.h"

const char *mcp_message_param_name(const mcp_message *m)
{
    if (!m || m->kind != MSG_REQUEST || !json_is_object(m->params))
        return NULL;
    return json_string_value(json_object_get(m->params, "name"));
}
