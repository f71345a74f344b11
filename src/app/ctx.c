/* app/ctx.c — the app context (store, auth, limiter, limits, clock), registration of
 * the tool tables (with their embedded input schemas, schemas.h) into an mcp_server, each
 * tool on its worker lane (writes, heavy calls, the rest), and the one dispatcher every
 * tool call goes through: request metrics (count, errors, latency histogram), access,
 * rate limit and the agent's heavy-call slots, then the tool; arguments that fail a
 * tool's input schema get the INVALID_INPUT envelope here too.
 * Must not: contain a tool's own logic or an access rule (access.c, visibility.c). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_int.h"
#include "app/schemas.h"
#include "base/log.h"
#include "base/sbuf.h"

app_limits app_limits_default(void)
{
    app_limits l = {
        .content_max_chars = 100000,
        .metadata_max_keys = 50,
        .metadata_key_max = 100,
        .metadata_max_chars = 10000,
        .memory_key_max = 255,
        .memory_value_max = 1u << 20,
        .ttl_max_s = 31536000,
        .purpose_max_chars = 1000,
        .query_max_chars = 1000,
        .search_max_bytes = (size_t)32 << 20,
        .search_time_ms = 5000,
        .search_index_max_bytes = (size_t)512 << 20,
        .search_terms_min_messages = 2000,
        .response_max_bytes = (size_t)4 << 20,
        .heavy_per_agent = 4,
    };
    return l;
}

static void ws_free(void *p)
{
    search_ws_free(p);
}

err_code app_new(const app_opts *o, app_t **out, err_t *e)
{
    *out = NULL;
    if (!o || !o->store || !o->auth)
        return err_set(e, ERR_INVALID, "app: a store and an auth context are required");
    app_t *a = xcalloc(1, sizeof *a);
    a->st = o->store;
    a->auth = o->auth;
    a->rl = o->rl;
    app_limits d = app_limits_default();
    a->lim = o->limits;
#define DEF(f) \
    do { \
        if (!a->lim.f) \
            a->lim.f = d.f; \
    } while (0)
    DEF(content_max_chars);
    DEF(metadata_max_keys);
    DEF(metadata_key_max);
    DEF(metadata_max_chars);
    DEF(memory_key_max);
    DEF(memory_value_max);
    DEF(ttl_max_s);
    DEF(purpose_max_chars);
    DEF(query_max_chars);
    DEF(search_max_bytes);
    DEF(search_time_ms);
    DEF(search_index_max_bytes);
    DEF(search_terms_min_messages);
    DEF(response_max_bytes);
    DEF(heavy_per_agent);
#undef DEF
    a->clock = o->clock;
    a->clock_ud = o->clock_ud;
    a->lim_sessions = o->max_sessions ? o->max_sessions : 10000;
    a->lim_sessions_per_peer = o->max_sessions_per_peer ? o->max_sessions_per_peer : 1000;
    a->lim_subs_per_session =
        o->max_subscriptions_per_session ? o->max_subscriptions_per_session : 100;
    a->lim_subs = o->max_subscriptions ? o->max_subscriptions : 100000;
    a->write_workers = o->write_workers ? o->write_workers : 8;
    a->heavy_workers = o->heavy_workers ? o->heavy_workers : 8;
    app_sessions_init(a);
    app_counts_init(&a->heavy);
    a->trusted_id = xstrdup(o->trusted_agent_id ? o->trusted_agent_id : "local");
    a->trusted_type = xstrdup(o->trusted_agent_type ? o->trusted_agent_type : "local");
    a->started_mono = utc_mono_us();
    app_index_install(a->st);
    if (pthread_key_create(&a->ws_key, ws_free) != 0) {
        app_counts_fini(&a->heavy);
        app_sessions_fini(a);
        free(a->trusted_id);
        free(a->trusted_type);
        free(a);
        return err_set(e, ERR_FATAL, "app: pthread_key_create failed");
    }
    a->sidx = app_sidx_new(a->lim.search_index_max_bytes);
    *out = a;
    return ERR_OK;
}

err_code app_from_conf(const conf_t *c, store_t *st, auth_ctx *auth, app_t **out, err_t *e)
{
    auth_ratelimit *rl = NULL;
    if (auth_rl_from_conf(c, &rl, e) != ERR_OK)
        return e->code;
    app_opts o = {.store = st, .auth = auth, .rl = rl};
    static const struct {
        const char *var;
        size_t offset;
    } caps[] = {
        {"MCP_MAX_SESSIONS", offsetof(app_opts, max_sessions)},
        {"MCP_MAX_SESSIONS_PER_PEER", offsetof(app_opts, max_sessions_per_peer)},
        {"MCP_MAX_SUBSCRIPTIONS_PER_SESSION", offsetof(app_opts, max_subscriptions_per_session)},
        {"MCP_MAX_SUBSCRIPTIONS", offsetof(app_opts, max_subscriptions)},
        {"MCP_WRITE_WORKERS", offsetof(app_opts, write_workers)},
        {"MCP_HEAVY_WORKERS", offsetof(app_opts, heavy_workers)},
        {"SEARCH_MAX_SCAN_BYTES", offsetof(app_opts, limits.search_max_bytes)},
        {"SEARCH_TIME_BUDGET_MS", offsetof(app_opts, limits.search_time_ms)},
        {"SEARCH_INDEX_MAX_BYTES", offsetof(app_opts, limits.search_index_max_bytes)},
        {"MAX_RESPONSE_BYTES", offsetof(app_opts, limits.response_max_bytes)},
        {"HEAVY_CALLS_PER_AGENT", offsetof(app_opts, limits.heavy_per_agent)},
    };
    for (size_t i = 0; i < sizeof caps / sizeof *caps; i++) {
        long v = 0;
        if (conf_get_int(c, caps[i].var, 0, &v, e) != ERR_OK) {
            auth_rl_free(rl);
            return e->code;
        }
        *(size_t *)((char *)&o + caps[i].offset) = (size_t)v;
    }
    if (app_new(&o, out, e) != ERR_OK) {
        auth_rl_free(rl);
        return e->code;
    }
    (*out)->own_rl = true;
    return ERR_OK;
}

void app_free(app_t *a)
{
    if (!a)
        return;
    app_indexer_stop(a);
    app_sidx_free(a->sidx);
    search_ws *ws = pthread_getspecific(a->ws_key);
    if (ws) {
        search_ws_free(ws);
        pthread_setspecific(a->ws_key, NULL);
    }
    pthread_key_delete(a->ws_key);
    if (a->own_rl)
        auth_rl_free(a->rl);
    app_counts_fini(&a->heavy);
    app_sessions_fini(a);
    free(a->trusted_id);
    free(a->trusted_type);
    free(a);
}

utc_us app_now(app_t *a)
{
    return a->clock ? a->clock(a->clock_ud) : auth_ctx_now(a->auth);
}

search_ws *app_search_ws(app_t *a)
{
    search_ws *ws = pthread_getspecific(a->ws_key);
    if (!ws) {
        ws = search_ws_new();
        pthread_setspecific(a->ws_key, ws);
    }
    return ws;
}

/* ---- latency histogram: bucket i holds durations <= 10us * 1.4^i ---- */
static double bucket_upper(int i)
{
    double u = 10.0;
    for (int k = 0; k < i; k++)
        u *= 1.4;
    return u;
}

