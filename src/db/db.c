/* db/db.c — the core of the SQL access layer: db_open (URL -> driver -> pools),
 * options from configuration and URL, borrowing/returning connections, the
 * per-connection prepared statement cache, binding and stepping with timing,
 * transactions and db_tx_run (retry with bounded exponential backoff and jitter
 * on retryable classes — how several processes share one SQLite file without
 * "database is locked" reaching a user); writes on a single-writer database go
 * through group commit (group.c).
 * Must not: contain backend-specific SQL or library calls (drivers do), know
 * any ctxd table, allocate or lock on the step/bind/column hot path. */
#include "db/db_int.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/log.h"
#include "base/sbuf.h"

#define DB_STMT_CACHE_MAX 512 /* cached statements per connection */

/* ---- options --------------------------------------------------------------- */

void db_opts_default(db_opts *o)
{
    memset(o, 0, sizeof *o);
    o->pool_size = 5;
    o->max_overflow = 10;
    o->pool_idle_timeout_s = 300;
    o->pool_timeout_ms = 30000;
    o->pool_recycle_s = 3600;
    o->preping_idle_ms = 30000;
    o->busy_timeout_ms = 5000;
    o->slow_query_ms = 1000;
    o->query_logging = false;
    o->max_retries = 8;
    o->wal_autocheckpoint = -1;
}

/* The ranges of the options that are also configuration variables are the
 * ones base/conf.c declares for those variables (conf_get_int checks them);
 * the URL spelling of such an option takes the same range. */

/* A DB_* variable in db_opts units (scale: seconds -> ms). */
static err_code conf_int(const conf_t *c, const char *name, long scale, int *v, err_t *e)
{
    long out = *v / scale;
    err_code rc = conf_get_int(c, name, out, &out, e);
    if (rc == ERR_OK)
        *v = (int)(out * scale);
    return rc;
}

/* Integer URL options: the range of their variable, or their own. */
static const struct url_int {
    const char *key, *var; /* var: the configuration variable, or NULL */
    long min, max;         /* when var is NULL */
    size_t off;            /* in db_opts */
} URL_INTS[] = {
    {"pool_size", "DB_POOL_SIZE", 0, 0, offsetof(db_opts, pool_size)},
    {"max_overflow", "DB_MAX_OVERFLOW", 0, 0, offsetof(db_opts, max_overflow)},
    {"pool_recycle", "DB_POOL_RECYCLE", 0, 0, offsetof(db_opts, pool_recycle_s)},
    {"pool_idle_timeout", "DB_POOL_IDLE_TIMEOUT", 0, 0, offsetof(db_opts, pool_idle_timeout_s)},
    {"busy_timeout", NULL, 0, 3600000, offsetof(db_opts, busy_timeout_ms)},
    {"pool_pre_ping_idle_ms", NULL, 0, 86400000, offsetof(db_opts, preping_idle_ms)},
};

bool db_opt_is_core(const char *key)
{
    return str_table_index(URL_INTS, sizeof URL_INTS / sizeof URL_INTS[0], sizeof URL_INTS[0],
                           key) >= 0 ||
           strcmp(key, "pool_timeout") == 0;
}

/* The declared range of a variable (every name used here is declared). */
static void var_range(const char *name, long *min, long *max)
{
    const conf_var *d = conf_var_find(name);
    *min = d ? d->min : 0;
    *max = d ? d->max : 0;
}

