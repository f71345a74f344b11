/* mcp/prompts.c — prompts/list (paginated), prompts/get (arguments must be strings;
 * unknown prompt or missing required argument is -32602) and completion/complete for
 * prompt arguments (ref/prompt) and template variables (ref/resource).
 * Must not: know any particular prompt. */
#include <stdio.h>
#include <string.h>

#include "mcp/mcp_internal.h"

json_t *mcp_prompts_list(mcp_call *c, json_t *params)
{
    return mcp_paginate(c, params, MCP_LIST_PROMPTS);
}

static mcp_prompt *find_prompt(mcp_call *c, json_t *name)
{
    json_t *idx = json_is_string(name)
                      ? json_object_get(c->session->srv->prompt_index, json_string_value(name))
                      : NULL;
    if (!idx) {
        char m[200];
        snprintf(m, sizeof m, "Unknown prompt: %.150s",
                 json_is_string(name) ? json_string_value(name) : "");
        mcp_call_set_error(c, MCP_INVALID_PARAMS, m, NULL);
        return NULL;
    }
    return &c->session->srv->prompts[json_integer_value(idx)];
}

json_t *mcp_prompts_get(mcp_call *c, json_t *params)
{
    mcp_prompt *p = find_prompt(c, params ? json_object_get(params, "name") : NULL);
    if (!p)
        return NULL;
    json_t *args = json_object_get(params, "arguments"), *empty = NULL;
    if (!args || json_is_null(args)) {
        args = empty = json_object();
    } else if (!json_is_object(args)) {
        mcp_call_set_error(c, MCP_INVALID_PARAMS, "prompts/get: arguments must be an object", NULL);
        return NULL;
    }
    const char *key;
    json_t *v;
    char m[200];
    json_object_foreach (args, key, v) {
        if (!json_is_string(v)) {
            snprintf(m, sizeof m, "prompt argument %.100s must be a string", key);
            mcp_call_set_error(c, MCP_INVALID_PARAMS, m, NULL);
            json_decref(empty);
            return NULL;
        }
    }
    for (size_t i = 0; i < p->nargs; i++)
        if (p->args[i].required && !json_object_get(args, p->args[i].name)) {
            snprintf(m, sizeof m, "missing required argument: %.100s", p->args[i].name);
            mcp_call_set_error(c, MCP_INVALID_PARAMS, m, NULL);
            json_decref(empty);
            return NULL;
        }
    json_t *r = p->fn(c, args, p->ud);
    json_decref(empty);
    if (r && (!json_is_object(r) || !json_is_array(json_object_get(r, "messages")))) {
        json_decref(r);
        mcp_call_set_error(c, MCP_INTERNAL_ERROR, "prompt returned a malformed result", NULL);
        return NULL;
    }
    return r;
}

json_t *mcp_completion_complete(mcp_call *c, json_t *params)
{
    mcp_server *srv = c->session->srv;
    json_t *ref = params ? json_object_get(params, "ref") : NULL;
    json_t *arg = params ? json_object_get(params, "argument") : NULL;
    const char *type = json_string_value(json_object_get(ref, "type"));
    const char *aname = json_string_value(json_object_get(arg, "name"));
    const char *aval = json_string_value(json_object_get(arg, "value"));
    if (!type || !aname || !aval) {
        mcp_call_set_error(c, MCP_INVALID_PARAMS,
                           "completion/complete: ref and argument{name,value} are required", NULL);
        return NULL;
    }
    json_t *ctx = json_object_get(json_object_get(params, "context"), "arguments");
    if (!json_is_object(ctx))
        ctx = NULL;
    mcp_complete_fn fn = NULL;
    void *ud = NULL;
    if (strcmp(type, "ref/prompt") == 0) {
        mcp_prompt *p = find_prompt(c, json_object_get(ref, "name"));
        if (!p)
            return NULL;
        for (size_t i = 0; i < p->nargs; i++)
            if (strcmp(p->args[i].name, aname) == 0)
                fn = p->args[i].complete;
        ud = p->ud;
    } else if (strcmp(type, "ref/resource") == 0) {
        const char *uri = json_string_value(json_object_get(ref, "uri"));
        size_t i = 0;
        for (; uri && i < srv->ntemplates; i++)
            if (strcmp(srv->templates[i].uri_template, uri) == 0)
                break;
        if (!uri || i == srv->ntemplates) {
            if (!uri || !json_object_get(srv->resource_index, uri)) {
                mcp_call_set_error(c, MCP_INVALID_PARAMS, "unknown resource template", NULL);
                return NULL;
            }
        } else {
            fn = srv->templates[i].complete;
            ud = srv->templates[i].ud;
        }
    } else {
        mcp_call_set_error(c, MCP_INVALID_PARAMS, "unknown ref type", NULL);
        return NULL;
    }
    json_t *vals = fn ? fn(c, aname, aval, ctx, ud) : NULL;
    json_t *out = json_array();
    size_t total = json_array_size(vals), i;
    json_t *x;
    json_array_foreach (vals, i, x) {
        if (json_array_size(out) == 100)
            break;
        if (json_is_string(x))
            json_array_append(out, x);
    }
    json_t *comp = json_pack("{s:o}", "values", out);
    if (total > 100) {
        json_object_set_new(comp, "total", json_integer((json_int_t)total));
        json_object_set_new(comp, "hasMore", json_true());
    }
    json_decref(vals);
    return json_pack("{s:o}", "completion", comp);
}
