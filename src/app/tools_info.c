/* app/tools_info.c — get_usage_guidance (per access level), get_performance_metrics
 * (admin: uptime, per-tool counts and latency percentiles, error counts by code,
 * database backend and pool figures) and the tool documentation for docs://tools.
 * Must not: expose tokens, keys or database URLs. */
#include <string.h>

#include "app/app_int.h"
#include "app/schemas.h"
#include "app/tools_common.h"
#include "store/store.h"

static const char *guidance_text(const char *type)
{
    if (!strcmp(type, "coordination"))
        return "Create one session per task (create_session) and share its session_id. Post "
               "findings with add_message (public for everyone, agent_only for agents of your "
               "type, private for notes to self). Poll get_messages with since_id = the last id "
               "you saw, or subscribe to the session://{session_id} resource. Reply in threads "
               "with parent_message_id; read them with get_thread.";
    if (!strcmp(type, "security"))
        return "Tokens are bearer secrets: pass them only as auth_token and never post them in "
               "messages. Permissions come from your agent_type. private messages are visible "
               "to you only, admin_only to admins only. Memory is private to your agent_id.";
    if (!strcmp(type, "troubleshooting"))
        return "TOKEN_EXPIRED: call refresh_token or authenticate_agent again. PERMISSION_DENIED: "
               "your agent_type lacks the permission. SESSION_NOT_FOUND: check the id with "
               "list_sessions. RATE_LIMITED / DATABASE_UNAVAILABLE with recoverable=true: wait "
               "retry_after seconds and retry. Errors carry code, suggestions and context.";
    return "1) authenticate_agent(agent_id, agent_type) -> token. 2) create_session(purpose) or "
           "list_sessions. 3) add_message / get_messages (since_id for new messages) / "
           "search_context(query). 4) set_memory / get_memory / list_memory / delete_memory for "
           "private state with optional expires_in seconds. Pass auth_token to every tool.";
}

static json_t *get_usage_guidance(app_call *c, json_t *args)
{
    const char *type = app_arg_str(args, "guidance_type");
    if (!type)
        type = "operations";
    if (strcmp(type, "operations") && strcmp(type, "coordination") && strcmp(type, "security") &&
        strcmp(type, "troubleshooting"))
        return app_error(
            c->app, APP_INVALID_INPUT,
            "guidance_type must be operations, coordination, security or troubleshooting");
    const char *level = app_is_admin(&c->id)                ? "ADMIN"
                        : auth_has(&c->id, AUTH_PERM_WRITE) ? "AGENT"
                                                            : "READ_ONLY";
    return app_ok(json_pack("{s:s s:s s:s s:{s:s s:s s:o}}", "guidance_type", type, "guidance",
                            guidance_text(type), "access_level", level, "agent_info", "agent_id",
                            c->id.agent_id, "agent_type", c->id.agent_type, "permissions",
                            auth_perms_to_json(c->id.permissions)));
}

static void tool_json(void *ud, const app_tool_stats *t)
{
    json_object_set_new(ud, t->tool,
                        json_pack("{s:I s:I s:f s:f s:f s:f}", "requests", (json_int_t)t->calls,
                                  "errors", (json_int_t)t->errors, "mean_ms", t->mean_us / 1000.0,
                                  "p50_ms", t->p50_us / 1000.0, "p95_ms", t->p95_us / 1000.0,
                                  "p99_ms", t->p99_us / 1000.0));
}

static json_t *get_performance_metrics(app_call *c, json_t *args)
{
    (void)args;
    app_t *a = c->app;
    json_t *tools = json_object();
    app_foreach_tool_stats(a, tool_json, tools);
    json_t *errs = json_object();
    for (int k = 0; k < APP_CODE_COUNT; k++) {
        uint64_t n = atomic_load_explicit(&a->err_counts[k], memory_order_relaxed);
        if (n)
            json_object_set_new(errs, app_code_name((app_code)k), json_integer((json_int_t)n));
    }
    store_stats ss;
    store_get_stats(a->st, &ss);
    const db_query_stats *qs = &ss.queries;
    json_t *db = json_pack("{s:s s:o}", "backend", ss.backend, "pool", app_json_pool(&ss.pool));
    json_object_set_new(
        db, "queries",
        json_pack("{s:I s:I s:I s:I s:f}", "statements", (json_int_t)qs->statements, "errors",
                  (json_int_t)qs->errors, "slow", (json_int_t)qs->slow, "retries",
                  (json_int_t)qs->retries, "mean_ms",
                  qs->statements ? (double)qs->total_us / (double)qs->statements / 1000.0 : 0.0));
    double up = (double)(utc_mono_us() - a->started_mono) / 1e6;
    return app_ok(json_pack("{s:f s:o s:o s:o s:{s:b}}", "uptime_seconds", up, "tools", tools,
                            "errors_by_code", errs, "database", db, "cache", "enabled", 0));
}

const app_tool app_tools_info[] = {
    {"get_usage_guidance", "Usage guidance",
     "How to use ctxd for your access level: operations, coordination, security or "
     "troubleshooting.",
     APP_RO, APP_NEED_READ, get_usage_guidance},
    {"get_performance_metrics", "Performance metrics",
     "Server figures (admin only): uptime, per-tool request counts and latency percentiles, "
     "error counts, database pool and query statistics.",
     APP_RO, APP_NEED_ADMIN, get_performance_metrics},
    {NULL, NULL, NULL, NULL, 0, NULL},
};

json_t *app_tools_doc(app_t *a, const char *name)
{
    (void)a;
    const app_tool *const tabs[] = {app_tools_auth,   app_tools_session, app_tools_messages,
                                    app_tools_memory, app_tools_search,  app_tools_info};
    json_t *arr = json_array();
    for (size_t k = 0; k < sizeof tabs / sizeof *tabs; k++)
        for (const app_tool *t = tabs[k]; t->name; t++) {
            if (name && *name && strcmp(name, "all") && strcmp(name, t->name))
                continue;
            json_t *schema = app_schema_load(t->name, NULL);
            json_array_append_new(arr, json_pack("{s:s s:s s:o}", "name", t->name, "description",
                                                 t->description, "inputSchema",
                                                 schema ? schema : json_object()));
        }
    return arr;
}
