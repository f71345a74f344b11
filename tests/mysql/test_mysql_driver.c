/* tests/mysql/test_mysql_driver.c — the db/ core over the MySQL/MariaDB driver on
 * the real MariaDB fixture server: every type round trip (DATETIME(6) to the
 * microsecond incl. the ends of its range, out-of-range refused; JSON values keep
 * their types; Unicode byte for byte incl. 4-byte characters; large values that
 * grow the column buffers), session settings and URL option passthrough, unknown
 * options refused, strict mode, error classes (unique, constraint, check, syntax,
 * invalid data, lock wait, deadlock, statement timeout), memory global uniqueness under
 * concurrency, pool exhaustion, a killed connection retried by db_tx_run, nested
 * statements on one connection, scripts and DDL's implicit commit, and connect
 * failures (wrong password, unknown database, server down) as one clear line with
 * the password masked; the typed parameter executors (with and without named
 * prepared statements). Usage: test_mysql_driver (URL from the mariadb fixture).
 * Must not: sleep to make timing assertions, depend on test order, or leave
 * databases behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <jansson.h>

#include "base/log.h"
#include "base/utc.h"
#include "db/db.h"
#include "migrate/migrate.h"
#include "db_params_test.h"
#include "my_support.h"
#include "test_support.h"

static char *g_server_url; /* the fixture's URL */
static char *g_url;        /* a fresh migrated database for this run */
static char *g_dbname;
static db_t *g_db;

/* ---- helpers ------------------------------------------------------------------------ */

