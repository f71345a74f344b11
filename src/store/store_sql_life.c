/* store/store_sql_life.c — the SQL store's life outside the operations: opening
 * it by URL (the registry's entry for sqlite, postgresql and mysql URLs), whether
 * a SQLite file exists, and the schema lifecycle (status, migrate, check, drop),
 * each forwarded to migrate/ on the store's db.
 * Must not: contain migrations or schema_migrations SQL (migrate/ has them). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "store/store_sql.h"
#include "store/store_sql_int.h"
#include "migrate/migrate.h"

static err_code sql_open_url(const char *url, const db_url *u, const conf_t *c, store_t **out,
                             err_t *e)
{
    (void)u;
    db_t *db = NULL;
    err_code rc = db_open_conf(url, c, &db, e);
    return rc != ERR_OK ? rc : store_sql_open(db, true, out, e); /* closes db on error */
}

/* Opening a SQLite path that does not exist would create the file. */
static err_code sql_exists(const db_url *u, err_t *e)
{
    if (u->backend != DB_BACKEND_SQLITE || u->memory || !u->path || access(u->path, F_OK) == 0)
        return ERR_OK;
    if (errno == ENOENT)
        return err_set(e, ERR_NOTFOUND, "SQLite file %s does not exist", u->path);
    return err_set(e, ERR_NOTFOUND, "SQLite file %s: %s", u->path, strerror(errno));
}

const store_backend store_sql_backend = {
    .name = "sql",
    .open = sql_open_url,
    .exists = sql_exists,
};

err_code ssql_schema_status(store_t *st, store_schema *out, err_t *e)
{
    migrate_status ms;
    err_code rc = migrate_get_status(S(st)->db, &ms, e);
    if (rc != ERR_OK)
        return rc;
    out->current = ms.current;
    out->latest = ms.latest;
    out->db_newest = ms.db_newest;
    out->up_only = NULL;
    out->n = ms.n;
    out->v = xcalloc(ms.n ? ms.n : 1, sizeof *out->v);
    for (size_t i = 0; i < ms.n; i++) {
        const migrate_entry *m = &ms.entries[i];
        out->v[i] = (store_migration){.version = m->version,
                                      .name = xstrdup(m->name ? m->name : ""),
                                      .known = m->checksum[0] != '\0',
                                      .applied = m->applied,
                                      .applied_at = m->applied_at,
                                      .checksum_mismatch = m->checksum_mismatch};
    }
    migrate_status_free(&ms);
    return ERR_OK;
}

err_code ssql_migrate_to(store_t *st, int target, int *changed, err_t *e)
{
    return target < 0 ? migrate_up(S(st)->db, -1, changed, e)
                      : migrate_to(S(st)->db, target, changed, e);
}

err_code ssql_schema_check(store_t *st, err_t *e)
{
    return migrate_check(S(st)->db, e);
}

err_code ssql_drop(store_t *st, err_t *e)
{
    err_code rc = migrate_down(S(st)->db, 0, NULL, e);
    return rc != ERR_OK ? rc : ssql_load_put(st, NULL, e); /* the table beside the schema */
}
