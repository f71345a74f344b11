/* db/db.h — the SQL access layer every SQL-speaking module uses: open a database
 * from a URL, borrow a pooled connection for the shortest time, run prepared
 * statements written once with `?` placeholders (one call a value, or a typed
 * parameter array run by an executor), transactions with retry on
 * transient error classes, error classes, statistics and per-statement metrics.
 * Drivers (SQLite, PostgreSQL, MySQL/MariaDB) plug in behind db/driver.h.
 * Must not: know about sessions, messages or any other ctxd table. */
#ifndef CTXD_DB_DB_H
#define CTXD_DB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/err.h"
#include "base/conf.h"
#include "base/utc.h"
#include "db/url.h"

typedef struct db db_t;         /* an open database: driver + pool + metrics */
typedef struct db_conn db_conn; /* a borrowed connection */
typedef struct db_stmt db_stmt; /* a prepared statement, cached by its connection */

/* Capability bits a driver declares; the SQL store picks dialect SQL from them. */
enum {
    DB_CAP_RETURNING = 1u << 0,          /* INSERT ... RETURNING */
    DB_CAP_UPSERT_ON_CONFLICT = 1u << 1, /* INSERT ... ON CONFLICT DO ... */
    DB_CAP_UPSERT_DUPLICATE = 1u << 2,   /* INSERT ... ON DUPLICATE KEY UPDATE */
    DB_CAP_FTS = 1u << 3,                /* full-text index */
    DB_CAP_TRIGRAM = 1u << 4,            /* trigram index (FTS5 trigram, pg_trgm) */
    DB_CAP_ADVISORY_LOCK = 1u << 5,      /* server-side named locks */
    DB_CAP_JSON = 1u << 6,               /* JSON functions/types */
    DB_CAP_PARTIAL_INDEX = 1u << 7,      /* CREATE INDEX ... WHERE */
    DB_CAP_TRANSACTIONAL_DDL = 1u << 8,  /* DDL inside a transaction rolls back */
    DB_CAP_SINGLE_WRITER = 1u << 9       /* writes serialised on one connection */
};

typedef struct db_opts {
    int pool_size;            /* DB_POOL_SIZE / ?pool_size=      default 5 (sqlite: readers);
                               db_opts_from: DB_SERVER_POOL_SIZE on PostgreSQL/MariaDB */
    int max_overflow;         /* DB_MAX_OVERFLOW / ?max_overflow= default 10 */
    int pool_idle_timeout_s;  /* DB_POOL_IDLE_TIMEOUT / ?pool_idle_timeout= default 300: an
                                overflow connection idle this long is closed; 0 = on return */
    int pool_timeout_ms;      /* DB_POOL_TIMEOUT (seconds) / ?pool_timeout= default 30 s */
    int pool_recycle_s;       /* DB_POOL_RECYCLE / ?pool_recycle= default 3600; <=0 never */
    int preping_idle_ms;      /* ?pool_pre_ping_idle_ms= default 30000; 0 = always ping */
    int busy_timeout_ms;      /* sqlite ?busy_timeout= default 5000 */
    int slow_query_ms;        /* SLOW_QUERY_THRESHOLD_MS default 1000; 0 = off */
    bool query_logging;       /* ENABLE_QUERY_LOGGING: log each statement, params redacted */
    int max_retries;          /* db_tx_run retries on busy/conn/timeout, default 8 */
    int wal_autocheckpoint;   /* sqlite writer: pages, -1 = SQLite's default (1000), 0 = off.
                               db_open sets 0 when it runs its own background checkpointer. */
    int64_t (*mono_us)(void); /* tests: the pool's monotonic clock; NULL = utc_mono_us */
} db_opts;

/* The default DB_POOL_SIZE on PostgreSQL and MariaDB: the request workers of `ctxd serve`
 * (8 default + 8 write + 8 heavy lane threads) are covered by it plus the overflow, which
 * stays open while in use (pool_idle_timeout_s), so no request waits for a connect. */
#define DB_SERVER_POOL_SIZE 20

void db_opts_default(db_opts *o);
/* Defaults, then DB_* variables, then URL query options (most specific wins).
 * Bad values are ERR_INVALID naming the variable or URL option. On a PostgreSQL or
 * MariaDB URL, pool_size defaults to DB_SERVER_POOL_SIZE unless DB_POOL_SIZE is set. */
err_code db_opts_from(const conf_t *c, const db_url *u, db_opts *o, err_t *e);

/* opts NULL = defaults. URL query options are applied over *opts in any case
 * (so passing db_opts_from() output is idempotent). Connects once before
 * returning, so a bad path, a non-database file or an unreachable server fails
 * here. Backends without a driver yet: ERR_INVALID. */
