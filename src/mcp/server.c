/* mcp/server.c — the registry: server info, tools, resources, templates and prompts as
 * registered by the product, prebuilt into the JSON list objects served by the list
 * methods. Read-only once the first session exists (frozen). (Subscriptions and the
 * resource-updated notifications are subscriptions.c.)
 * Must not: handle requests (dispatch lives in tools.c, resources.c, prompts.c) or know
 * what any registered item means. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/mcp_internal.h"

const char *const mcp_protocol_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05",
                                             NULL};

bool mcp_protocol_version_supported(const char *v)
{
    for (int i = 0; v && mcp_protocol_versions[i]; i++)
        if (strcmp(mcp_protocol_versions[i], v) == 0)
            return true;
    return false;
}

mcp_server *mcp_server_new(const mcp_server_info *info)
{
    mcp_server *srv = xcalloc(1, sizeof *srv);
    mcp_subs_init(&srv->subs);
    srv->info = json_pack("{s:s,s:s}", "name", info && info->name ? info->name : "mcp-server",
                          "version", info && info->version ? info->version : "0.0.0");
    if (info && info->title)
        json_object_set_new(srv->info, "title", json_string(info->title));
    if (info && info->description)
        json_object_set_new(srv->info, "description", json_string(info->description));
    srv->instructions = info ? xstrdup(info->instructions) : NULL;
    srv->page_size = 100;
    snprintf(srv->lanes[0].name, sizeof srv->lanes[0].name, "default");
    srv->nlanes = 1;
    srv->default_level = MCP_LOG_INFO;
    srv->tool_list = json_array();
    srv->tool_index = json_object();
    srv->resource_list = json_array();
    srv->resource_index = json_object();
    srv->template_list = json_array();
    srv->prompt_list = json_array();
    srv->prompt_index = json_object();
    pthread_mutex_init(&srv->lock, NULL);
    return srv;
}

void mcp_server_free(mcp_server *srv)
{
    if (!srv)
        return;
    for (size_t i = 0; i < srv->ntools; i++) {
        free(srv->tools[i].name);
        json_decref(srv->tools[i].schema);
    }
    free(srv->tools);
    for (size_t i = 0; i < srv->nresources; i++)
        free(srv->resources[i].uri);
    free(srv->resources);
    for (size_t i = 0; i < srv->ntemplates; i++)
        free(srv->templates[i].uri_template);
    free(srv->templates);
    for (size_t i = 0; i < srv->nprompts; i++) {
        free(srv->prompts[i].name);
        free(srv->prompts[i].args);
        json_decref(srv->prompts[i].strings);
    }
    free(srv->prompts);
    mcp_pages_free(srv);
    json_decref(srv->info);
    json_decref(srv->tool_list);
    json_decref(srv->tool_index);
    json_decref(srv->resource_list);
    json_decref(srv->resource_index);
    json_decref(srv->template_list);
    json_decref(srv->prompt_list);
    json_decref(srv->prompt_index);
    free(srv->instructions);
    mcp_subs_fini(&srv->subs);
    pthread_mutex_destroy(&srv->lock);
    free(srv);
}

void mcp_server_set_page_size(mcp_server *srv, size_t n)
{
    srv->page_size = n ? n : 1;
}
void mcp_server_set_default_log_level(mcp_server *srv, mcp_log_level lvl)
{
    srv->default_level = lvl;
}

void mcp_server_set_invalid_args_fn(mcp_server *srv, mcp_invalid_args_fn fn, void *ud)
{
    srv->invalid_args_fn = fn;
    srv->invalid_args_ud = fn ? ud : NULL;
}

static void set_opt(json_t *o, const char *key, const char *v)
{
    if (v)
        json_object_set_new(o, key, json_string(v));
}

static json_t *parse_obj(const char *text, const char *what, err_t *e)
{
    json_error_t jerr;
    json_t *v = json_loads(text, 0, &jerr);
    if (!v) {
        err_set(e, ERR_INVALID, "%s: invalid JSON: %s", what, jerr.text);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        err_set(e, ERR_INVALID, "%s: must be a JSON object", what);
        return NULL;
    }
    return v;
}

static bool name_ok(const char *n)
{
    size_t len = n ? strlen(n) : 0;
    if (len < 1 || len > 64)
        return false;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("_./-", *p)))
            return false;
    return true;
}

/* What every registration checks first: the registry is still open (no session
 * yet), the definition has what a `kind` needs (ok; `needs` says what), and its
 * key is new (index: key -> position; NULL when the kind has none). */
static err_code reg_check(const mcp_server *srv, const char *kind, bool ok, const char *needs,
                          const json_t *index, const char *key, err_t *e)
{
    if (srv->frozen)
        return err_set(e, ERR_INVALID, "mcp: registry is frozen (sessions exist)");
    if (!ok)
        return err_set(e, ERR_INVALID, "mcp: %s needs %s", kind, needs);
    if (index && json_object_get(index, key))
        return err_set(e, ERR_EXISTS, "mcp: %s %s registered twice", kind, key);
    return ERR_OK;
}

