/* app/maintenance.c — the background upkeep of `ctxd serve`: removes memory entries and
 * tokens/revocations that have expired and audit records past AUDIT_LOG_RETENTION_DAYS,
 * once per pass, on a thread that sleeps between passes and wakes at once to stop.
 * Must not: hold a database connection between passes, stop the server on a failed
 * pass (it is logged and retried), or delete anything not yet expired. */
#include <stdlib.h>

#include "app/app_int.h"
#include "base/log.h"

void app_maintenance_run(store_t *st, utc_us now, long retention_days)
{
    err_t e;
    int64_t n = 0;
    if (store_memory_sweep(st, now, &n, &e) != ERR_OK)
        LOG_W("serve", "memory sweep failed: %s", e.msg);
    else if (n)
        LOG_I("serve", "removed %lld expired memory entries", (long long)n);
    if (store_token_purge(st, now, &n, &e) != ERR_OK)
        LOG_W("serve", "token purge failed: %s", e.msg);
    else if (n)
        LOG_I("serve", "purged %lld expired tokens/revocations", (long long)n);
    if (retention_days > 0) {
        utc_us cutoff = now - (utc_us)retention_days * 86400 * INT64_C(1000000);
        if (store_audit_purge(st, cutoff, &n, &e) != ERR_OK)
            LOG_W("serve", "audit purge failed: %s", e.msg);
        else if (n)
            LOG_I("serve", "purged %lld audit records older than %ld days", (long long)n,
                  retention_days);
    }
}

struct app_maint {
    app_worker w;
    store_t *st;
    long retention, interval;
};

static void *maint_main(void *p)
{
    app_maint *m = p;
    pthread_mutex_lock(&m->w.mu);
    while (!m->w.stop) {
        if (!app_worker_wait(&m->w, m->interval) || m->w.stop)
            continue;
        pthread_mutex_unlock(&m->w.mu);
        app_maintenance_run(m->st, utc_now(), m->retention);
        pthread_mutex_lock(&m->w.mu);
    }
    pthread_mutex_unlock(&m->w.mu);
    return NULL;
}

app_maint *app_maint_start(store_t *st, long retention_days, long interval_s)
{
    app_maint *m = xcalloc(1, sizeof *m);
    m->st = st;
    m->retention = retention_days;
    m->interval = interval_s;
    if (!app_worker_start(&m->w, maint_main, m)) {
        LOG_W("serve", "cannot start the maintenance thread: expired entries stay until restart");
        free(m);
        return NULL;
    }
    return m;
}

void app_maint_stop(app_maint *m)
{
    if (m)
        app_worker_stop(&m->w);
    free(m);
}
