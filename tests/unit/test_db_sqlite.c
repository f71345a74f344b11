/* tests/unit/test_db_sqlite.c — the db/ core over the SQLite driver, on a file in
 * a temporary directory and on :memory:: open/close, PRAGMAs, bind/step/column
 * round trips for every type (times to the microsecond, NULLs), the statement
 * cache, transactions, rollback on release, error classes (unique, constraint,
 * syntax, busy), bad inputs (missing directory, read-only file, mode=ro, a file
 * that is not a database — left unchanged byte for byte), options, metrics.
 * Must not: sleep to make timing assertions, or depend on test order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/conf.h"
#include "base/log.h"
#include "db/db.h"
#include "db_test.h"

/* ---- helpers ----------------------------------------------------------------- */

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)len + 1);
    assert_int_equal(fread(buf, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    *n = (size_t)len;
    return buf;
}

/* ---- open / close / pragmas ---------------------------------------------------- */

static void test_open_close_file(void **state)
{
    tdb_fixture *f = *state;
    db_t *db = tdb_open_ok(f->url, NULL);
    assert_int_equal(db_backend_of(db), DB_BACKEND_SQLITE);
    assert_string_equal(db_dialect(db), "sqlite");
    unsigned caps = db_caps(db);
    assert_true(caps & DB_CAP_SINGLE_WRITER);
    assert_true(caps & DB_CAP_RETURNING);
    assert_true(caps & DB_CAP_UPSERT_ON_CONFLICT);
    assert_true(caps & DB_CAP_PARTIAL_INDEX);
    char ver[64];
    err_t e = {0};
    assert_int_equal(db_server_version(db, ver, sizeof ver, &e), ERR_OK);
    assert_true(strncmp(ver, "SQLite 3.", 9) == 0);
    int64_t rtt = -1;
    assert_int_equal(db_ping(db, &rtt, &e), ERR_OK);
    assert_true(rtt >= 0);
    assert_string_equal(db_url_text_masked(db), f->url);
    db_close(db);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0); /* the file was created */
    db_close(NULL);
}

static void test_open_close_memory(void **state)
{
    (void)state;
    db_t *db = tdb_open_ok("sqlite:///:memory:", NULL);
    db_conn *w = NULL;
    err_t e = {0};
    assert_int_equal(db_acquire(db, DB_WRITE, &w, &e), ERR_OK);
    tdb_exec_ok(w, "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (42);");
    db_release(w);
    /* the same (single, shared) database is seen by a DB_READ borrower */
    db_conn *r = NULL;
    assert_int_equal(db_acquire(db, DB_READ, &r, &e), ERR_OK);
    assert_int_equal(tdb_q1i(r, "SELECT x FROM t"), 42);
    db_release(r);
    db_pool_stats ps;
    db_get_pool_stats(db, &ps);
    assert_int_equal(ps.size, 1);
    assert_int_equal(ps.max_overflow, 0);
    db_close(db);
}

static void test_pragmas_file(void **state)
{
    tdb_fixture *f = *state;
    char url[800];
    snprintf(url, sizeof url, "%s?busy_timeout=1234", f->url);
    db_t *db = tdb_open_ok(url, NULL);
    db_conn *w = NULL, *r = NULL;
    err_t e = {0};
    assert_int_equal(db_acquire(db, DB_WRITE, &w, &e), ERR_OK);
    assert_string_equal(tdb_q1(w, "PRAGMA journal_mode"), "wal");
    assert_int_equal(tdb_q1i(w, "PRAGMA foreign_keys"), 1);
    assert_int_equal(tdb_q1i(w, "PRAGMA synchronous"), 1); /* NORMAL */
    assert_int_equal(tdb_q1i(w, "PRAGMA busy_timeout"), 1234);
    assert_int_equal(tdb_q1i(w, "PRAGMA temp_store"), 2); /* MEMORY */
    assert_true(tdb_q1i(w, "PRAGMA cache_size") < 0);     /* in KiB */
    assert_int_equal(tdb_q1i(w, "PRAGMA query_only"), 0);
    db_release(w);
    assert_int_equal(db_acquire(db, DB_READ, &r, &e), ERR_OK);
    assert_int_equal(tdb_q1i(r, "PRAGMA foreign_keys"), 1);
    assert_int_equal(tdb_q1i(r, "PRAGMA busy_timeout"), 1234);
    assert_int_equal(tdb_q1i(r, "PRAGMA query_only"), 1);
    assert_string_equal(tdb_q1(r, "PRAGMA journal_mode"), "wal");
    /* a reader refuses writes: the caller asked for DB_READ */
    db_stmt *s = NULL;
    assert_int_equal(db_prepare(r, "CREATE TABLE nope (x)", &s, &e), ERR_OK);
    assert_int_equal(db_step(s, &e), ERR_IO);
    db_stmt_done(s);
    db_release(r);
    db_close(db);
}

static void test_pragmas_memory(void **state)
{
    (void)state;
    db_t *db = tdb_open_ok("sqlite:///:memory:", NULL);
    db_conn *c = NULL;
    err_t e = {0};
    assert_int_equal(db_acquire(db, DB_READ, &c, &e), ERR_OK);
    assert_string_equal(tdb_q1(c, "PRAGMA journal_mode"), "memory");
    assert_int_equal(tdb_q1i(c, "PRAGMA foreign_keys"), 1);
    assert_int_equal(tdb_q1i(c, "PRAGMA temp_store"), 2);
    assert_int_equal(tdb_q1i(c, "PRAGMA busy_timeout"), 5000);
    assert_int_equal(tdb_q1i(c, "PRAGMA query_only"), 0);
    db_release(c);
    db_close(db);
}

