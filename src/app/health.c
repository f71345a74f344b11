/* app/health.c — what GET /health and GET /health/database report: the database's
 * status (one store_ping), backend, latency and pool figures, and for /health the
 * server's (transport, live sessions, uptime, version); plus the pool figures object
 * that get_performance_metrics shows too.
 * Must not: talk to the database beyond one ping per document, or show URLs,
 * passwords, tokens or keys. */
#include <jansson.h>

#include "app/app_int.h"
#include "base/utc.h"

json_t *app_json_pool(const db_pool_stats *p)
{
    return json_pack("{s:i s:i s:i s:i s:i s:I s:I s:I s:I s:I}", "size", p->size, "max_overflow",
                     p->max_overflow, "in_use", p->in_use, "idle", p->idle, "overflow_in_use",
                     p->overflow_in_use, "acquired", (json_int_t)p->acquired, "waits",
                     (json_int_t)p->waits, "timeouts", (json_int_t)p->timeouts, "created",
                     (json_int_t)p->created, "closed", (json_int_t)p->closed);
}

/* The database part; true when it answered its ping. */
static bool database_json(app_t *a, json_t **out)
{
    int64_t rtt = 0;
    err_t e;
    bool ok = store_ping(a->st, &rtt, &e) == ERR_OK;
    store_stats ss;
    store_get_stats(a->st, &ss);
    json_t *j = json_pack("{s:s s:s s:s}", "status", ok ? "healthy" : "unhealthy", "type",
                          ss.backend, "database_type", ss.backend);
    if (ok)
        json_object_set_new(j, "latency_ms", json_real((double)rtt / 1000.0));
    else
        json_object_set_new(j, "error", json_string(err_code_name(e.code)));
    json_object_set_new(j, "pool", app_json_pool(&ss.pool));
    *out = j;
    return ok;
}

static char *dump(json_t *j)
{
    char *t = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(j);
    return t;
}

char *app_health_json(app_t *a, const app_health_info *hi)
{
    json_t *db;
    bool ok = database_json(a, &db);
    char ts[UTC_ISO_LEN];
    return dump(json_pack(
        "{s:s s:s s:o s:{s:s s:s s:I s:I} s:s}", "status", ok ? "healthy" : "degraded", "timestamp",
        utc_format(utc_now(), ts), "database", db, "server", "name", "ctxd", "transport",
        hi->transport, "sessions", (json_int_t)hi->sessions, "uptime_seconds",
        (json_int_t)((utc_mono_us() - a->started_mono) / 1000000), "version", hi->version));
}

char *app_health_database_json(app_t *a, bool *ok)
{
    json_t *db;
    *ok = database_json(a, &db);
    char ts[UTC_ISO_LEN];
    json_object_set_new(db, "timestamp", json_string(utc_format(utc_now(), ts)));
    return dump(db);
}
