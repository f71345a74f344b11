/* db/driver.h — the internal contract between the db/ core (pool, statement
 * cache, transactions, metrics: db.c, pool.c, metrics.c) and one SQL backend
 * driver (SQLite, PostgreSQL via libpq, MySQL/MariaDB via Connector/C).
 * A driver is a table of functions over its own opaque connection and statement
 * types plus capability bits; nothing above db/ ever sees this header.
 * Must not: be included outside src/db and tests/unit/test_db_*.c; contain pool,
 * caching, retry or metrics logic (that lives once, in the core, for every driver);
 * know about any ctxd table. */
#ifndef CTXD_DB_DRIVER_H
#define CTXD_DB_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/err.h"
#include "base/utc.h"
#include "db/db.h"
#include "db/url.h"

typedef struct db_drv_conn db_drv_conn; /* a driver connection (opaque) */
typedef struct db_drv_stmt db_drv_stmt; /* a driver prepared statement (opaque) */

/* What a connection is for. SQLite opens one WRITER (creates the file, sets WAL,
 * takes BEGIN IMMEDIATE) and READERs (query_only). Client/server drivers treat
 * both the same. */
typedef enum db_role {
    DB_ROLE_WRITER = 0,
    DB_ROLE_READER = 1
} db_role;

typedef struct db_driver {
    const char *name;    /* "sqlite" */
    const char *dialect; /* value of db_dialect(): "sqlite" | "postgresql" | "mysql" */
    db_backend backend;

    /* Optional (NULL = never): true when every borrower must share ONE
     * connection (sqlite :memory:, where each connection would be a separate
     * database). */
    bool (*single_connection)(const db_url *u);
    /* Optional (NULL = never): true when writes go through one dedicated writer
     * connection (sqlite files). */
    bool (*single_writer)(const db_url *u);

    /* Opens and configures one connection (session settings, PRAGMAs). Errors
     * name the path/host (password masked) and carry a class. */
    err_code (*connect)(const db_url *u, const db_opts *o, db_role role, db_drv_conn **out,
                        err_t *e);
    void (*disconnect)(db_drv_conn *c);
    /* A trivial round trip; ERR_CONN when the connection is dead. */
    err_code (*ping)(db_drv_conn *c, err_t *e);
    /* Optional (NULL = never): true when the driver already knows, without I/O,
     * that the connection is unusable (the server closed it, a connection-class
     * error was seen). The core then closes it on release instead of pooling it. */
    bool (*conn_dead)(db_drv_conn *c);
    /* Capability bits (DB_CAP_*), asked once on the first connection. */
    unsigned (*caps)(db_drv_conn *c);
    err_code (*server_version)(db_drv_conn *c, char *buf, size_t n, err_t *e);

    /* One or more `;`-separated statements without parameters or results. */
    err_code (*exec)(db_drv_conn *c, const char *sql, err_t *e);
    /* write=true: take the write lock now (sqlite BEGIN IMMEDIATE). */
    err_code (*begin)(db_drv_conn *c, bool write, err_t *e);
    err_code (*commit)(db_drv_conn *c, err_t *e);
    err_code (*rollback)(db_drv_conn *c, err_t *e);
    bool (*in_transaction)(db_drv_conn *c);
    /* Optional (NULL = always): false when a statement outside BEGIN ... COMMIT would
     * miss session settings (PostgreSQL behind a transaction pooler re-applies them
     * with each BEGIN), so db_tx_run_one must open a transaction. */
    bool (*autocommit_ok)(db_drv_conn *c);
    int64_t (*last_insert_id)(db_drv_conn *c);
    /* Optional (NULL = the server checkpoints itself): a WAL checkpoint from this
     * connection; truncate=false never blocks other connections (PASSIVE),
     * truncate=true waits for readers within busy_timeout and empties the WAL.
     * *wal_frames = frames in the WAL after it. */
    err_code (*checkpoint)(db_drv_conn *c, bool truncate, int64_t *wal_frames, err_t *e);

    /* Prepares one statement written with `?` placeholders (the driver rewrites
     * them if its server needs another form, see sqltok.h). persistent: the
     * statement will be cached and reused for the life of the connection. */
    err_code (*prepare)(db_drv_conn *c, const char *sql, size_t len, bool persistent,
                        db_drv_stmt **out, err_t *e);
    void (*finalize)(db_drv_stmt *s);
    /* Back to the start, all parameters unbound (NULL). */
    void (*reset)(db_drv_stmt *s);
    int (*param_count)(db_drv_stmt *s);

    /* Binders return ERR_OK or a class (index out of range: ERR_INTERNAL;
     * too big: ERR_INVALID; allocation: ERR_NOMEM). Index is 1-based. Text, JSON
     * and blob pointers stay valid until reset or rebind (no copy needed). */
    err_code (*bind_null)(db_drv_stmt *s, int i);
    err_code (*bind_int64)(db_drv_stmt *s, int i, int64_t v);
    err_code (*bind_double)(db_drv_stmt *s, int i, double v);
    err_code (*bind_text)(db_drv_stmt *s, int i, const char *v, size_t n);
    err_code (*bind_json)(db_drv_stmt *s, int i, const char *v, size_t n);
    err_code (*bind_time)(db_drv_stmt *s, int i, utc_us t);
    err_code (*bind_blob)(db_drv_stmt *s, int i, const void *v, size_t n);

    /* DB_ROW, DB_DONE or an err_code with *e filled (message, native code). */
    int (*step)(db_drv_stmt *s, err_t *e);
    /* Rows changed by the statement that just returned DB_DONE. */
    int64_t (*changes)(db_drv_stmt *s);

    /* Columns, 0-based, valid until the next step/reset. */
    int (*col_count)(db_drv_stmt *s);
    const char *(*col_name)(db_drv_stmt *s, int i);
    bool (*col_null)(db_drv_stmt *s, int i);
    int64_t (*col_int64)(db_drv_stmt *s, int i);
    double (*col_double)(db_drv_stmt *s, int i);
    const char *(*col_text)(db_drv_stmt *s, int i, size_t *len);
    const char *(*col_json)(db_drv_stmt *s, int i, size_t *len);
    utc_us (*col_time)(db_drv_stmt *s, int i);
    const void *(*col_blob)(db_drv_stmt *s, int i, size_t *len);
} db_driver;

/* The built-in drivers. */
extern const db_driver db_driver_sqlite;
extern const db_driver db_driver_mysql;
extern const db_driver db_driver_postgres;

/* db.c: true for the URL options the core applies itself (pool_size,
 * max_overflow, pool_timeout, pool_recycle, pool_pre_ping_idle_ms,
 * busy_timeout): a driver accepts them and leaves them alone. */
bool db_opt_is_core(const char *key);

/* Error classification (errclass.c): native codes -> err_code classes. Retry
 * decisions above use only the class. */
err_code db_errclass_sqlite(int extended_code);
err_code db_errclass_sqlstate(const char *sqlstate); /* PostgreSQL 5-char SQLSTATE */
err_code db_errclass_mysql(unsigned errnum);         /* MySQL/MariaDB errno */

#endif
