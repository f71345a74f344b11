/* tests/pg/test_pg_driver.c — the db/ core over the PostgreSQL driver on a real
 * server (the `pg` CTest fixture): open, capabilities, server version; every type
 * round trip (timestamps to the microsecond before 1970 and far in the future,
 * JSON keeping its types, Unicode byte for byte, bytea, int64 limits, doubles,
 * booleans, NULLs); error classes (unique, constraint, syntax, statement_timeout);
 * session settings and libpq option passthrough (and unknown options refused);
 * TLS proven by pg_stat_ssl; named vs unnamed prepared statements; one-statement
 * writes as their own transactions (db_tx_run_one; with BEGIN behind a pooler); the pool
 * waiting pool_timeout then ERR_TIMEOUT; connection loss (backends terminated
 * under the pool) recovered by the core; connect failures as one masked line;
 * the typed parameter executors (named and unnamed statements).
 * Must not: sleep to make timing assertions, depend on test order, or touch any
 * database but its own fresh one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/sbuf.h"
#include "base/utc.h"
#include "db/db.h"
#include "db_params_test.h"
#include "pg_test.h"
#include "test_support.h"

static char *base_url; /* the fixture's URL */
static char *dbname;   /* this run's fresh database */
static char *url;      /* ... and its URL */

#define OK(x) \
    do { \
        err_t e_; \
        memset(&e_, 0, sizeof e_); \
        err_code rc_ = (x); \
        if (rc_ != ERR_OK) \
            fail_msg("%s: %s (%s)", #x, e_.msg, err_code_name(rc_)); \
    } while (0)

static db_t *open_opts(const char *opts)
{
    char *u = pgt_url_with(url, NULL, opts);
    db_t *db = NULL;
    err_t e;
    err_code rc = db_open(u, NULL, &db, &e);
    if (rc != ERR_OK)
        fail_msg("db_open(%s): %s", u, e.msg);
    free(u);
    return db;
}

/* Expects db_open to fail; returns the class, copies the message. */
static err_code open_fails(const char *u, char *msg, size_t n)
{
    db_t *db = NULL;
    err_t e;
    memset(&e, 0, sizeof e);
    err_code rc = db_open(u, NULL, &db, &e);
    if (rc == ERR_OK) {
        db_close(db);
        fail_msg("db_open(%s) succeeded", u);
    }
    snprintf(msg, n, "%s", e.msg);
    return rc;
}

static void exec_sql(db_t *db, const char *sql)
{
    db_conn *c;
    err_t e;
    assert_int_equal(db_acquire(db, DB_WRITE, &c, &e), ERR_OK);
    err_code rc = db_exec(c, sql, &e);
    if (rc != ERR_OK)
        fail_msg("%s: %s", sql, e.msg);
    db_release(c);
}

/* One text value from a one-row query (caller frees). */
static char *query_text(db_t *db, const char *sql)
{
    db_conn *c;
    db_stmt *s;
    err_t e;
    assert_int_equal(db_acquire(db, DB_READ, &c, &e), ERR_OK);
    if (db_prepare(c, sql, &s, &e) != ERR_OK)
        fail_msg("%s: %s", sql, e.msg);
    int r = db_step(s, &e);
    if (r != DB_ROW)
        fail_msg("%s: %s", sql, e.msg);
    const char *t = db_col_text(s, 0, NULL);
    char *out = strdup(t ? t : "(null)");
    db_stmt_done(s);
    db_release(c);
    return out;
}

static int group_setup(void **state)
{
    (void)state;
    base_url = pgt_var("pg", "CTXD_TEST_PG_URL");
    dbname = pgt_create_db(base_url);
    url = pgt_url_with(base_url, dbname, NULL);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    pgt_drop_db(base_url, dbname);
    free(url);
    free(dbname);
    free(base_url);
    return 0;
}

/* ---- typed parameter arrays and executors (tests/support/db_params_test.c) ---- */

static void run_params(const char *opts)
{
    db_t *db = open_opts(opts);
    tdb_params_all(db);
    db_close(db);
}

static void test_params(void **state)
{
    (void)state;
    run_params(NULL);
    run_params("prepared_statements=false"); /* PgBouncer's mode: unnamed statements */
}

/* ---- open, caps, version ----------------------------------------------------- */

static void test_open_caps_version(void **state)
{
    (void)state;
    db_t *db = open_opts(NULL);
    assert_string_equal(db_dialect(db), "postgresql");
    assert_int_equal(db_backend_of(db), DB_BACKEND_POSTGRES);
    unsigned caps = db_caps(db);
    unsigned want = DB_CAP_RETURNING | DB_CAP_UPSERT_ON_CONFLICT | DB_CAP_ADVISORY_LOCK |
                    DB_CAP_JSON | DB_CAP_PARTIAL_INDEX | DB_CAP_TRANSACTIONAL_DDL;
    assert_int_equal(caps & want, want);
    assert_int_equal(caps & DB_CAP_SINGLE_WRITER, 0);
    char v[64];
    OK(db_server_version(db, v, sizeof v, &e_));
    assert_true(strncmp(v, "PostgreSQL ", 11) == 0);
    assert_null(strchr(v, '('));
    int64_t rtt = -1;
    OK(db_ping(db, &rtt, &e_));
    assert_true(rtt >= 0);
    assert_null(strstr(db_url_text_masked(db), ":ctxd@"));
    /* DB_READ and DB_WRITE come from the same general pool */
    db_pool_stats ps;
    db_get_pool_stats(db, &ps);
    assert_int_equal(ps.size, 5);
    db_close(db);
}

/* ---- types ------------------------------------------------------------------- */

static utc_us T(const char *iso)
{
    utc_us t;
    err_t e;
    if (utc_parse(iso, &t, &e) != ERR_OK)
        fail_msg("%s", e.msg);
    return t;
}

static void test_time_roundtrip(void **state)
{
    (void)state;
    db_t *db = open_opts(NULL);
    exec_sql(db, "CREATE TABLE t_time (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
                 " ts TIMESTAMPTZ)");
    const utc_us times[] = {0,
                            1,
                            -1,
                            T("1969-07-20T20:17:40.123456Z"),
                            T("1900-02-28T12:34:56.000001Z"),
                            T("0001-01-01T00:00:00Z"),
                            T("1583-10-15T01:02:03.456789+05:30"),
                            T("2038-01-19T03:14:08.000001Z"),
                            T("9999-12-31T23:59:59.999999Z"),
                            utc_now()};
    size_t n = sizeof times / sizeof times[0];
    db_conn *c;
    db_stmt *s;
    err_t e;
    assert_int_equal(db_acquire(db, DB_WRITE, &c, &e), ERR_OK);
    int64_t ids[16];
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(db_prepare(c, "INSERT INTO t_time (ts) VALUES (?) RETURNING id", &s, &e),
                         ERR_OK);
        db_bind_time(s, 1, times[i]);
        assert_int_equal(db_step(s, &e), DB_ROW);
        ids[i] = db_col_int64(s, 0);
        assert_int_equal(db_step(s, &e), DB_DONE);
        assert_int_equal(db_changes(s), 1);
        db_stmt_done(s);
    }
    assert_int_equal(db_prepare(c, "INSERT INTO t_time (ts) VALUES (?)", &s, &e), ERR_OK);
    db_bind_null(s, 1);
    assert_int_equal(db_step(s, &e), DB_DONE);
    db_stmt_done(s);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(db_prepare(c, "SELECT ts, ts = ? FROM t_time WHERE id = ?", &s, &e),
                         ERR_OK);
        db_bind_time(s, 1, times[i]);
        db_bind_int64(s, 2, ids[i]);
        assert_int_equal(db_step(s, &e), DB_ROW);
        char a[UTC_ISO_LEN], b[UTC_ISO_LEN];
        if (db_col_time(s, 0) != times[i])
            fail_msg("time %zu: sent %s, got %s (%s)", i, utc_format(times[i], a),
                     utc_format(db_col_time(s, 0), b), db_col_text(s, 0, NULL));
        assert_true(db_col_bool(s, 1)); /* the server compares equal too */
        db_stmt_done(s);
    }
    assert_int_equal(db_prepare(c, "SELECT ts FROM t_time WHERE ts IS NULL", &s, &e), ERR_OK);
    assert_int_equal(db_step(s, &e), DB_ROW);
    assert_true(db_col_null(s, 0));
    assert_int_equal(db_col_time(s, 0), 0);
    db_stmt_done(s);
    /* order and comparison are by instant: ORDER BY gives ascending utc values */
    assert_int_equal(
        db_prepare(c, "SELECT ts FROM t_time WHERE ts IS NOT NULL ORDER BY ts", &s, &e), ERR_OK);
    utc_us prev = INT64_MIN;
    int rows = 0;
    while (db_step(s, &e) == DB_ROW) {
        assert_true(db_col_time(s, 0) > prev);
        prev = db_col_time(s, 0);
        rows++;
    }
    assert_int_equal(rows, (int)n);
    db_stmt_done(s);
    db_release(c);
    db_close(db);
}