/* ---- bind / step / column ------------------------------------------------------- */

static void roundtrip(const char *url)
{
    db_t *db = tdb_open_ok(url, NULL);
    db_conn *c = NULL;
    err_t e = {0};
    assert_int_equal(db_acquire(db, DB_WRITE, &c, &e), ERR_OK);
    tdb_exec_ok(c, "CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, d REAL, b INTEGER, "
                   "s TEXT, j TEXT, ts TEXT, bl BLOB)");
    const utc_us t1 = 1763806117123456LL; /* 2025-11-22T10:08:37.123456Z */
    const utc_us t2 = -86400000001LL;     /* before the epoch, odd microsecond */
    const char json[] = "{\"k\":[1,2,{\"x\":null}]}";
    const unsigned char blob[] = {0, 1, 2, 0xff, 0};
    const char text_nul[] = {'a', 0, 'b'};

    db_stmt *s = NULL;
    assert_int_equal(
        db_prepare(c, "INSERT INTO t (i, d, b, s, j, ts, bl) VALUES (?, ?, ?, ?, ?, ?, ?)", &s, &e),
        ERR_OK);
    db_bind_int64(s, 1, INT64_MIN);
    db_bind_double(s, 2, 3.25);
    db_bind_bool(s, 3, true);
    db_bind_text(s, 4, "héllo ✓", -1);
    db_bind_json(s, 5, json, -1);
    db_bind_time(s, 6, t1);
    db_bind_blob(s, 7, blob, sizeof blob);
    assert_int_equal(db_step(s, &e), DB_DONE);
    assert_int_equal(db_changes(s), 1);
    int64_t id1 = db_last_insert_id(c);
    assert_true(id1 > 0);
    db_stmt_done(s);

    /* second row: NULLs everywhere (NULL pointers bind NULL), explicit lengths */
    assert_int_equal(
        db_prepare(c, "INSERT INTO t (i, d, b, s, j, ts, bl) VALUES (?, ?, ?, ?, ?, ?, ?)", &s, &e),
        ERR_OK);
    db_bind_null(s, 1);
    db_bind_null(s, 2);
    db_bind_bool(s, 3, false);
    db_bind_text(s, 4, NULL, -1);
    db_bind_json(s, 5, NULL, 0);
    db_bind_null(s, 6);
    db_bind_blob(s, 7, NULL, 0);
    assert_int_equal(db_step(s, &e), DB_DONE);
    int64_t id2 = db_last_insert_id(c);
    db_stmt_done(s);

    /* third row: a text with an embedded NUL (explicit length), pre-epoch time */
    assert_int_equal(db_prepare(c, "INSERT INTO t (i, s, ts, j) VALUES (?, ?, ?, ?)", &s, &e),
                     ERR_OK);
    db_bind_int64(s, 1, INT64_MAX);
    db_bind_text(s, 2, text_nul, 3);
    db_bind_time(s, 3, t2);
    db_bind_json(s, 4, "[1,2,3] trailing", 7);
    assert_int_equal(db_step(s, &e), DB_DONE);
    int64_t id3 = db_last_insert_id(c);
    db_stmt_done(s);

    assert_int_equal(db_prepare(c, "SELECT i, d, b, s, j, ts, bl, id FROM t WHERE id = ?", &s, &e),
                     ERR_OK);
    assert_int_equal(db_col_count(s), 8);
    assert_string_equal(db_col_name(s, 0), "i");
    assert_string_equal(db_col_name(s, 7), "id");
    db_bind_int64(s, 1, id1);
    assert_int_equal(db_step(s, &e), DB_ROW);
    size_t n = 0;
    assert_false(db_col_null(s, 0));
    assert_true(db_col_int64(s, 0) == INT64_MIN);
    assert_true(db_col_double(s, 1) == 3.25);
    assert_true(db_col_bool(s, 2));
    assert_string_equal(db_col_text(s, 3, &n), "héllo ✓");
    assert_int_equal(n, strlen("héllo ✓"));
    assert_string_equal(db_col_json(s, 4, &n), json);
    assert_int_equal(n, strlen(json));
    assert_true(db_col_time(s, 5) == t1);
    assert_string_equal(db_col_text(s, 5, NULL), "2025-11-22T10:08:37.123456Z");
    const unsigned char *bp = db_col_blob(s, 6, &n);
    assert_int_equal(n, sizeof blob);
    assert_memory_equal(bp, blob, sizeof blob);
    assert_int_equal(db_step(s, &e), DB_DONE);
    db_stmt_done(s);

    /* same cached statement, rebound */
    db_stmt *s2 = NULL;
    assert_int_equal(db_prepare(c, "SELECT i, d, b, s, j, ts, bl, id FROM t WHERE id = ?", &s2, &e),
                     ERR_OK);
    assert_ptr_equal(s, s2);
    db_bind_int64(s2, 1, id2);
    assert_int_equal(db_step(s2, &e), DB_ROW);
    for (int i = 0; i < 7; i++) {
        if (i == 2)
            continue;
        assert_true(db_col_null(s2, i));
    }
    assert_false(db_col_bool(s2, 2));
    assert_null(db_col_text(s2, 3, &n));
    assert_int_equal(n, 0);
    assert_null(db_col_json(s2, 4, NULL));
    assert_true(db_col_time(s2, 5) == 0);
    assert_int_equal(db_col_int64(s2, 0), 0);
    db_stmt_done(s2);

    assert_int_equal(db_prepare(c, "SELECT i, s, ts, j FROM t WHERE id = ?", &s, &e), ERR_OK);
    db_bind_int64(s, 1, id3);
    assert_int_equal(db_step(s, &e), DB_ROW);
    assert_true(db_col_int64(s, 0) == INT64_MAX);
    const char *tp = db_col_text(s, 1, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(tp, text_nul, 3);
    assert_true(db_col_time(s, 2) == t2);
    assert_string_equal(db_col_json(s, 3, NULL), "[1,2,3]");
    db_stmt_done(s);

    /* UPDATE changes count */
    assert_int_equal(db_prepare(c, "UPDATE t SET b = 0", &s, &e), ERR_OK);
    assert_int_equal(db_step(s, &e), DB_DONE);
    assert_int_equal(db_changes(s), 3);
    db_stmt_done(s);

    db_release(c);
    db_close(db);
}

static void test_roundtrip_file(void **state)
{
    tdb_fixture *f = *state;
    roundtrip(f->url);
}

static void test_roundtrip_memory(void **state)
{
    (void)state;
    roundtrip("sqlite:///:memory:");
}

static void test_stmt_cache(void **state)
{
    tdb_fixture *f = *state;
    db_t *db = tdb_open_ok(f->url, NULL);
    db_conn *c = NULL;
    err_t e = {0};
    assert_int_equal(db_acquire(db, DB_WRITE, &c, &e), ERR_OK);
    tdb_exec_ok(c, "CREATE TABLE t (x INTEGER)");
    const char *sql = "SELECT count(*) FROM t WHERE x > ?";
    db_stmt *a = NULL, *b = NULL, *nested = NULL;
    assert_int_equal(db_prepare(c, sql, &a, &e), ERR_OK);
    db_bind_int64(a, 1, 0);
    assert_int_equal(db_step(a, &e), DB_ROW);
    /* the same SQL while the first is still in use: a separate statement */
    assert_int_equal(db_prepare(c, sql, &nested, &e), ERR_OK);
    assert_ptr_not_equal(a, nested);
    db_bind_int64(nested, 1, 5);
    assert_int_equal(db_step(nested, &e), DB_ROW);
    db_stmt_done(nested);
    db_stmt_done(a);
    /* a different buffer with the same text hits the cache */
    char copy[128];
    snprintf(copy, sizeof copy, "%s", sql);
    assert_int_equal(db_prepare(c, copy, &b, &e), ERR_OK);
    assert_ptr_equal(a, b);
    /* returned reset and unbound: the old binding is gone (x > NULL -> 0 rows) */
    tdb_exec_ok(c, "INSERT INTO t VALUES (1)");
    assert_int_equal(db_step(b, &e), DB_ROW);
    assert_int_equal(db_col_int64(b, 0), 0);
    /* left in use: db_release resets it */
    db_release(c);
    assert_int_equal(db_acquire(db, DB_WRITE, &c, &e), ERR_OK);
    assert_int_equal(db_prepare(c, sql, &b, &e), ERR_OK);
    assert_ptr_equal(a, b); /* same writer connection, same cached stmt */
    db_bind_int64(b, 1, 0);
    assert_int_equal(db_step(b, &e), DB_ROW);
    assert_int_equal(db_col_int64(b, 0), 1);
    db_stmt_done(b);
    db_stmt_done(b); /* twice is harmless */
    db_release(c);
    db_close(db);
}

/* ---- transactions ------------------------------------------------------------------ */

static void tx_checks(const char *url)
{
    db_t *db = tdb_open_ok(url, NULL);
    db_conn *c = NULL;
    err_t e = {0};
    assert_int_equal(db_acquire(db, DB_WRITE, &c, &e), ERR_OK);
    tdb_exec_ok(c, "CREATE TABLE t (x INTEGER)");
    assert_false(db_in_tx(c));
    assert_int_equal(db_begin(c, &e), ERR_OK);
    assert_true(db_in_tx(c));
    assert_int_equal(db_begin(c, &e), ERR_INTERNAL); /* no nesting */
    tdb_exec_ok(c, "INSERT INTO t VALUES (1)");
    assert_int_equal(db_commit(c, &e), ERR_OK);
    assert_false(db_in_tx(c));
    assert_int_equal(db_begin(c, &e), ERR_OK);
    tdb_exec_ok(c, "INSERT INTO t VALUES (2)");
    db_rollback(c);
    assert_false(db_in_tx(c));
    assert_int_equal(tdb_q1i(c, "SELECT count(*) FROM t"), 1);
    /* rollback on release: an open transaction is not committed */
    assert_int_equal(db_begin(c, &e), ERR_OK);
    tdb_exec_ok(c, "INSERT INTO t VALUES (3)");
    db_release(c);
    assert_int_equal(db_acquire(db, DB_WRITE, &c, &e), ERR_OK);
    assert_false(db_in_tx(c));
    assert_int_equal(tdb_q1i(c, "SELECT count(*) FROM t"), 1);
    /* a raw BEGIN through db_exec is also rolled back on release */
    tdb_exec_ok(c, "BEGIN; INSERT INTO t VALUES (4);");
    assert_true(db_in_tx(c));
    db_release(c);
    assert_int_equal(db_acquire(db, DB_READ, &c, &e), ERR_OK);
    assert_int_equal(tdb_q1i(c, "SELECT count(*) FROM t"), 1);
    /* a read transaction on a reader */
    assert_int_equal(db_begin(c, &e), ERR_OK);
    assert_int_equal(tdb_q1i(c, "SELECT count(*) FROM t"), 1);
    assert_int_equal(db_commit(c, &e), ERR_OK);
    db_release(c);
    db_close(db);
}

static void test_tx_file(void **state)
{
    tdb_fixture *f = *state;
    tx_checks(f->url);
}

static void test_tx_memory(void **state)
{
    (void)state;
    tx_checks("sqlite:///:memory:");
}

/* ---- error classes ------------------------------------------------------------------ */

static void test_error_classes(void **state)
{
    tdb_fixture *f = *state;
    db_t *db = tdb_open_ok(f->url, NULL);
    db_conn *c = NULL;
    err_t e = {0};
    assert_int_equal(db_acquire(db, DB_WRITE, &c, &e), ERR_OK);
    tdb_exec_ok(c, "CREATE TABLE p (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL CHECK "
                   "(length(name) < 10));"
                   "CREATE TABLE ch (pid INTEGER NOT NULL REFERENCES p (id));"
                   "INSERT INTO p VALUES (1, 'a');");
    db_stmt *s = NULL;

    assert_int_equal(db_prepare(c, "INSERT INTO p (id, name) VALUES (?, ?)", &s, &e), ERR_OK);
    db_bind_int64(s, 1, 2);
    db_bind_text(s, 2, "a", -1);
    assert_int_equal(db_step(s, &e), ERR_UNIQUE);
    assert_int_equal(e.code, ERR_UNIQUE);
    assert_non_null(strstr(e.msg, "UNIQUE"));
    db_stmt_done(s);
    assert_int_equal(db_prepare(c, "INSERT INTO p (id, name) VALUES (?, ?)", &s, &e), ERR_OK);
    db_bind_int64(s, 1, 1); /* primary key */
    db_bind_text(s, 2, "b", -1);
    assert_int_equal(db_step(s, &e), ERR_UNIQUE);
    db_stmt_done(s);
    assert_int_equal(db_prepare(c, "INSERT INTO p (id, name) VALUES (?, ?)", &s, &e), ERR_OK);
    db_bind_int64(s, 1, 3);
    db_bind_null(s, 2); /* NOT NULL */
    assert_int_equal(db_step(s, &e), ERR_CONSTRAINT);
    db_stmt_done(s);
    assert_int_equal(db_prepare(c, "INSERT INTO p (id, name) VALUES (?, ?)", &s, &e), ERR_OK);
    db_bind_int64(s, 1, 4);
    db_bind_text(s, 2, "much too long", -1); /* CHECK */
    assert_int_equal(db_step(s, &e), ERR_CONSTRAINT);
    db_stmt_done(s);
    assert_int_equal(db_prepare(c, "INSERT INTO ch VALUES (?)", &s, &e), ERR_OK);
    db_bind_int64(s, 1, 99); /* foreign key (foreign_keys=ON) */
    assert_int_equal(db_step(s, &e), ERR_CONSTRAINT);
    db_stmt_done(s);

    assert_int_equal(db_prepare(c, "SELEC 1", &s, &e), ERR_SYNTAX);
    assert_null(s);
    assert_non_null(strstr(e.msg, "SELEC 1")); /* names the statement */
    assert_int_equal(db_prepare(c, "SELECT * FROM no_such_table", &s, &e), ERR_SYNTAX);
    assert_int_equal(db_prepare(c, "SELECT no_such_col FROM p", &s, &e), ERR_SYNTAX);
    assert_int_equal(db_exec(c, "CREATE TABLE oops (", &e), ERR_SYNTAX);
    assert_int_equal(db_prepare(c, "SELECT 1; SELECT 2", &s, &e), ERR_INVALID);
    assert_int_equal(db_prepare(c, "  -- nothing\n", &s, &e), ERR_INVALID);
    assert_int_equal(db_prepare(c, "SELECT 1; -- trailing comment", &s, &e), ERR_OK);
    db_stmt_done(s);

    /* a bind error is reported by the next step */
    assert_int_equal(db_prepare(c, "SELECT ?", &s, &e), ERR_OK);
    db_bind_int64(s, 2, 1);
    assert_int_equal(db_step(s, &e), ERR_INTERNAL);
    assert_non_null(strstr(e.msg, "parameter 2"));
    db_stmt_done(s);
    /* and does not stick to the cached statement */
    assert_int_equal(db_prepare(c, "SELECT ?", &s, &e), ERR_OK);
    db_bind_int64(s, 1, 7);
    assert_int_equal(db_step(s, &e), DB_ROW);
    assert_int_equal(db_col_int64(s, 0), 7);
    db_stmt_done(s);
    db_release(c);

    db_query_stats qs;
    db_get_query_stats(db, &qs);
    assert_true(qs.errors_by_class[ERR_UNIQUE] >= 2);
    assert_true(qs.errors_by_class[ERR_CONSTRAINT] >= 3);
    assert_true(qs.errors_by_class[ERR_SYNTAX] >= 4);
    assert_true(qs.errors >= 9);
    db_close(db);
}

static void test_busy_class(void **state)
{
    tdb_fixture *f = *state;
    char url[800];
    snprintf(url, sizeof url, "%s?busy_timeout=20", f->url);
    db_t *a = tdb_open_ok(url, NULL);
    db_t *b = tdb_open_ok(url, NULL); /* a second "process" on the same file */
    db_conn *ca = NULL, *cb = NULL;
    err_t e = {0};
    assert_int_equal(db_acquire(a, DB_WRITE, &ca, &e), ERR_OK);
    tdb_exec_ok(ca, "CREATE TABLE t (x INTEGER)");
    assert_int_equal(db_begin(ca, &e), ERR_OK); /* BEGIN IMMEDIATE: write lock */
    tdb_exec_ok(ca, "INSERT INTO t VALUES (1)");
    assert_int_equal(db_acquire(b, DB_WRITE, &cb, &e), ERR_OK);
    assert_int_equal(db_begin(cb, &e), ERR_BUSY); /* after busy_timeout */
    assert_true(err_retryable(e.code));
    assert_false(db_in_tx(cb));
    db_stmt *s = NULL;
    assert_int_equal(db_prepare(cb, "INSERT INTO t VALUES (2)", &s, &e), ERR_OK);
    assert_int_equal(db_step(s, &e), ERR_BUSY); /* autocommit write too */
    db_stmt_done(s);
    /* readers are not blocked by the writer (WAL) and see the last commit */
    db_conn *rb = NULL;
    assert_int_equal(db_acquire(b, DB_READ, &rb, &e), ERR_OK);
    assert_int_equal(tdb_q1i(rb, "SELECT count(*) FROM t"), 0);
    db_release(rb);
    assert_int_equal(db_commit(ca, &e), ERR_OK);
    assert_int_equal(db_begin(cb, &e), ERR_OK);
    tdb_exec_ok(cb, "INSERT INTO t VALUES (2)");
    assert_int_equal(db_commit(cb, &e), ERR_OK);
    db_release(cb);
    assert_int_equal(tdb_q1i(ca, "SELECT count(*) FROM t"), 2);
    db_release(ca);
    db_query_stats qs;
    db_get_query_stats(b, &qs);
    assert_true(qs.errors_by_class[ERR_BUSY] >= 2);
    db_close(b);
    db_close(a);
}

/* ---- bad inputs ------------------------------------------------------------------------ */

static void test_bad_missing_dir(void **state)
{
    tdb_fixture *f = *state;
    char url[800];
    snprintf(url, sizeof url, "sqlite:///%s/no/such/dir/x.db", f->dir);
    db_t *db = NULL;
    err_t e = {0};
    assert_int_equal(db_open(url, NULL, &db, &e), ERR_IO);
    assert_null(db);
    assert_non_null(strstr(e.msg, "does not exist"));
    assert_non_null(strstr(e.msg, "/no/such/dir"));
}

static void test_bad_directory_path(void **state)
{
    tdb_fixture *f = *state;
    char url[800];
    snprintf(url, sizeof url, "sqlite:///%s", f->dir);
    db_t *db = NULL;
    err_t e = {0};
    assert_int_equal(db_open(url, NULL, &db, &e), ERR_IO);
    assert_non_null(strstr(e.msg, "directory"));
}

static void make_db_with_row(const char *url)
{
    db_t *db = tdb_open_ok(url, NULL);
    db_conn *c = NULL;
    err_t e = {0};
    assert_int_equal(db_acquire(db, DB_WRITE, &c, &e), ERR_OK);
    tdb_exec_ok(c, "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (7);");
    db_release(c);
    db_close(db);
}

static void test_bad_readonly_file(void **state)
{
    tdb_fixture *f = *state;
    make_db_with_row(f->url);
    assert_int_equal(chmod(f->path, 0444), 0);
    if (geteuid() == 0) {
        /* root ignores file permissions: SQLite would open it read-write, so
         * there is nothing to refuse. ?mode=ro is covered by test_mode_ro. */
        skip();
    }
    db_t *db = NULL;
    err_t e = {0};
    assert_int_equal(db_open(f->url, NULL, &db, &e), ERR_IO);
    assert_null(db);
    assert_non_null(strstr(e.msg, "read-only"));
    assert_non_null(strstr(e.msg, f->path));
    /* with ?mode=ro it opens and reads */
    char url[800];
    snprintf(url, sizeof url, "%s?mode=ro", f->url);
    db = tdb_open_ok(url, NULL);
    db_conn *c = NULL;
    assert_int_equal(db_acquire(db, DB_READ, &c, &e), ERR_OK);
    assert_int_equal(tdb_q1i(c, "SELECT x FROM t"), 7);
    db_release(c);
    db_close(db);
}

static void test_mode_ro(void **state)
{
    tdb_fixture *f = *state;
    char url[800];
    snprintf(url, sizeof url, "%s?mode=ro", f->url);
    db_t *db = NULL;
    err_t e = {0};
    /* mode=ro never creates the file */
    assert_int_equal(db_open(url, NULL, &db, &e), ERR_IO);
    assert_non_null(strstr(e.msg, "does not exist"));
    struct stat st;
    assert_int_equal(stat(f->path, &st), -1);
    make_db_with_row(f->url);
    db = tdb_open_ok(url, NULL);
    db_conn *c = NULL;
    assert_int_equal(db_acquire(db, DB_READ, &c, &e), ERR_OK);
    assert_int_equal(tdb_q1i(c, "SELECT x FROM t"), 7);
    db_release(c);
    assert_int_equal(db_acquire(db, DB_WRITE, &c, &e), ERR_OK);
    assert_int_equal(tdb_q1i(c, "SELECT x FROM t"), 7);
    assert_int_equal(db_exec(c, "INSERT INTO t VALUES (8)", &e), ERR_IO); /* read-only */
    db_release(c);
    db_close(db);
    snprintf(url, sizeof url, "%s?mode=bogus", f->url);
    assert_int_equal(db_open(url, NULL, &db, &e), ERR_INVALID);
    assert_non_null(strstr(e.msg, "mode=bogus"));
}

/* ?synchronous= picks PRAGMA synchronous on every connection (NORMAL by default,
 * FULL on request, any case); another value or a misspelt key is refused naming
 * it, before the file is created. */
static void test_synchronous_option(void **state)
{
    tdb_fixture *f = *state;
    static const struct {
        const char *query;
        int want; /* PRAGMA synchronous: 1 NORMAL, 2 FULL */
    } ok[] = {{"", 1},
              {"?synchronous=normal", 1},
              {"?synchronous=FULL", 2},
              {"?synchronous=Full&mode=rwc", 2}};
    char url[900];
    err_t e = {0};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        snprintf(url, sizeof url, "%s%s", f->url, ok[i].query);
        db_t *db = tdb_open_ok(url, NULL);
        db_conn *c = NULL;
        assert_int_equal(db_acquire(db, DB_WRITE, &c, &e), ERR_OK);
        assert_int_equal(tdb_q1i(c, "PRAGMA synchronous"), ok[i].want);
        db_release(c);
        assert_int_equal(db_acquire(db, DB_READ, &c, &e), ERR_OK);
        assert_int_equal(tdb_q1i(c, "PRAGMA synchronous"), ok[i].want);
        db_release(c);
        db_close(db);
    }
    assert_int_equal(unlink(f->path), 0);
    static const struct {
        const char *query, *named; /* the message names the option */
    } bad[] = {{"?synchronous=off", "synchronous=off"},
               {"?synchronous=", "synchronous= "},
               {"?synchronous=2", "synchronous=2"},
               {"?synchronous=extra", "synchronous=extra"},
               {"?synchronus=full", "'synchronus'"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(url, sizeof url, "%s%s", f->url, bad[i].query);
        db_t *db = NULL;
        assert_int_equal(db_open(url, NULL, &db, &e), ERR_INVALID);
        assert_null(db);
        assert_non_null(strstr(e.msg, bad[i].named));
        struct stat st;
        assert_int_equal(stat(f->path, &st), -1); /* nothing created */
    }
    snprintf(url, sizeof url, "%s?synchronous=off", f->url);
    db_t *db = NULL;
    assert_int_equal(db_open(url, NULL, &db, &e), ERR_INVALID);
    assert_non_null(strstr(e.msg, "normal or full"));
}

static void not_a_db(const char *path, const char *url, const void *garbage, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(garbage, 1, n, fp), n);
    fclose(fp);
    db_t *db = NULL;
    err_t e = {0};
    assert_int_equal(db_open(url, NULL, &db, &e), ERR_INVALID);
    assert_null(db);
    assert_non_null(strstr(e.msg, "not an SQLite database"));
    assert_non_null(strstr(e.msg, path));
    size_t m = 0;
    unsigned char *after = slurp(path, &m);
    assert_int_equal(m, n);
    assert_memory_equal(after, garbage, n);
    free(after);
    char side[1200];
    struct stat st;
    snprintf(side, sizeof side, "%s-wal", path);
    assert_int_equal(stat(side, &st), -1); /* no WAL created beside it */
    snprintf(side, sizeof side, "%s-journal", path);
    assert_int_equal(stat(side, &st), -1);
}