/* URL query options over whatever *o holds. */
static err_code apply_url_opts(const db_url *u, db_opts *o, err_t *e)
{
    if (!u)
        return ERR_OK;
    for (size_t i = 0; i < sizeof URL_INTS / sizeof URL_INTS[0]; i++) {
        const struct url_int *d = &URL_INTS[i];
        const char *s = db_url_opt_get(u, d->key);
        if (!s)
            continue;
        long min = d->min, max = d->max, out;
        if (d->var)
            var_range(d->var, &min, &max);
        if (!str_to_long(s, min, max, &out))
            return err_set(e, ERR_INVALID,
                           "database URL option %s=%s: expected an integer between %ld and %ld",
                           d->key, s, min, max);
        *(int *)((char *)o + d->off) = (int)out;
    }
    /* seconds with a fraction, from 0 (no wait) to DB_POOL_TIMEOUT's maximum */
    const char *pt = db_url_opt_get(u, "pool_timeout");
    if (pt) {
        long min, max;
        var_range("DB_POOL_TIMEOUT", &min, &max);
        double sec;
        if (!str_to_double(pt, &sec) || !(sec >= 0 && sec <= (double)max))
            return err_set(
                e, ERR_INVALID,
                "database URL option pool_timeout=%s: expected seconds between 0 and %ld", pt, max);
        o->pool_timeout_ms = (int)(sec * 1000.0 + 0.5);
    }
    return ERR_OK;
}

err_code db_opts_from(const conf_t *c, const db_url *u, db_opts *o, err_t *e)
{
    db_opts_default(o);
    if (u && (u->backend == DB_BACKEND_POSTGRES || u->backend == DB_BACKEND_MYSQL))
        o->pool_size = DB_SERVER_POOL_SIZE;
    if (c) {
        err_code rc;
        /* DB_POOL_SIZE's declared default is SQLite's; a server keeps its own unless set */
        if ((conf_source(c, "DB_POOL_SIZE") > CONF_SRC_DEFAULT &&
             (rc = conf_int(c, "DB_POOL_SIZE", 1, &o->pool_size, e))) ||
            (rc = conf_int(c, "DB_MAX_OVERFLOW", 1, &o->max_overflow, e)) ||
            (rc = conf_int(c, "DB_POOL_IDLE_TIMEOUT", 1, &o->pool_idle_timeout_s, e)) ||
            (rc = conf_int(c, "DB_POOL_TIMEOUT", 1000, &o->pool_timeout_ms, e)) ||
            (rc = conf_int(c, "DB_POOL_RECYCLE", 1, &o->pool_recycle_s, e)) ||
            (rc = conf_int(c, "SLOW_QUERY_THRESHOLD_MS", 1, &o->slow_query_ms, e)) ||
            (rc = conf_get_bool(c, "ENABLE_QUERY_LOGGING", o->query_logging, &o->query_logging, e)))
            return rc;
    }
    return apply_url_opts(u, o, e);
}

/* Options given as a struct (db_open): the pool sizes within their variables' ranges. */
static err_code check_opts(const db_opts *o, err_t *e)
{
    long min, max;
    var_range("DB_POOL_SIZE", &min, &max);
    if (o->pool_size < min || o->pool_size > max)
        return err_set(e, ERR_INVALID, "pool size %d: expected %ld..%ld", o->pool_size, min, max);
    var_range("DB_MAX_OVERFLOW", &min, &max);
    if (o->max_overflow < min || o->max_overflow > max)
        return err_set(e, ERR_INVALID, "max overflow %d: expected %ld..%ld", o->max_overflow, min,
                       max);
    if (o->pool_timeout_ms < 0)
        return err_set(e, ERR_INVALID, "pool timeout %d ms: must not be negative",
                       o->pool_timeout_ms);
    if (o->busy_timeout_ms < 0 || o->preping_idle_ms < 0 || o->pool_idle_timeout_s < 0 ||
        o->slow_query_ms < 0 || o->max_retries < 0)
        return err_set(e, ERR_INVALID, "database options must not be negative");
    return ERR_OK;
}

int64_t db_mono_us(const db_t *db)
{
    return db->o.mono_us ? db->o.mono_us() : utc_mono_us();
}

/* ---- open / close ---------------------------------------------------------- */

static const db_driver *driver_for(db_backend b)
{
    switch (b) {
    case DB_BACKEND_SQLITE: return &db_driver_sqlite;
#if CTXD_WITH_MYSQL
    case DB_BACKEND_MYSQL: return &db_driver_mysql;
#endif
#if CTXD_WITH_POSTGRESQL
    case DB_BACKEND_POSTGRES: return &db_driver_postgres;
#endif
    default: return NULL;
    }
}