static void test_scalar_roundtrip(void **state)
{
    (void)state;
    db_t *db = open_opts(NULL);
    exec_sql(db, "CREATE TABLE t_scalar (id BIGINT PRIMARY KEY, i BIGINT, d DOUBLE PRECISION,"
                 " b BOOLEAN, tx TEXT, bl BYTEA)");
    db_conn *c;
    db_stmt *s;
    err_t e;
    assert_int_equal(db_acquire(db, DB_WRITE, &c, &e), ERR_OK);
    const int64_t ints[] = {0, 1, -1, INT64_MAX, INT64_MIN, 1234567890123LL};
    const double dbls[] = {0.0, 0.1, -2.5, 1e300, 5e-324, 3.141592653589793};
    for (int k = 0; k < 6; k++) {
        assert_int_equal(db_prepare(c, "INSERT INTO t_scalar VALUES (?, ?, ?, ?, ?, ?)", &s, &e),
                         ERR_OK);
        db_bind_int64(s, 1, k);
        db_bind_int64(s, 2, ints[k]);
        db_bind_double(s, 3, dbls[k]);
        db_bind_bool(s, 4, k % 2 == 0);
        /* a text given with a length: only those bytes */
        db_bind_text(s, 5, "abcdefgh", k);
        unsigned char blob[4] = {0x00, 0xff, (unsigned char)k, 0x5c};
        db_bind_blob(s, 6, blob, sizeof blob);
        if (db_step(s, &e) != DB_DONE)
            fail_msg("insert %d: %s", k, e.msg);
        db_stmt_done(s);
    }
    assert_int_equal(
        db_prepare(c, "SELECT id, i, d, b, tx, bl, NULL, NULL::bigint FROM t_scalar ORDER BY id",
                   &s, &e),
        ERR_OK);
    for (int k = 0; k < 6; k++) {
        assert_int_equal(db_step(s, &e), DB_ROW);
        assert_int_equal(db_col_count(s), 8);
        assert_string_equal(db_col_name(s, 1), "i");
        assert_int_equal(db_col_int64(s, 0), k);
        assert_true(db_col_int64(s, 1) == ints[k]);
        assert_true(db_col_double(s, 2) == dbls[k]);
        assert_int_equal(db_col_bool(s, 3), k % 2 == 0);
        size_t n = 99;
        const char *t = db_col_text(s, 4, &n);
        assert_non_null(t);
        assert_int_equal(n, (size_t)k);
        assert_memory_equal(t, "abcdefgh", n);
        const unsigned char *bl = db_col_blob(s, 5, &n);
        assert_int_equal(n, 4);
        unsigned char want[4] = {0x00, 0xff, (unsigned char)k, 0x5c};
        assert_memory_equal(bl, want, 4);
        assert_true(db_col_null(s, 6));
        assert_null(db_col_text(s, 6, &n));
        assert_true(db_col_null(s, 7));
        assert_int_equal(db_col_int64(s, 7), 0);
        assert_false(db_col_null(s, 1));
    }
    assert_int_equal(db_step(s, &e), DB_DONE);
    db_stmt_done(s);
    /* NaN and infinities */
    assert_int_equal(db_prepare(c, "SELECT ?::float8, ?::float8, ?::float8", &s, &e), ERR_OK);
    db_bind_double(s, 1, NAN);
    db_bind_double(s, 2, INFINITY);
    db_bind_double(s, 3, -INFINITY);
    assert_int_equal(db_step(s, &e), DB_ROW);
    assert_true(isnan(db_col_double(s, 0)));
    assert_true(isinf(db_col_double(s, 1)) && db_col_double(s, 1) > 0);
    assert_true(isinf(db_col_double(s, 2)) && db_col_double(s, 2) < 0);
    db_stmt_done(s);
    /* a NUL byte cannot be PostgreSQL text: refused at bind, reported by step */
    assert_int_equal(db_prepare(c, "SELECT ?::text", &s, &e), ERR_OK);
    db_bind_text(s, 1, "a\0b", 3);
    assert_int_equal(db_step(s, &e), ERR_INVALID);
    db_stmt_done(s);
    /* UPDATE changes */
    assert_int_equal(db_prepare(c, "UPDATE t_scalar SET tx = ? WHERE id >= ?", &s, &e), ERR_OK);
    db_bind_text(s, 1, "x", -1);
    db_bind_int64(s, 2, 2);
    assert_int_equal(db_step(s, &e), DB_DONE);
    assert_int_equal(db_changes(s), 4);
    db_stmt_done(s);
    db_release(c);
    db_close(db);
}

