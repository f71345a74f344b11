/* tests/support/db_test.c — see db_test.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "db_test.h"
#include "test_support.h"

int tdb_setup(void **state)
{
    tdb_fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->dir = ts_mkdtemp("db");
    f->path = ts_path(f->dir, "test.db");
    f->url = ts_strf("sqlite:///%s", f->path);
    *state = f;
    return 0;
}

int tdb_teardown(void **state)
{
    tdb_fixture *f = *state;
    chmod(f->dir, 0755);
    ts_rm_rf(f->dir);
    free(f->dir);
    free(f->path);
    free(f->url);
    free(f);
    return 0;
}

db_t *tdb_open_ok(const char *url, const db_opts *o)
{
    db_t *db = NULL;
    err_t e = {0};
    if (db_open(url, o, &db, &e) != ERR_OK)
        fail_msg("db_open(%s): %s", url, e.msg);
    return db;
}

void tdb_exec_ok(db_conn *c, const char *sql)
{
    err_t e = {0};
    if (db_exec(c, sql, &e) != ERR_OK)
        fail_msg("db_exec(%s): %s", sql, e.msg);
}

const char *tdb_q1(db_conn *c, const char *sql)
{
    static char buf[256];
    db_stmt *s = NULL;
    err_t e = {0};
    if (db_prepare(c, sql, &s, &e) != ERR_OK)
        fail_msg("prepare %s: %s", sql, e.msg);
    int rc = db_step(s, &e);
    if (rc != DB_ROW)
        fail_msg("step %s: %d %s", sql, rc, e.msg);
    const char *t = db_col_text(s, 0, NULL);
    snprintf(buf, sizeof buf, "%s", t ? t : "(null)");
    db_stmt_done(s);
    return buf;
}

int64_t tdb_q1i(db_conn *c, const char *sql)
{
    db_stmt *s = NULL;
    err_t e = {0};
    if (db_prepare(c, sql, &s, &e) != ERR_OK)
        fail_msg("prepare %s: %s", sql, e.msg);
    if (db_step(s, &e) != DB_ROW)
        fail_msg("step %s: %s", sql, e.msg);
    int64_t v = db_col_int64(s, 0);
    db_stmt_done(s);
    return v;
}

int64_t tdb_count(db_t *db, const char *table)
{
    db_conn *c = NULL;
    err_t e = {0};
    if (db_acquire(db, DB_READ, &c, &e) != ERR_OK)
        fail_msg("acquire: %s", e.msg);
    char *sql = ts_strf("SELECT count(*) FROM %s", table);
    int64_t n = tdb_q1i(c, sql);
    free(sql);
    db_release(c);
    return n;
}
