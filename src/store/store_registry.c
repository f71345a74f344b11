/* store/store_registry.c — the registry of store backends by URL scheme: the URL
 * is parsed by db/url.c (every scheme form it accepts, SQLAlchemy "+driver"
 * suffixes included) and its backend kind picks the store backend: SQL for
 * sqlite, postgresql/postgres and mysql/mariadb; MongoDB for mongodb and
 * mongodb+srv; a backend this build left out (CMake's CTXD_WITH_<NAME>=OFF) is
 * refused by name. Must not: open anything, or parse URLs itself. */
#include <stddef.h>
#include "store/store_backend.h"

static const struct {
    db_backend kind;
    const store_backend *backend;
} registry[] = {
    {DB_BACKEND_SQLITE, &store_sql_backend},
    {DB_BACKEND_POSTGRES, &store_sql_backend},
    {DB_BACKEND_MYSQL, &store_sql_backend},
#if CTXD_WITH_MONGODB
    {DB_BACKEND_MONGODB, &store_mongo_backend},
#endif
};

const store_backend *store_backend_of(const db_url *u)
{
    for (size_t i = 0; u && i < sizeof registry / sizeof registry[0]; i++)
        if (registry[i].kind == u->backend)
            return registry[i].backend;
    return NULL;
}

err_code store_backend_find(const char *url, const store_backend **out, db_url **u, err_t *e)
{
    *out = NULL;
    if (u)
        *u = NULL;
    if (!url || !*url)
        return err_set(e, ERR_INVALID, "store: no database URL");
    db_url *p = NULL;
    err_code rc = db_url_parse(url, &p, e); /* names an unknown scheme, URL masked */
    if (rc != ERR_OK)
        return rc;
    if ((rc = db_backend_require(p, e)) != ERR_OK) {
        db_url_free(p);
        return rc;
    }
    *out = store_backend_of(p);
    if (!*out)
        rc = err_set(e, ERR_INVALID, "store: no store backend for scheme '%s'", p->scheme);
    if (rc == ERR_OK && u)
        *u = p;
    else
        db_url_free(p);
    return rc;
}
