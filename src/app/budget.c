/* app/budget.c — the work one call may do (app_limits, docs/mcp-interface.md "Limits"):
 * how many heavy calls (search_context, get_thread) each agent runs at once, and how
 * many bytes of rows a list or read answer carries before it stops adding rows and says
 * so. (search_context's own scan budget is in tools_search.c.)
 * Must not: touch the store, or block: a call over a limit is answered at once. */
#include <stdlib.h>
#include <string.h>

#include "app/app_int.h"

/* one agent's heavy calls running now; the table's key is the agent id */
typedef struct heavy_agent {
    size_t n;
    char id[];
} heavy_agent;

void app_heavy_init(app_t *a)
{
    pthread_mutex_init(&a->heavy_mu, NULL);
    a->heavy = hash_new(0);
}

void app_heavy_fini(app_t *a)
{
    hash_iter it = HASH_ITER_INIT;
    for (heavy_agent *h; (h = hash_next(a->heavy, &it, NULL, NULL)) != NULL;)
        free(h);
    hash_free(a->heavy);
    pthread_mutex_destroy(&a->heavy_mu);
}

json_t *app_heavy_enter(app_call *c)
{
    app_t *a = c->app;
    const char *id = c->id.agent_id;
    size_t kl = strlen(id), max = a->lim.heavy_per_agent;
    pthread_mutex_lock(&a->heavy_mu);
    heavy_agent *h = hash_get(a->heavy, id, kl);
    size_t running = h ? h->n : 0;
    if (running < max) {
        if (!h) {
            h = xcalloc(1, sizeof *h + kl + 1);
            memcpy(h->id, id, kl + 1);
            hash_put(a->heavy, h->id, kl, h);
        }
        h->n++;
    }
    pthread_mutex_unlock(&a->heavy_mu);
    if (running < max)
        return NULL;
    return app_error_ex(
        a, APP_RATE_LIMITED,
        json_pack("{s:s s:I}", "limit", "HEAVY_CALLS_PER_AGENT", "max", (json_int_t)max),
        "Wait for one of your running searches or thread reads to finish", 1,
        "agent %s already runs %zu heavy calls (search_context, get_thread) at "
        "once",
        id, running);
}

void app_heavy_leave(app_call *c)
{
    app_t *a = c->app;
    size_t kl = strlen(c->id.agent_id);
    pthread_mutex_lock(&a->heavy_mu);
    heavy_agent *h = hash_get(a->heavy, c->id.agent_id, kl);
    if (h && --h->n == 0) {
        hash_remove(a->heavy, h->id, kl);
        free(h);
    }
    pthread_mutex_unlock(&a->heavy_mu);
}

size_t app_json_size(const json_t *v)
{
    return json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
}

bool app_row_fits(app_t *a, size_t *used, size_t bytes)
{
    size_t max = a->lim.response_max_bytes;
    bytes += 1; /* the comma between rows */
    if (*used && (*used >= max || bytes > max - *used))
        return false;
    *used += bytes;
    return true;
}

json_t *app_json_messages_within(app_t *a, const store_messages *ms, size_t n, bool *truncated)
{
    json_t *arr = json_array();
    size_t used = 0;
    *truncated = false;
    for (size_t i = 0; i < n && i < ms->n; i++) {
        json_t *row = app_json_message(&ms->v[i]);
        if (!app_row_fits(a, &used, app_json_size(row))) {
            json_decref(row);
            *truncated = true;
            break;
        }
        json_array_append_new(arr, row);
    }
    return arr;
}