static void test_not_a_database(void **state)
{
    tdb_fixture *f = *state;
    unsigned char big[8192];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)(i * 7 + 3);
    not_a_db(f->path, f->url, big, sizeof big);
    const char small[] = "hello, I am a text file\n";
    not_a_db(f->path, f->url, small, strlen(small));
    char url[800];
    snprintf(url, sizeof url, "%s?mode=ro", f->url);
    not_a_db(f->path, url, small, strlen(small));
}

static void test_bad_backend_and_options(void **state)
{
    (void)state;
    db_t *db = NULL;
    err_t e = {0};
    /* postgres is built in: nothing listens on port 1, so the connect is refused */
    assert_int_equal(db_open("postgresql://u:secret@127.0.0.1:1/ctxd", NULL, &db, &e), ERR_CONN);
    assert_non_null(strstr(e.msg, "postgresql://u:***@127.0.0.1:1/ctxd"));
    assert_null(strstr(e.msg, "secret"));
    /* mysql is built in too: refused the same way, URL masked */
    assert_int_equal(db_open("mysql://u:secret@127.0.0.1:1/d", NULL, &db, &e), ERR_CONN);
    assert_non_null(strstr(e.msg, "mysql://u:***@127.0.0.1:1/d"));
    assert_null(strstr(e.msg, "secret"));
    assert_int_equal(db_open("mongodb://u:secret@h/d", NULL, &db, &e), ERR_INVALID);
    assert_non_null(strstr(e.msg, "mongodb is not built into this ctxd yet"));
    assert_null(strstr(e.msg, "secret"));
    assert_int_equal(db_open("sqlite:///:memory:?pool_size=abc", NULL, &db, &e), ERR_INVALID);
    assert_non_null(strstr(e.msg, "pool_size=abc"));
    assert_int_equal(db_open("sqlite:///:memory:?pool_timeout=-1", NULL, &db, &e), ERR_INVALID);
    assert_non_null(strstr(e.msg, "pool_timeout"));
    assert_int_equal(db_open("sqlite:///:memory:?max_overflow=x", NULL, &db, &e), ERR_INVALID);
    assert_non_null(strstr(e.msg, "max_overflow"));
    assert_int_equal(db_open("", NULL, &db, &e), ERR_INVALID);
    assert_null(db);
}