#define OKE(x) \
    do { \
        err_t e_; \
        err_clear(&e_); \
        err_code rc_ = (x); \
        if (rc_ != ERR_OK) \
            fail_msg("%s -> %s: %s", #x, err_code_name(rc_), e_.msg); \
    } while (0)

static db_t *open_url(const char *url, const char *opts, err_code want, err_t *e)
{
    char *u =
        opts ? ts_strf("%s%s%s", url, strchr(url, '?') ? "&" : "?", opts) : ts_strf("%s", url);
    db_t *db = NULL;
    err_clear(e);
    err_code rc = db_open(u, NULL, &db, e);
    if (rc != want)
        fail_msg("db_open(%s) -> %s (%s), expected %s", opts ? opts : "", err_code_name(rc), e->msg,
                 err_code_name(want));
    free(u);
    return db;
}

static db_t *open_ok(const char *opts)
{
    err_t e;
    return open_url(g_url, opts, ERR_OK, &e);
}

static err_code exec_sql(db_t *db, const char *sql, err_t *e)
{
    db_conn *c;
    err_clear(e);
    err_code rc = db_acquire(db, DB_WRITE, &c, e);
    if (rc != ERR_OK)
        return rc;
    rc = db_exec(c, sql, e);
    db_release(c);
    return rc;
}

static void exec_ok(db_t *db, const char *sql)
{
    err_t e;
    err_code rc = exec_sql(db, sql, &e);
    if (rc != ERR_OK)
        fail_msg("%s -> %s: %s", sql, err_code_name(rc), e.msg);
}

/* Runs a one-row query on c and returns column 0 as text (caller frees). */
static char *q_text(db_conn *c, const char *sql)
{
    db_stmt *s;
    err_t e;
    err_clear(&e);
    if (db_prepare(c, sql, &s, &e) != ERR_OK)
        fail_msg("%s: %s", sql, e.msg);
    int r = db_step(s, &e);
    if (r != DB_ROW)
        fail_msg("%s: no row (%d %s)", sql, r, e.msg);
    const char *t = db_col_text(s, 0, NULL);
    char *out = t ? strdup(t) : NULL;
    db_stmt_done(s);
    return out;
}

static int64_t q_int(db_t *db, const char *sql)
{
    db_conn *c;
    err_t e;
    OKE(db_acquire(db, DB_READ, &c, &e_));
    db_stmt *s;
    err_clear(&e);
    if (db_prepare(c, sql, &s, &e) != ERR_OK)
        fail_msg("%s: %s", sql, e.msg);
    int r = db_step(s, &e);
    if (r != DB_ROW)
        fail_msg("%s: no row (%d %s)", sql, r, e.msg);
    int64_t v = db_col_int64(s, 0);
    db_stmt_done(s);
    db_release(c);
    return v;
}

/* Prepares sql on c, binds nothing, steps once: the result code. */
static int step_once(db_conn *c, const char *sql, err_t *e)
{
    db_stmt *s;
    err_clear(e);
    err_code rc = db_prepare(c, sql, &s, e);
    if (rc != ERR_OK)
        return rc;
    int r = db_step(s, e);
    db_stmt_done(s);
    return r;
}

static utc_us T(const char *iso)
{
    utc_us t = 0;
    err_t e;
    if (utc_parse(iso, &t, &e) != ERR_OK)
        fail_msg("bad time %s: %s", iso, e.msg);
    return t;
}

static bool one_line(const char *s)
{
    return !strchr(s, '\n') && !strchr(s, '\r');
}

/* ---- suite setup --------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    g_server_url = my_fixture_url();
    g_url = my_fresh_db(g_server_url, &g_dbname);
    err_t e;
    err_clear(&e);
    if (db_open(g_url, NULL, &g_db, &e) != ERR_OK) {
        fprintf(stderr, "db_open: %s\n", e.msg);
        return -1;
    }
    if (migrate_up(g_db, -1, NULL, &e) != ERR_OK) {
        fprintf(stderr, "migrate_up: %s\n", e.msg);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    db_close(g_db);
    my_drop_db(g_server_url, g_dbname);
    free(g_url);
    free(g_dbname);
    free(g_server_url);
    return 0;
}

/* ---- identity, settings, options ------------------------------------------------------- */

static void test_identity(void **state)
{
    (void)state;
    assert_int_equal(db_backend_of(g_db), DB_BACKEND_MYSQL);
    assert_string_equal(db_dialect(g_db), "mysql");
    unsigned caps = db_caps(g_db);
    assert_true(caps & DB_CAP_UPSERT_DUPLICATE);
    assert_true(caps & DB_CAP_ADVISORY_LOCK);
    assert_true(caps & DB_CAP_JSON);
    assert_false(caps & DB_CAP_RETURNING);
    assert_false(caps & DB_CAP_TRANSACTIONAL_DDL);
    assert_false(caps & DB_CAP_PARTIAL_INDEX);
    assert_false(caps & DB_CAP_SINGLE_WRITER);
    char v[64];
    OKE(db_server_version(g_db, v, sizeof v, &e_));
    if (strncmp(v, "MariaDB 10.", 11) != 0 && strncmp(v, "MariaDB 1", 9) != 0)
        fail_msg("server version '%s'", v);
    assert_null(strchr(v, '-'));
    int64_t rtt = -1;
    OKE(db_ping(g_db, &rtt, &e_));
    assert_true(rtt >= 0);
    /* the mariadb:// scheme is the same driver */
    char *u2 = ts_strf("mariadb%s", strstr(g_url, "://"));
    err_t e;
    db_t *db = open_url(u2, NULL, ERR_OK, &e);
    assert_string_equal(db_dialect(db), "mysql");
    assert_int_equal(q_int(db, "SELECT 41 + 1"), 42);
    db_close(db);
    free(u2);
}

static void test_session_settings_and_options(void **state)
{
    (void)state;
    db_t *db = open_ok("connect_timeout=5&read_timeout=30&write_timeout=30&charset=utf8mb4"
                       "&ssl_mode=disabled&statement_timeout=5s&pool_size=2&max_overflow=0"
                       "&pool_timeout=5&pool_recycle=100&pool_pre_ping_idle_ms=0&busy_timeout=2000"
                       "&prepared_statements=true");
    db_conn *c;
    OKE(db_acquire(db, DB_READ, &c, &e_));
    char *s = q_text(c, "SELECT @@SESSION.sql_mode");
    assert_non_null(strstr(s, "STRICT_ALL_TABLES"));
    assert_non_null(strstr(s, "NO_ZERO_DATE"));
    assert_non_null(strstr(s, "ERROR_FOR_DIVISION_BY_ZERO"));
    assert_non_null(strstr(s, "NO_ENGINE_SUBSTITUTION"));
    free(s);
    s = q_text(c, "SELECT @@SESSION.time_zone");
    assert_string_equal(s, "+00:00");
    free(s);
    s = q_text(c, "SELECT CONCAT(@@character_set_client, ' ', @@character_set_connection, ' ',"
                  " @@character_set_results)");
    assert_string_equal(s, "utf8mb4 utf8mb4 utf8mb4");
    free(s);
    s = q_text(c, "SELECT @@SESSION.max_statement_time");
    assert_true(atof(s) == 5.0);
    free(s);
    s = q_text(c, "SELECT @@SESSION.innodb_lock_wait_timeout");
    assert_string_equal(s, "2");
    free(s);
    s = q_text(c, "SELECT @@SESSION.autocommit");
    assert_string_equal(s, "1");
    free(s);
    db_release(c);
    db_pool_stats ps;
    db_get_pool_stats(db, &ps);
    assert_int_equal(ps.size, 2);
    assert_int_equal(ps.max_overflow, 0);
    db_close(db);

    /* bad or unknown options: ERR_INVALID naming the option, before any connection */
    static const struct {
        const char *opt, *needle;
    } bad[] = {
        {"bogus_opt=1", "bogus_opt"},
        {"sslmode2=require", "sslmode2"},
        {"charset=latin1", "charset"},
        {"ssl_mode=sideways", "ssl_mode"},
        {"connect_timeout=abc", "connect_timeout"},
        {"statement_timeout=-5", "statement_timeout"},
        {"prepared_statements=maybe", "prepared_statements"},
        {"pool_size=0", "pool_size"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err_t e;
        assert_null(open_url(g_url, bad[i].opt, ERR_INVALID, &e));
        if (!strstr(e.msg, bad[i].needle))
            fail_msg("%s: message does not name it: %s", bad[i].opt, e.msg);
        assert_null(strstr(e.msg, ":ctxd@"));
        assert_true(one_line(e.msg));
    }
    /* TLS demanded from a server without TLS: refused, URL masked */
    err_t e;
    err_clear(&e);
    db_t *t = NULL;
    char *u = ts_strf("%s?ssl_mode=required&connect_timeout=5", g_url);
    assert_int_not_equal(db_open(u, NULL, &t, &e), ERR_OK);
    assert_null(t);
    assert_non_null(strstr(e.msg, "://ctxd:***@"));
    assert_non_null(strstr(e.msg, "TLS"));
    assert_true(one_line(e.msg));
    free(u);
}

static void test_prepared_statements_off(void **state)
{
    (void)state;
    db_t *db = open_ok("prepared_statements=false&pool_size=1");
    db_conn *c;
    OKE(db_acquire(db, DB_READ, &c, &e_));
    for (int i = 0; i < 5; i++) {
        db_stmt *s;
        OKE(db_prepare(c, "SELECT ? + 1, CONCAT(?, 'x')", &s, &e_));
        db_bind_int64(s, 1, i);
        db_bind_text(s, 2, "ab", -1);
        err_t e;
        assert_int_equal(db_step(s, &e), DB_ROW);
        assert_int_equal(db_col_int64(s, 0), i + 1);
        assert_string_equal(db_col_text(s, 1, NULL), "abx");
        assert_int_equal(db_step(s, &e), DB_DONE);
        db_stmt_done(s);
    }
    db_release(c);
    db_close(db);
}

/* ---- types ------------------------------------------------------------------------------- */

static void test_types_roundtrip(void **state)
{
    (void)state;
    exec_ok(g_db, "CREATE TABLE t_types (id BIGINT AUTO_INCREMENT PRIMARY KEY, i BIGINT, d DOUBLE,"
                  " s VARCHAR(100), tx MEDIUMTEXT, j JSON, ts DATETIME(6), b BLOB, bo BOOLEAN)"
                  " ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin");
    static const unsigned char blob[] = {0x00, 0x01, 0xff, 0xfe, 0x00, 0x7f, 0x80};
    const int64_t ints[] = {INT64_MIN, INT64_MAX, 0, -1, 1234567890123LL};
    const double dbls[] = {0.1, -1e300, 3.141592653589793, 0.0, 5e-324};
    db_conn *c;
    OKE(db_acquire(g_db, DB_WRITE, &c, &e_));
    int64_t ids[6];
    for (int k = 0; k < 6; k++) {
        db_stmt *s;
        OKE(db_prepare(
            c, "INSERT INTO t_types (i, d, s, tx, j, ts, b, bo) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            &s, &e_));
        if (k == 5) {
            for (int p = 1; p <= 8; p++)
                db_bind_null(s, p);
        } else {
            db_bind_int64(s, 1, ints[k]);
            db_bind_double(s, 2, dbls[k]);
            db_bind_text(s, 3, "hello", -1);
            db_bind_text(s, 4, "", 0);
            db_bind_json(s, 5, "{\"k\":1}", -1);
            db_bind_time(s, 6, T("2024-02-29T12:34:56.789012Z") + k);
            db_bind_blob(s, 7, blob, sizeof blob);
            db_bind_bool(s, 8, k % 2 == 0);
        }
        err_t e;
        assert_int_equal(db_step(s, &e), DB_DONE);
        assert_int_equal(db_changes(s), 1);
        db_stmt_done(s);
        ids[k] = db_last_insert_id(c);
        assert_true(ids[k] > 0);
        if (k)
            assert_int_equal(ids[k], ids[k - 1] + 1);
    }
    db_stmt *s;
    OKE(db_prepare(c, "SELECT id, i, d, s, tx, j, ts, b, bo FROM t_types ORDER BY id", &s, &e_));
    assert_int_equal(db_col_count(s), 9);
    assert_string_equal(db_col_name(s, 6), "ts");
    err_t e;
    for (int k = 0; k < 6; k++) {
        assert_int_equal(db_step(s, &e), DB_ROW);
        assert_int_equal(db_col_int64(s, 0), ids[k]);
        if (k == 5) {
            for (int p = 1; p <= 8; p++)
                assert_true(db_col_null(s, p));
            assert_null(db_col_text(s, 3, NULL));
            assert_int_equal(db_col_time(s, 6), 0);
            continue;
        }
        assert_false(db_col_null(s, 1));
        assert_int_equal(db_col_int64(s, 1), ints[k]);
        assert_true(db_col_double(s, 2) == dbls[k]);
        size_t n = 99;
        assert_string_equal(db_col_text(s, 3, &n), "hello");
        assert_int_equal(n, 5);
        assert_string_equal(db_col_text(s, 4, &n), "");
        assert_int_equal(n, 0);
        assert_false(db_col_null(s, 4));
        assert_string_equal(db_col_json(s, 5, NULL), "{\"k\":1}");
        assert_int_equal(db_col_time(s, 6), T("2024-02-29T12:34:56.789012Z") + k);
        const void *b = db_col_blob(s, 7, &n);
        assert_int_equal(n, sizeof blob);
        assert_memory_equal(b, blob, sizeof blob);
        assert_int_equal(db_col_bool(s, 8), k % 2 == 0);
        /* conversions between column kinds */
        char want[32];
        snprintf(want, sizeof want, "%lld", (long long)ints[k]);
        assert_string_equal(db_col_text(s, 1, NULL), want);
    }
    assert_int_equal(db_step(s, &e), DB_DONE);
    db_stmt_done(s);
    db_release(c);
    exec_ok(g_db, "DROP TABLE t_types");
}

static void test_datetime_microseconds(void **state)
{
    (void)state;
    exec_ok(g_db,
            "CREATE TABLE t_time (id INT PRIMARY KEY, ts DATETIME(6) NOT NULL) ENGINE = InnoDB");
    static const char *const iso[] = {
        "1000-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z", "1969-12-31T23:59:59.999999Z",
        "1970-01-01T00:00:00.000000Z", "1970-01-01T00:00:00.000001Z", "2024-02-29T12:34:56.789012Z",
        "2000-03-01T00:00:00.500000Z", "1582-10-10T10:10:10.101010Z", "2038-01-19T03:14:08.000001Z",
        "1899-12-31T23:59:59.000009Z",
    };
    const size_t n = sizeof iso / sizeof iso[0];
    db_conn *c;
    OKE(db_acquire(g_db, DB_WRITE, &c, &e_));
    err_t e;
    for (size_t i = 0; i < n; i++) {
        db_stmt *s;
        OKE(db_prepare(c, "INSERT INTO t_time (id, ts) VALUES (?, ?)", &s, &e_));
        db_bind_int64(s, 1, (int64_t)i);
        db_bind_time(s, 2, T(iso[i]));
        assert_int_equal(db_step(s, &e), DB_DONE);
        db_stmt_done(s);
    }
    for (size_t i = 0; i < n; i++) {
        db_stmt *s;
        /* read back, and find it again by comparing with a bound time */
        OKE(db_prepare(
            c,
            "SELECT ts, CAST(ts AS CHAR), (SELECT COUNT(*) FROM t_time t2 WHERE t2.ts = ?)"
            " FROM t_time WHERE id = ?",
            &s, &e_));
        db_bind_time(s, 1, T(iso[i]));
        db_bind_int64(s, 2, (int64_t)i);
        assert_int_equal(db_step(s, &e), DB_ROW);
        assert_int_equal(db_col_time(s, 0), T(iso[i]));
        assert_string_equal(db_col_text(s, 0, NULL), iso[i]); /* the ISO form, Z */
        /* the server holds the same wall-clock value (UTC, no zone shift) */
        char want[40];
        snprintf(want, sizeof want, "%.10s %.15s", iso[i], iso[i] + 11);
        assert_string_equal(db_col_text(s, 1, NULL), want);
        assert_int_equal(db_col_int64(s, 2), 1);
        db_stmt_done(s);
    }
    /* MAX() of a DATETIME(6) column is a time too */
    db_stmt *s;
    OKE(db_prepare(c, "SELECT MAX(ts), MIN(ts) FROM t_time", &s, &e_));
    assert_int_equal(db_step(s, &e), DB_ROW);
    assert_int_equal(db_col_time(s, 0), T("9999-12-31T23:59:59.999999Z"));
    assert_int_equal(db_col_time(s, 1), T("1000-01-01T00:00:00Z"));
    db_stmt_done(s);
    /* outside DATETIME's range: refused with ERR_INVALID, nothing written */
    const utc_us out[] = {T("0999-12-31T23:59:59.999999Z"), T("9999-12-31T23:59:59.999999Z") + 1,
                          T("0001-01-01T00:00:00Z")};
    for (size_t i = 0; i < sizeof out / sizeof out[0]; i++) {
        OKE(db_prepare(c, "INSERT INTO t_time (id, ts) VALUES (?, ?)", &s, &e_));
        db_bind_int64(s, 1, 100 + (int64_t)i);
        db_bind_time(s, 2, out[i]);
        err_clear(&e);
        assert_int_equal(db_step(s, &e), ERR_INVALID);
        assert_true(one_line(e.msg));
        db_stmt_done(s);
    }
    db_release(c);
    assert_int_equal(q_int(g_db, "SELECT COUNT(*) FROM t_time"), (int64_t)n);
    exec_ok(g_db, "DROP TABLE t_time");
}

static void test_json_types(void **state)
{
    (void)state;
    exec_ok(g_db, "CREATE TABLE t_json (id INT PRIMARY KEY, j JSON NOT NULL) ENGINE = InnoDB");
    static const char *const vals[] = {
        "\"123\"",
        "123",
        "12.5",
        "-7",
        "0",
        "true",
        "false",
        "null",
        "\"\"",
        "\"true\"",
        "\"null\"",
        "{}",
        "[]",
        "{\"a\":{\"b\":[1,2,{\"c\":null}]},\"t\":true,\"f\":false,\"n\":null}",
        "[1,\"x\",true,null,{\"y\":[]}]",
        "\"\xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x8E\x89\"",
        "9007199254740993",
        "{\"spaced\" : [ 1 , 2 ] }",
    };
    const size_t n = sizeof vals / sizeof vals[0];
    db_conn *c;
    OKE(db_acquire(g_db, DB_WRITE, &c, &e_));
    err_t e;
    for (size_t i = 0; i < n; i++) {
        db_stmt *s;
        OKE(db_prepare(c, "INSERT INTO t_json (id, j) VALUES (?, ?)", &s, &e_));
        db_bind_int64(s, 1, (int64_t)i);
        db_bind_json(s, 2, vals[i], -1);
        assert_int_equal(db_step(s, &e), DB_DONE);
        db_stmt_done(s);
    }
    db_stmt *s;
    OKE(db_prepare(c, "SELECT id, j, JSON_TYPE(j) FROM t_json ORDER BY id", &s, &e_));
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(db_step(s, &e), DB_ROW);
        size_t len = 0;
        const char *j = db_col_json(s, 1, &len);
        assert_int_equal(len, strlen(vals[i]));
        assert_memory_equal(j, vals[i], len); /* kept as given */
        json_t *a = json_loads(vals[i], JSON_DECODE_ANY, NULL);
        json_t *b = json_loadb(j, len, JSON_DECODE_ANY, NULL);
        assert_non_null(b);
        assert_int_equal(json_typeof(a), json_typeof(b));
        assert_true(json_equal(a, b));
        json_decref(a);
        json_decref(b);
    }
    assert_int_equal(db_step(s, &e), DB_DONE);
    db_stmt_done(s);
    /* "123" is a string to the server too, 123 a number */
    char *t = q_text(c, "SELECT JSON_TYPE(j) FROM t_json WHERE id = 0");
    assert_string_equal(t, "STRING");
    free(t);
    t = q_text(c, "SELECT JSON_TYPE(j) FROM t_json WHERE id = 1");
    assert_string_equal(t, "INTEGER");
    free(t);
    /* invalid JSON is a constraint violation */
    OKE(db_prepare(c, "INSERT INTO t_json (id, j) VALUES (999, ?)", &s, &e_));
    db_bind_json(s, 1, "{bad", -1);
    assert_int_equal(db_step(s, &e), ERR_CONSTRAINT);
    db_stmt_done(s);
    db_release(c);
    exec_ok(g_db, "DROP TABLE t_json");
}

static void test_unicode_and_large_values(void **state)
{
    (void)state;
    exec_ok(g_db, "CREATE TABLE t_text (id INT PRIMARY KEY, s VARCHAR(100), tx MEDIUMTEXT)"
                  " ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin");
    static const struct {
        const char *s;
        int chars;
    } texts[] = {
        {"emoji \xF0\x9F\x8E\x89\xF0\x9F\x9A\x80 \xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7", 12},
        {"CJK \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4", 11},
        {"e\xCC\x81", 2}, /* decomposed */
        {"\xC3\xA9", 1},  /* precomposed */
        {"max \xF4\x8F\xBF\xBF U+FFFD \xEF\xBF\xBD", 14},
        {"quotes ' \" \\ ; -- /* */ \t\n\r\n", 28},
        {"trailing space ", 15},
        {"trailing space", 14},
    };
    const int n = (int)(sizeof texts / sizeof texts[0]);
    /* 100000 4-byte characters: 400000 bytes, grows the column buffer */
    size_t big_n = 100000 * 4;
    char *big = malloc(big_n + 1);
    for (size_t i = 0; i < big_n; i += 4)
        memcpy(big + i, "\xF0\x9F\x98\x80", 4);
    big[big_n] = '\0';
    db_conn *c;
    OKE(db_acquire(g_db, DB_WRITE, &c, &e_));
    err_t e;
    for (int i = 0; i <= n; i++) {
        db_stmt *s;
        OKE(db_prepare(c, "INSERT INTO t_text (id, s, tx) VALUES (?, ?, ?)", &s, &e_));
        db_bind_int64(s, 1, i);
        db_bind_text(s, 2, i < n ? texts[i].s : "big", -1);
        db_bind_text(s, 3, i < n ? texts[i].s : big, i < n ? -1 : (ptrdiff_t)big_n);
        assert_int_equal(db_step(s, &e), DB_DONE);
        db_stmt_done(s);
    }
    /* read in one pass: small, big, small values through the same buffers */
    db_stmt *s;
    OKE(db_prepare(c,
                   "SELECT id, s, tx, CHAR_LENGTH(tx), LENGTH(tx) FROM t_text"
                   " ORDER BY CASE WHEN id = ? THEN 1 ELSE 0 END, id DESC",
                   &s, &e_));
    db_bind_int64(s, 1, n / 2);
    int seen = 0;
    for (;;) {
        int r = db_step(s, &e);
        if (r == DB_DONE)
            break;
        assert_int_equal(r, DB_ROW);
        int id = (int)db_col_int64(s, 0);
        size_t len;
        const char *tx = db_col_text(s, 2, &len);
        if (id == n) {
            assert_int_equal(len, big_n);
            assert_memory_equal(tx, big, big_n);
            assert_int_equal(db_col_int64(s, 3), 100000);
        } else {
            assert_int_equal(len, strlen(texts[id].s));
            assert_memory_equal(tx, texts[id].s, len);
            assert_string_equal(db_col_text(s, 1, NULL), texts[id].s);
            assert_int_equal(db_col_int64(s, 3), texts[id].chars);
            assert_int_equal(db_col_int64(s, 4), (int64_t)len);
        }
        seen++;
    }
    assert_int_equal(seen, n + 1);
    db_stmt_done(s);
    /* equality is exact: no normalisation, no case folding, trailing spaces count */
    for (int i = 0; i < n; i++) {
        OKE(db_prepare(c, "SELECT COUNT(*) FROM t_text WHERE s = ?", &s, &e_));
        db_bind_text(s, 1, texts[i].s, -1);
        assert_int_equal(db_step(s, &e), DB_ROW);
        assert_int_equal(db_col_int64(s, 0), 1);
        db_stmt_done(s);
    }
    OKE(db_prepare(c, "SELECT COUNT(*) FROM t_text WHERE s = ?", &s, &e_));
    db_bind_text(
        s, 1, "EMOJI \xF0\x9F\x8E\x89\xF0\x9F\x9A\x80 \xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7",
        -1);
    assert_int_equal(db_step(s, &e), DB_ROW);
    assert_int_equal(db_col_int64(s, 0), 0);
    db_stmt_done(s);
    db_release(c);
    free(big);
    exec_ok(g_db, "DROP TABLE t_text");
}

/* ---- errors, strict mode ------------------------------------------------------------- */

/* want: DB_ROW, DB_DONE or an err_code */
static int expect_step(db_conn *c, const char *sql, int want)
{
    err_t e;
    int r = step_once(c, sql, &e);
    if (r != want)
        fail_msg("%s -> %d (%s), expected %d (%s)", sql, r, e.msg, want,
                 want >= DB_ROW ? "row/done" : err_code_name((err_code)want));
    if (want != DB_DONE && want != DB_ROW) {
        assert_true(one_line(e.msg));
        assert_true(e.native > 0);
    }
    return r;
}

static void test_error_classes(void **state)
{
    (void)state;
    db_conn *c;
    OKE(db_acquire(g_db, DB_WRITE, &c, &e_));
    const char *ins =
        "INSERT INTO sessions (id, purpose, created_by, is_active, created_at, updated_at)"
        " VALUES ('err_s1', 'p', 'c', 1, '2025-01-01', '2025-01-01')";
    expect_step(c, ins, DB_DONE);
    expect_step(c, ins, ERR_UNIQUE);
    expect_step(c,
                "INSERT INTO messages (session_id, sender, content, created_at)"
                " VALUES ('no_such_session', 'a', 'x', '2025-01-01')",
                ERR_CONSTRAINT); /* FK */
    expect_step(c,
                "INSERT INTO sessions (id, purpose, created_by, is_active, created_at, updated_at)"
                " VALUES ('err_s2', NULL, 'c', 1, '2025-01-01', '2025-01-01')",
                ERR_CONSTRAINT);
    expect_step(c,
                "INSERT INTO messages (session_id, sender, content, visibility, created_at)"
                " VALUES ('err_s1', 'a', 'x', 'bogus', '2025-01-01')",
                ERR_CONSTRAINT); /* CHECK */
    expect_step(c,
                "INSERT INTO sessions (id, purpose, created_by, metadata, is_active, created_at,"
                " updated_at) VALUES ('err_s3', 'p', 'c', '[1]', 1, '2025-01-01', '2025-01-01')",
                ERR_CONSTRAINT); /* metadata must be an object */
    expect_step(c,
                "INSERT INTO agent_memory (agent_id, `key`, value, created_at, updated_at)"
                " VALUES ('a', 'k', '{bad', '2025-01-01', '2025-01-01')",
                ERR_CONSTRAINT);
    expect_step(c,
                "DELETE FROM sessions WHERE id = 'err_s1' AND is_active = 1 AND 1 =", ERR_SYNTAX);
    expect_step(c, "SELEC 1", ERR_SYNTAX);
    expect_step(c, "SELECT * FROM no_such_table", ERR_SYNTAX);
    expect_step(c, "SELECT no_such_column FROM sessions", ERR_SYNTAX);
    /* strict mode: an over-long value is an error, never a silent truncation */
    char *long_id =
        ts_strf("INSERT INTO sessions (id, purpose, created_by, is_active, created_at,"
                " updated_at) VALUES ('%0101d', 'p', 'c', 1, '2025-01-01', '2025-01-01')",
                7);
    expect_step(c, long_id, ERR_INVALID);
    free(long_id);
    expect_step(c,
                "INSERT INTO sessions (id, purpose, created_by, is_active, created_at, updated_at)"
                " VALUES ('err_s4', 'p', 'c', 1, '2025-02-30', '2025-01-01')",
                ERR_INVALID);
    expect_step(c,
                "INSERT INTO sessions (id, purpose, created_by, is_active, created_at, updated_at)"
                " VALUES ('err_s5', 'p', 'c', 1, '0000-00-00', '2025-01-01')",
                ERR_INVALID);
    /* a bound over-long value as well */
    db_stmt *s;
    OKE(db_prepare(c,
                   "INSERT INTO messages (session_id, sender, sender_type, content, created_at)"
                   " VALUES ('err_s1', ?, 'x', 'c', '2025-01-01')",
                   &s, &e_));
    char sender[102];
    memset(sender, 's', 101);
    sender[101] = '\0';
    db_bind_text(s, 1, sender, -1);
    err_t e;
    assert_int_equal(db_step(s, &e), ERR_INVALID);
    assert_non_null(strstr(e.msg, "sender"));
    db_stmt_done(s);
    /* a statement error leaves the connection usable */
    expect_step(c, "SELECT 1", DB_ROW);
    db_release(c);
    assert_int_equal(
        q_int(g_db, "SELECT COUNT(*) FROM sessions WHERE id LIKE 'err\\_%' OR LENGTH(id) > 100"),
        1);
    assert_int_equal(q_int(g_db, "SELECT COUNT(*) FROM messages WHERE session_id = 'err_s1'"), 0);
    exec_ok(g_db, "DELETE FROM sessions WHERE id = 'err_s1'");
}

typedef struct {
    db_conn *c;
    const char *sql;
    int r;
    err_t e;
} dl_arg;

static void *dl_thread(void *arg)
{
    dl_arg *x = arg;
    x->r = step_once(x->c, x->sql, &x->e);
    return NULL;
}

static void test_lock_wait_and_timeout(void **state)
{
    (void)state;
    /* busy_timeout=1000 -> innodb_lock_wait_timeout=1: a blocked row lock is ERR_BUSY */
    db_t *db = open_ok("busy_timeout=1000&pool_size=2");
    exec_ok(db, "INSERT INTO sessions (id, purpose, created_by, is_active, created_at, updated_at)"
                " VALUES ('lock_s', 'p', 'c', 1, '2025-01-01', '2025-01-01')");
    db_conn *a, *b;
    OKE(db_acquire(db, DB_WRITE, &a, &e_));
    OKE(db_acquire(db, DB_WRITE, &b, &e_));
    OKE(db_begin(a, &e_));
    expect_step(a, "UPDATE sessions SET purpose = 'A' WHERE id = 'lock_s'", DB_DONE);
    OKE(db_begin(b, &e_));
    int64_t t0 = utc_mono_us();
    expect_step(b, "UPDATE sessions SET purpose = 'B' WHERE id = 'lock_s'", ERR_BUSY);
    assert_true(utc_mono_us() - t0 < 10 * 1000000LL);
    db_rollback(b);
    db_rollback(a);
    db_release(b);
    db_release(a);
    exec_ok(db, "DELETE FROM sessions WHERE id = 'lock_s'");

    /* a deadlock (1213): one side gets ERR_BUSY at once, the other proceeds */
    exec_ok(db, "INSERT INTO sessions (id, purpose, created_by, is_active, created_at, updated_at)"
                " VALUES ('dl_1', 'p', 'c', 1, '2025-01-01', '2025-01-01'),"
                " ('dl_2', 'p', 'c', 1, '2025-01-01', '2025-01-01')");
    db_close(db);
    db = open_ok("busy_timeout=20000&pool_size=3");
    OKE(db_acquire(db, DB_WRITE, &a, &e_));
    OKE(db_acquire(db, DB_WRITE, &b, &e_));
    OKE(db_begin(a, &e_));
    OKE(db_begin(b, &e_));
    expect_step(a, "UPDATE sessions SET purpose = 'A' WHERE id = 'dl_1'", DB_DONE);
    expect_step(b, "UPDATE sessions SET purpose = 'B' WHERE id = 'dl_2'", DB_DONE);
    dl_arg x = {.c = a, .sql = "UPDATE sessions SET purpose = 'A' WHERE id = 'dl_2'"};
    pthread_t th;
    pthread_create(&th, NULL, dl_thread, &x);
    /* wait (poll) until A is blocked on B's row lock. InnoDB refreshes the
     * INNODB_TRX view only when it has not been READ for 100 ms, so a tight loop
     * would keep seeing the stale snapshot forever: pause between looks. */
    int64_t deadline = utc_mono_us() + 30 * 1000000LL;
    while (
        q_int(db,
              "SELECT COUNT(*) FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT'") ==
        0) {
        if (utc_mono_us() > deadline)
            fail_msg("A never waited for the lock (A's statement returned %d: %s)", x.r, x.e.msg);
        usleep(150 * 1000);
    }
    err_t eb;
    int rb = step_once(b, "UPDATE sessions SET purpose = 'B' WHERE id = 'dl_1'", &eb);
    pthread_join(th, NULL);
    if (!((rb == ERR_BUSY && eb.native == 1213 && x.r == DB_DONE) ||
          (x.r == ERR_BUSY && x.e.native == 1213 && rb == DB_DONE)))
        fail_msg("deadlock: A -> %d (%s), B -> %d (%s)", x.r, x.e.msg, rb, eb.msg);
    db_rollback(a);
    db_rollback(b);
    db_release(a);
    db_release(b);
    exec_ok(db, "DELETE FROM sessions WHERE id IN ('dl_1', 'dl_2')");
    db_close(db);

    /* statement_timeout -> max_statement_time: ERR_TIMEOUT, the connection stays usable */
    db = open_ok("statement_timeout=200&pool_size=1");
    db_conn *c;
    OKE(db_acquire(db, DB_READ, &c, &e_));
    t0 = utc_mono_us();
    expect_step(c, "SELECT SLEEP(5)", ERR_TIMEOUT);
    assert_true(utc_mono_us() - t0 < 4 * 1000000LL);
    expect_step(c, "SELECT 1", DB_ROW);
    db_release(c);
    db_close(db);
}

/* ---- rows changed, ids, nested statements, scripts -------------------------------------- */

static void test_changes_ids_nested(void **state)
{
    (void)state;
    db_conn *c;
    OKE(db_acquire(g_db, DB_WRITE, &c, &e_));
    expect_step(c,
                "INSERT INTO sessions (id, purpose, created_by, is_active, created_at, updated_at)"
                " VALUES ('chg_s', 'p', 'c', 1, '2025-01-01', '2025-01-01')",
                DB_DONE);
    /* CLIENT_FOUND_ROWS: an UPDATE that changes nothing still counts its matched row */
    for (int i = 0; i < 2; i++) {
        db_stmt *s;
        OKE(db_prepare(c, "UPDATE sessions SET updated_at = ? WHERE id = ?", &s, &e_));
        db_bind_time(s, 1, T("2025-06-01T00:00:00Z"));
        db_bind_text(s, 2, "chg_s", -1);
        err_t e;
        assert_int_equal(db_step(s, &e), DB_DONE);
        assert_int_equal(db_changes(s), 1);
        db_stmt_done(s);
    }
    db_stmt *s;
    OKE(db_prepare(c, "UPDATE sessions SET updated_at = ? WHERE id = ?", &s, &e_));
    db_bind_time(s, 1, T("2025-06-01T00:00:00Z"));
    db_bind_text(s, 2, "no_such", -1);
    err_t e;
    assert_int_equal(db_step(s, &e), DB_DONE);
    assert_int_equal(db_changes(s), 0);
    db_stmt_done(s);
    /* ids: last_insert_id is the message's id */
    int64_t ids[5];
    for (int i = 0; i < 5; i++) {
        OKE(db_prepare(c,
                       "INSERT INTO messages (session_id, sender, content, created_at)"
                       " VALUES ('chg_s', 'a', ?, '2025-01-01')",
                       &s, &e_));
        char content[16];
        snprintf(content, sizeof content, "m%d", i);
        db_bind_text(s, 1, content, -1);
        assert_int_equal(db_step(s, &e), DB_DONE);
        db_stmt_done(s);
        ids[i] = db_last_insert_id(c);
    }
    /* a statement that inserts nothing keeps the last id */
    expect_step(c, "UPDATE sessions SET purpose = 'q' WHERE id = 'chg_s'", DB_DONE);
    assert_int_equal(db_last_insert_id(c), ids[4]);
    /* nested: while A is between rows, B runs on the same connection */
    db_stmt *a;
    OKE(db_prepare(c, "SELECT id, content FROM messages WHERE session_id = 'chg_s' ORDER BY id", &a,
                   &e_));
    int k = 0;
    while (db_step(a, &e) == DB_ROW) {
        assert_int_equal(db_col_int64(a, 0), ids[k]);
        char want[16];
        snprintf(want, sizeof want, "m%d", k);
        assert_string_equal(db_col_text(a, 1, NULL), want);
        /* the same SQL nested: a second statement object */
        db_stmt *b;
        OKE(db_prepare(c, "SELECT id, content FROM messages WHERE session_id = 'chg_s' ORDER BY id",
                       &b, &e_));
        int m = 0;
        while (db_step(b, &e) == DB_ROW)
            m++;
        assert_int_equal(m, 5);
        db_stmt_done(b);
        k++;
    }
    assert_int_equal(k, 5);
    db_stmt_done(a);
    /* abandoned after one row, then reused from the cache */
    OKE(db_prepare(c, "SELECT id FROM messages WHERE session_id = 'chg_s' ORDER BY id", &a, &e_));
    assert_int_equal(db_step(a, &e), DB_ROW);
    db_stmt_done(a);
    OKE(db_prepare(c, "SELECT id FROM messages WHERE session_id = 'chg_s' ORDER BY id", &a, &e_));
    assert_int_equal(db_step(a, &e), DB_ROW);
    assert_int_equal(db_col_int64(a, 0), ids[0]);
    db_stmt_done(a);
    /* one statement per prepare */
    err_clear(&e);
    assert_int_equal(db_prepare(c, "SELECT 1; SELECT 2", &a, &e), ERR_INVALID);
    db_release(c);
    exec_ok(g_db, "DELETE FROM sessions WHERE id = 'chg_s'");
    assert_int_equal(q_int(g_db, "SELECT COUNT(*) FROM messages WHERE session_id = 'chg_s'"), 0);
}

static void test_scripts_and_ddl(void **state)
{
    (void)state;
    db_conn *c;
    OKE(db_acquire(g_db, DB_WRITE, &c, &e_));
    OKE(db_exec(
        c,
        "-- a comment; with a semicolon\n"
        "CREATE TABLE t_script (v VARCHAR(10)) ENGINE = InnoDB;\n"
        "INSERT INTO t_script VALUES ('a;b'); /* ; */ INSERT INTO t_script VALUES ('it''s');\n"
        "SELECT 1;",
        &e_));
    char *t = q_text(c, "SELECT GROUP_CONCAT(v ORDER BY v SEPARATOR '|') FROM t_script");
    assert_string_equal(t, "a;b|it's");
    free(t);
    err_t e;
    err_clear(&e);
    assert_int_equal(
        db_exec(c, "INSERT INTO t_script VALUES ('x');\nINSERT INTO no_such_tbl VALUES (1)", &e),
        ERR_SYNTAX);
    assert_non_null(strstr(e.msg, "no_such_tbl"));
    assert_true(one_line(e.msg));
    /* a transaction, rolled back */
    OKE(db_begin(c, &e_));
    assert_true(db_in_tx(c));
    OKE(db_exec(c, "INSERT INTO t_script VALUES ('tx')", &e_));
    db_rollback(c);
    assert_false(db_in_tx(c));
    assert_int_equal(step_once(c, "SELECT 1 FROM t_script WHERE v = 'tx'", &e), DB_DONE);
    /* DDL commits implicitly: the driver reports the transaction as gone */
    OKE(db_begin(c, &e_));
    OKE(db_exec(c, "INSERT INTO t_script VALUES ('kept')", &e_));
    OKE(db_exec(c, "CREATE TABLE t_script2 (v INT)", &e_));
    assert_false(db_in_tx(c));
    db_release(c);
    assert_int_equal(q_int(g_db, "SELECT COUNT(*) FROM t_script WHERE v = 'kept'"), 1);
    exec_ok(g_db, "DROP TABLE t_script; DROP TABLE t_script2");
}

/* ---- memory uniqueness ---------------------------------------------------------------------- */

typedef struct {
    const char *url;
    const char *session; /* NULL = global */
    err_code rc;
    pthread_barrier_t *bar;
} mem_race;

static void *mem_race_thread(void *arg)
{
    mem_race *r = arg;
    db_t *db = NULL;
    err_t e;
    if (db_open(r->url, NULL, &db, &e) != ERR_OK) {
        r->rc = e.code;
        pthread_barrier_wait(r->bar);
        return NULL;
    }
    db_conn *c;
    r->rc = db_acquire(db, DB_WRITE, &c, &e);
    pthread_barrier_wait(r->bar);
    if (r->rc == ERR_OK) {
        db_stmt *s;
        r->rc =
            db_prepare(c,
                       "INSERT INTO agent_memory (agent_id, session_id, `key`, value, created_at,"
                       " updated_at) VALUES ('racer', ?, 'same', '1', '2025-01-01', '2025-01-01')",
                       &s, &e);
        if (r->rc == ERR_OK) {
            db_bind_text(s, 1, r->session, -1);
            int x = db_step(s, &e);
            r->rc = x == DB_DONE ? ERR_OK : (err_code)x;
            db_stmt_done(s);
        }
        db_release(c);
    }
    db_close(db);
    return NULL;
}

static void test_memory_global_unique(void **state)
{
    (void)state;
    db_conn *c;
    OKE(db_acquire(g_db, DB_WRITE, &c, &e_));
    expect_step(c,
                "INSERT INTO sessions (id, purpose, created_by, is_active, created_at, updated_at)"
                " VALUES ('mem_s', 'p', 'c', 1, '2025-01-01', '2025-01-01')",
                DB_DONE);
#define MEM_INS(sid, key) \
    "INSERT INTO agent_memory (agent_id, session_id, `key`, value, created_at, updated_at)" \
    " VALUES ('agent', " sid ", '" key "', '1', '2025-01-01', '2025-01-01')"
    expect_step(c, MEM_INS("NULL", "k"), DB_DONE);
    expect_step(c, MEM_INS("NULL", "k"), ERR_UNIQUE); /* two global rows: impossible */
    expect_step(c, MEM_INS("'mem_s'", "k"), DB_DONE); /* the same key in a session: fine */
    expect_step(c, MEM_INS("'mem_s'", "k"), ERR_UNIQUE);
    expect_step(c, MEM_INS("NULL", "K"), DB_DONE);  /* byte-wise: case matters */
    expect_step(c, MEM_INS("NULL", "k "), DB_DONE); /* and trailing spaces */
    expect_step(c, "UPDATE agent_memory SET session_id = NULL WHERE session_id = 'mem_s'",
                ERR_UNIQUE);
    db_release(c);
    assert_int_equal(q_int(g_db, "SELECT COUNT(*) FROM agent_memory WHERE agent_id = 'agent'"), 4);

    /* racing inserts of one global key from separate connections: exactly one wins */
    enum {
        N = 4
    };
    for (int round = 0; round < 2; round++) {
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, N);
        pthread_t th[N];
        mem_race r[N];
        for (int i = 0; i < N; i++) {
            r[i] = (mem_race){.url = g_url, .session = round ? "mem_s" : NULL, .bar = &bar};
            pthread_create(&th[i], NULL, mem_race_thread, &r[i]);
        }
        int ok = 0;
        for (int i = 0; i < N; i++) {
            pthread_join(th[i], NULL);
            if (r[i].rc == ERR_OK)
                ok++;
            else if (r[i].rc != ERR_UNIQUE && r[i].rc != ERR_BUSY)
                fail_msg("racer %d: %s", i, err_code_name(r[i].rc));
        }
        pthread_barrier_destroy(&bar);
        assert_int_equal(ok, 1);
    }
    assert_int_equal(q_int(g_db, "SELECT COUNT(*) FROM agent_memory WHERE agent_id = 'racer'"), 2);
    exec_ok(g_db, "DELETE FROM agent_memory WHERE agent_id IN ('agent', 'racer');"
                  " DELETE FROM sessions WHERE id = 'mem_s'");
}

/* ---- pool, lost connections ------------------------------------------------------------------ */

static void test_pool_exhausted(void **state)
{
    (void)state;
    db_t *db = open_ok("pool_size=1&max_overflow=0&pool_timeout=0.3");
    db_conn *c1, *c2 = NULL;
    OKE(db_acquire(db, DB_WRITE, &c1, &e_));
    err_t e;
    err_clear(&e);
    int64_t t0 = utc_mono_us();
    assert_int_equal(db_acquire(db, DB_READ, &c2, &e), ERR_TIMEOUT);
    int64_t waited = utc_mono_us() - t0;
    assert_true(waited >= 250000);
    assert_true(waited < 5000000);
    assert_null(c2);
    assert_non_null(
        strstr(e.msg, "no database connection free within 0.3 s (pool size 1, overflow 0)"));
    db_release(c1);
    OKE(db_acquire(db, DB_READ, &c2, &e_)); /* free again */
    db_release(c2);
    db_pool_stats ps;
    db_get_pool_stats(db, &ps);
    assert_int_equal(ps.timeouts, 1);
    db_close(db);
}

typedef struct {
    int64_t id;
} ins_ctx;

static err_code tx_insert(db_conn *c, void *arg, err_t *e)
{
    ins_ctx *x = arg;
    db_stmt *s;
    err_code rc = db_prepare(c,
                             "INSERT INTO audit_log (created_at, event_type, agent_id)"
                             " VALUES ('2025-01-01', 'killed_test', 'me')",
                             &s, e);
    if (rc != ERR_OK)
        return rc;
    int r = db_step(s, e);
    db_stmt_done(s);
    if (r != DB_DONE)
        return (err_code)r;
    x->id = db_last_insert_id(c);
    return ERR_OK;
}

static void test_killed_connection(void **state)
{
    (void)state;
    db_t *db = open_ok("pool_size=1&max_overflow=0");
    for (int round = 0; round < 2; round++) {
        db_conn *c;
        OKE(db_acquire(db, DB_WRITE, &c, &e_));
        int64_t id = 0;
        char *t = q_text(c, "SELECT CONNECTION_ID()");
        id = atoll(t);
        free(t);
        db_release(c);
        char *kill = ts_strf("KILL CONNECTION %lld", (long long)id);
        assert_int_equal(my_admin(g_server_url, NULL, kill), 0);
        free(kill);
        if (round == 0) {
            /* a plain statement on the dead connection: ERR_CONN, and the pool drops it */
            OKE(db_acquire(db, DB_WRITE, &c, &e_));
            err_t e;
            int r = step_once(c, "SELECT 1", &e);
            assert_int_equal(r, ERR_CONN);
            assert_true(one_line(e.msg));
            db_release(c);
            assert_int_equal(q_int(db, "SELECT 2"), 2);
        } else {
            /* in a transaction: db_tx_run retries on a fresh connection */
            ins_ctx x = {0};
            OKE(db_tx_run(db, DB_WRITE, tx_insert, &x, &e_));
            assert_true(x.id > 0);
        }
    }
    db_pool_stats ps;
    db_get_pool_stats(db, &ps);
    assert_int_equal(ps.created, 3);
    assert_int_equal(q_int(db, "SELECT COUNT(*) FROM audit_log WHERE event_type = 'killed_test'"),
                     1);
    exec_ok(db, "DELETE FROM audit_log WHERE event_type = 'killed_test'");
    db_close(db);

    /* with pre-ping on every borrow, the dead connection never reaches a caller */
    db = open_ok("pool_size=1&max_overflow=0&pool_pre_ping_idle_ms=0");
    db_conn *c;
    OKE(db_acquire(db, DB_WRITE, &c, &e_));
    char *t = q_text(c, "SELECT CONNECTION_ID()");
    char *kill = ts_strf("KILL CONNECTION %s", t);
    free(t);
    db_release(c);
    assert_int_equal(my_admin(g_server_url, NULL, kill), 0);
    free(kill);
    assert_int_equal(q_int(db, "SELECT 3"), 3);
    db_get_pool_stats(db, &ps);
    assert_int_equal(ps.preping_failures, 1);
    assert_int_equal(ps.created, 2);
    db_close(db);
}

/* ---- connect failures ------------------------------------------------------------------------- */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t n = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &n), 0);
    close(fd); /* nothing listens there now */
    return ntohs(a.sin_port);
}