err_code db_open(const char *url, const db_opts *opts, db_t **out, err_t *e);
/* db_open with the options of db_opts_from(c, url) (defaults when c is NULL). */
err_code db_open_conf(const char *url, const conf_t *c, db_t **out, err_t *e);
void db_close(db_t *db);
db_backend db_backend_of(const db_t *db);
const char *db_dialect(const db_t *db); /* "sqlite" | "postgresql" | "mysql" */
unsigned db_caps(const db_t *db);
const char *db_url_text_masked(const db_t *db);
err_code db_server_version(db_t *db, char *buf, size_t n, err_t *e);
/* Borrows a connection, runs a trivial query, returns round-trip microseconds. */
err_code db_ping(db_t *db, int64_t *rtt_us, err_t *e);

typedef enum db_intent {
    DB_READ = 0,
    DB_WRITE = 1
} db_intent;

/* Borrow a connection; waits up to pool_timeout for one (ERR_TIMEOUT after).
 * SQLite file: DB_WRITE yields the single writer connection (writes are
 * serialised in-process; db_begin takes BEGIN IMMEDIATE); DB_READ yields one of
 * pool_size (+ max_overflow) reader connections, which are PRAGMA query_only:
 * a write on a DB_READ connection fails with ERR_IO. SQLite :memory:: ONE
 * connection shared by every borrower, whatever the intent (each :memory:
 * connection would be a separate database) — so never hold a connection while
 * acquiring another on the same thread. The same goes for the writer. */
err_code db_acquire(db_t *db, db_intent intent, db_conn **out, err_t *e);
/* Returns it to the pool: resets its statements, rolls back an open transaction. */
void db_release(db_conn *c);

err_code db_begin(db_conn *c, err_t *e); /* writer on sqlite: BEGIN IMMEDIATE */
err_code db_commit(db_conn *c, err_t *e);
void db_rollback(db_conn *c);
bool db_in_tx(const db_conn *c);
/* One or more `;`-separated statements without parameters or results (DDL). */
err_code db_exec(db_conn *c, const char *sql, err_t *e);

/* Runs fn inside a transaction on a borrowed connection and commits; on a
 * retryable class (busy, connection lost, timeout) rolls back and retries with
 * bounded exponential backoff (max_retries). fn returns ERR_OK or a code. */
typedef err_code (*db_tx_fn)(db_conn *c, void *arg, err_t *e);
err_code db_tx_run(db_t *db, db_intent intent, db_tx_fn fn, void *arg, err_t *e);
/* A write of ONE statement (fn runs exactly one), retried as db_tx_run: on a server
 * database the statement is its own transaction (autocommit: one round trip, no
 * BEGIN and COMMIT, so the locks it takes are held for its execution only); inside
 * BEGIN ... COMMIT where the driver needs it (PostgreSQL behind a transaction pooler
 * whose BEGIN carries the session settings); through group commit on a SQLite file. */
err_code db_tx_run_one(db_t *db, db_tx_fn fn, void *arg, err_t *e);

/* Prepared statements, `?` placeholders, cached per connection by SQL text. The
 * returned statement is reset and unbound; call db_stmt_done() when finished
 * with it (or it is reset at db_release). Binding indexes are 1-based; text and
 * blob pointers must stay valid until the statement is done or rebound. A bind
 * error is reported by the next db_step. */
err_code db_prepare(db_conn *c, const char *sql, db_stmt **out, err_t *e);
void db_bind_null(db_stmt *s, int i);
void db_bind_int64(db_stmt *s, int i, int64_t v);
void db_bind_double(db_stmt *s, int i, double v);
void db_bind_bool(db_stmt *s, int i, bool v);
void db_bind_text(db_stmt *s, int i, const char *v, ptrdiff_t n);    /* n<0: strlen; NULL -> NULL */
void db_bind_json(db_stmt *s, int i, const char *json, ptrdiff_t n); /* JSON text; NULL -> NULL */
void db_bind_time(db_stmt *s, int i, utc_us t);                      /* native timestamp */
void db_bind_blob(db_stmt *s, int i, const void *v, size_t n);       /* NULL -> NULL */

enum {
    DB_ROW = 100,
    DB_DONE = 101
};
/* DB_ROW, DB_DONE, or an err_code (filled in *e) */
int db_step(db_stmt *s, err_t *e);
void db_stmt_done(db_stmt *s);
int64_t db_changes(db_stmt *s); /* rows changed by the last DB_DONE step */
/* Last inserted auto id on this connection (drivers without it: use RETURNING). */
int64_t db_last_insert_id(db_conn *c);

