/* mcp/resources.c — resources/list, resources/templates/list (paginated), resources/read
 * (direct resources by exact URI, then templates in registration order; -32002 with
 * data.uri when nothing matches) and resources/subscribe|unsubscribe (per-session set).
 * Must not: know any particular resource; send updates (mcp_resource_updated, server.c). */
#include <string.h>

#include "mcp/mcp_internal.h"

json_t *mcp_resources_list(mcp_call *c, json_t *params)
{
    return mcp_paginate(c, params, MCP_LIST_RESOURCES);
}

json_t *mcp_templates_list(mcp_call *c, json_t *params)
{
    return mcp_paginate(c, params, MCP_LIST_TEMPLATES);
}

static const char *uri_param(mcp_call *c, json_t *params)
{
    json_t *u = params ? json_object_get(params, "uri") : NULL;
    if (!json_is_string(u) || json_string_length(u) == 0) {
        mcp_call_set_error(c, MCP_INVALID_PARAMS, "uri is required", NULL);
        return NULL;
    }
    return json_string_value(u);
}

static json_t *check_read(mcp_call *c, json_t *r)
{
    if (r && (!json_is_object(r) || !json_is_array(json_object_get(r, "contents")) ||
              json_array_size(json_object_get(r, "contents")) == 0)) {
        json_decref(r);
        mcp_call_set_error(c, MCP_INTERNAL_ERROR, "resource handler returned a malformed result",
                           NULL);
        return NULL;
    }
    return r;
}

json_t *mcp_resources_read(mcp_call *c, json_t *params)
{
    mcp_server *srv = c->session->srv;
    const char *uri = uri_param(c, params);
    if (!uri)
        return NULL;
    json_t *idx = json_object_get(srv->resource_index, uri);
    if (idx) {
        mcp_resource *r = &srv->resources[json_integer_value(idx)];
        return check_read(c, r->fn(c, uri, NULL, r->ud));
    }
    for (size_t i = 0; i < srv->ntemplates; i++) {
        json_t *vars;
        if (!mcp_template_match(srv->templates[i].uri_template, uri, &vars))
            continue;
        json_t *r = srv->templates[i].fn(c, uri, vars, srv->templates[i].ud);
        json_decref(vars);
        return check_read(c, r);
    }
    mcp_call_set_error(c, MCP_RESOURCE_NOT_FOUND, "Resource not found",
                       json_pack("{s:s}", "uri", uri));
    return NULL;
}

json_t *mcp_resources_subscribe(mcp_call *c, json_t *params, bool on)
{
    const char *uri = uri_param(c, params);
    if (!uri)
        return NULL;
    mcp_session *s = c->session;
    pthread_mutex_lock(&s->lock);
    if (on)
        json_object_set_new(s->subscriptions, uri, json_true());
    else
        json_object_del(s->subscriptions, uri);
    pthread_mutex_unlock(&s->lock);
    return json_object();
}