static void check_json(db_conn *c, const char *json)
{
    db_stmt *s;
    err_t e;
    assert_int_equal(db_prepare(c, "INSERT INTO t_json (v) VALUES (?) RETURNING id", &s, &e),
                     ERR_OK);
    db_bind_json(s, 1, json, -1);
    if (db_step(s, &e) != DB_ROW)
        fail_msg("%s: %s", json, e.msg);
    int64_t id = db_col_int64(s, 0);
    db_stmt_done(s);
    assert_int_equal(db_prepare(c, "SELECT v, jsonb_typeof(v) FROM t_json WHERE id = ?", &s, &e),
                     ERR_OK);
    db_bind_int64(s, 1, id);
    assert_int_equal(db_step(s, &e), DB_ROW);
    size_t n;
    const char *got = db_col_json(s, 0, &n);
    json_error_t je;
    json_t *a = json_loads(json, JSON_DECODE_ANY, &je);
    json_t *b = json_loadb(got, n, JSON_DECODE_ANY, &je);
    assert_non_null(a);
    if (!b || !json_equal(a, b))
        fail_msg("JSON changed: sent %s, got %.*s", json, (int)n, got);
    assert_int_equal(json_typeof(a), json_typeof(b));
    json_decref(a);
    json_decref(b);
    db_stmt_done(s);
}

