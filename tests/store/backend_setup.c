/* tests/store/backend_setup.c — fresh migrated databases for the store tests
 * (see backend_setup.h). SQLite: a new file per call (or a new :memory:
 * database). PostgreSQL/MariaDB/MongoDB: to be added with their drivers (create
 * a uniquely named database or schema here, drop it in tb_drop).
 * Must not: be used by the server, or leave files behind after tb_drop. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "backend_setup.h"
#include "test_support.h"
#include "base/sbuf.h"
#include "db/db.h"
#include "db/url.h"
#include "migrate/migrate.h"
#include "store/store_sql.h"

const char *tb_url(int argc, char **argv)
{
    if (argc > 1 && argv[1][0])
        return argv[1];
    const char *u = getenv("CTXD_TEST_DATABASE_URL");
    return u && *u ? u : "sqlite:///:memory:";
}

static atomic_int fresh_counter;

static void remove_sqlite_files(const char *path)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char *p = ts_strf("%s%s", path, suffixes[i]);
        ts_rm_rf(p);
        free(p);
    }
}

static err_code open_migrated(const char *url, store_t **out, err_t *e)
{
    db_opts o;
    db_opts_default(&o);
    db_t *db = NULL;
    err_code rc = db_open(url, &o, &db, e);
    if (rc != ERR_OK)
        return rc;
    if ((rc = migrate_up(db, -1, NULL, e)) != ERR_OK) {
        db_close(db);
        return rc;
    }
    return store_sql_open(db, true, out, e);
}

err_code tb_fresh(const char *url, tb_db *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    db_url *u = NULL;
    err_code rc = db_url_parse(url, &u, e);
    if (rc != ERR_OK)
        return rc;
    db_backend b = u->backend;
    bool memory = u->memory;
    char *path = xstrdup(u->path);
    db_url_free(u);

    if (b != DB_BACKEND_SQLITE) {
        free(path);
        return err_set(e, ERR_INVALID, "store tests: no fresh-database setup for %s yet "
                       "(add it to tests/store/backend_setup.c)", db_backend_name(b));
    }
    if (memory) {
        free(path);
        out->url = xstrdup(url);
    } else {
        /* The given file name plus a unique suffix, inserted before any ?options. */
        int n = atomic_fetch_add(&fresh_counter, 1);
        char suffix[64];
        snprintf(suffix, sizeof suffix, "-%ld-%d", (long)getpid(), n);
        const char *q = strchr(url, '?');
        size_t head = q ? (size_t)(q - url) : strlen(url);
        out->url = ts_strf("%.*s%s%s", (int)head, url, suffix, q ? q : "");
        out->file = ts_strf("%s%s", path, suffix);
        char *dir = xstrdup(out->file);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = 0;
            ts_mkdir_p(dir);
        }
        free(dir);
        free(path);
        remove_sqlite_files(out->file);
    }
    rc = open_migrated(out->url, &out->st, e);
    if (rc != ERR_OK)
        tb_drop(out);
    return rc;
}

void tb_drop(tb_db *d)
{
    store_close(d->st);
    if (d->file)
        remove_sqlite_files(d->file);
    free(d->url);
    free(d->file);
    memset(d, 0, sizeof *d);
}
