/* mcp/http_support.c — read-only accessors on parsed messages for the HTTP transport
 * (see http_support.h).
 * Must not: modify messages or sessions. */
#include "mcp/http_support.h"

#include <string.h>

#include "mcp/mcp_internal.h"

const char *mcp_message_param_name(const mcp_message *m)
{
    if (!m || m->kind != MSG_REQUEST || !json_is_object(m->params))
        return NULL;
    return json_string_value(json_object_get(m->params, "name"));
}

unsigned mcp_message_lane(const mcp_server *srv, const mcp_message *m)
{
    if (!m || !srv)
        return 0;
    if (m->kind == MSG_BATCH) {
        for (size_t i = 0; i < m->nitems; i++) {
            unsigned l = mcp_message_lane(srv, m->items[i]);
            if (l)
                return l;
        }
        return 0;
    }
    if (m->kind != MSG_REQUEST || !m->method || strcmp(m->method, "tools/call") != 0)
        return 0;
    const char *name = mcp_message_param_name(m);
    json_t *idx = name ? json_object_get(srv->tool_index, name) : NULL;
    return idx ? srv->tools[json_integer_value(idx)].lane : 0;
}
