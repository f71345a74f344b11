/* db/metrics.c — per-statement latency histograms keyed by SQL text, query
 * statistics with errors by class, the slow-query log, the optional query log
 * (SQL only: parameters are `?` placeholders, values are never printed) and the
 * query hook. The table lock is taken only when a connection prepares a SQL
 * text for the first time and when statistics are read; each finished statement
 * costs a few relaxed atomic additions.
 * Must not: log parameter values, allocate or lock per step, know any table. */
#include "db/db_int.h"

#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "base/sbuf.h"

#define DB_METRICS_MAX 4096 /* distinct SQL texts tracked; more share one entry */

const int64_t db_lat_bucket_upper_us[DB_LAT_BUCKETS] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, INT64_MAX};

void db_metrics_init(db_metrics *m, const db_opts *o)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    m->tab = hash_new(256);
    m->other.sql = xstrdup("(other statements)");
    m->other.len = strlen(m->other.sql);
    m->slow_query_ms = o->slow_query_ms;
    m->query_logging = o->query_logging;
    atomic_init(&m->hook, NULL);
}

void db_metrics_free(db_metrics *m)
{
    hash_iter it = HASH_ITER_INIT;
    for (db_metric *e; (e = hash_next(m->tab, &it, NULL, NULL)) != NULL;) {
        free(e->sql);
        free(e);
    }
    hash_free(m->tab);
    free(m->other.sql);
    db_hook_pair *h = atomic_load(&m->hook);
    while (h) {
        db_hook_pair *nx = h->retired;
        free(h);
        h = nx;
    }
    pthread_mutex_destroy(&m->mu);
}

db_metric *db_metrics_entry(db_metrics *m, const char *sql, size_t len)
{
    pthread_mutex_lock(&m->mu);
    db_metric *e = hash_get(m->tab, sql, len);
    if (!e) {
        if (hash_count(m->tab) >= DB_METRICS_MAX) {
            e = &m->other;
        } else {
            e = xcalloc(1, sizeof *e);
            e->sql = xstrndup(sql, len);
            e->len = len;
            hash_put(m->tab, e->sql, len, e);
        }
    }
    pthread_mutex_unlock(&m->mu);
    return e;
}

void db_metrics_error(db_metrics *m, err_code rc)
{
    if (rc > ERR_OK && rc <= ERR_INTERNAL)
        atomic_fetch_add_explicit(&m->errors_by_class[rc], 1, memory_order_relaxed);
}

void db_metrics_record(db_metrics *m, db_metric *st, const char *sql, int64_t us, err_code rc)
{
    if (us < 0)
        us = 0;
    uint64_t u = (uint64_t)us;
    if (st) {
        atomic_fetch_add_explicit(&st->count, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&st->total_us, u, memory_order_relaxed);
        int b = 0;
        while (b < DB_LAT_BUCKETS - 1 && us > db_lat_bucket_upper_us[b])
            b++;
        atomic_fetch_add_explicit(&st->buckets[b], 1, memory_order_relaxed);
        uint64_t mx = atomic_load_explicit(&st->max_us, memory_order_relaxed);
        while (u > mx && !atomic_compare_exchange_weak_explicit(
                             &st->max_us, &mx, u, memory_order_relaxed, memory_order_relaxed)) {
        }
        if (rc != ERR_OK)
            atomic_fetch_add_explicit(&st->errors, 1, memory_order_relaxed);
    }
    if (rc != ERR_OK)
        db_metrics_error(m, rc);
    if (m->slow_query_ms > 0 && us >= (int64_t)m->slow_query_ms * 1000) {
        atomic_fetch_add_explicit(&m->slow, 1, memory_order_relaxed);
        LOG_W("db", "slow query: %.1f ms (threshold %d ms)%s%s: %s", (double)us / 1000.0,
              m->slow_query_ms, rc != ERR_OK ? ", failed: " : "",
              rc != ERR_OK ? err_code_name(rc) : "", sql);
    }
    db_hook_pair *h = atomic_load_explicit(&m->hook, memory_order_acquire);
    if (h && h->fn)
        h->fn(h->ud, sql, us, rc);
}

void db_metrics_set_hook(db_metrics *m, db_query_hook hook, void *ud)
{
    db_hook_pair *h = xcalloc(1, sizeof *h);
    h->fn = hook;
    h->ud = ud;
    pthread_mutex_lock(&m->mu);
    h->retired = atomic_load(&m->hook); /* kept alive: a step may still read it */
    atomic_store_explicit(&m->hook, h, memory_order_release);
    pthread_mutex_unlock(&m->mu);
}

static void snapshot(const db_metric *e, db_stmt_stat *s)
{
    memset(s, 0, sizeof *s);
    s->sql = e->sql;
    s->count = atomic_load_explicit(&e->count, memory_order_relaxed);
    s->errors = atomic_load_explicit(&e->errors, memory_order_relaxed);
    s->total_us = atomic_load_explicit(&e->total_us, memory_order_relaxed);
    s->max_us = atomic_load_explicit(&e->max_us, memory_order_relaxed);
    uint64_t cum = 0;
    for (int b = 0; b < DB_LAT_BUCKETS; b++) {
        cum += atomic_load_explicit(&e->buckets[b], memory_order_relaxed);
        s->buckets[b] = cum; /* cumulative: <= upper bound */
    }
}

void db_metrics_query_stats(db_metrics *m, db_query_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&m->mu);
    hash_iter it = HASH_ITER_INIT;
    for (db_metric *e; (e = hash_next(m->tab, &it, NULL, NULL)) != NULL;) {
        out->statements += atomic_load_explicit(&e->count, memory_order_relaxed);
        out->total_us += atomic_load_explicit(&e->total_us, memory_order_relaxed);
    }
    out->statements += atomic_load_explicit(&m->other.count, memory_order_relaxed);
    out->total_us += atomic_load_explicit(&m->other.total_us, memory_order_relaxed);
    pthread_mutex_unlock(&m->mu);
    for (int c = 0; c <= ERR_INTERNAL; c++) {
        out->errors_by_class[c] =
            atomic_load_explicit(&m->errors_by_class[c], memory_order_relaxed);
        out->errors += out->errors_by_class[c];
    }
    out->slow = atomic_load_explicit(&m->slow, memory_order_relaxed);
    out->retries = atomic_load_explicit(&m->retries, memory_order_relaxed);
}

void db_metrics_foreach(db_metrics *m, void (*cb)(void *ud, const db_stmt_stat *st), void *ud)
{
    /* Snapshot under the lock, call back outside it (cb may use the db). */
    pthread_mutex_lock(&m->mu);
    size_t n = 0;
    db_stmt_stat *snap = xcalloc(hash_count(m->tab) + 1, sizeof *snap);
    hash_iter it = HASH_ITER_INIT;
    for (db_metric *e; (e = hash_next(m->tab, &it, NULL, NULL)) != NULL;)
        snapshot(e, &snap[n++]);
    if (atomic_load_explicit(&m->other.count, memory_order_relaxed) > 0)
        snapshot(&m->other, &snap[n++]);
    pthread_mutex_unlock(&m->mu);
    for (size_t i = 0; i < n; i++)
        cb(ud, &snap[i]); /* entry sql strings live until db_close */
    free(snap);
}