static void test_json_roundtrip(void **state)
{
    (void)state;
    db_t *db = open_opts(NULL);
    exec_sql(
        db,
        "CREATE TABLE t_json (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, v JSONB)");
    db_conn *c;
    err_t e;
    assert_int_equal(db_acquire(db, DB_WRITE, &c, &e), ERR_OK);
    check_json(c, "{\"n\":1,\"s\":\"123\",\"f\":1.5,\"neg\":-7,\"big\":9007199254740993,"
                  "\"nested\":{\"a\":[1,\"2\",null,true,false,{\"x\":[]}]},\"nul\":null,"
                  "\"t\":true,\"e\":\"\",\"esc\":\"line\\nbreak \\\"q\\\" \\\\ \\u0001\"}");
    check_json(c, "\"123\"");
    check_json(c, "123");
    check_json(c, "-0.25");
    check_json(c, "null");
    check_json(c, "true");
    check_json(c, "false");
    check_json(c, "[1,\"1\",[],{}]");
    check_json(c,
               "{\"emoji \xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb\":\"\xe6\xbc\xa2\xe5\xad\x97 "
               "e\xcc\x81\"}");
    /* a string that looks like a number stays a string, by type */
    db_stmt *s;
    assert_int_equal(db_prepare(c, "SELECT jsonb_typeof(?::jsonb -> 's')", &s, &e), ERR_OK);
    db_bind_json(s, 1, "{\"s\":\"123\"}", -1);
    assert_int_equal(db_step(s, &e), DB_ROW);
    assert_string_equal(db_col_text(s, 0, NULL), "string");
    db_stmt_done(s);
    db_release(c);
    db_close(db);
}

static void test_unicode_bytes(void **state)
{
    (void)state;
    db_t *db = open_opts(NULL);
    exec_sql(db, "CREATE TABLE t_uni (id BIGINT PRIMARY KEY, tx TEXT)");
    static const char *const texts[] = {
        ("\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7 family, "
         "\xf0\x9f\x8f\xb3\xef\xb8\x8f\xe2\x80\x8d\xf0\x9f\x8c\x88 flag"), /* ZWJ emoji */
        "\xe6\xbc\xa2\xe5\xad\x97\xe3\x81\x8b\xe3\x81\xaa\xe3\x82\xab\xe3\x83\x8a "
        "\xed\x95\x9c\xea\xb8\x80",
        "e\xcc\x81 vs \xc3\xa9; A\xcc\x8a vs \xc3\x85; n\xcc\x83\xcc\x81",           /* NFD kept */
        "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 \xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d", /* RTL */
        "quotes ' \" ` \\ ; -- /* ? $1 $$",
        "",
    };
    db_conn *c;
    db_stmt *s;
    err_t e;
    assert_int_equal(db_acquire(db, DB_WRITE, &c, &e), ERR_OK);
    for (int k = 0; k < 6; k++) {
        assert_int_equal(db_prepare(c, "INSERT INTO t_uni VALUES (?, ?)", &s, &e), ERR_OK);
        db_bind_int64(s, 1, k);
        db_bind_text(s, 2, texts[k], -1);
        assert_int_equal(db_step(s, &e), DB_DONE);
        db_stmt_done(s);
    }
    for (int k = 0; k < 6; k++) {
        assert_int_equal(
            db_prepare(c, "SELECT tx, octet_length(tx) FROM t_uni WHERE id = ?", &s, &e), ERR_OK);
        db_bind_int64(s, 1, k);
        assert_int_equal(db_step(s, &e), DB_ROW);
        size_t n;
        const char *t = db_col_text(s, 0, &n);
        assert_int_equal(n, strlen(texts[k]));
        assert_memory_equal(t, texts[k], n);
        assert_int_equal(db_col_int64(s, 1), (int64_t)strlen(texts[k]));
        db_stmt_done(s);
    }
    db_release(c);
    db_close(db);
}

