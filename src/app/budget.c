/* app/budget.c — the work one call may do (app_limits, docs/mcp-interface.md "Limits"):
 * how many heavy calls (search_context, get_thread) each agent runs at once, and how
 * many bytes of rows a list or read answer carries before it stops adding rows and says
 * so. (search_context's own scan budget is in tools_search.c.)
 * Must not: touch the store, or block: a call over a limit is answered at once. */
#include "app/app_int.h"

json_t *app_heavy_enter(app_call *c)
{
    app_t *a = c->app;
    size_t max = a->lim.heavy_per_agent, running;
    if (app_counts_take(&a->heavy, c->id.agent_id, max, &running))
        return NULL;
    return app_error_ex(
        a, APP_RATE_LIMITED,
        json_pack("{s:s s:I}", "limit", "HEAVY_CALLS_PER_AGENT", "max", (json_int_t)max),
        "Wait for one of your running searches or thread reads to finish", 1,
        "agent %s already runs %zu heavy calls (search_context, get_thread) at once",
        c->id.agent_id, running);
}

void app_heavy_leave(app_call *c)
{
    app_counts_give(&c->app->heavy, c->id.agent_id);
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
