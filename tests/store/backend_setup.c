/* tests/store/backend_setup.c — fresh migrated databases for the store tests
 * (see backend_setup.h). SQLite: a new file per call (or a new :memory:
 * database). PostgreSQL and MariaDB: a uniquely named database created on the
 * server the URL names (with libpq / Connector/C directly, as an operator would)
 * and dropped in tb_drop. MongoDB: a uniquely named database on the server
 * the URL names (the URL's database replaced), dropped through the store
 * (store_drop) in tb_drop. Every store is opened by URL (store_open_with), which
 * migrates it.
 * Must not: be used by the server, or leave files or databases behind. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libpq-fe.h>
#include <mysql.h>
#include "backend_setup.h"
#include "test_support.h"
#include "base/ids.h"
#include "base/sbuf.h"
#include "db/db.h"
#include "db/url.h"

static const char *url_of(int argc, char **argv);
static const char *g_last_url; /* what tb_url returned last, for tb_setup */

const char *tb_url(int argc, char **argv)
{
    return g_last_url = url_of(argc, argv);
}

static const char *url_of(int argc, char **argv)
{
    const char *u = argc > 1 && argv[1][0] ? argv[1] : getenv("CTXD_TEST_DATABASE_URL");
    if (!u || !*u)
        return "sqlite:///:memory:";
    if (strncmp(u, "fixture:", 8) != 0)
        return u;
    /* fixture:<server>:<VAR>[?options] — the URL a tests/servers fixture
     * published, with options appended (e.g. ?sslmode=require). */
    static char *resolved;
    const char *srv = u + 8;
    const char *colon = strchr(srv, ':');
    if (!colon) {
        fprintf(stderr, "store tests: bad fixture reference '%s'\n", u);
        exit(2);
    }
    char *server = xstrndup(srv, (size_t)(colon - srv));
    const char *q = strchr(colon + 1, '?');
    char *var = q ? xstrndup(colon + 1, (size_t)(q - colon - 1)) : xstrdup(colon + 1);
    char *base = ts_server_var(server, var);
    if (!base) {
        /* 77: CTest reports "skipped" where the test allows it (e.g. the TLS
         * front of the MongoDB emulator, absent for a real server), else failed */
        fprintf(stderr,
                "SKIP: the %s server fixture published no %s "
                "(run through ctest, or set %s)\n",
                server, var, var);
        exit(77);
    }
    free(resolved);
    resolved = q ? ts_strf("%s%s%s", base, strchr(base, '?') ? "&" : "?", q + 1) : xstrdup(base);
    free(base);
    free(server);
    free(var);
    return resolved;
}

/* ---- server databases ------------------------------------------------------------ */

static atomic_int fresh_counter_srv;

static char *fresh_name(void)
{
    int n = atomic_fetch_add(&fresh_counter_srv, 1);
    char r[8];
    ids_random(r, sizeof r);
    return ts_strf("ctxd_t_%ld_%d_%02x%02x%02x", (long)getpid(), n, (unsigned char)r[0],
                   (unsigned char)r[1], (unsigned char)r[2]);
}

/* The URL with its database name replaced by `db` (query options kept). */
static char *with_database(const char *url, const char *old, const char *db)
{
    const char *q = strchr(url, '?');
    size_t head = q ? (size_t)(q - url) : strlen(url);
    size_t olen = strlen(old);
    if (head < olen || strncmp(url + head - olen, old, olen) != 0)
        return NULL;
    return ts_strf("%.*s%s%s", (int)(head - olen), url, db, q ? q : "");
}