/* ---- errors ----------------------------------------------------------------------- */

static void test_error_classes(void **state)
{
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        db_t *db = open_opts(mode ? "prepared_statements=false" : NULL);
        exec_sql(db, "DROP TABLE IF EXISTS t_err_c; DROP TABLE IF EXISTS t_err_p;"
                     " CREATE TABLE t_err_p (id BIGINT PRIMARY KEY);"
                     " CREATE TABLE t_err_c (id BIGINT PRIMARY KEY, p BIGINT NOT NULL REFERENCES "
                     "t_err_p (id),"
                     " v INT CHECK (v > 0)); INSERT INTO t_err_p VALUES (1)");
        db_conn *c;
        db_stmt *s;
        err_t e;
        assert_int_equal(db_acquire(db, DB_WRITE, &c, &e), ERR_OK);
        struct {
            const char *sql;
            err_code want;
        } cases[] = {
            {"INSERT INTO t_err_p VALUES (1)", ERR_UNIQUE},
            {"INSERT INTO t_err_c VALUES (1, NULL, 1)", ERR_CONSTRAINT},
            {"INSERT INTO t_err_c VALUES (1, 2, 1)", ERR_CONSTRAINT},
            {"INSERT INTO t_err_c VALUES (1, 1, -1)", ERR_CONSTRAINT},
            {"SELEKT 1", ERR_SYNTAX},
            {"SELECT * FROM no_such_table", ERR_SYNTAX},
            {"SELECT no_such_column FROM t_err_p", ERR_SYNTAX},
            {"SELECT 1/0", ERR_INVALID},
        };
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            err_code rc = db_prepare(c, cases[k].sql, &s, &e);
            if (rc == ERR_OK) {
                rc = (err_code)db_step(s, &e);
                db_stmt_done(s);
            }
            if (rc != cases[k].want)
                fail_msg("mode %d: %s: got %s (%s), want %s", mode, cases[k].sql, err_code_name(rc),
                         e.msg, err_code_name(cases[k].want));
            assert_null(strchr(e.msg, '\n'));
        }
        /* inside a transaction a failure aborts it; rollback makes it usable again */
        assert_int_equal(db_begin(c, &e), ERR_OK);
        assert_int_equal(db_prepare(c, "INSERT INTO t_err_p VALUES (1)", &s, &e), ERR_OK);
        assert_int_equal(db_step(s, &e), ERR_UNIQUE);
        db_stmt_done(s);
        assert_true(db_in_tx(c));
        db_rollback(c);
        assert_false(db_in_tx(c));
        assert_int_equal(db_exec(c, "SELECT 1", &e), ERR_OK);
        /* a script quotes the failing statement */
        assert_int_equal(db_exec(c, "SELECT 1;\nCREATE TABLE broken (x nosuchtype);\nSELECT 2", &e),
                         ERR_SYNTAX);
        assert_non_null(strstr(e.msg, "CREATE TABLE broken"));
        assert_null(strchr(e.msg, '\n'));
        /* two statements are not one */
        assert_int_equal(db_prepare(c, "SELECT 1; SELECT 2", &s, &e), ERR_INVALID);
        db_release(c);
        db_close(db);
    }
}

static void test_statement_timeout(void **state)
{
    (void)state;
    db_t *db = open_opts("statement_timeout=100");
    db_conn *c;
    db_stmt *s;
    err_t e;
    assert_int_equal(db_acquire(db, DB_READ, &c, &e), ERR_OK);
    assert_int_equal(db_prepare(c, "SELECT pg_sleep(5)", &s, &e), ERR_OK);
    int64_t t0 = utc_mono_us();
    assert_int_equal(db_step(s, &e), ERR_TIMEOUT);
    assert_true(utc_mono_us() - t0 < 4000000);
    assert_non_null(strstr(e.msg, "57014"));
    db_stmt_done(s);
    /* the connection is still fine */
    assert_int_equal(db_prepare(c, "SELECT 7", &s, &e), ERR_OK);
    assert_int_equal(db_step(s, &e), DB_ROW);
    assert_int_equal(db_col_int64(s, 0), 7);
    db_stmt_done(s);
    db_release(c);
    db_close(db);
}

/* ---- session settings, options, TLS --------------------------------------------- */