static void test_opts_from(void **state)
{
    tdb_fixture *f = *state;
    db_opts o;
    db_opts_default(&o);
    assert_int_equal(o.pool_size, 5);
    assert_int_equal(o.max_overflow, 10);
    assert_int_equal(o.pool_timeout_ms, 30000);
    assert_int_equal(o.pool_recycle_s, 3600);
    assert_int_equal(o.busy_timeout_ms, 5000);
    assert_int_equal(o.slow_query_ms, 1000);
    assert_false(o.query_logging);

    setenv("DB_POOL_SIZE", "7", 1);
    setenv("DB_POOL_TIMEOUT", "3", 1);
    setenv("ENABLE_QUERY_LOGGING", "true", 1);
    setenv("SLOW_QUERY_THRESHOLD_MS", "250", 1);
    char envpath[700];
    snprintf(envpath, sizeof envpath, "%s/none.env", f->dir);
    conf_t *c = NULL;
    err_t e = {0};
    assert_int_equal(conf_load(&c, envpath, &e), ERR_OK);
    db_url *u = NULL;
    assert_int_equal(db_url_parse("sqlite:///x.db?pool_size=9&pool_timeout=0.25&busy_timeout=10"
                                  "&pool_pre_ping_idle_ms=0&max_overflow=0&pool_recycle=-1",
                                  &u, &e),
                     ERR_OK);
    assert_int_equal(db_opts_from(c, NULL, &o, &e), ERR_OK);
    assert_int_equal(o.pool_size, 7);
    assert_int_equal(o.pool_timeout_ms, 3000);
    assert_true(o.query_logging);
    assert_int_equal(o.slow_query_ms, 250);
    assert_int_equal(db_opts_from(c, u, &o, &e), ERR_OK); /* URL wins */
    assert_int_equal(o.pool_size, 9);
    assert_int_equal(o.pool_timeout_ms, 250);
    assert_int_equal(o.busy_timeout_ms, 10);
    assert_int_equal(o.preping_idle_ms, 0);
    assert_int_equal(o.max_overflow, 0);
    assert_int_equal(o.pool_recycle_s, -1);
    db_url_free(u);
    conf_free(c);

    setenv("DB_POOL_SIZE", "abc", 1);
    assert_int_equal(conf_load(&c, envpath, &e), c ? ERR_OK : e.code);
    if (c) {
        assert_int_equal(db_opts_from(c, NULL, &o, &e), ERR_INVALID);
        assert_non_null(strstr(e.msg, "DB_POOL_SIZE"));
        conf_free(c);
    }
    unsetenv("DB_POOL_SIZE");
    unsetenv("DB_POOL_TIMEOUT");
    unsetenv("ENABLE_QUERY_LOGGING");
    unsetenv("SLOW_QUERY_THRESHOLD_MS");
    assert_int_equal(db_opts_from(NULL, NULL, &o, &e), ERR_OK);
    assert_int_equal(o.pool_size, 5);
}