static PGconn *pg_admin(const db_url *u, err_t *e)
{
    const char *keys[] = {"host", "port", "user", "password", "dbname", "sslmode", NULL};
    char port[16];
    snprintf(port, sizeof port, "%d", u->port ? u->port : 5432);
    const char *sslmode = db_url_opt_get(u, "sslmode");
    const char *vals[] = {u->host,
                          port,
                          u->user,
                          u->password,
                          u->database ? u->database : "postgres",
                          sslmode ? sslmode : "prefer",
                          NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 0);
    if (PQstatus(c) != CONNECTION_OK) {
        err_set(e, ERR_CONN, "store tests: cannot reach PostgreSQL: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

static err_code pg_run(const db_url *u, const char *sql, err_t *e)
{
    PGconn *c = pg_admin(u, e);
    if (!c)
        return ERR_CONN;
    PGresult *r = PQexec(c, sql);
    err_code rc = PQresultStatus(r) == PGRES_COMMAND_OK
                      ? ERR_OK
                      : err_set(e, ERR_FATAL, "store tests: %s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return rc;
}

static err_code my_run(const db_url *u, const char *sql, err_t *e)
{
    MYSQL *m = mysql_init(NULL);
    if (!mysql_real_connect(m, u->host, u->user, u->password, NULL,
                            (unsigned)(u->port ? u->port : 3306), NULL, 0)) {
        err_set(e, ERR_CONN, "store tests: cannot reach MariaDB: %s", mysql_error(m));
        mysql_close(m);
        return ERR_CONN;
    }
    err_code rc = mysql_query(m, sql) == 0
                      ? ERR_OK
                      : err_set(e, ERR_FATAL, "store tests: %s: %s", sql, mysql_error(m));
    mysql_close(m);
    return rc;
}

/* Creates a fresh database on the server `url` names; fills out->url/server_db. */
static err_code server_fresh(const char *url, const db_url *u, tb_db *out, err_t *e)
{
    if (!u->database)
        return err_set(e, ERR_INVALID, "store tests: the URL names no database");
    char *name = fresh_name();
    char *sql = ts_strf(
        "CREATE DATABASE %s%s", name,
        u->backend == DB_BACKEND_MYSQL ? " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" : "");
    err_code rc = u->backend == DB_BACKEND_POSTGRES ? pg_run(u, sql, e) : my_run(u, sql, e);
    free(sql);
    if (rc != ERR_OK) {
        free(name);
        return rc;
    }
    out->url = with_database(url, u->database, name);
    out->server_db = name;
    out->server_url = xstrdup(url);
    if (!out->url)
        return err_set(e, ERR_INVALID, "store tests: cannot place the database name in the URL");
    return ERR_OK;
}

static void server_drop(tb_db *d)
{
    db_url *u = NULL;
    err_t e;
    if (db_url_parse(d->server_url, &u, &e) != ERR_OK)
        return;
    char *sql =
        ts_strf(u->backend == DB_BACKEND_POSTGRES ? "DROP DATABASE IF EXISTS %s WITH (FORCE)"
                                                  : "DROP DATABASE IF EXISTS %s",
                d->server_db);
    if ((u->backend == DB_BACKEND_POSTGRES ? pg_run(u, sql, &e) : my_run(u, sql, &e)) != ERR_OK)
        fprintf(stderr, "%s\n", e.msg);
    free(sql);
    db_url_free(u);
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

err_code tb_fresh(const char *url, tb_db *out, err_t *e)
{
    return tb_fresh_with(url, STORE_OPEN_MIGRATE, out, e);
}

err_code tb_fresh_with(const char *url, store_open_mode mode, tb_db *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    db_url *u = NULL;
    err_code rc = db_url_parse(url, &u, e);
    if (rc != ERR_OK)
        return rc;
    db_backend b = u->backend;
    bool memory = u->memory;
    char *path = xstrdup(u->path);

    if (b == DB_BACKEND_POSTGRES || b == DB_BACKEND_MYSQL) {
        free(path);
        rc = server_fresh(url, u, out, e);
        db_url_free(u);
        if (rc == ERR_OK)
            rc = store_open_with(out->url, NULL, mode, &out->st, e);
        if (rc != ERR_OK)
            tb_drop(out);
        return rc;
    }
    if (b == DB_BACKEND_MONGODB) {
        free(path);
        char *name = fresh_name();
        const char *old = u->database ? u->database : "";
        out->url = u->database ? with_database(url, old, name) : NULL;
        db_url_free(u);
        out->server_db = name;
        out->server_url = xstrdup(url);
        out->mongo = true;
        if (!out->url) {
            tb_drop(out);
            return err_set(e, ERR_INVALID,
                           "store tests: the MongoDB URL names no database "
                           "(mongodb://host:port/DB)");
        }
        rc = store_open_with(out->url, NULL, mode, &out->st, e);
        if (rc != ERR_OK)
            tb_drop(out);
        return rc;
    }
    db_url_free(u);
    if (b != DB_BACKEND_SQLITE) {
        free(path);
        return err_set(e, ERR_INVALID,
                       "store tests: no fresh-database setup for %s yet "
                       "(add it to tests/store/backend_setup.c)",
                       db_backend_name(b));
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
    rc = store_open_with(out->url, NULL, mode, &out->st, e);
    if (rc != ERR_OK)
        tb_drop(out);
    return rc;
}

void tb_drop(tb_db *d)
{
    if (d->mongo && d->st) {
        err_t e;
        if (store_drop(d->st, &e) != ERR_OK)
            fprintf(stderr, "%s\n", e.msg);
    }
    store_close(d->st);
    d->st = NULL;
    if (d->file)
        remove_sqlite_files(d->file);
    if (d->server_db && !d->mongo)
        server_drop(d);
    free(d->url);
    free(d->file);
    free(d->server_db);
    free(d->server_url);
    memset(d, 0, sizeof *d);
}

static int setup_mode(void **state, store_open_mode mode)
{
    const char *url = g_last_url ? g_last_url : "sqlite:///:memory:";
    tb_db *d = xcalloc(1, sizeof *d);
    err_t e;
    err_clear(&e);
    if (tb_fresh_with(url, mode, d, &e) != ERR_OK) {
        fprintf(stderr, "fresh database for %s: %s\n", url, e.msg);
        free(d);
        return -1;
    }
    *state = d;
    return 0;
}

int tb_setup(void **state)
{
    return setup_mode(state, STORE_OPEN_MIGRATE);
}

int tb_setup_empty(void **state)
{
    return setup_mode(state, STORE_OPEN_ANY);
}

int tb_teardown(void **state)
{
    tb_drop(*state);
    free(*state);
    return 0;
}