static void test_session_settings(void **state)
{
    (void)state;
    db_t *db = open_opts(NULL);
    char *v;
    assert_string_equal((v = query_text(db, "SHOW application_name")), "ctxd");
    free(v);
    assert_string_equal((v = query_text(db, "SHOW TimeZone")), "UTC");
    free(v);
    assert_string_equal((v = query_text(db, "SHOW DateStyle")), "ISO, YMD");
    free(v);
    exec_sql(db, "CREATE SCHEMA IF NOT EXISTS ctxd_s1");
    db_close(db);

    db = open_opts("statement_timeout=1234&idle_in_transaction_session_timeout=5000"
                   "&application_name=ctxd-test&schema=ctxd_s1");
    for (int round = 0; round < 2; round++) { /* and on a second connection */
        db_conn *held = NULL;
        err_t e;
        if (round)
            assert_int_equal(db_acquire(db, DB_READ, &held, &e), ERR_OK);
        assert_string_equal((v = query_text(db, "SHOW statement_timeout")), "1234ms");
        free(v);
        assert_string_equal((v = query_text(db, "SHOW idle_in_transaction_session_timeout")), "5s");
        free(v);
        assert_string_equal((v = query_text(db, "SHOW application_name")), "ctxd-test");
        free(v);
        assert_string_equal((v = query_text(db, "SHOW search_path")), "ctxd_s1, public");
        free(v);
        db_release(held);
    }
    exec_sql(db, "CREATE TABLE in_s1 (x INT)");
    assert_string_equal((v = query_text(db, "SELECT table_schema FROM information_schema.tables"
                                            " WHERE table_name = 'in_s1'")),
                        "ctxd_s1");
    free(v);
    db_close(db);

    char msg[512];
    char *u = pgt_url_with(url, NULL, "schema=no_such_schema");
    assert_int_equal(open_fails(u, msg, sizeof msg), ERR_INVALID);
    assert_non_null(strstr(msg, "no_such_schema"));
    free(u);
    u = pgt_url_with(url, NULL, "statement_timeout=soon");
    assert_int_equal(open_fails(u, msg, sizeof msg), ERR_INVALID);
    assert_non_null(strstr(msg, "statement_timeout"));
    free(u);
}

static void test_libpq_options(void **state)
{
    (void)state;
    db_t *db = open_opts("connect_timeout=5&keepalives=1&keepalives_idle=30&keepalives_interval=5"
                         "&keepalives_count=3&target_session_attrs=read-write&sslmode=disable"
                         "&options=-c%20work_mem%3D8MB&pool_size=2&max_overflow=1&pool_timeout=3"
                         "&pool_recycle=600&pool_pre_ping_idle_ms=1000");
    char *v;
    assert_string_equal((v = query_text(db, "SHOW work_mem")), "8MB");
    free(v);
    assert_string_equal(
        (v = query_text(db, "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()")),
        "false");
    free(v);
    db_pool_stats ps;
    db_get_pool_stats(db, &ps);
    assert_int_equal(ps.size, 2);
    assert_int_equal(ps.max_overflow, 1);
    db_close(db);

    char msg[512];
    char *u = pgt_url_with(url, NULL, "bogus_opt=1");
    assert_int_equal(open_fails(u, msg, sizeof msg), ERR_INVALID);
    assert_non_null(strstr(msg, "'bogus_opt'"));
    assert_null(strstr(msg, ":ctxd@"));
    free(u);
    u = pgt_url_with(url, NULL, "sslmode=sometimes");
    assert_int_equal(open_fails(u, msg, sizeof msg), ERR_INVALID);
    assert_non_null(strstr(msg, "sslmode"));
    free(u);
    u = pgt_url_with(url, NULL, "prepared_statements=maybe");
    assert_int_equal(open_fails(u, msg, sizeof msg), ERR_INVALID);
    assert_non_null(strstr(msg, "prepared_statements"));
    free(u);
}

