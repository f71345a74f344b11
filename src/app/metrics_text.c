/* app/metrics_text.c — the app's and the database's figures in the Prometheus text
 * format (0.0.4) for GET /metrics: per-tool calls, errors (also per error code) and
 * latency quantiles, rate-limit refusals, the search indexer's lag, the process's own
 * figures (metrics_process.c), uptime, build info, and the store's pool and statement
 * figures (the same names on every backend). The transport renders its own request metrics (http/metrics.c).
 * Must not: talk to the database (the figures are counters already kept), or put a
 * token, key or URL in a label. */
#include "app/app_int.h"
#include "base/utc.h"

static void label_escape(sbuf_t *b, const char *v)
{
    for (; v && *v; v++) {
        if (*v == '\\' || *v == '"')
            sbuf_putc(b, '\\'), sbuf_putc(b, *v);
        else if (*v == '\n')
            sbuf_puts(b, "\\n");
        else
            sbuf_putc(b, *v);
    }
}

static void metric_head(sbuf_t *b, const char *name, const char *type, const char *help)
{
    sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The three per-tool families, gathered apart so each is one block. */
typedef struct tool_acc {
    sbuf_t codes;
    sbuf_t calls, errors, lat;
} tool_acc;

/* `name{tool="<tool>` (the caller closes the labels) */
static void tool_sample(sbuf_t *b, const char *name, const char *tool)
{
    sbuf_printf(b, "%s{tool=\"", name);
    label_escape(b, tool);
}

static void tool_cb(void *ud, const app_tool_stats *t)
{
    tool_acc *a = ud;
    tool_sample(&a->calls, "ctxd_tool_calls_total", t->tool);
    sbuf_printf(&a->calls, "\"} %llu\n", (unsigned long long)t->calls);
    tool_sample(&a->errors, "ctxd_tool_errors_total", t->tool);
    sbuf_printf(&a->errors, "\"} %llu\n", (unsigned long long)t->errors);
    const struct {
        const char *q;
        double v;
    } qs[] = {{"0.5", t->p50_us}, {"0.95", t->p95_us}, {"0.99", t->p99_us}};
    for (size_t i = 0; i < 3; i++) {
        tool_sample(&a->lat, "ctxd_tool_latency_seconds", t->tool);
        sbuf_printf(&a->lat, "\",quantile=\"%s\"} %.9g\n", qs[i].q, qs[i].v / 1e6);
    }
    tool_sample(&a->lat, "ctxd_tool_latency_seconds_sum", t->tool);
    sbuf_printf(&a->lat, "\"} %.9g\n", t->mean_us * (double)t->calls / 1e6);
    tool_sample(&a->lat, "ctxd_tool_latency_seconds_count", t->tool);
    sbuf_printf(&a->lat, "\"} %llu\n", (unsigned long long)t->calls);
    for (size_t i = 0; i < t->ncodes; i++) {
        tool_sample(&a->codes, "ctxd_tool_error_codes_total", t->tool);
        sbuf_puts(&a->codes, "\",code=\"");
        label_escape(&a->codes, t->code_names[i]);
        sbuf_printf(&a->codes, "\"} %llu\n", (unsigned long long)t->code_counts[i]);
    }
}

static void tool_metrics(sbuf_t *b, app_t *a)
{
    tool_acc acc = {SBUF_INIT, SBUF_INIT, SBUF_INIT, SBUF_INIT};
    app_foreach_tool_stats(a, tool_cb, &acc);
    metric_head(b, "ctxd_tool_calls_total", "counter", "Tool calls handled by the app, per tool.");
    sbuf_append(b, sbuf_cstr(&acc.calls), acc.calls.len);
    metric_head(b, "ctxd_tool_errors_total", "counter",
                "Tool calls that returned an error envelope, per tool.");
    sbuf_append(b, sbuf_cstr(&acc.errors), acc.errors.len);
    metric_head(b, "ctxd_tool_error_codes_total", "counter",
                "Tool calls that returned an error envelope, per tool and error code (only "
                "the pairs seen).");
    sbuf_append(b, sbuf_cstr(&acc.codes), acc.codes.len);
    metric_head(b, "ctxd_tool_latency_seconds", "summary",
                "Tool call latency quantiles, per tool.");
    sbuf_append(b, sbuf_cstr(&acc.lat), acc.lat.len);
    sbuf_free(&acc.codes);
    sbuf_free(&acc.calls);
    sbuf_free(&acc.errors);
    sbuf_free(&acc.lat);
}

static void db_metrics(sbuf_t *b, store_t *st)
{
    store_stats ss;
    store_get_stats(st, &ss);
    const db_pool_stats p = ss.pool;
    const db_query_stats q = ss.queries;
    const struct {
        const char *name, *type, *help;
        int64_t v; /* gauges are ints, counters never reach 2^63 */
    } fig[] = {
        {"ctxd_db_pool_size", "gauge", "Connections the pool keeps open.", p.size},
        {"ctxd_db_pool_in_use", "gauge", "Connections currently borrowed.", p.in_use},
        {"ctxd_db_pool_idle", "gauge", "Idle connections in the pool.", p.idle},
        {"ctxd_db_pool_overflow_in_use", "gauge", "Overflow connections currently borrowed.",
         p.overflow_in_use},
        {"ctxd_db_pool_acquired_total", "counter", "Connections handed out.", (int64_t)p.acquired},
        {"ctxd_db_pool_waits_total", "counter", "Acquisitions that had to wait.", (int64_t)p.waits},
        {"ctxd_db_pool_timeouts_total", "counter", "Acquisitions that timed out.",
         (int64_t)p.timeouts},
        {"ctxd_db_pool_created_total", "counter", "Connections opened.", (int64_t)p.created},
        {"ctxd_db_pool_closed_total", "counter", "Connections closed.", (int64_t)p.closed},
        {"ctxd_db_pool_recycled_total", "counter", "Connections recycled for age.",
         (int64_t)p.recycled},
        {"ctxd_db_pool_preping_failures_total", "counter",
         "Connections that failed their liveness check.", (int64_t)p.preping_failures},
        {"ctxd_db_statements_total", "counter", "Statements executed (MongoDB: store operations).",
         (int64_t)q.statements},
        {"ctxd_db_slow_statements_total", "counter",
         "Statements slower than SLOW_QUERY_THRESHOLD_MS.", (int64_t)q.slow},
        {"ctxd_db_retries_total", "counter", "Transactions retried after a transient error.",
         (int64_t)q.retries},
    };
    for (size_t i = 0; i < sizeof fig / sizeof fig[0]; i++) {
        metric_head(b, fig[i].name, fig[i].type, fig[i].help);
        sbuf_printf(b, "%s %lld\n", fig[i].name, (long long)fig[i].v);
    }
    metric_head(b, "ctxd_db_statement_seconds_total", "counter", "Time spent in statements.");
    sbuf_printf(b, "ctxd_db_statement_seconds_total %.6f\n", (double)q.total_us / 1e6);
    metric_head(b, "ctxd_db_errors_total", "counter", "Database errors by class.");
    for (int c = ERR_INVALID; c <= ERR_INTERNAL; c++)
        sbuf_printf(b, "ctxd_db_errors_total{class=\"%s\"} %llu\n", err_code_name((err_code)c),
                    (unsigned long long)q.errors_by_class[c]);
}

/* Refusals of the rate limit per bucket family, and the search indexer's progress. */
static void limit_and_index_metrics(sbuf_t *b, app_t *a)
{
    static const char *const kinds[APP_RL_KINDS] = {"agent", "client", "login"};
    metric_head(b, "ctxd_rate_limited_total", "counter",
                "Calls refused by the rate limit: per agent, per client address before "
                "authentication, per agent id logging in.");
    for (int k = 0; k < APP_RL_KINDS; k++)
        sbuf_printf(
            b, "ctxd_rate_limited_total{kind=\"%s\"} %llu\n", kinds[k],
            (unsigned long long)atomic_load_explicit(&a->rate_limited[k], memory_order_relaxed));
    app_index_figures ix;
    app_indexer_figures(a, &ix);
    metric_head(b, "ctxd_search_index_pending_messages", "gauge",
                "Messages written by this server not yet in the search index.");
    sbuf_printf(b, "ctxd_search_index_pending_messages %lld\n", (long long)ix.pending);
    metric_head(b, "ctxd_search_index_lag_seconds", "gauge",
                "How long the oldest message not yet in the search index has waited (0: none).");
    sbuf_printf(b, "ctxd_search_index_lag_seconds %.3f\n", ix.lag_seconds);
    metric_head(b, "ctxd_search_index_indexed_total", "counter",
                "Messages the search index took since the server started.");
    sbuf_printf(b, "ctxd_search_index_indexed_total %llu\n", (unsigned long long)ix.indexed);
}

void app_metrics_render(app_t *a, const char *version, sbuf_t *out)
{
    tool_metrics(out, a);
    limit_and_index_metrics(out, a);
    app_process_metrics(out);
    metric_head(out, "ctxd_uptime_seconds", "gauge", "Seconds since the server started.");
    sbuf_printf(out, "ctxd_uptime_seconds %lld\n",
                (long long)((utc_mono_us() - a->started_mono) / 1000000));
    metric_head(out, "ctxd_build_info", "gauge", "Build information (always 1).");
    sbuf_puts(out, "ctxd_build_info{version=\"");
    label_escape(out, version);
    sbuf_puts(out, "\",backend=\"");
    label_escape(out, store_name(a->st));
    sbuf_puts(out, "\"} 1\n");
    db_metrics(out, a->st);
}