err_code db_open_conf(const char *url, const conf_t *c, db_t **out, err_t *e)
{
    *out = NULL;
    db_url *u = NULL;
    err_code rc = db_url_parse(url, &u, e);
    if (rc != ERR_OK)
        return rc;
    db_opts o;
    rc = db_opts_from(c, u, &o, e);
    db_url_free(u);
    if (rc != ERR_OK)
        return rc;
    return db_open(url, &o, out, e);
}

err_code db_open(const char *url, const db_opts *opts, db_t **out, err_t *e)
{
    *out = NULL;
    if (!url || !*url)
        return err_set(e, ERR_INVALID, "no database URL given");
    db_url *u = NULL;
    err_code rc = db_url_parse(url, &u, e);
    if (rc != ERR_OK)
        return rc;
    if ((rc = db_backend_require(u, e)) != ERR_OK) {
        db_url_free(u);
        return rc;
    }
    const db_driver *drv = driver_for(u->backend);
    if (!drv) {
        char *m = db_url_masked(url);
        rc = err_set(e, ERR_INVALID, "backend %s is not built into this ctxd yet (URL %s)",
                     db_backend_name(u->backend), m ? m : "?");
        free(m);
        db_url_free(u);
        return rc;
    }
    db_t *db = xcalloc(1, sizeof *db);
    db->drv = drv;
    db->url = u;
    db->masked = db_url_masked(url);
    if (opts)
        db->o = *opts;
    else
        db_opts_default(&db->o);
    if ((rc = apply_url_opts(u, &db->o, e)) != ERR_OK || (rc = check_opts(&db->o, e)) != ERR_OK) {
        free(db->masked);
        db_url_free(u);
        free(db);
        return rc;
    }
    db_metrics_init(&db->m, &db->o);
    if (drv->single_connection && drv->single_connection(u)) {
        db->wpool = db_pool_new(db, "shared", DB_ROLE_WRITER, 1, 0, true);
    } else if (drv->single_writer && drv->single_writer(u)) {
        db->wpool = db_pool_new(db, "writer", DB_ROLE_WRITER, 1, 0, false);
        db->rpool =
            db_pool_new(db, "reader", DB_ROLE_READER, db->o.pool_size, db->o.max_overflow, false);
        db->group = db_group_new(db);
        /* Checkpoints off the commit path: the writer's automatic ones are turned
         * off only when the background checkpointer runs (checkpoint.c). */
        if (drv->checkpoint) {
            int was = db->o.wal_autocheckpoint;
            db->o.wal_autocheckpoint = 0;
            if ((db->ckpt = db_ckpt_start(db)) == NULL)
                db->o.wal_autocheckpoint = was;
        }
    } else {
        db->rpool =
            db_pool_new(db, "pool", DB_ROLE_WRITER, db->o.pool_size, db->o.max_overflow, false);
    }
    /* Connect once now so a bad path/server fails here, with a clear message. */
    db_conn *c = NULL;
    rc = db_pool_get(db->wpool ? db->wpool : db->rpool, &c, e);
    if (rc != ERR_OK) {
        db_close(db);
        return rc;
    }
    db->caps = drv->caps(c->dc);
    db_release(c);
    *out = db;
    return ERR_OK;
}

void db_close(db_t *db)
{
    if (!db)
        return;
    db_ckpt_stop(db->ckpt);
    db_pool_free(db->rpool);
    db_pool_free(db->wpool);
    db_group_free(db->group);
    db_metrics_free(&db->m);
    db_url_free(db->url);
    free(db->masked);
    free(db);
}

db_backend db_backend_of(const db_t *db)
{
    return db->drv->backend;
}
const char *db_dialect(const db_t *db)
{
    return db->drv->dialect;
}
unsigned db_caps(const db_t *db)
{
    return db->caps;
}
const char *db_url_text_masked(const db_t *db)
{
    return db->masked ? db->masked : "";
}

err_code db_server_version(db_t *db, char *buf, size_t n, err_t *e)
{
    db_conn *c;
    err_code rc = db_acquire(db, DB_READ, &c, e);
    if (rc != ERR_OK)
        return rc;
    rc = db->drv->server_version(c->dc, buf, n, e);
    db_release(c);
    return rc;
}