static void test_tls(void **state)
{
    (void)state;
    db_t *db = open_opts("sslmode=require");
    char *v = query_text(
        db, "SELECT ssl::text || ' ' || version FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
    assert_true(strncmp(v, "true TLSv1.", 11) == 0);
    free(v);
    db_close(db);
    char *root = pgt_var("pg", "CTXD_TEST_PG_ROOTCERT");
    char *opts = ts_strf("sslmode=verify-ca&sslrootcert=%s", root);
    db = open_opts(opts);
    v = query_text(db, "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
    assert_string_equal(v, "true");
    free(v);
    db_close(db);
    free(opts);
    free(root);
}

/* ---- prepared statements ---------------------------------------------------------- */

static int64_t prepared_count(db_conn *c)
{
    db_stmt *s;
    err_t e;
    /* itself unnamed-or-named: count only ctxd's other statements */
    assert_int_equal(db_prepare(c,
                                "SELECT count(*) FROM pg_prepared_statements"
                                " WHERE statement NOT LIKE '%pg_prepared_statements%'",
                                &s, &e),
                     ERR_OK);
    assert_int_equal(db_step(s, &e), DB_ROW);
    int64_t n = db_col_int64(s, 0);
    db_stmt_done(s);
    return n;
}

static void test_prepared_modes(void **state)
{
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        db_t *db = open_opts(mode ? "prepared_statements=false&pool_size=1" : "pool_size=1");
        db_conn *c;
        db_stmt *s;
        err_t e;
        assert_int_equal(db_acquire(db, DB_READ, &c, &e), ERR_OK);
        int64_t before = prepared_count(c);
        for (int k = 0; k < 5; k++) {
            assert_int_equal(db_prepare(c, "SELECT ? + 1", &s, &e), ERR_OK);
            db_bind_int64(s, 1, k);
            assert_int_equal(db_step(s, &e), DB_ROW);
            assert_int_equal(db_col_int64(s, 0), k + 1);
            db_stmt_done(s);
        }
        int64_t after = prepared_count(c);
        assert_int_equal(after - before, mode ? 0 : 1); /* named: prepared once */
        db_release(c);
        db_close(db);
    }
}

/* ---- one-statement writes (db_tx_run_one) ------------------------------------------ */

typedef struct one_write {
    const char *v;
    bool own_tx; /* the statement was its own transaction: none open after it */
} one_write;

static err_code write_one(db_conn *c, void *arg, err_t *e)
{
    one_write *x = arg;
    err_code rc =
        db_exec_params(c, "INSERT INTO one_w (v) VALUES (?)", DB_ARGS(DB_TEXT(x->v)), NULL, e);
    x->own_tx = !db_in_tx(c);
    return rc;
}

static void test_one_statement_write(void **state)
{
    (void)state;
    db_t *db = open_opts(NULL);
    exec_sql(db, "DROP TABLE IF EXISTS one_w; CREATE TABLE one_w (v TEXT PRIMARY KEY)");
    err_t e;
    /* its own transaction: one round trip, committed when it returns */
    one_write a = {"a", false};
    OK(db_tx_run_one(db, write_one, &a, &e_));
    assert_true(a.own_tx);
    char *n = query_text(db, "SELECT count(*) FROM one_w WHERE v = 'a'");
    assert_string_equal(n, "1");
    free(n);
    /* db_tx_run opens BEGIN first */
    one_write b = {"b", true};
    OK(db_tx_run(db, DB_WRITE, write_one, &b, &e_));
    assert_false(b.own_tx);
    /* a failing statement is its own error and leaves nothing */
    assert_int_equal(db_tx_run_one(db, write_one, &a, &e), ERR_UNIQUE);
    n = query_text(db, "SELECT count(*) FROM one_w");
    assert_string_equal(n, "2");
    free(n);
    db_close(db);

    /* behind a transaction pooler with session settings, they come with its BEGIN */
    db = open_opts("prepared_statements=false&statement_timeout=5000");
    one_write c = {"c", true};
    OK(db_tx_run_one(db, write_one, &c, &e_));
    assert_false(c.own_tx);
    db_close(db);
}

/* ---- pool ------------------------------------------------------------------------- */

static void test_pool_exhausted(void **state)
{
    (void)state;
    db_t *db = open_opts("pool_size=1&max_overflow=1&pool_timeout=0.3");
    db_conn *a, *b, *c;
    err_t e;
    assert_int_equal(db_acquire(db, DB_READ, &a, &e), ERR_OK);
    assert_int_equal(db_acquire(db, DB_WRITE, &b, &e), ERR_OK);
    int64_t t0 = utc_mono_us();
    assert_int_equal(db_acquire(db, DB_READ, &c, &e), ERR_TIMEOUT);
    int64_t waited = utc_mono_us() - t0;
    assert_true(waited >= 250000); /* it did wait for pool_timeout */
    assert_true(waited < 5000000);
    assert_non_null(strstr(e.msg, "no database connection free within 0.3 s"));
    assert_non_null(strstr(e.msg, "pool size 1, overflow 1"));
    db_pool_stats ps;
    db_get_pool_stats(db, &ps);
    assert_int_equal(ps.timeouts, 1);
    assert_int_equal(ps.in_use, 2);
    db_release(b);
    assert_int_equal(db_acquire(db, DB_READ, &c, &e), ERR_OK); /* freed: served at once */
    db_release(c);
    db_release(a);
    db_close(db);
}

/* Kills every backend of this database except the caller's (as the server does
 * on restart or an admin's pg_terminate_backend). */
static void kill_backends(void)
{
    char *sql = ts_strf("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                        " WHERE datname = '%s' AND pid <> pg_backend_pid()",
                        dbname);
    free(pgt_query(url, sql));
    free(sql);
}

static err_code tx_select(db_conn *c, void *arg, err_t *e)
{
    db_stmt *s;
    err_code rc = db_prepare(c, "SELECT 42", &s, e);
    if (rc != ERR_OK)
        return rc;
    int r = db_step(s, e);
    if (r == DB_ROW)
        *(int64_t *)arg = db_col_int64(s, 0);
    db_stmt_done(s);
    return r == DB_ROW ? ERR_OK : (err_code)r;
}

static void test_connection_loss(void **state)
{
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        db_t *db = open_opts(mode ? "pool_size=3&prepared_statements=false" : "pool_size=3");
        db_conn *cs[3];
        err_t e;
        for (int k = 0; k < 3; k++)
            assert_int_equal(db_acquire(db, DB_READ, &cs[k], &e), ERR_OK);
        for (int k = 0; k < 3; k++)
            db_release(cs[k]); /* 3 idle, recently used */
        kill_backends();
        /* a transaction on a dead connection fails with ERR_CONN, the core drops
         * it, pings its idle siblings (dead too) and retries on a fresh one */
        int64_t v = 0;
        OK(db_tx_run(db, DB_WRITE, tx_select, &v, &e_));
        assert_int_equal(v, 42);
        db_pool_stats ps;
        db_get_pool_stats(db, &ps);
        assert_true(ps.closed >= 3);
        assert_true(ps.preping_failures >= 1);
        db_query_stats qs;
        db_get_query_stats(db, &qs);
        assert_true(qs.retries <= 1);
        /* a connection that died while borrowed is closed on release, not pooled */
        assert_int_equal(db_acquire(db, DB_READ, &cs[0], &e), ERR_OK);
        kill_backends();
        db_stmt *s;
        err_code rc = db_prepare(cs[0], "SELECT 1", &s, &e);
        if (rc == ERR_OK) {
            rc = (err_code)db_step(s, &e);
            db_stmt_done(s);
        }
        assert_int_equal(rc, ERR_CONN);
        assert_null(strchr(e.msg, '\n'));
        uint64_t closed = ps.closed;
        db_release(cs[0]);
        db_get_pool_stats(db, &ps);
        assert_int_equal(ps.closed, closed + 1);
        OK(db_tx_run(db, DB_READ, tx_select, &v, &e_));
        db_close(db);
    }
}