/* ---- metrics ---------------------------------------------------------------------------- */

typedef struct hook_log {
    int calls, errors;
    int64_t last_us;
    char last_sql[128];
} hook_log;

static void hook(void *ud, const char *sql, int64_t us, err_code rc)
{
    hook_log *h = ud;
    h->calls++;
    if (rc != ERR_OK)
        h->errors++;
    h->last_us = us;
    snprintf(h->last_sql, sizeof h->last_sql, "%s", sql);
}

typedef struct find_stat {
    const char *sql;
    db_stmt_stat st;
    int found;
} find_stat;

static void find_cb(void *ud, const db_stmt_stat *st)
{
    find_stat *fs = ud;
    if (strcmp(st->sql, fs->sql) == 0) {
        fs->st = *st;
        fs->found++;
    }
}

static void test_metrics(void **state)
{
    (void)state;
    db_opts o;
    db_opts_default(&o);
    o.slow_query_ms = 1;
    o.query_logging = true;
    log_level old = log_get_level();
    log_set_level(LOG_ERROR); /* keep the test output quiet; paths still run */
    db_t *db = tdb_open_ok("sqlite:///:memory:", &o);
    hook_log h = {0};
    db_set_query_hook(db, hook, &h);
    db_conn *c = NULL;
    err_t e = {0};
    assert_int_equal(db_acquire(db, DB_WRITE, &c, &e), ERR_OK);
    tdb_exec_ok(c, "CREATE TABLE t (x INTEGER UNIQUE)");
    const char *ins = "INSERT INTO t VALUES (?)";
    for (int i = 0; i < 10; i++) {
        db_stmt *s = NULL;
        assert_int_equal(db_prepare(c, ins, &s, &e), ERR_OK);
        db_bind_int64(s, 1, i % 9); /* the 10th is a duplicate */
        int rc = db_step(s, &e);
        assert_int_equal(rc, i == 9 ? ERR_UNIQUE : DB_DONE);
        db_stmt_done(s);
    }
    assert_int_equal(h.calls, 11); /* exec + 10 inserts */
    assert_int_equal(h.errors, 1);
    assert_string_equal(h.last_sql, ins);
    /* a statement that certainly takes more than 1 ms */
    assert_true(tdb_q1i(c, "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r "
                           "WHERE i < 300000) SELECT count(*) FROM r") == 300000);
    db_release(c);

    find_stat fs = {ins, {0}, 0};
    db_foreach_stmt_stat(db, find_cb, &fs);
    assert_int_equal(fs.found, 1);
    assert_int_equal(fs.st.count, 10);
    assert_int_equal(fs.st.errors, 1);
    assert_true(fs.st.total_us >= fs.st.max_us);
    assert_int_equal(fs.st.buckets[DB_LAT_BUCKETS - 1], 10); /* cumulative */
    for (int b = 1; b < DB_LAT_BUCKETS; b++)
        assert_true(fs.st.buckets[b] >= fs.st.buckets[b - 1]);
    assert_true(db_lat_bucket_upper_us[0] == 50);

    db_query_stats qs;
    db_get_query_stats(db, &qs);
    assert_int_equal(qs.statements, 12);
    assert_int_equal(qs.errors, 1);
    assert_int_equal(qs.errors_by_class[ERR_UNIQUE], 1);
    assert_true(qs.slow >= 1);
    db_set_query_hook(db, NULL, NULL);
    db_close(db);
    log_set_level(old);
}