void app_lat_record(app_lat *l, int64_t us, bool error, app_code code)
{
    if (error && code < APP_CODE_COUNT)
        atomic_fetch_add_explicit(&l->codes[code], 1, memory_order_relaxed);
    int i = 0;
    double u = 10.0;
    while (i < APP_LAT_BUCKETS - 1 && (double)us > u) {
        u *= 1.4;
        i++;
    }
    atomic_fetch_add_explicit(&l->calls, 1, memory_order_relaxed);
    if (error)
        atomic_fetch_add_explicit(&l->errors, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&l->total_us, (uint_fast64_t)(us > 0 ? us : 0), memory_order_relaxed);
    atomic_fetch_add_explicit(&l->b[i], 1, memory_order_relaxed);
}

double app_lat_percentile(const app_lat *l, double p)
{
    uint64_t total = 0, b[APP_LAT_BUCKETS];
    for (int i = 0; i < APP_LAT_BUCKETS; i++) {
        b[i] = atomic_load_explicit(&l->b[i], memory_order_relaxed);
        total += b[i];
    }
    if (!total)
        return 0;
    double want = p * (double)total;
    uint64_t acc = 0;
    for (int i = 0; i < APP_LAT_BUCKETS; i++) {
        acc += b[i];
        if ((double)acc >= want)
            return bucket_upper(i);
    }
    return bucket_upper(APP_LAT_BUCKETS - 1);
}

