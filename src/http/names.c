/* http/names.c — what may become a label of the request metrics: the MCP request methods
 * of the protocol versions the library speaks ("batch" for a batch), and the names of the
 * tools and prompts the server has registered; any other name a client sends is "other".
 * So the series stay few whatever clients send, and every label is a name the server
 * itself chose (valid UTF-8, never cut). The tool and prompt names are listed once,
 * on first use, through a private protocol session (tools/list and prompts/list): by then
 * the registry is frozen (a session exists), so the list is complete.
 * Must not: hand out a client's string as a label, or run product code (the private
 * session gets no product hooks and its notifications go nowhere). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "http/http_internal.h"

struct http_names {
    mcp_server *srv;
    pthread_mutex_t lock;
    bool loaded;
    hash_t *tools, *prompts; /* name -> the same malloc'd name */
};

static const char *const METHODS[] = {
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "logging/setLevel",
    "completion/complete",
    "tasks/get",
    "tasks/result",
    "tasks/list",
    "tasks/cancel",
    "batch",
};

const char *http_names_method(const char *method)
{
    if (!method)
        return NULL;
    for (size_t i = 0; i < sizeof METHODS / sizeof METHODS[0]; i++)
        if (strcmp(METHODS[i], method) == 0)
            return METHODS[i];
    return "other";
}

http_names *http_names_new(mcp_server *srv)
{
    http_names *n = xcalloc(1, sizeof *n);
    n->srv = srv;
    pthread_mutex_init(&n->lock, NULL);
    n->tools = hash_new(64);
    n->prompts = hash_new(16);
    return n;
}

static void free_names(hash_t *t)
{
    hash_iter it = HASH_ITER_INIT;
    for (char *v; (v = hash_next(t, &it, NULL, NULL)) != NULL;)
        free(v);
    hash_free(t);
}

void http_names_free(http_names *n)
{
    if (!n)
        return;
    free_names(n->tools);
    free_names(n->prompts);
    pthread_mutex_destroy(&n->lock);
    free(n);
}

static int drop_send(void *ud, void *stream_ctx, const char *json, size_t len)
{
    (void)ud, (void)stream_ctx, (void)json, (void)len;
    return -1;
}
static const mcp_transport_ops drop_ops = {drop_send};

/* The parsed result of one request on s, or NULL. */
static json_t *ask(mcp_session *s, json_t *req)
{
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    mcp_reply r;
    mcp_session_handle(s, body, strlen(body), NULL, &r);
    free(body);
    json_t *j = r.json ? json_loadb(r.json, r.len, 0, NULL) : NULL;
    mcp_reply_free(&r);
    json_t *res = json_incref(json_object_get(j, "result"));
    json_decref(j);
    return res;
}

/* Adds every `key` of the items of `list` (all pages) to t. */
static void list_all(mcp_session *s, const char *method, const char *list, hash_t *t)
{
    char *cursor = NULL;
    for (int page = 0; page < 10000; page++) {
        json_t *params = cursor ? json_pack("{s:s}", "cursor", cursor) : json_object();
        free(cursor);
        cursor = NULL;
        json_t *res = ask(s, json_pack("{s:s,s:i,s:s,s:o}", "jsonrpc", "2.0", "id", page + 2,
                                       "method", method, "params", params));
        size_t i;
        json_t *item;
        json_array_foreach (json_object_get(res, list), i, item) {
            const char *name = json_string_value(json_object_get(item, "name"));
            if (name && !hash_get(t, name, strlen(name))) {
                char *copy = xstrdup(name);
                hash_put(t, copy, strlen(copy), copy);
            }
        }
        const char *next = json_string_value(json_object_get(res, "nextCursor"));
        cursor = next ? xstrdup(next) : NULL;
        json_decref(res);
        if (!cursor)
            break;
    }
    free(cursor);
}

static void load(http_names *n)
{
    mcp_session *s = mcp_session_new(n->srv, &drop_ops, NULL);
    json_decref(ask(s, json_pack("{s:s,s:i,s:s,s:{s:s,s:{},s:{s:s,s:s}}}", "jsonrpc", "2.0", "id",
                                 1, "method", "initialize", "params", "protocolVersion",
                                 "2025-06-18", "capabilities", "clientInfo", "name",
                                 "ctxd-http-metrics", "version", "1")));
    list_all(s, "tools/list", "tools", n->tools);
    list_all(s, "prompts/list", "prompts", n->prompts);
    mcp_session_free(s);
}

const char *http_names_tool(http_names *n, const char *method, const char *name)
{
    hash_t *t = NULL;
    if (method && strcmp(method, "tools/call") == 0)
        t = n->tools;
    else if (method && strcmp(method, "prompts/get") == 0)
        t = n->prompts;
    if (!t || !name)
        return NULL;
    pthread_mutex_lock(&n->lock);
    if (!n->loaded) {
        load(n);
        n->loaded = true;
    }
    const char *known = hash_get(t, name, strlen(name));
    pthread_mutex_unlock(&n->lock);
    return known ? known : "other";
}