static void check_connect_msg(const err_t *e, const char *secret)
{
    assert_true(one_line(e->msg));
    if (!strstr(e->msg, "://ctxd:***@"))
        fail_msg("URL not shown masked: %s", e->msg);
    if (secret && strstr(e->msg, secret))
        fail_msg("password leaked: %s", e->msg);
}

static void test_connect_failures(void **state)
{
    (void)state;
    db_url *u = NULL;
    err_t e;
    OKE(db_url_parse(g_url, &u, &e_));
    /* wrong password */
    char *url = ts_strf("mysql://ctxd:Wr0ngSecretPw@%s:%d/%s", u->host, u->port, u->database);
    assert_null(open_url(url, NULL, ERR_AUTH, &e));
    check_connect_msg(&e, "Wr0ngSecretPw");
    free(url);
    /* unknown database */
    url = ts_strf("mysql://ctxd:ctxd@%s:%d/no_such_db_xyz", u->host, u->port);
    assert_null(open_url(url, NULL, ERR_INVALID, &e));
    check_connect_msg(&e, NULL);
    assert_non_null(strstr(e.msg, "no_such_db_xyz"));
    assert_non_null(strstr(e.msg, "does not exist"));
    free(url);
    /* server down */
    url =
        ts_strf("mariadb://ctxd:S3cretDown@127.0.0.1:%d/ctxd_test?connect_timeout=3", free_port());
    int64_t t0 = utc_mono_us();
    assert_null(open_url(url, NULL, ERR_CONN, &e));
    assert_true(utc_mono_us() - t0 < 5000000);
    assert_non_null(strstr(e.msg, "mariadb://"));
    check_connect_msg(&e, "S3cretDown");
    free(url);
    db_url_free(u);
}

/* ---- typed parameter arrays and executors (tests/support/db_params_test.c) ---- */

static void test_params(void **state)
{
    (void)state;
    const char *modes[] = {NULL, "prepared_statements=false"};
    for (size_t i = 0; i < 2; i++) {
        db_t *db = open_ok(modes[i]);
        tdb_params_all(db);
        db_close(db);
    }
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_session_settings_and_options),
        cmocka_unit_test(test_prepared_statements_off),
        cmocka_unit_test(test_types_roundtrip),
        cmocka_unit_test(test_datetime_microseconds),
        cmocka_unit_test(test_json_types),
        cmocka_unit_test(test_unicode_and_large_values),
        cmocka_unit_test(test_error_classes),
        cmocka_unit_test(test_lock_wait_and_timeout),
        cmocka_unit_test(test_changes_ids_nested),
        cmocka_unit_test(test_scripts_and_ddl),
        cmocka_unit_test(test_memory_global_unique),
        cmocka_unit_test(test_pool_exhausted),
        cmocka_unit_test(test_killed_connection),
        cmocka_unit_test(test_connect_failures),
        cmocka_unit_test(test_params),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
