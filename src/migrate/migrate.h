/* migrate/migrate.h — versioned schema migrations per dialect, embedded in the
 * binary; the `schema_migrations` table (version, name, checksum, applied_at);
 * up, down, to N, status; a cross-process lock so concurrent starts migrate once;
 * refusal of a database newer than the binary or of an edited applied migration.
 * Must not: contain table definitions (those are the .sql files). */
#ifndef CTXD_MIGRATE_MIGRATE_H
#define CTXD_MIGRATE_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include "base/err.h"
#include "base/utc.h"
#include "db/db.h"

typedef struct migrate_entry {
    int version;
    const char *name;
    char checksum[65]; /* sha256 hex of the up script as embedded */
    bool applied;
    utc_us applied_at;         /* 0 if not applied */
    char applied_checksum[65]; /* as recorded in the database ("" if not applied) */
    bool checksum_mismatch;
} migrate_entry;

typedef struct migrate_status {
    int current;   /* highest applied version this binary knows (0 = empty database) */
    int latest;    /* highest version this binary knows */
    int db_newest; /* highest version recorded in the database, known or not */
    size_t n;
    migrate_entry *entries; /* every known version plus unknown applied ones, by version;
                                 * unknown ones have checksum "" and applied = true */
} migrate_status;

/* Highest version embedded for the dialect (0 if none). */
int migrate_latest(const char *dialect);

err_code migrate_get_status(db_t *db, migrate_status *out, err_t *e);
void migrate_status_free(migrate_status *s);

/* Applies pending migrations up to `target` (-1 = latest), each in its own
 * transaction, under the migration lock. Refuses (ERR_SCHEMA) a database whose
 * recorded version is newer than the binary, or whose applied migration's
 * checksum differs from the embedded one (also: an applied version this binary
 * does not know, or a known version missing below an applied one), before
 * changing anything. A target outside 0..latest is ERR_INVALID. A failing script
 * rolls back with its transaction; the error keeps the driver's code (e.g.
 * ERR_SYNTAX) and names the migration. *applied = how many ran (may be NULL). */
err_code migrate_up(db_t *db, int target, int *applied, err_t *e);
/* Reverts applied migrations down to `target` (>= 0), newest first, each with its
 * .down.sql in its own transaction; same refusals as migrate_up. */
err_code migrate_down(db_t *db, int target, int *reverted, err_t *e);
/* Up or down to exactly `target`. */
err_code migrate_to(db_t *db, int target, int *changed, err_t *e);
/* ERR_OK if the database is exactly at the latest version with intact checksums;
 * ERR_SCHEMA with an actionable message otherwise. */
err_code migrate_check(db_t *db, err_t *e);

#endif
