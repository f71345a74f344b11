/* tests/pg/pg_test.c — see pg_test.h: fixture URLs, fresh databases and admin
 * queries for the PostgreSQL tests, with libpq directly.
 * Must not: go through ctxd's db/ layer (it is what the tests check). */
#include "pg_test.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libpq-fe.h>
#include "test_support.h"
#include "base/ids.h"
#include "base/sbuf.h"
#include "db/url.h"

char *pgt_var(const char *server, const char *var)
{
    char *v = ts_server_var(server, var);
    if (!v) {
        fprintf(stderr, "pg tests: the %s fixture published no %s (run through ctest, or set %s)\n",
                server, var, var);
        exit(1);
    }
    return v;
}

char *pgt_url_with(const char *url, const char *db, const char *opts)
{
    db_url *u = NULL;
    err_t e;
    if (db_url_parse(url, &u, &e) != ERR_OK) {
        fprintf(stderr, "pg tests: %s\n", e.msg);
        exit(1);
    }
    const char *q = strchr(url, '?');
    size_t head = q ? (size_t)(q - url) : strlen(url);
    const char *slash = NULL;
    for (const char *p = url + head; p > url; p--)
        if (p[-1] == '/') {
            slash = p - 1;
            break;
        }
    char *out = ts_strf("%.*s/%s%s%s%s", (int)(slash ? slash - url : (long)head), url,
                        db ? db : (u->database ? u->database : ""), q ? q : "",
                        opts && *opts ? (q ? "&" : "?") : "", opts && *opts ? opts : "");
    db_url_free(u);
    return out;
}

static PGconn *pgt_connect(const char *url)
{
    db_url *u = NULL;
    err_t e;
    if (db_url_parse(url, &u, &e) != ERR_OK) {
        fprintf(stderr, "pg tests: %s\n", e.msg);
        exit(1);
    }
    char port[16];
    snprintf(port, sizeof port, "%d", u->port ? u->port : 5432);
    const char *keys[] = {"host", "port", "user", "password", "dbname", "sslmode", NULL};
    const char *vals[] = {u->host, port, u->user, u->password, u->database, "disable", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 0);
    db_url_free(u);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "pg tests: cannot connect: %s\n", PQerrorMessage(c));
        exit(1);
    }
    PQsetNoticeProcessor(c, NULL, NULL);
    return c;
}

char *pgt_query(const char *url, const char *sql)
{
    PGconn *c = pgt_connect(url);
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fprintf(stderr, "pg tests: %s: %s\n", sql, PQerrorMessage(c));
        exit(1);
    }
    char *out = xstrdup(st == PGRES_TUPLES_OK && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    PQfinish(c);
    return out;
}

static atomic_int counter;

char *pgt_create_db(const char *url)
{
    unsigned char r[3];
    ids_random(r, sizeof r);
    char *name = ts_strf("ctxd_pg_%ld_%d_%02x%02x%02x", (long)getpid(),
                         atomic_fetch_add(&counter, 1), r[0], r[1], r[2]);
    char *sql = ts_strf("CREATE DATABASE %s", name);
    free(pgt_query(url, sql));
    free(sql);
    return name;
}

void pgt_drop_db(const char *url, const char *name)
{
    PGconn *c = pgt_connect(url);
    char *sql = ts_strf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fprintf(stderr, "pg tests: %s: %s\n", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    free(sql);
}