/* The pool options that are also variables take the range conf.c declares for
 * the variable, in the URL and in a db_opts struct alike. */
static void test_opts_declared_ranges(void **state)
{
    (void)state;
    static const struct {
        const char *var, *key;
    } both[] = {{"DB_POOL_SIZE", "pool_size"},
                {"DB_MAX_OVERFLOW", "max_overflow"},
                {"DB_POOL_RECYCLE", "pool_recycle"}};
    for (size_t i = 0; i < sizeof both / sizeof both[0]; i++) {
        const conf_var *d = conf_var_find(both[i].var);
        assert_non_null(d);
        char url[200], want[200];
        db_url *u = NULL;
        db_opts o;
        err_t e = {0};
        for (int edge = 0; edge < 2; edge++) { /* the ends are accepted */
            snprintf(url, sizeof url, "sqlite:///x.db?%s=%ld", both[i].key, edge ? d->max : d->min);
            assert_int_equal(db_url_parse(url, &u, &e), ERR_OK);
            if (db_opts_from(NULL, u, &o, &e) != ERR_OK)
                fail_msg("%s: %s", url, e.msg);
            db_url_free(u);
        }
        snprintf(url, sizeof url, "sqlite:///x.db?%s=%ld", both[i].key, d->max + 1);
        assert_int_equal(db_url_parse(url, &u, &e), ERR_OK);
        assert_int_equal(db_opts_from(NULL, u, &o, &e), ERR_INVALID);
        snprintf(want, sizeof want,
                 "database URL option %s=%ld: expected an integer between %ld and %ld", both[i].key,
                 d->max + 1, d->min, d->max);
        assert_string_equal(e.msg, want);
        db_url_free(u);
    }
    /* pool_timeout: seconds with a fraction, up to DB_POOL_TIMEOUT's maximum */
    db_t *db = NULL;
    err_t e = {0};
    char url[200];
    long tmax = conf_var_find("DB_POOL_TIMEOUT")->max;
    snprintf(url, sizeof url, "sqlite:///:memory:?pool_timeout=%ld.5", tmax);
    assert_int_equal(db_open(url, NULL, &db, &e), ERR_INVALID);
    assert_non_null(strstr(e.msg, "expected seconds between 0 and 3600"));
    /* a db_opts struct out of range */
    db_opts o;
    db_opts_default(&o);
    o.pool_size = (int)conf_var_find("DB_POOL_SIZE")->max + 1;
    assert_int_equal(db_open("sqlite:///:memory:", &o, &db, &e), ERR_INVALID);
    assert_string_equal(e.msg, "pool size 1001: expected 1..1000");
    db_opts_default(&o);
    o.max_overflow = -1;
    assert_int_equal(db_open("sqlite:///:memory:", &o, &db, &e), ERR_INVALID);
    assert_string_equal(e.msg, "max overflow -1: expected 0..1000");
    assert_null(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_close_file, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_open_close_memory, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_pragmas_file, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_pragmas_memory, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_file, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_memory, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_stmt_cache, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_tx_file, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_tx_memory, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_error_classes, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_busy_class, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_bad_missing_dir, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_bad_directory_path, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_bad_readonly_file, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_mode_ro, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_synchronous_option, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_not_a_database, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_bad_backend_and_options, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_opts_from, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_metrics, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_opts_declared_ranges, tdb_setup, tdb_teardown),
    };
    return cmocka_run_group_tests_name("db_sqlite", tests, NULL, NULL);
}
