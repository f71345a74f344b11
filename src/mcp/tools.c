/* mcp/tools.c — tools/list (paginated) and tools/call: find the tool, check the request
 * shape (-32602 for an unknown tool or non-object arguments), validate the arguments
 * against the input schema (failures are isError results, per 2025-11-25, built by the
 * product's mcp_invalid_args_fn when it set one), run the handler and check its result
 * shape.
 * Must not: know any particular tool. */
#include <stdio.h>
#include <string.h>

#include "base/sbuf.h"
#include "mcp/mcp_internal.h"

json_t *mcp_tools_list(mcp_call *c, json_t *params)
{
    return mcp_paginate(c, params, MCP_LIST_TOOLS);
}

/* The isError result for arguments that failed validation: the product's builder if any,
 * else (or if it returned nothing usable) a text naming the path and what was expected. */
static json_t *invalid_args(mcp_call *c, const mcp_tool *t, const mcp_schema_err *se)
{
    mcp_server *srv = c->session->srv;
    char msg[800];
    snprintf(msg, sizeof msg, "Invalid arguments for tool %s: %s %s", t->name, se->path,
             se->problem);
    json_t *r = NULL;
    if (srv->invalid_args_fn) {
        mcp_invalid_args ia = {t->name, se->argument[0] ? se->argument : NULL, se->path,
                               se->problem, msg};
        r = srv->invalid_args_fn(c, &ia, srv->invalid_args_ud);
        if (r && (!json_is_object(r) || !json_is_array(json_object_get(r, "content")))) {
            json_decref(r);
            r = NULL;
        }
    }
    if (!r)
        r = mcp_result_error("%s", msg);
    json_object_set_new(r, "isError", json_true());
    return r;
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
        str_utf8_cut(m); /* the cut may fall inside a character */
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
    mcp_schema_err se;
    json_t *r;
    if (!mcp_schema_validate(t->schema, args, &se)) {
        r = invalid_args(c, t, &se);
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
