/* mcp/tools.c — tools/list (paginated) and tools/call: find the tool, check the request
 * shape (-32602 for an unknown tool or non-object arguments), validate the arguments
 * against the input schema (failures are isError results, per 2025-11-25), run the
 * handler and check its result shape.
 * Must not: know any particular tool. */
#include <stdio.h>
#include <string.h>

#include "mcp/mcp_internal.h"

json_t *mcp_tools_list(mcp_call *c, json_t *params)
{
    return mcp_paginate(c, params, MCP_LIST_TOOLS);
}

json_t *mcp_tools_call(mcp_call *c, json_t *params)
{
    mcp_server *srv = c->session->srv;
    json_t *name = params ? json_object_get(params, "name") : NULL;
    if (!json_is_string(name)) {
        mcp_call_set_error(c, MCP_INVALID_PARAMS, "tools/call: name is required", NULL);
        return NULL;
    }
    json_t *idx = json_object_get(srv->tool_index, json_string_value(name));
    if (!idx) {
        char m[200];
        snprintf(m, sizeof m, "Unknown tool: %.150s", json_string_value(name));
        mcp_call_set_error(c, MCP_INVALID_PARAMS, m, NULL);
        return NULL;
    }
    mcp_tool *t = &srv->tools[json_integer_value(idx)];
    json_t *args = json_object_get(params, "arguments");
    json_t *empty = NULL;
    if (!args || json_is_null(args)) {
        args = empty = json_object();
    } else if (!json_is_object(args)) {
        mcp_call_set_error(c, MCP_INVALID_PARAMS, "tools/call: arguments must be an object", NULL);
        return NULL;
    }
    char msg[512];
    json_t *r;
    if (!mcp_schema_validate(t->schema, args, msg, sizeof msg)) {
        r = mcp_result_error("Invalid arguments for tool %s: %s", t->name, msg);
    } else {
        r = t->fn(c, args, t->ud);
        if (r && (!json_is_object(r) || !json_is_array(json_object_get(r, "content")))) {
            json_decref(r);
            r = NULL;
            mcp_call_set_error(c, MCP_INTERNAL_ERROR, "tool returned a malformed result", NULL);
        } else if (r && t->has_output_schema && !json_is_true(json_object_get(r, "isError")) &&
                   !json_object_get(r, "structuredContent")) {
            json_decref(r);
            r = NULL;
            mcp_call_set_error(c, MCP_INTERNAL_ERROR, "tool result lacks structuredContent", NULL);
        }
    }
    json_decref(empty);
    return r;
}
