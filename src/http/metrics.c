/* http/metrics.c — built-in request metrics of the MCP endpoint: counters by (JSON-RPC
 * method, tool, HTTP status) and latency histograms by (method, tool), rendered as
 * Prometheus text for the app's /metrics. The labels come from names.c (known names or
 * "other"), so there are few series; they are escaped all the same.
 * Must not: block requests for long (one short mutex hold per record), grow without bound
 * (past MAX_SERIES the rest is counted as method="other",tool="other" by status) or copy
 * a label (the series point at names.c's strings, which live as long as the server). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_internal.h"

#define NBUCKETS 12
static const double bucket_le[NBUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                           0.05,   0.1,   0.25,   0.5,   1,    5};
#define MAX_SERIES 512
#define MAX_FOLDED 16 /* room for the "other" series, one per status */

typedef struct series {
    const char *method, *tool;
    unsigned status;
    uint64_t count;
    uint64_t buckets[NBUCKETS];
    double sum;
} series;

struct http_metrics {
    pthread_mutex_t lock;
    series *s;
    size_t n;
};

http_metrics *http_metrics_new(void)
{
    http_metrics *m = xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
    m->s = xcalloc(MAX_SERIES + MAX_FOLDED, sizeof *m->s);
    return m;
}

void http_metrics_free(http_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    free(m->s);
    free(m);
}

/* With m->lock held: the series of (meth, tool, status), created if there is room. */
static series *find(http_metrics *m, const char *meth, const char *tool, unsigned status,
                    size_t room)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->s[i].status == status && strcmp(m->s[i].method, meth) == 0 &&
            strcmp(m->s[i].tool, tool) == 0)
            return &m->s[i];
    if (m->n >= room)
        return NULL;
    series *s = &m->s[m->n++];
    s->method = meth;
    s->tool = tool;
    s->status = status;
    return s;
}

void http_metrics_record(http_metrics *m, const mcp_http_request_info *info)
{
    const char *meth = info->rpc_method ? info->rpc_method : "invalid";
    const char *tool = info->tool ? info->tool : "";
    double secs = (double)info->duration_ns / 1e9;
    pthread_mutex_lock(&m->lock);
    series *hit = find(m, meth, tool, info->http_status, MAX_SERIES);
    if (!hit)
        hit = find(m, "other", "other", info->http_status, MAX_SERIES + MAX_FOLDED);
    if (!hit)
        hit = &m->s[m->n - 1]; /* more statuses than room: counted on the last one */
    hit->count++;
    hit->sum += secs;
    for (int b = 0; b < NBUCKETS; b++)
        if (secs <= bucket_le[b])
            hit->buckets[b]++;
    pthread_mutex_unlock(&m->lock);
}

static void label_value(sbuf_t *out, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            sbuf_putc(out, '\\');
        if (*v == '\n') {
            sbuf_puts(out, "\\n");
            continue;
        }
        sbuf_putc(out, *v);
    }
}

static void labels(sbuf_t *out, const series *s)
{
    sbuf_puts(out, "method=\"");
    label_value(out, s->method);
    sbuf_puts(out, "\",tool=\"");
    label_value(out, s->tool);
    sbuf_putc(out, '"');
}

void http_metrics_render(http_metrics *m, sbuf_t *out)
{
    pthread_mutex_lock(&m->lock);
    size_t n = m->n;
    series *copy = xcalloc(n ? n : 1, sizeof *copy);
    memcpy(copy, m->s, n * sizeof *copy);
    pthread_mutex_unlock(&m->lock);

    sbuf_puts(out, "# HELP ctxd_mcp_requests_total MCP JSON-RPC requests over HTTP.\n"
                   "# TYPE ctxd_mcp_requests_total counter\n");
    for (size_t i = 0; i < n; i++) {
        sbuf_puts(out, "ctxd_mcp_requests_total{");
        labels(out, &copy[i]);
        sbuf_printf(out, ",status=\"%u\"} %llu\n", copy[i].status,
                    (unsigned long long)copy[i].count);
    }
    /* histograms merge the statuses of one (method, tool) */
    sbuf_puts(out, "# HELP ctxd_mcp_request_duration_seconds MCP request latency over HTTP.\n"
                   "# TYPE ctxd_mcp_request_duration_seconds histogram\n");
    for (size_t i = 0; i < n; i++) {
        bool first = true;
        for (size_t j = 0; j < i; j++)
            if (strcmp(copy[i].method, copy[j].method) == 0 &&
                strcmp(copy[i].tool, copy[j].tool) == 0)
                first = false;
        if (!first)
            continue;
        uint64_t b[NBUCKETS] = {0}, count = 0;
        double sum = 0;
        for (size_t j = i; j < n; j++) {
            if (strcmp(copy[i].method, copy[j].method) != 0 ||
                strcmp(copy[i].tool, copy[j].tool) != 0)
                continue;
            for (int k = 0; k < NBUCKETS; k++)
                b[k] += copy[j].buckets[k];
            count += copy[j].count;
            sum += copy[j].sum;
        }
        for (int k = 0; k < NBUCKETS; k++) {
            sbuf_puts(out, "ctxd_mcp_request_duration_seconds_bucket{");
            labels(out, &copy[i]);
            sbuf_printf(out, ",le=\"%g\"} %llu\n", bucket_le[k], (unsigned long long)b[k]);
        }
        sbuf_puts(out, "ctxd_mcp_request_duration_seconds_bucket{");
        labels(out, &copy[i]);
        sbuf_printf(out, ",le=\"+Inf\"} %llu\n", (unsigned long long)count);
        sbuf_puts(out, "ctxd_mcp_request_duration_seconds_sum{");
        labels(out, &copy[i]);
        sbuf_printf(out, "} %.9f\n", sum);
        sbuf_puts(out, "ctxd_mcp_request_duration_seconds_count{");
        labels(out, &copy[i]);
        sbuf_printf(out, "} %llu\n", (unsigned long long)count);
    }
    free(copy);
}
