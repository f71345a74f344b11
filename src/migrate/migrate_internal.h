/* migrate/migrate_internal.h — the migration engine's inner entry points, which
 * take the migration set as a parameter instead of the embedded one (so tests can
 * run synthetic sets: an extra version, an edited script, a failing script), the
 * per-dialect table (schema_migrations DDL and the migration lock hook), and the
 * checksum helper. Used by the migrate/ sources and tests/migrate only.
 * Must not: be included by code above migrate/ (use migrate.h), or hold table
 * definitions of the ctxd schema (those are the .sql files). */
#ifndef CTXD_MIGRATE_MIGRATE_INTERNAL_H
#define CTXD_MIGRATE_MIGRATE_INTERNAL_H

#include <stddef.h>
#include "migrate/embedded.h"
#include "migrate/migrate.h"

/* One SQL dialect's bookkeeping: how to create and find schema_migrations and how
 * to take the cross-process migration lock. */
typedef struct migrate_dialect {
    const char *name;       /* "sqlite" | "postgresql" | "mysql" (db_dialect()) */
    const char *create_sql; /* CREATE TABLE IF NOT EXISTS schema_migrations (...) */
    const char *exists_sql; /* a query returning a row iff schema_migrations exists */
    /* Session lock held on its own connection for the whole run (postgres
     * pg_advisory_lock, mysql GET_LOCK), used when the database reports
     * DB_CAP_ADVISORY_LOCK. NULL when the write transaction taken for each step
     * is itself the lock (sqlite: db_begin on the single writer = BEGIN IMMEDIATE,
     * which serialises migrators across processes). */
    err_code (*lock)(db_conn *c, err_t *e);
    void (*unlock)(db_conn *c);
    const char *lock_desc; /* for logs: "BEGIN IMMEDIATE", "pg_advisory_lock" */
} migrate_dialect;

/* The dialect entry for `name`, or NULL if migrate/ has none. */
const migrate_dialect *migrate_dialect_find(const char *name);

/* SHA-256 of data[0..n) as 64 lowercase hex digits + NUL. */
void migrate_sha256_hex(const void *data, size_t n, char out[65]);

/* The public API with an explicit migration set (terminated by dialect == NULL;
 * files of other dialects than the database's are ignored). The public
 * functions call these with migrate_embedded. */
int migrate_latest_with(const migrate_embedded_file *set, const char *dialect);
err_code migrate_get_status_with(db_t *db, const migrate_embedded_file *set, migrate_status *out,
                                 err_t *e);
err_code migrate_up_with(db_t *db, const migrate_embedded_file *set, int target, int *applied,
                         err_t *e);
err_code migrate_down_with(db_t *db, const migrate_embedded_file *set, int target, int *reverted,
                           err_t *e);
err_code migrate_to_with(db_t *db, const migrate_embedded_file *set, int target, int *changed,
                         err_t *e);
err_code migrate_check_with(db_t *db, const migrate_embedded_file *set, err_t *e);

#endif
