/* migrate/dialect.c — the per-dialect table of the migration engine: the DDL of
 * schema_migrations, how to tell whether it exists, and the hook that takes the
 * cross-process migration lock (sqlite: the BEGIN IMMEDIATE write transaction
 * itself; postgres: pg_advisory_xact_lock in a transaction held open for the
 * run; mysql: GET_LOCK), plus the SHA-256 helper.
 * Must not: contain ctxd table definitions (migrations/ has them) or decide what
 * to apply (migrate.c does). The postgres entry is exercised by tests/pg
 * (test_pg_migrate: concurrent migrators, also through PgBouncer). */
#include "migrate/migrate_internal.h"

#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>

#include "base/sbuf.h"

/* Column 0 of the row as an integer, -1 when it is NULL. */
static err_code read_int(db_stmt *s, void *ud, err_t *e)
{
    (void)e;
    *(int64_t *)ud = db_col_null(s, 0) ? -1 : db_col_int64(s, 0);
    return ERR_OK;
}

/* Runs a one-row, one-column query on c and returns its integer value in *v
 * (-1 when the value is NULL). */
static err_code query_int(db_conn *c, const char *sql, int64_t *v, err_t *e)
{
    return db_query_one(c, sql, NULL, 0, read_int, v, NULL, e);
}

/* --- postgresql: an advisory lock, key = "ctxdmigr" as bytes ----------------
 * Transaction-scoped (pg_advisory_xact_lock) in a transaction held open on the
 * lock connection for the whole run, and released by ending it. A session-level
 * pg_advisory_lock would leak behind a transaction-pooling proxy (PgBouncer,
 * Supabase's pooler): the autocommit statement takes it on one server session,
 * the unlock runs on another, and the next migrator waits forever. The open
 * transaction pins one server session instead, and any way the connection ends
 * (release, crash, lost connection) releases the lock. */
#define PG_LOCK_KEY "7238551599546214770"

static err_code pg_lock(db_conn *c, err_t *e)
{
    int64_t v = 0;
    err_code rc = db_begin(c, e);
    if (rc == ERR_OK)
        rc = query_int(c, "SELECT 1 FROM (SELECT pg_advisory_xact_lock(" PG_LOCK_KEY ")) AS l", &v,
                       e);
    if (rc != ERR_OK) {
        if (db_in_tx(c))
            db_rollback(c);
        return err_prefix(e, "taking the migration lock (pg_advisory_xact_lock)");
    }
    return ERR_OK;
}

static void pg_unlock(db_conn *c)
{
    if (db_in_tx(c))
        db_rollback(c); /* nothing was written: ending it unlocks */
}

/* --- mysql: a named lock --------------------------------------------------- */
#define MYSQL_LOCK_TIMEOUT_S "600"

static err_code mysql_lock(db_conn *c, err_t *e)
{
    int64_t v = 0;
    err_code rc = query_int(c, "SELECT GET_LOCK('ctxd_migrate', " MYSQL_LOCK_TIMEOUT_S ")", &v, e);
    if (rc != ERR_OK)
        return err_prefix(e, "taking the migration lock (GET_LOCK)");
    if (v != 1)
        return err_set(e, v == 0 ? ERR_TIMEOUT : ERR_FATAL,
                       "taking the migration lock: GET_LOCK('ctxd_migrate') %s",
                       v == 0 ? "timed out after " MYSQL_LOCK_TIMEOUT_S
                                " s (another migrator is running)"
                              : "failed");
    return ERR_OK;
}

static void mysql_unlock(db_conn *c)
{
    int64_t v = 0;
    err_t e;
    err_clear(&e);
    (void)query_int(c, "SELECT RELEASE_LOCK('ctxd_migrate')", &v, &e);
}

static const migrate_dialect dialects[] = {
    {
        .name = "sqlite",
        .create_sql = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                      " version INTEGER PRIMARY KEY NOT NULL,"
                      " name TEXT NOT NULL,"
                      " checksum TEXT NOT NULL,"
                      " applied_at TEXT NOT NULL)",
        .exists_sql =
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
        .lock = NULL, /* db_begin on the writer is BEGIN IMMEDIATE: the lock */
        .unlock = NULL,
        .lock_desc = "BEGIN IMMEDIATE",
    },
    {
        .name = "postgresql",
        .create_sql = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                      " version INTEGER PRIMARY KEY,"
                      " name TEXT NOT NULL,"
                      " checksum CHAR(64) NOT NULL,"
                      " applied_at TIMESTAMPTZ NOT NULL)",
        .exists_sql = "SELECT 1 FROM information_schema.tables"
                      " WHERE table_schema = current_schema() AND table_name = 'schema_migrations'",
        .lock = pg_lock,
        .unlock = pg_unlock,
        .lock_desc = "pg_advisory_xact_lock",
    },
    {
        .name = "mysql",
        .create_sql = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                      " version INT NOT NULL PRIMARY KEY,"
                      " name VARCHAR(255) NOT NULL,"
                      " checksum CHAR(64) NOT NULL,"
                      " applied_at DATETIME(6) NOT NULL)",
        .exists_sql = "SELECT 1 FROM information_schema.tables"
                      " WHERE table_schema = DATABASE() AND table_name = 'schema_migrations'",
        .lock = mysql_lock,
        .unlock = mysql_unlock,
        .lock_desc = "GET_LOCK",
    },
};

const migrate_dialect *migrate_dialect_find(const char *name)
{
    int k =
        str_table_index(dialects, sizeof dialects / sizeof dialects[0], sizeof dialects[0], name);
    return k < 0 ? NULL : &dialects[k];
}

void migrate_sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, n, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
        /* Cannot happen with a working libcrypto; an impossible checksum makes
         * every comparison fail loudly rather than pass silently. */
        memset(out, '?', 64);
        out[64] = '\0';
        return;
    }
    str_hex(md, 32, out);
}
