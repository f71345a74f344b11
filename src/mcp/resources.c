/* mcp/resources.c — resources/list, resources/templates/list (paginated), resources/read
 * (direct resources by exact URI, then templates in registration order; -32002 with
 * data.uri when nothing matches) and resources/subscribe|unsubscribe (the product's check
 * of what serves the URI, then the server's index, subscriptions.c).
 * Must not: know any particular resource; send updates (subscriptions.c). */
#include <stdint.h>
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

/* What serves uri: a direct resource (*ti = SIZE_MAX, *vars NULL) or the first template
 * that matches it (*ti its index, *vars its variables, new reference); NULL = nothing.
 * The fields are those of mcp_resource and mcp_template alike. */
typedef struct served {
    mcp_read_fn fn;
    void *ud;
    mcp_subscribe_fn subscribe;
    void *subscribe_ud;
} served;

static bool resolve(const mcp_server *srv, const char *uri, served *out, size_t *ti, json_t **vars)
{
    *ti = SIZE_MAX;
    *vars = NULL;
    json_t *idx = json_object_get(srv->resource_index, uri);
    if (idx) {
        const mcp_resource *r = &srv->resources[json_integer_value(idx)];
        *out = (served){r->fn, r->ud, r->subscribe, r->subscribe_ud};
        return true;
    }
    for (size_t i = 0; i < srv->ntemplates; i++)
        if (mcp_template_match(srv->templates[i].uri_template, uri, vars)) {
            const mcp_template *t = &srv->templates[i];
            *out = (served){t->fn, t->ud, t->subscribe, t->subscribe_ud};
            *ti = i;
            return true;
        }
    return false;
}

static json_t *not_found(mcp_call *c, const char *uri)
{
    mcp_call_set_error(c, MCP_RESOURCE_NOT_FOUND, "Resource not found",
                       json_pack("{s:s}", "uri", uri));
    return NULL;
}

json_t *mcp_resources_read(mcp_call *c, json_t *params)
{
    const char *uri = uri_param(c, params);
    if (!uri)
        return NULL;
    served sv;
    size_t ti;
    json_t *vars;
    if (!resolve(c->session->srv, uri, &sv, &ti, &vars))
        return not_found(c, uri);
    json_t *r = sv.fn(c, uri, vars, sv.ud);
    json_decref(vars);
    return check_read(c, r);
}

/* resources/subscribe (on) and resources/unsubscribe: the check of what serves the URI
 * (if any) decides, then the index records or forgets the subscription. */
json_t *mcp_resources_subscribe(mcp_call *c, json_t *params, bool on)
{
    const char *uri = uri_param(c, params);
    if (!uri)
        return NULL;
    mcp_server *srv = c->session->srv;
    served sv;
    size_t ti;
    json_t *vars;
    bool known = resolve(srv, uri, &sv, &ti, &vars);
    pthread_mutex_lock(&srv->subs.lock);
    bool known_only = srv->subs.lim.known_only;
    pthread_mutex_unlock(&srv->subs.lock);
    if (!known && known_only && on)
        return not_found(c, uri);
    void *subscriber = NULL;
    if (known && sv.subscribe && !sv.subscribe(c, uri, vars, on, &subscriber, sv.subscribe_ud)) {
        json_decref(vars);
        if (!c->err_code)
            mcp_call_set_error(c, MCP_INTERNAL_ERROR, "subscription refused", NULL);
        return NULL;
    }
    if (!on) {
        json_decref(vars);
        mcp_subs_remove(c->session, uri);
        return json_object();
    }
    return mcp_subs_add(c, uri, ti, vars, subscriber) ? json_object() : NULL;
}