/* Lists a registered entry: its description goes to the end of list (what the
 * list methods answer) and, with an index, its position n under key. */
static void reg_list(json_t *list, json_t *index, const char *key, size_t n, json_t *desc)
{
    if (index)
        json_object_set_new(index, key, json_integer((json_int_t)n));
    json_array_append_new(list, desc);
}

/* The optional fields of a resource's or a template's description. */
static json_t *describe(json_t *r, const char *title, const char *description, const char *mime)
{
    set_opt(r, "title", title);
    set_opt(r, "description", description);
    set_opt(r, "mimeType", mime);
    return r;
}

err_code mcp_server_add_lane(mcp_server *srv, const char *name, unsigned workers, unsigned *lane,
                             err_t *e)
{
    err_code rc = reg_check(srv, "lane", name_ok(name) && workers >= 1 && lane,
                            "a name of 1-64 [A-Za-z0-9_./-] and a worker", NULL, NULL, e);
    if (rc != ERR_OK)
        return rc;
    for (unsigned i = 0; i < srv->nlanes; i++)
        if (strcmp(srv->lanes[i].name, name) == 0)
            return err_set(e, ERR_EXISTS, "mcp: lane %s registered twice", name);
    if (srv->nlanes >= MCP_MAX_LANES)
        return err_set(e, ERR_INVALID, "mcp: at most %u lanes", MCP_MAX_LANES);
    snprintf(srv->lanes[srv->nlanes].name, sizeof srv->lanes[0].name, "%s", name);
    srv->lanes[srv->nlanes].workers = workers;
    *lane = srv->nlanes++;
    return ERR_OK;
}

err_code mcp_server_set_tool_lane(mcp_server *srv, const char *tool, unsigned lane, err_t *e)
{
    if (srv->frozen)
        return err_set(e, ERR_INVALID, "mcp: registry is frozen (sessions exist)");
    json_t *idx = tool ? json_object_get(srv->tool_index, tool) : NULL;
    if (!idx || lane >= srv->nlanes)
        return err_set(e, ERR_NOTFOUND, "mcp: no tool %s or no lane %u to put it in",
                       tool ? tool : "(null)", lane);
    srv->tools[json_integer_value(idx)].lane = lane;
    return ERR_OK;
}

unsigned mcp_server_lane_count(const mcp_server *srv)
{
    return srv->nlanes;
}

const char *mcp_server_lane_name(const mcp_server *srv, unsigned i)
{
    return i < srv->nlanes ? srv->lanes[i].name : NULL;
}

unsigned mcp_server_lane_workers(const mcp_server *srv, unsigned i)
{
    return i < srv->nlanes ? srv->lanes[i].workers : 0;
}

err_code mcp_server_add_tool(mcp_server *srv, const mcp_tool_def *d, err_t *e)
{
    err_code rc = reg_check(srv, "tool", d && name_ok(d->name) && d->fn,
                            "a name of 1-64 [A-Za-z0-9_./-] and a handler", srv->tool_index,
                            d ? d->name : NULL, e);
    if (rc != ERR_OK)
        return rc;
    json_t *in = parse_obj(d->input_schema ? d->input_schema
                                           : "{\"type\":\"object\",\"additionalProperties\":false}",
                           d->name, e);
    if (!in)
        return e ? e->code : ERR_INVALID;
    char msg[256];
    if (!json_is_string(json_object_get(in, "type")) ||
        strcmp(json_string_value(json_object_get(in, "type")), "object") != 0 ||
        !mcp_schema_check(in, msg, sizeof msg)) {
        json_decref(in);
        return err_set(e, ERR_INVALID, "mcp: tool %s: inputSchema must be a valid object schema",
                       d->name);
    }
    json_t *out = NULL, *ann = NULL;
    if (d->output_schema && !(out = parse_obj(d->output_schema, d->name, e))) {
        json_decref(in);
        return ERR_INVALID;
    }
    if (d->annotations && !(ann = parse_obj(d->annotations, d->name, e))) {
        json_decref(in);
        json_decref(out);
        return ERR_INVALID;
    }
    json_t *t = json_pack("{s:s}", "name", d->name);
    set_opt(t, "title", d->title);
    set_opt(t, "description", d->description ? d->description : d->name);
    json_object_set(t, "inputSchema", in);
    if (out)
        json_object_set_new(t, "outputSchema", out);
    if (ann)
        json_object_set_new(t, "annotations", ann);
    srv->tools = xrealloc(srv->tools, (srv->ntools + 1) * sizeof *srv->tools);
    srv->tools[srv->ntools] = (mcp_tool){xstrdup(d->name), in, out != NULL, d->fn, d->ud, 0};
    reg_list(srv->tool_list, srv->tool_index, d->name, srv->ntools++, t);
    return ERR_OK;
}

