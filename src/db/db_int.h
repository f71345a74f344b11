/* db/db_int.h — private structures shared by the db/ core files: db.c (open,
 * connections, statement cache, transactions), pool.c (the connection pool),
 * metrics.c (statistics, slow-query log, hook) and exec.c (parameter arrays).
 * Must not: be included outside src/db (and tests/unit/test_db_*.c); expose
 * driver internals (those stay behind driver.h). */
#ifndef CTXD_DB_DB_INT_H
#define CTXD_DB_DB_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "base/hash.h"
#include "db/db.h"
#include "db/driver.h"

/* ---- metrics ------------------------------------------------------------- */

/* One entry per distinct SQL text; found once when a connection first prepares
 * the statement, then updated with relaxed atomics (no lock on the hot path).
 * Entries live until db_close, so statements keep plain pointers to them. */
typedef struct db_metric {
    char *sql; /* the table's key */
    size_t len;
    _Atomic uint64_t count, errors, total_us, max_us;
    _Atomic uint64_t buckets[DB_LAT_BUCKETS]; /* per bucket, not cumulative */
} db_metric;

typedef struct db_hook_pair {
    struct db_hook_pair *retired; /* older pairs, freed at close */
    db_query_hook fn;
    void *ud;
} db_hook_pair;

typedef struct db_metrics {
    pthread_mutex_t mu; /* guards the table, never taken per step */
    hash_t *tab;        /* SQL text -> db_metric */
    db_metric other;    /* shared entry once the table is full */
    int slow_query_ms;
    bool query_logging;
    _Atomic uint64_t errors_by_class[ERR_INTERNAL + 1];
    _Atomic uint64_t slow, retries;
    _Atomic(db_hook_pair *) hook;
} db_metrics;

void db_metrics_init(db_metrics *m, const db_opts *o);
void db_metrics_free(db_metrics *m);
db_metric *db_metrics_entry(db_metrics *m, const char *sql, size_t len);
/* A finished statement: latency, class, slow log, hook. */
void db_metrics_record(db_metrics *m, db_metric *st, const char *sql, int64_t us, err_code rc);
/* An error outside a statement step (begin, commit, exec). */
void db_metrics_error(db_metrics *m, err_code rc);
void db_metrics_query_stats(db_metrics *m, db_query_stats *out);
void db_metrics_foreach(db_metrics *m, void (*cb)(void *ud, const db_stmt_stat *st), void *ud);
void db_metrics_set_hook(db_metrics *m, db_query_hook hook, void *ud);

/* ---- connections and statements ----------------------------------------- */

typedef struct db_pool db_pool;
typedef struct db_group db_group;
typedef struct db_ckpt db_ckpt;

struct db_stmt {
    db_conn *c;
    const db_driver *drv;
    db_drv_stmt *ds;
    db_metric *metric;
    char *sql; /* owned copy: the cache key */
    size_t len;
    db_stmt *anext, *aprev; /* the connection's list of statements in use */
    int64_t t0;             /* monotonic start of the current execution */
    int64_t changes;
    err_code bind_err;
    int bind_idx;
    bool cached, in_use, running;
};

struct db_conn {
    db_t *db;
    db_pool *pool;
    const db_driver *drv;
    db_drv_conn *dc;
    db_role role;
    bool broken;                      /* connection-class error seen: close on return */
    int64_t created_us, last_used_us; /* monotonic */
    hash_t *cache;                    /* SQL text -> cached db_stmt */
    db_stmt *active;
    db_conn *next_idle;
};

struct db {
    const db_driver *drv;
    db_url *url;
    char *masked;
    db_opts o;
    unsigned caps;
    db_pool *wpool;  /* the writer (sqlite file / :memory:), or NULL */
    db_pool *rpool;  /* readers / the general pool, or NULL */
    db_group *group; /* group commit of writes (sqlite file), or NULL */
    db_ckpt *ckpt;   /* background WAL checkpoints (sqlite file), or NULL */
    db_metrics m;
};

/* db.c: records the first bind error of s (reported by the next db_step). */
void db_bind_fail(db_stmt *s, int i, err_code rc);

/* db.c: open/close one connection with its statement cache. */
err_code db_conn_open(db_t *db, db_role role, db_conn **out, err_t *e);
/* The monotonic clock of the pools and connection ages (db_opts.mono_us, or utc_mono_us). */
int64_t db_mono_us(const db_t *db);
void db_conn_close(db_conn *c);

/* ---- pool ---------------------------------------------------------------- */

/* pinned: its connections are never closed while the pool lives (sqlite :memory:). */
db_pool *db_pool_new(db_t *db, const char *label, db_role role, int size, int max_overflow,
                     bool pinned);
void db_pool_free(db_pool *p);
err_code db_pool_get(db_pool *p, db_conn **out, err_t *e);
void db_pool_put(db_pool *p, db_conn *c);
void db_pool_stats_add(db_pool *p, db_pool_stats *acc);

/* ---- group commit (group.c) ------------------------------------------------ */

typedef struct db_group_stat {
    uint64_t batches, callers, max_batch; /* transactions, callbacks run, largest */
    int queued;                           /* callers waiting now */
} db_group_stat;

db_group *db_group_new(db_t *db);
void db_group_free(db_group *g);
/* One attempt of a write transaction, batched with concurrent ones. Returns the
 * caller's result; *acquire_failed when the writer could not be borrowed. */
err_code db_group_run(db_group *g, db_tx_fn fn, void *arg, err_t *e, bool *acquire_failed);
void db_group_stats(db_group *g, db_group_stat *out);

/* ---- background WAL checkpoints (checkpoint.c) -------------------------------- */

/* NULL when the thread cannot be started (then SQLite checkpoints on commit). */
db_ckpt *db_ckpt_start(db_t *db);
void db_ckpt_note_commit(db_ckpt *k); /* after each writer commit; cheap */
void db_ckpt_stop(db_ckpt *k);        /* NULL ok; joins the thread */
void db_ckpt_stats(db_ckpt *k, uint64_t *runs, uint64_t *truncates);

#endif