/* Statements of c prepared and not yet finished with db_stmt_done (the executors
 * below leave none behind, whatever happens). */
size_t db_stmts_open(const db_conn *c);

/* ---- typed parameter arrays and executors (exec.c) ------------------------
 * The db/ counterpart of libpq's PQexecParams arrays: a statement's parameters
 * written as one array of tagged values, bound in order to placeholders 1..n:
 *
 *     int64_t n = 0;
 *     err_code rc = db_exec_params(c, "DELETE FROM t WHERE k = ? AND at < ?",
 *                                  DB_ARGS(DB_TEXT(key), DB_TIME(now)), &n, e);
 *
 * A parameter only points at text, JSON and blob bytes (nothing is copied):
 * they must stay valid until the executor returns (db_prepare_params: until
 * the statement is done or rebound). Every executor goes through db_prepare and
 * db_step (statement cache, metrics, query log, PgBouncer's unnamed statements)
 * and finishes its statement before returning, on success and on every error,
 * so nothing stays open on the connection (db_stmts_open). A bind error (an
 * index beyond the statement's placeholders, a value the server refuses) comes
 * back as the executor's result, naming the parameter. */
typedef enum db_ptype {
    DB_P_NULL = 0,
    DB_P_INT,      /* v.i */
    DB_P_INT_OPT,  /* v.i; 0 -> NULL (an optional id) */
    DB_P_BOOL,     /* v.i: 0 or 1 */
    DB_P_DOUBLE,   /* v.d */
    DB_P_TEXT,     /* v.s: UTF-8 text of n bytes (n < 0: strlen); NULL -> NULL */
    DB_P_JSON,     /* v.s: JSON text (n < 0: strlen); NULL -> NULL */
    DB_P_TIME,     /* v.i: utc_us, a native timestamp */
    DB_P_TIME_OPT, /* v.i: utc_us; 0 -> NULL */
    DB_P_BLOB      /* v.s: n bytes; NULL -> NULL */
} db_ptype;

typedef struct db_param {
    db_ptype type;
    union {
        int64_t i;
        double d;
        struct {
            const void *p;
            ptrdiff_t n;
        } s;
    } v;
} db_param;

/* Each evaluates its arguments once; usable in array initialisers and assignments. */
#define DB_NULL ((db_param){.type = DB_P_NULL})
#define DB_INT(x_) ((db_param){.type = DB_P_INT, .v.i = (int64_t)(x_)})
#define DB_INT_OPT(x_) ((db_param){.type = DB_P_INT_OPT, .v.i = (int64_t)(x_)})
#define DB_BOOL(x_) ((db_param){.type = DB_P_BOOL, .v.i = (x_) ? 1 : 0})
#define DB_DOUBLE(x_) ((db_param){.type = DB_P_DOUBLE, .v.d = (double)(x_)})
#define DB_TEXT(x_) ((db_param){.type = DB_P_TEXT, .v.s = {(x_), -1}})
#define DB_TEXTN(x_, n_) ((db_param){.type = DB_P_TEXT, .v.s = {(x_), (ptrdiff_t)(n_)}})
#define DB_JSON(x_) ((db_param){.type = DB_P_JSON, .v.s = {(x_), -1}})
#define DB_TIME(x_) ((db_param){.type = DB_P_TIME, .v.i = (utc_us)(x_)})
#define DB_TIME_OPT(x_) ((db_param){.type = DB_P_TIME_OPT, .v.i = (utc_us)(x_)})
#define DB_BLOB(x_, n_) ((db_param){.type = DB_P_BLOB, .v.s = {(x_), (ptrdiff_t)(n_)}})

/* `params, count` of an inline list, for an executor's (p, n) arguments:
 * db_exec_params(c, sql, DB_ARGS(DB_INT(id)), NULL, e). At least one parameter;
 * with none pass NULL, 0. The list lives until the end of the enclosing block. */
#define DB_ARGS(...) \
    ((const db_param[]){__VA_ARGS__}), (sizeof((const db_param[]){__VA_ARGS__}) / sizeof(db_param))

/* Binds p[0..n) to placeholders 1..n (a bad tag is a bind error). */
void db_bind_params(db_stmt *s, const db_param *p, size_t n);

/* db_prepare + db_bind_params. On ERR_OK the caller owns *out: step it, then
 * db_stmt_done(*out) (or db_release does it). On error *out is NULL and nothing
 * is open. Bind errors are reported by the first db_step, as with db_bind_*. */
err_code db_prepare_params(db_conn *c, const char *sql, const db_param *p, size_t n, db_stmt **out,
                           err_t *e);