err_code mcp_server_add_resource(mcp_server *srv, const mcp_resource_def *d, err_t *e)
{
    err_code rc = reg_check(srv, "resource", d && d->uri && *d->uri && d->name && d->fn,
                            "uri, name and a handler", srv->resource_index, d ? d->uri : NULL, e);
    if (rc != ERR_OK)
        return rc;
    json_t *r = json_pack("{s:s,s:s}", "uri", d->uri, "name", d->name);
    srv->resources = xrealloc(srv->resources, (srv->nresources + 1) * sizeof *srv->resources);
    srv->resources[srv->nresources] = (mcp_resource){xstrdup(d->uri), d->fn, d->ud, NULL, NULL};
    reg_list(srv->resource_list, srv->resource_index, d->uri, srv->nresources++,
             describe(r, d->title, d->description, d->mime_type));
    return ERR_OK;
}

err_code mcp_server_add_template(mcp_server *srv, const mcp_template_def *d, err_t *e)
{
    err_code rc = reg_check(srv, "template", d && d->uri_template && d->name && d->fn,
                            "uri_template, name and a handler", NULL, NULL, e);
    if (rc != ERR_OK)
        return rc;
    if (!mcp_template_valid(d->uri_template))
        return err_set(e, ERR_INVALID, "mcp: template %s: only literals and {var} are supported",
                       d->uri_template);
    json_t *r = json_pack("{s:s,s:s}", "uriTemplate", d->uri_template, "name", d->name);
    srv->templates = xrealloc(srv->templates, (srv->ntemplates + 1) * sizeof *srv->templates);
    srv->templates[srv->ntemplates] =
        (mcp_template){xstrdup(d->uri_template), d->fn, d->complete, d->ud, NULL, NULL};
    reg_list(srv->template_list, NULL, NULL, srv->ntemplates++,
             describe(r, d->title, d->description, d->mime_type));
    return ERR_OK;
}

static const char *keep(json_t *strings, const char *s)
{
    if (!s)
        return NULL;
    json_t *v = json_string(s);
    json_array_append_new(strings, v);
    return json_string_value(v);
}

err_code mcp_server_add_prompt(mcp_server *srv, const mcp_prompt_def *d, err_t *e)
{
    err_code rc = reg_check(srv, "prompt", d && d->name && *d->name && d->fn,
                            "a name and a handler", srv->prompt_index, d ? d->name : NULL, e);
    if (rc != ERR_OK)
        return rc;
    mcp_prompt p = {xstrdup(d->name), NULL, d->nargs, json_array(), d->fn, d->ud};
    json_t *pj = json_pack("{s:s}", "name", d->name);
    set_opt(pj, "title", d->title);
    set_opt(pj, "description", d->description ? d->description : d->name);
    if (d->nargs) {
        p.args = xcalloc(d->nargs, sizeof *p.args);
        json_t *arr = json_array();
        for (size_t i = 0; i < d->nargs; i++) {
            const mcp_prompt_arg *a = &d->args[i];
            p.args[i] = (mcp_prompt_arg){keep(p.strings, a->name), keep(p.strings, a->title),
                                         keep(p.strings, a->description), a->required, a->complete};
            json_t *aj = json_pack("{s:s}", "name", a->name ? a->name : "");
            set_opt(aj, "title", a->title);
            set_opt(aj, "description", a->description);
            if (a->required)
                json_object_set_new(aj, "required", json_true());
            json_array_append_new(arr, aj);
        }
        json_object_set_new(pj, "arguments", arr);
    }
    srv->prompts = xrealloc(srv->prompts, (srv->nprompts + 1) * sizeof *srv->prompts);
    srv->prompts[srv->nprompts] = p;
    reg_list(srv->prompt_list, srv->prompt_index, d->name, srv->nprompts++, pj);
    return ERR_OK;
}

err_code mcp_server_set_subscribe_check(mcp_server *srv, const char *what, mcp_subscribe_fn fn,
                                        void *ud, err_t *e)
{
    err_code rc = reg_check(srv, "subscribe check", what && fn,
                            "a resource or template and a check", NULL, NULL, e);
    if (rc != ERR_OK)
        return rc;
    json_t *idx = json_object_get(srv->resource_index, what);
    if (idx) {
        srv->resources[json_integer_value(idx)].subscribe = fn;
        srv->resources[json_integer_value(idx)].subscribe_ud = ud;
        return ERR_OK;
    }
    for (size_t i = 0; i < srv->ntemplates; i++)
        if (strcmp(srv->templates[i].uri_template, what) == 0) {
            srv->templates[i].subscribe = fn;
            srv->templates[i].subscribe_ud = ud;
            return ERR_OK;
        }
    return err_set(e, ERR_NOTFOUND, "mcp: no resource or template %s to check subscriptions of",
                   what);
}