void app_foreach_tool_stats(app_t *a, void (*fn)(void *ud, const app_tool_stats *s), void *ud)
{
    for (size_t i = 0; i < a->ntools; i++) {
        app_lat *l = &a->tool_lat[i];
        app_tool_stats s = {.tool = a->tool_names[i]};
        s.calls = atomic_load_explicit(&l->calls, memory_order_relaxed);
        s.errors = atomic_load_explicit(&l->errors, memory_order_relaxed);
        uint64_t tot = atomic_load_explicit(&l->total_us, memory_order_relaxed);
        s.mean_us = s.calls ? (double)tot / (double)s.calls : 0;
        s.p50_us = app_lat_percentile(l, 0.50);
        s.p95_us = app_lat_percentile(l, 0.95);
        s.p99_us = app_lat_percentile(l, 0.99);
        const char *names[APP_CODE_COUNT];
        uint64_t counts[APP_CODE_COUNT];
        for (int k = 0; k < APP_CODE_COUNT; k++) {
            uint64_t n = atomic_load_explicit(&l->codes[k], memory_order_relaxed);
            if (n) {
                names[s.ncodes] = app_code_name((app_code)k);
                counts[s.ncodes++] = n;
            }
        }
        s.code_names = names;
        s.code_counts = counts;
        fn(ud, &s);
    }
}

/* ---- the dispatcher ---- */

/* One line per tool call: tool, agent, result (ok or the envelope's code), milliseconds;
 * at warning when the caller failed to authenticate, else at info. */
static void log_call(const app_call *c, app_code code, bool is_err, int64_t us)
{
    bool auth_failed = code == APP_AUTH_FAILED || code == APP_TOKEN_AUTHENTICATION_FAILED ||
                       code == APP_TOKEN_EXPIRED || code == APP_INVALID_TOKEN_FORMAT;
    log_level lvl = auth_failed ? LOG_WARN : LOG_INFO;
    if (!log_enabled(lvl))
        return;
    char ms[32];
    snprintf(ms, sizeof ms, "%.1f", (double)us / 1000.0);
    log_field f[] = {
        {"tool", c->tool},
        {"agent", c->authed && c->id.agent_id[0] ? c->id.agent_id : "-"},
        {"result", !is_err                 ? "ok"
                   : code < APP_CODE_COUNT ? app_code_name(code)
                                           : "error"},
        {"ms", ms},
    };
    log_fields(lvl, "call", f, sizeof f / sizeof f[0], "%s",
               auth_failed ? "authentication failed" : "tool call");
}
static json_t *dispatch(mcp_call *mc, json_t *args, void *ud)
{
    tool_slot *slot = ud;
    app_t *a = slot->app;
    int64_t t0 = utc_mono_us();
    app_call c = {
        .app = a, .mc = mc, .req = mcp_call_auth(mc), .now = app_now(a), .tool = slot->t->name};
    json_t *r = NULL;
    if (slot->t->need != APP_NEED_NONE) {
        r = app_access(&c, app_arg_str(args, "auth_token"), slot->t->need, true);
        if (!r)
            r = app_rate_check(&c, c.id.agent_id);
    }
    bool heavy = !r && slot->heavy && c.authed;
    if (heavy && (r = app_heavy_enter(&c)) != NULL)
        heavy = false;
    if (!r) {
        r = slot->t->fn(&c, args);
        app_audit_denied(&c, r);
    }
    if (heavy)
        app_heavy_leave(&c);
    bool is_err = !r || json_is_true(json_object_get(r, "isError"));
    app_code code = APP_CODE_COUNT;
    if (is_err && r)
        code = app_code_of(
            json_string_value(json_object_get(json_object_get(r, "structuredContent"), "code")));
    int64_t us = utc_mono_us() - t0;
    app_lat_record(&a->tool_lat[slot->idx], us, is_err, code);
    log_call(&c, code, is_err, us);
    return r;
}

/* Arguments that failed the tool's input schema (checked by mcp/ before dispatch): the
 * contract's envelope with INVALID_INPUT, naming the argument and what was expected;
 * counted in the tool's statistics as an error call. */
