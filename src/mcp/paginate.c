/* mcp/paginate.c — cursor pagination for the four list methods over a prebuilt JSON
 * array in stable (registration) order. Cursors are opaque strings to clients; an
 * invalid one is -32602.
 * Must not: build JSON per request (pages are serialised once, at freeze). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/mcp_internal.h"

static json_t *list_of(mcp_server *srv, int list, const char **key)
{
    switch (list) {
    case MCP_LIST_TOOLS: *key = "tools"; return srv->tool_list;
    case MCP_LIST_RESOURCES: *key = "resources"; return srv->resource_list;
    case MCP_LIST_TEMPLATES: *key = "resourceTemplates"; return srv->template_list;
    default: *key = "prompts"; return srv->prompt_list;
    }
}

void mcp_pages_build(mcp_server *srv)
{
    size_t page = srv->page_size;
    for (int l = 0; l < 4; l++) {
        const char *key;
        json_t *list = list_of(srv, l, &key);
        size_t n = json_array_size(list);
        size_t np = n ? (n + page - 1) / page : 1;
        srv->pages[l].text = xcalloc(np, sizeof(char *));
        srv->pages[l].n = np;
        for (size_t p = 0; p < np; p++) {
            json_t *arr = json_array();
            for (size_t i = p * page; i < n && i < (p + 1) * page; i++)
                json_array_append(arr, json_array_get(list, i));
            json_t *r = json_pack("{s:o}", key, arr);
            if (p + 1 < np) {
                char buf[32];
                snprintf(buf, sizeof buf, "page-%zu", (p + 1) * page);
                json_object_set_new(r, "nextCursor", json_string(buf));
            }
            srv->pages[l].text[p] = json_dumps(r, JSON_COMPACT);
            json_decref(r);
        }
    }
}

void mcp_pages_free(mcp_server *srv)
{
    for (int l = 0; l < 4; l++) {
        for (size_t p = 0; p < srv->pages[l].n; p++)
            free(srv->pages[l].text[p]);
        free(srv->pages[l].text);
        srv->pages[l].text = NULL;
        srv->pages[l].n = 0;
    }
}

json_t *mcp_paginate(mcp_call *c, json_t *params, int list)
{
    mcp_server *srv = c->session->srv;
    size_t page = srv->page_size, off = 0;
    const char *key;
    size_t n = json_array_size(list_of(srv, list, &key));
    json_t *cur = params ? json_object_get(params, "cursor") : NULL;
    if (cur && !json_is_null(cur)) {
        const char *s = json_string_value(cur);
        long v;
        if (!s || strncmp(s, "page-", 5) != 0 || !str_to_long(s + 5, 1, (long)n - 1, &v) ||
            (size_t)v % page != 0) {
            mcp_call_set_error(c, MCP_INVALID_PARAMS, "invalid cursor", NULL);
            return NULL;
        }
        off = (size_t)v;
    }
    c->raw_result = srv->pages[list].text[off / page];
    return NULL;
}