/* ---- connect failures ------------------------------------------------------------- */

static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd); /* nothing listens there now */
    return ntohs(a.sin_port);
}

static void one_masked_line(const char *msg, const char *secret)
{
    assert_null(strchr(msg, '\n'));
    assert_null(strchr(msg, '\t'));
    assert_non_null(strstr(msg, "postgresql://ctxd:***@127.0.0.1:"));
    if (secret)
        assert_null(strstr(msg, secret));
}

static void test_connect_failures(void **state)
{
    (void)state;
    char msg[512];
    /* wrong password */
    char *u = xstrdup(url);
    char *at = strstr(u, ":ctxd@");
    assert_non_null(at);
    char *bad = ts_strf("%.*s:Sekr3tPw@%s", (int)(at - u), u, at + 6);
    assert_int_equal(open_fails(bad, msg, sizeof msg), ERR_AUTH);
    one_masked_line(msg, "Sekr3tPw");
    assert_non_null(strstr(msg, "password authentication failed"));
    free(bad);
    /* unknown database */
    bad = pgt_url_with(url, "no_such_db_ctxd", NULL);
    assert_int_equal(open_fails(bad, msg, sizeof msg), ERR_INVALID);
    one_masked_line(msg, NULL);
    assert_non_null(strstr(msg, "\"no_such_db_ctxd\" does not exist"));
    free(bad);
    /* server down: a closed port */
    char *rest = strchr(strstr(u, "127.0.0.1:"), '/');
    bad = ts_strf("postgresql://ctxd:ctxd@127.0.0.1:%d%s", closed_port(), rest);
    int64_t t0 = utc_mono_us();
    assert_int_equal(open_fails(bad, msg, sizeof msg), ERR_CONN);
    assert_true(utc_mono_us() - t0 < 5000000);
    one_masked_line(msg, NULL);
    free(bad);
    free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_caps_version), cmocka_unit_test(test_time_roundtrip),
        cmocka_unit_test(test_scalar_roundtrip),  cmocka_unit_test(test_json_roundtrip),
        cmocka_unit_test(test_unicode_bytes),     cmocka_unit_test(test_error_classes),
        cmocka_unit_test(test_statement_timeout), cmocka_unit_test(test_session_settings),
        cmocka_unit_test(test_libpq_options),     cmocka_unit_test(test_tls),
        cmocka_unit_test(test_prepared_modes),    cmocka_unit_test(test_one_statement_write),
        cmocka_unit_test(test_pool_exhausted),    cmocka_unit_test(test_connection_loss),
        cmocka_unit_test(test_connect_failures),  cmocka_unit_test(test_params),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