static json_t *invalid_args(mcp_call *mc, const mcp_invalid_args *ia, void *ud)
{
    (void)mc;
    app_t *a = ud;
    for (size_t i = 0; i < a->ntools; i++)
        if (strcmp(a->tool_names[i], ia->tool) == 0) {
            app_lat_record(&a->tool_lat[i], 0, true, APP_INVALID_INPUT);
            break;
        }
    char sug[400];
    if (!ia->argument)
        snprintf(sug, sizeof sug,
                 "Pass the arguments as a JSON object matching the inputSchema of %s", ia->tool);
    else if (strcmp(ia->problem, "is required") == 0)
        snprintf(sug, sizeof sug, "Pass the required argument '%s'", ia->argument);
    else if (strncmp(ia->problem, "is not an accepted argument", 27) == 0)
        snprintf(sug, sizeof sug, "Remove the argument '%s' %s", ia->argument,
                 ia->problem[27] == ' ' ? ia->problem + 28 : "(see the inputSchema)");
    else
        snprintf(sug, sizeof sug, "Fix the argument '%s': %s %s (see the inputSchema of %s)",
                 ia->argument, ia->path, ia->problem, ia->tool);
    json_t *ctx =
        json_pack("{s:s s:s s:s}", "tool", ia->tool, "path", ia->path, "expected", ia->problem);
    if (ia->argument)
        json_object_set_new(ctx, "argument", json_string(ia->argument));
    return app_error_ex(a, APP_INVALID_INPUT, ctx, sug, 0, "%s", ia->message);
}

static const app_tool *const *all_tables(void)
{
    static const app_tool *const tables[] = {app_tools_auth,
                                             app_tools_session,
                                             app_tools_messages,
                                             app_tools_memory,
                                             app_tools_search,
                                             app_tools_info,
                                             NULL};
    return tables;
}

/* Heavy tools: their work grows with the data (a whole session scored, a whole thread
 * walked), so each agent runs at most lim.heavy_per_agent of them at once, on the "heavy"
 * lane. */
static bool tool_is_heavy(const app_tool *t)
{
    return strcmp(t->name, "search_context") == 0 || strcmp(t->name, "get_thread") == 0;
}

/* Tools that may change data (not annotated read-only) run on the "write" lane. */
static bool tool_writes(const app_tool *t)
{
    return !t->annotations || !strstr(t->annotations, "\"readOnlyHint\":true");
}

err_code app_register(app_t *a, mcp_server *srv, err_t *e)
{
    if (a->srv)
        return err_set(e, ERR_INVALID, "app: already registered");
    a->srv = srv;
    unsigned lane_write, lane_heavy;
    if (mcp_server_add_lane(srv, "write", (unsigned)a->write_workers, &lane_write, e) != ERR_OK ||
        mcp_server_add_lane(srv, "heavy", (unsigned)a->heavy_workers, &lane_heavy, e) != ERR_OK)
        return err_prefix(e, "registering the worker lanes");
    for (const app_tool *const *tab = all_tables(); *tab; tab++) {
        for (const app_tool *t = *tab; t->name; t++) {
            if (a->ntools >= APP_MAX_TOOLS)
                return err_set(e, ERR_INTERNAL, "app: too many tools");
            tool_slot *slot = &a->slots[a->ntools];
            slot->app = a;
            slot->t = t;
            slot->idx = a->ntools;
            slot->heavy = tool_is_heavy(t);
            a->tool_names[a->ntools++] = t->name;
            json_t *schema = app_schema_load(t->name, e);
            if (!schema)
                return err_prefix(e, "registering tool %s", t->name);
            char *text = json_dumps(schema, JSON_COMPACT);
            json_decref(schema);
            mcp_tool_def d = {.name = t->name,
                              .title = t->title,
                              .description = t->description,
                              .input_schema = text,
                              .annotations = t->annotations,
                              .fn = dispatch,
                              .ud = slot};
            err_code rc = mcp_server_add_tool(srv, &d, e);
            free(text);
            unsigned lane = slot->heavy ? lane_heavy : tool_writes(t) ? lane_write : 0;
            if (rc == ERR_OK && lane)
                rc = mcp_server_set_tool_lane(srv, t->name, lane, e);
            if (rc != ERR_OK)
                return err_prefix(e, "registering tool %s", t->name);
        }
    }
    mcp_server_set_invalid_args_fn(srv, invalid_args, a);
    mcp_subscription_limits sl = {a->lim_subs_per_session, a->lim_subs, true};
    mcp_server_set_subscription_limits(srv, &sl);
    if (app_register_resources(a, srv, e) != ERR_OK)
        return e->code;
    return app_register_prompts(a, srv, e);
}

mcp_server_info app_server_info(void)
{
    mcp_server_info i = {
        .name = "ctxd",
        .version = CTXD_VERSION,
        .title = "ctxd shared context",
        .description = "Shared-context server for AI agents: sessions, messages with "
                       "visibility, private memory with TTL, fuzzy search.",
        .instructions = "Call authenticate_agent first and pass the returned token as "
                        "auth_token to every other tool. Create or join a session, post "
                        "messages with add_message, read them with get_messages "
                        "(since_id for new ones), keep private state with set_memory. "
                        "See get_usage_guidance for details.",
    };
    return i;
}