err_code db_ping(db_t *db, int64_t *rtt_us, err_t *e)
{
    db_conn *c;
    err_code rc = db_acquire(db, DB_READ, &c, e);
    if (rc != ERR_OK)
        return rc;
    int64_t t0 = utc_mono_us();
    rc = db->drv->ping(c->dc, e);
    if (rtt_us)
        *rtt_us = utc_mono_us() - t0;
    if (rc == ERR_CONN)
        c->broken = true;
    db_release(c);
    return rc;
}

/* ---- connections ------------------------------------------------------------ */

err_code db_conn_open(db_t *db, db_role role, db_conn **out, err_t *e)
{
    db_drv_conn *dc = NULL;
    err_code rc = db->drv->connect(db->url, &db->o, role, &dc, e);
    if (rc != ERR_OK)
        return rc;
    db_conn *c = xcalloc(1, sizeof *c);
    c->db = db;
    c->drv = db->drv;
    c->dc = dc;
    c->role = role;
    c->created_us = c->last_used_us = db_mono_us(db);
    c->cache = hash_new(64);
    *out = c;
    return ERR_OK;
}

static void stmt_free(db_stmt *s)
{
    s->drv->finalize(s->ds);
    free(s->sql);
    free(s);
}

void db_conn_close(db_conn *c)
{
    if (!c)
        return;
    while (c->active)
        db_stmt_done(c->active);
    hash_iter it = HASH_ITER_INIT;
    for (db_stmt *s; (s = hash_next(c->cache, &it, NULL, NULL)) != NULL;)
        stmt_free(s);
    hash_free(c->cache);
    c->drv->disconnect(c->dc);
    free(c);
}

err_code db_acquire(db_t *db, db_intent intent, db_conn **out, err_t *e)
{
    db_pool *p = intent == DB_WRITE ? (db->wpool ? db->wpool : db->rpool)
                                    : (db->rpool ? db->rpool : db->wpool);
    return db_pool_get(p, out, e);
}

void db_release(db_conn *c)
{
    if (!c)
        return;
    while (c->active)
        db_stmt_done(c->active);
    /* A connection the driver knows to be dead is closed, never pooled. */
    if (!c->broken && c->drv->conn_dead && c->drv->conn_dead(c->dc))
        c->broken = true;
    if (!c->broken && c->drv->in_transaction(c->dc)) {
        err_t e;
        if (c->drv->rollback(c->dc, &e) != ERR_OK) {
            LOG_W("db", "rollback on release failed, closing the connection: %s", e.msg);
            c->broken = true;
        }
    }
    db_pool_put(c->pool, c);
}

/* ---- transactions ------------------------------------------------------------ */

static err_code conn_error(db_conn *c, err_code rc)
{
    if (rc == ERR_CONN)
        c->broken = true;
    db_metrics_error(&c->db->m, rc);
    return rc;
}

err_code db_begin(db_conn *c, err_t *e)
{
    if (c->drv->in_transaction(c->dc))
        return err_set(e, ERR_INTERNAL,
                       "db_begin: a transaction is already open on this connection");
    err_code rc = c->drv->begin(c->dc, c->role == DB_ROLE_WRITER, e);
    return rc == ERR_OK ? rc : conn_error(c, rc);
}

err_code db_commit(db_conn *c, err_t *e)
{
    err_code rc = c->drv->commit(c->dc, e);
    if (rc == ERR_OK && c->role == DB_ROLE_WRITER && c->db->ckpt)
        db_ckpt_note_commit(c->db->ckpt);
    return rc == ERR_OK ? rc : conn_error(c, rc);
}

void db_rollback(db_conn *c)
{
    err_t e;
    if (c->drv->rollback(c->dc, &e) != ERR_OK) {
        LOG_W("db", "rollback failed: %s", e.msg);
        conn_error(c, e.code);
    }
}

bool db_in_tx(const db_conn *c)
{
    return c->drv->in_transaction(c->dc);
}