/* Runs a statement to DB_DONE; rows it returns (SELECT setval(...)) are read and
 * dropped. *changes (may be NULL) = rows changed, 0 on error. */
err_code db_exec_params(db_conn *c, const char *sql, const db_param *p, size_t n, int64_t *changes,
                        err_t *e);

/* An INSERT of one row: *id (may be NULL) = column 0 of its first row when the
 * statement returns rows (INSERT ... RETURNING id), else db_last_insert_id(c);
 * 0 when the statement inserted nothing (ON CONFLICT DO NOTHING, INSERT IGNORE). */
err_code db_insert_params(db_conn *c, const char *sql, const db_param *p, size_t n, int64_t *id,
                          err_t *e);

/* Called with the statement positioned on a row: read columns (db_col_*; they
 * are valid during the call only, copy what you keep). ERR_OK goes on; any
 * other code (set *e) stops the query, which is finished and returns that code. */
typedef err_code (*db_row_fn)(db_stmt *s, void *ud, err_t *e);

/* Calls fn (NULL: rows are skipped) for every row the query returns. */
err_code db_query_params(db_conn *c, const char *sql, const db_param *p, size_t n, db_row_fn fn,
                         void *ud, err_t *e);

/* Calls fn (may be NULL) for the query's first row only; later rows are not read.
 * No row: with found NULL, ERR_NOTFOUND ("query returned no row: <sql>");
 * with found given, ERR_OK and *found = false (true when there was a row). */
err_code db_query_one(db_conn *c, const char *sql, const db_param *p, size_t n, db_row_fn fn,
                      void *ud, bool *found, err_t *e);

/* Column 0 of the first row as an integer (SQL NULL -> 0), for COUNT(*) and the
 * like. No row: ERR_NOTFOUND. */
err_code db_query_int64(db_conn *c, const char *sql, const db_param *p, size_t n, int64_t *out,
                        err_t *e);

/* Columns are 0-based and valid until the next db_step / db_stmt_done. */
int db_col_count(db_stmt *s);
const char *db_col_name(db_stmt *s, int i);
bool db_col_null(db_stmt *s, int i);
int64_t db_col_int64(db_stmt *s, int i);
double db_col_double(db_stmt *s, int i);
bool db_col_bool(db_stmt *s, int i);
const char *db_col_text(db_stmt *s, int i, size_t *len); /* NULL if NULL */
const char *db_col_json(db_stmt *s, int i, size_t *len); /* JSON text, NULL if NULL */
utc_us db_col_time(db_stmt *s, int i);                   /* 0 if NULL */
const void *db_col_blob(db_stmt *s, int i, size_t *len);

/* Statistics. Pool figures add up all pools of the database: on a SQLite file
 * size = pool_size readers + 1 writer; on :memory: size = 1, max_overflow = 0. */
typedef struct db_pool_stats {
    int size, max_overflow;
    int in_use, idle, overflow_in_use; /* overflow_in_use: borrowed beyond size */
    int open;                          /* open connections (idle + borrowed) */
    uint64_t acquired, waits, timeouts, created, closed, recycled, preping_failures;
    uint64_t idle_closed; /* overflow connections closed after pool_idle_timeout_s idle */
} db_pool_stats;

/* statements/total_us: finished prepared statements and db_exec scripts;
 * errors (= sum of errors_by_class) also count failed begin/commit/prepare. */
typedef struct db_query_stats {
    uint64_t statements, errors, slow, retries;
    uint64_t errors_by_class[ERR_INTERNAL + 1];
    uint64_t total_us;
} db_query_stats;

void db_get_pool_stats(db_t *db, db_pool_stats *out);
void db_get_query_stats(db_t *db, db_query_stats *out);

/* Latency per statement (keyed by SQL text), cumulative histogram buckets in us. */
#define DB_LAT_BUCKETS 12 /* <=50us,100,250,500,1ms,2.5,5,10,25,50,100,+inf */
extern const int64_t db_lat_bucket_upper_us[DB_LAT_BUCKETS];
typedef struct db_stmt_stat {
    const char *sql;
    uint64_t count, errors, total_us, max_us;
    uint64_t buckets[DB_LAT_BUCKETS];
} db_stmt_stat;
void db_foreach_stmt_stat(db_t *db, void (*cb)(void *ud, const db_stmt_stat *st), void *ud);

/* Optional hook called after every statement step that finishes (DONE or error)
 * and after each db_exec, on the calling thread; us is the statement's time from
 * its first step. Set it before concurrent use; replacing it is safe. */
typedef void (*db_query_hook)(void *ud, const char *sql, int64_t us, err_code result);
void db_set_query_hook(db_t *db, db_query_hook hook, void *ud);

#endif