err_code db_exec(db_conn *c, const char *sql, err_t *e)
{
    size_t len = strlen(sql);
    db_metric *m = db_metrics_entry(&c->db->m, sql, len);
    if (c->db->m.query_logging)
        LOG_I("db", "query: %s", sql);
    int64_t t0 = utc_mono_us();
    err_code rc = c->drv->exec(c->dc, sql, e);
    if (rc == ERR_CONN)
        c->broken = true;
    db_metrics_record(&c->db->m, m, sql, utc_mono_us() - t0, rc);
    return rc;
}

/* Per-thread xorshift for backoff jitter. */
static uint64_t jitter_next(void)
{
    static _Thread_local uint64_t x;
    if (x == 0)
        x = (uint64_t)utc_mono_us() ^ ((uint64_t)(uintptr_t)&x << 16) ^ 0x9e3779b97f4a7c15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

static void backoff_sleep(int attempt)
{
    /* 2 ms doubling to a 250 ms cap, "equal jitter": half fixed, half random. */
    int64_t cap = 2000LL << (attempt < 7 ? attempt : 7);
    if (cap > 250000)
        cap = 250000;
    int64_t us = cap / 2 + (int64_t)(jitter_next() % (uint64_t)(cap / 2 + 1));
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* One attempt on a borrowed connection of its own (readers, client/server
 * backends, sqlite :memory:); one: fn runs one statement, which is its own
 * transaction where the driver allows it (no BEGIN, no COMMIT round trip). */
static err_code tx_once(db_t *db, db_intent intent, bool one, db_tx_fn fn, void *arg, err_t *e,
                        bool *acquire_failed)
{
    db_conn *c = NULL;
    err_code rc = db_acquire(db, intent, &c, e);
    *acquire_failed = rc != ERR_OK;
    if (rc != ERR_OK)
        return rc;
    bool tx = !one || (c->drv->autocommit_ok && !c->drv->autocommit_ok(c->dc));
    rc = tx ? db_begin(c, e) : ERR_OK;
    if (rc == ERR_OK) {
        rc = fn(c, arg, e);
        if (rc == ERR_OK && tx)
            rc = db_commit(c, e);
        if (rc != ERR_OK && db_in_tx(c))
            db_rollback(c);
    }
    db_release(c);
    return rc;
}

/* db_tx_run and db_tx_run_one (one: fn runs one statement). */
static err_code tx_run(db_t *db, db_intent intent, bool one, db_tx_fn fn, void *arg, err_t *e)
{
    int64_t t_start = utc_mono_us();
    bool grouped = intent == DB_WRITE && db->group;
    for (int attempt = 0;; attempt++) {
        bool acquire_failed = false;
        err_code rc = grouped ? db_group_run(db->group, fn, arg, e, &acquire_failed)
                              : tx_once(db, intent, one, fn, arg, e, &acquire_failed);
        if (rc == ERR_OK)
            return ERR_OK;
        if (acquire_failed) {
            /* A pool timeout has already waited long enough; a refused connect
             * (server restarting) is retried like a lost connection, but only
             * within pool_timeout (each attempt may itself wait connect_timeout). */
            if (rc != ERR_CONN || attempt >= db->o.max_retries ||
                utc_mono_us() - t_start >= (int64_t)db->o.pool_timeout_ms * 1000) {
                if (rc == ERR_CONN && attempt > 0)
                    err_prefix(e, "gave up after %d attempts", attempt + 1);
                return rc;
            }
            atomic_fetch_add_explicit(&db->m.retries, 1, memory_order_relaxed);
            LOG_D("db", "connecting failed on attempt %d, retrying: %s", attempt + 1,
                  e ? e->msg : "");
            backoff_sleep(attempt);
            if (e)
                err_clear(e);
            continue;
        }
        if (!err_retryable(rc) || attempt >= db->o.max_retries) {
            if (err_retryable(rc) && attempt > 0)
                err_prefix(e, "gave up after %d attempts", attempt + 1);
            return rc;
        }
        atomic_fetch_add_explicit(&db->m.retries, 1, memory_order_relaxed);
        LOG_D("db", "transaction attempt %d failed (%s), retrying: %s", attempt + 1,
              err_code_name(rc), e ? e->msg : "");
        backoff_sleep(attempt);
        if (e)
            err_clear(e);
    }
}

err_code db_tx_run(db_t *db, db_intent intent, db_tx_fn fn, void *arg, err_t *e)
{
    return tx_run(db, intent, false, fn, arg, e);
}

err_code db_tx_run_one(db_t *db, db_tx_fn fn, void *arg, err_t *e)
{
    return tx_run(db, DB_WRITE, true, fn, arg, e);
}

/* ---- statements ---------------------------------------------------------------- */

static void activate(db_conn *c, db_stmt *s)
{
    s->in_use = true;
    s->running = false;
    s->changes = 0;
    s->bind_err = ERR_OK;
    s->aprev = NULL;
    s->anext = c->active;
    if (c->active)
        c->active->aprev = s;
    c->active = s;
}

err_code db_prepare(db_conn *c, const char *sql, db_stmt **out, err_t *e)
{
    *out = NULL;
    if (!sql)
        return err_set(e, ERR_INTERNAL, "db_prepare: NULL SQL");
    size_t len = strlen(sql);
    db_stmt *hit = hash_get(c->cache, sql, len);
    if (hit && !hit->in_use) {
        activate(c, hit);
        *out = hit;
        return ERR_OK;
    }
    /* Not cached, or the cached one is busy (the same SQL nested): prepare anew. */
    bool cache_it = !hit && hash_count(c->cache) < DB_STMT_CACHE_MAX;
    db_stmt *s = xcalloc(1, sizeof *s);
    s->sql = xstrndup(sql, len);
    s->len = len;
    err_code rc = c->drv->prepare(c->dc, s->sql, len, cache_it, &s->ds, e);
    if (rc != ERR_OK) {
        free(s->sql);
        free(s);
        db_metrics_error(&c->db->m, rc);
        if (rc == ERR_CONN)
            c->broken = true;
        return rc;
    }
    s->c = c;
    s->drv = c->drv;
    s->cached = cache_it;
    s->metric = hit ? hit->metric : db_metrics_entry(&c->db->m, sql, len);
    if (cache_it)
        hash_put(c->cache, s->sql, len, s);
    activate(c, s);
    *out = s;
    return ERR_OK;
}

static void finish(db_stmt *s, err_code rc)
{
    s->running = false;
    db_metrics_record(&s->c->db->m, s->metric, s->sql, utc_mono_us() - s->t0, rc);
}

void db_stmt_done(db_stmt *s)
{
    if (!s || !s->in_use)
        return;
    db_conn *c = s->c;
    if (s->running)
        finish(s, ERR_OK); /* abandoned after some rows */
    if (s->anext)
        s->anext->aprev = s->aprev;
    if (s->aprev)
        s->aprev->anext = s->anext;
    else
        c->active = s->anext;
    s->anext = s->aprev = NULL;
    s->in_use = false;
    if (s->cached)
        s->drv->reset(s->ds);
    else
        stmt_free(s);
}

void db_bind_fail(db_stmt *s, int i, err_code rc)
{
    if (rc != ERR_OK && s->bind_err == ERR_OK) {
        s->bind_err = rc;
        s->bind_idx = i;
    }
}

void db_bind_null(db_stmt *s, int i)
{
    db_bind_fail(s, i, s->drv->bind_null(s->ds, i));
}
void db_bind_int64(db_stmt *s, int i, int64_t v)
{
    db_bind_fail(s, i, s->drv->bind_int64(s->ds, i, v));
}
void db_bind_double(db_stmt *s, int i, double v)
{
    db_bind_fail(s, i, s->drv->bind_double(s->ds, i, v));
}
void db_bind_bool(db_stmt *s, int i, bool v)
{
    db_bind_fail(s, i, s->drv->bind_int64(s->ds, i, v ? 1 : 0));
}
void db_bind_text(db_stmt *s, int i, const char *v, ptrdiff_t n)
{
    if (!v) {
        db_bind_null(s, i);
        return;
    }
    db_bind_fail(s, i, s->drv->bind_text(s->ds, i, v, n < 0 ? strlen(v) : (size_t)n));
}
void db_bind_json(db_stmt *s, int i, const char *v, ptrdiff_t n)
{
    if (!v) {
        db_bind_null(s, i);
        return;
    }
    db_bind_fail(s, i, s->drv->bind_json(s->ds, i, v, n < 0 ? strlen(v) : (size_t)n));
}
void db_bind_time(db_stmt *s, int i, utc_us t)
{
    db_bind_fail(s, i, s->drv->bind_time(s->ds, i, t));
}
void db_bind_blob(db_stmt *s, int i, const void *v, size_t n)
{
    if (!v) {
        db_bind_null(s, i);
        return;
    }
    db_bind_fail(s, i, s->drv->bind_blob(s->ds, i, v, n));
}

int db_step(db_stmt *s, err_t *e)
{
    if (!s->running) {
        s->running = true;
        s->t0 = utc_mono_us();
        if (s->c->db->m.query_logging)
            LOG_I("db", "query: %s [%d parameter(s), values not logged]", s->sql,
                  s->drv->param_count(s->ds));
        if (s->bind_err != ERR_OK) {
            err_code rc = err_set(
                e, s->bind_err, "binding parameter %d failed (%s; statement has %d) in: %.200s",
                s->bind_idx, err_code_name(s->bind_err), s->drv->param_count(s->ds), s->sql);
            finish(s, rc);
            return rc;
        }
    }
    int rc = s->drv->step(s->ds, e);
    if (rc == DB_ROW)
        return DB_ROW;
    if (rc == DB_DONE) {
        s->changes = s->drv->changes(s->ds);
        finish(s, ERR_OK);
        return DB_DONE;
    }
    if (rc == ERR_CONN)
        s->c->broken = true;
    finish(s, (err_code)rc);
    return rc;
}

size_t db_stmts_open(const db_conn *c)
{
    size_t n = 0;
    for (const db_stmt *s = c->active; s; s = s->anext)
        n++;
    return n;
}

int64_t db_changes(db_stmt *s)
{
    return s->changes;
}
int64_t db_last_insert_id(db_conn *c)
{
    return c->drv->last_insert_id(c->dc);
}

int db_col_count(db_stmt *s)
{
    return s->drv->col_count(s->ds);
}
const char *db_col_name(db_stmt *s, int i)
{
    return s->drv->col_name(s->ds, i);
}
bool db_col_null(db_stmt *s, int i)
{
    return s->drv->col_null(s->ds, i);
}
int64_t db_col_int64(db_stmt *s, int i)
{
    return s->drv->col_int64(s->ds, i);
}
double db_col_double(db_stmt *s, int i)
{
    return s->drv->col_double(s->ds, i);
}
bool db_col_bool(db_stmt *s, int i)
{
    return s->drv->col_int64(s->ds, i) != 0;
}
const char *db_col_text(db_stmt *s, int i, size_t *len)
{
    return s->drv->col_text(s->ds, i, len);
}
const char *db_col_json(db_stmt *s, int i, size_t *len)
{
    return s->drv->col_json(s->ds, i, len);
}
utc_us db_col_time(db_stmt *s, int i)
{
    return s->drv->col_time(s->ds, i);
}
const void *db_col_blob(db_stmt *s, int i, size_t *len)
{
    return s->drv->col_blob(s->ds, i, len);
}

/* ---- statistics ---------------------------------------------------------------- */

void db_get_pool_stats(db_t *db, db_pool_stats *out)
{
    memset(out, 0, sizeof *out);
    db_pool_stats_add(db->wpool, out);
    db_pool_stats_add(db->rpool, out);
}

void db_get_query_stats(db_t *db, db_query_stats *out)
{
    db_metrics_query_stats(&db->m, out);
}

void db_foreach_stmt_stat(db_t *db, void (*cb)(void *ud, const db_stmt_stat *st), void *ud)
{
    db_metrics_foreach(&db->m, cb, ud);
}

void db_set_query_hook(db_t *db, db_query_hook hook, void *ud)
{
    db_metrics_set_hook(&db->m, hook, ud);
}
