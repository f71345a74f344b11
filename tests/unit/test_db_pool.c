/* tests/unit/test_db_pool.c — the connection pool and db_tx_run: exhaustion ->
 * ERR_TIMEOUT (class asserted, not elapsed time), overflow connections created
 * and closed on return (idle timeout 0) or kept warm, reused and closed after the idle
 * timeout (on a clock the test moves), the per-backend pool size default, statistics, recycle by age, pre-ping, the SQLite writer/reader
 * split and the single shared :memory: connection, db_tx_run retrying a real
 * busy failure, giving up, not retrying non-retryable classes, and several
 * threads and several processes writing one SQLite file without losing a row.
 * Must not: assert on elapsed time or depend on scheduling for its outcome. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/conf.h"
#include "base/log.h"
#include "db/db.h"
#include "db/url.h"
#include "db_test.h"

static void small_opts(db_opts *o, int size, int overflow)
{
    db_opts_default(o);
    o->pool_size = size;
    o->max_overflow = overflow;
    o->pool_timeout_ms = 200;
}

/* ---- pool ------------------------------------------------------------------------ */

static void test_exhaustion_timeout(void **state)
{
    tdb_fixture *f = *state;
    db_opts o;
    small_opts(&o, 1, 0);
    db_t *db = tdb_open_ok(f->url, &o);
    db_conn *r1 = NULL, *r2 = NULL, *w1 = NULL, *w2 = NULL;
    err_t e = {0};
    assert_int_equal(db_acquire(db, DB_READ, &r1, &e), ERR_OK);
    assert_int_equal(db_acquire(db, DB_READ, &r2, &e), ERR_TIMEOUT);
    assert_null(r2);
    assert_non_null(
        strstr(e.msg, "no database connection free within 0.2 s (pool size 1, overflow 0)"));
    /* the writer is separate from the readers ... */
    assert_int_equal(db_acquire(db, DB_WRITE, &w1, &e), ERR_OK);
    assert_ptr_not_equal(w1, r1);
    /* ... and there is exactly one */
    assert_int_equal(db_acquire(db, DB_WRITE, &w2, &e), ERR_TIMEOUT);
    assert_non_null(strstr(e.msg, "writer"));
    db_pool_stats ps;
    db_get_pool_stats(db, &ps);
    assert_int_equal(ps.size, 2); /* 1 writer + 1 reader */
    assert_int_equal(ps.in_use, 2);
    assert_int_equal(ps.idle, 0);
    assert_int_equal(ps.timeouts, 2);
    assert_int_equal(ps.waits, 2);
    db_release(r1);
    db_release(w1);
    /* freed connections are handed out again */
    assert_int_equal(db_acquire(db, DB_READ, &r2, &e), ERR_OK);
    assert_ptr_equal(r2, r1);
    db_release(r2);
    db_get_pool_stats(db, &ps);
    assert_int_equal(ps.in_use, 0);
    assert_int_equal(ps.idle, 2);
    assert_int_equal(ps.created, 2);
    assert_int_equal(ps.closed, 0);
    assert_int_equal(ps.acquired, 4); /* open's probe, r1, w1, r2 */
    db_close(db);
}

static void test_memory_single_connection(void **state)
{
    (void)state;
    db_opts o;
    small_opts(&o, 5, 10);
    db_t *db = tdb_open_ok("sqlite:///:memory:", &o);
    db_conn *a = NULL, *b = NULL;
    err_t e = {0};
    assert_int_equal(db_acquire(db, DB_READ, &a, &e), ERR_OK);
    /* one shared connection: a second borrower waits, whatever its intent */
    assert_int_equal(db_acquire(db, DB_WRITE, &b, &e), ERR_TIMEOUT);
    assert_int_equal(db_acquire(db, DB_READ, &b, &e), ERR_TIMEOUT);
    db_release(a);
    assert_int_equal(db_acquire(db, DB_WRITE, &b, &e), ERR_OK);
    assert_ptr_equal(a, b);
    db_release(b);
    db_close(db);
}

static void test_overflow(void **state)
{
    tdb_fixture *f = *state;
    db_opts o;
    small_opts(&o, 1, 2);
    o.pool_idle_timeout_s = 0; /* overflow closed on return */
    db_t *db = tdb_open_ok(f->url, &o);
    db_conn *r[4] = {0};
    err_t e = {0};
    for (int i = 0; i < 3; i++)
        assert_int_equal(db_acquire(db, DB_READ, &r[i], &e), ERR_OK);
    assert_int_equal(db_acquire(db, DB_READ, &r[3], &e), ERR_TIMEOUT);
    db_pool_stats ps;
    db_get_pool_stats(db, &ps);
    assert_int_equal(ps.in_use, 3);
    assert_int_equal(ps.overflow_in_use, 2);
    assert_int_equal(ps.created, 4); /* writer + 3 readers */
    assert_int_equal(ps.max_overflow, 2);
    for (int i = 0; i < 3; i++)
        db_release(r[i]);
    db_get_pool_stats(db, &ps);
    assert_int_equal(ps.in_use, 0);
    assert_int_equal(ps.overflow_in_use, 0);
    assert_int_equal(ps.closed, 2); /* overflow connections are closed on return */
    assert_int_equal(ps.idle, 2);   /* writer + the one kept reader */
    /* the kept reader is reused; new overflow ones are created on demand */
    for (int i = 0; i < 2; i++)
        assert_int_equal(db_acquire(db, DB_READ, &r[i], &e), ERR_OK);
    db_get_pool_stats(db, &ps);
    assert_int_equal(ps.created, 5);
    assert_int_equal(ps.overflow_in_use, 1);
    for (int i = 0; i < 2; i++)
        db_release(r[i]);
    db_close(db);
}

/* The pool's clock in the idle timeout tests: moved by the test, never by time. */
static int64_t g_clock_us = 1000000000;
static int64_t test_clock(void)
{
    return g_clock_us;
}

/* Overflow connections (beyond the pool size) returned to the pool stay open and are
 * handed out again without a new connect, until they were idle pool_idle_timeout_s;
 * then the next borrow closes them (the oldest first, never below the pool size). */
static void test_overflow_kept_warm(void **state)
{
    tdb_fixture *f = *state;
    db_opts o;
    small_opts(&o, 1, 2);
    o.pool_idle_timeout_s = 60;
    o.pool_recycle_s = 0; /* ages are not what this test is about */
    o.mono_us = test_clock;
    db_t *db = tdb_open_ok(f->url, &o);
    db_conn *r[3] = {0};
    err_t e = {0};
    for (int i = 0; i < 3; i++)
        assert_int_equal(db_acquire(db, DB_READ, &r[i], &e), ERR_OK);
    db_pool_stats ps;
    db_get_pool_stats(db, &ps);
    assert_int_equal(ps.created, 4); /* writer + 3 readers */
    assert_int_equal(ps.overflow_in_use, 2);
    for (int i = 0; i < 3; i++)
        db_release(r[i]);
    db_get_pool_stats(db, &ps);
    assert_int_equal(ps.closed, 0); /* kept warm */
    assert_int_equal(ps.idle, 4);
    assert_int_equal(ps.open, 4);

    /* a burst within the idle timeout reuses them: no connect */
    g_clock_us += 59 * 1000000LL;
    db_conn *again[3] = {0};
    for (int i = 0; i < 3; i++)
        assert_int_equal(db_acquire(db, DB_READ, &again[i], &e), ERR_OK);
    for (int i = 0; i < 3; i++) {
        bool seen = false;
        for (int k = 0; k < 3; k++)
            seen = seen || again[i] == r[k];
        assert_true(seen);
    }
    db_get_pool_stats(db, &ps);
    assert_int_equal(ps.created, 4);
    assert_int_equal(ps.overflow_in_use, 2);
    /* only one is used from now on; the other two stay idle */
    db_release(again[2]);
    db_release(again[1]);
    g_clock_us += 30 * 1000000LL;
    db_release(again[0]);

    /* 61 s after their last use the two idle ones are closed by the next borrow; the
     * one in use is the pool's kept connection: it stays */
    g_clock_us += 31 * 1000000LL;
    db_conn *c = NULL;
    assert_int_equal(db_acquire(db, DB_READ, &c, &e), ERR_OK);
    assert_ptr_equal(c, again[0]);
    db_get_pool_stats(db, &ps);
    assert_int_equal(ps.idle_closed, 2);
    assert_int_equal(ps.closed, 2);
    assert_int_equal(ps.open, 2); /* writer + the kept reader */
    assert_int_equal(ps.created, 4);
    db_release(c);

    /* the kept connection is never closed for idling, however long */
    g_clock_us += 3600 * 1000000LL;
    assert_int_equal(db_acquire(db, DB_READ, &c, &e), ERR_OK);
    assert_ptr_equal(c, again[0]);
    db_release(c);
    db_get_pool_stats(db, &ps);
    assert_int_equal(ps.idle_closed, 2);
    assert_int_equal(ps.open, 2);
    db_close(db);
}

/* DB_POOL_IDLE_TIMEOUT and ?pool_idle_timeout= reach the pool, checked like the other
 * pool variables; an unset DB_POOL_SIZE means 20 connections on the server databases and
 * the declared 5 (SQLite readers) elsewhere, a set one is used everywhere. */
static void test_idle_timeout_and_size_options(void **state)
{
    (void)state;
    conf_t *c = conf_defaults();
    err_t e = {0};
    const char *urls[] = {"sqlite:///tmp/x.db", "postgresql://u:p@127.0.0.1/d",
                          "mysql://u:p@127.0.0.1/d"};
    const int sizes[] = {5, DB_SERVER_POOL_SIZE, DB_SERVER_POOL_SIZE};
    for (int i = 0; i < 3; i++) {
        db_url *u = NULL;
        assert_int_equal(db_url_parse(urls[i], &u, &e), ERR_OK);
        db_opts o;
        assert_int_equal(db_opts_from(c, u, &o, &e), ERR_OK);
        assert_int_equal(o.pool_size, sizes[i]);
        assert_int_equal(o.pool_idle_timeout_s, 300);
        db_url_free(u);
    }
    assert_int_equal(conf_set(c, "DB_POOL_SIZE", "7", CONF_SRC_ENV, &e), ERR_OK);
    assert_int_equal(conf_set(c, "DB_POOL_IDLE_TIMEOUT", "0", CONF_SRC_ENV, &e), ERR_OK);
    for (int i = 0; i < 3; i++) {
        db_url *u = NULL;
        assert_int_equal(db_url_parse(urls[i], &u, &e), ERR_OK);
        db_opts o;
        assert_int_equal(db_opts_from(c, u, &o, &e), ERR_OK);
        assert_int_equal(o.pool_size, 7);
        assert_int_equal(o.pool_idle_timeout_s, 0);
        db_url_free(u);
    }
    db_url *u = NULL;
    assert_int_equal(db_url_parse("postgresql://u:p@h/d?pool_idle_timeout=45", &u, &e), ERR_OK);
    db_opts o;
    assert_int_equal(db_opts_from(c, u, &o, &e), ERR_OK);
    assert_int_equal(o.pool_idle_timeout_s, 45);
    db_url_free(u);
    assert_int_equal(db_url_parse("postgresql://u:p@h/d?pool_idle_timeout=-1", &u, &e), ERR_OK);
    assert_int_equal(db_opts_from(c, u, &o, &e), ERR_INVALID);
    assert_non_null(strstr(e.msg, "pool_idle_timeout=-1"));
    db_url_free(u);
    conf_free(c);
}

static void test_recycle_and_preping(void **state)
{
    tdb_fixture *f = *state;
    char url[800];
    /* pre-ping on every borrow; recycle after 1 s */
    snprintf(url, sizeof url, "%s?pool_pre_ping_idle_ms=0&pool_recycle=1", f->url);
    db_t *db = tdb_open_ok(url, NULL);
    db_conn *c = NULL;
    err_t e = {0};
    assert_int_equal(db_acquire(db, DB_READ, &c, &e), ERR_OK);
    db_release(c);
    assert_int_equal(db_acquire(db, DB_READ, &c, &e), ERR_OK); /* pinged, alive */
    db_release(c);
    db_pool_stats ps;
    db_get_pool_stats(db, &ps);
    assert_int_equal(ps.preping_failures, 0);
    assert_int_equal(ps.recycled, 0);
    uint64_t created = ps.created;
    /* Wait until the connections are certainly older than 1 s (an age condition,
     * not a timing assertion: it cannot be false after this sleep). */
    struct timespec ts = {1, 150000000L};
    nanosleep(&ts, NULL);
    assert_int_equal(db_acquire(db, DB_READ, &c, &e), ERR_OK);
    db_release(c); /* the fresh one is young: kept */
    db_get_pool_stats(db, &ps);
    assert_int_equal(ps.recycled, 1);
    assert_int_equal(ps.created, created + 1);
    assert_int_equal(ps.idle, 2);
    db_close(db);
}

/* ---- db_tx_run -------------------------------------------------------------------- */

typedef struct busy_ctx {
    db_t *other; /* a second "process" on the same file */
    int attempts;
    int value;
} busy_ctx;

/* First attempt: while this transaction holds the write lock, the other db tries
 * to write and gets a genuine SQLITE_BUSY (ERR_BUSY), which we return — as a
 * store would when its own write failed busy. Second attempt succeeds. */
static err_code busy_once(db_conn *c, void *arg, err_t *e)
{
    busy_ctx *b = arg;
    b->attempts++;
    db_stmt *s = NULL;
    err_code rc = db_prepare(c, "INSERT INTO t (x) VALUES (?)", &s, e);
    if (rc != ERR_OK)
        return rc;
    db_bind_int64(s, 1, b->value);
    int st = db_step(s, e);
    db_stmt_done(s);
    if (st != DB_DONE)
        return (err_code)st;
    if (b->attempts == 1) {
        db_conn *oc = NULL;
        rc = db_acquire(b->other, DB_WRITE, &oc, e);
        if (rc != ERR_OK)
            return rc;
        rc = db_exec(oc, "INSERT INTO t (x) VALUES (-1)", e);
        db_release(oc);
        assert_int_equal(rc, ERR_BUSY);
        return rc;
    }
    return ERR_OK;
}

static void test_tx_run_retries_busy(void **state)
{
    tdb_fixture *f = *state;
    char url[800];
    snprintf(url, sizeof url, "%s?busy_timeout=10", f->url);
    db_t *db = tdb_open_ok(url, NULL);
    db_t *other = tdb_open_ok(url, NULL);
    db_conn *c = NULL;
    err_t e = {0};
    assert_int_equal(db_acquire(db, DB_WRITE, &c, &e), ERR_OK);
    tdb_exec_ok(c, "CREATE TABLE t (x INTEGER)");
    db_release(c);
    busy_ctx b = {other, 0, 42};
    assert_int_equal(db_tx_run(db, DB_WRITE, busy_once, &b, &e), ERR_OK);
    assert_int_equal(b.attempts, 2);
    assert_int_equal(tdb_count(db, "t"), 1); /* first attempt rolled back, no -1 row */
    db_query_stats qs;
    db_get_query_stats(db, &qs);
    assert_int_equal(qs.retries, 1);
    db_close(other);
    db_close(db);
}

static err_code always_busy(db_conn *c, void *arg, err_t *e)
{
    (void)c;
    (*(int *)arg)++;
    return err_set(e, ERR_BUSY, "simulated busy");
}

static err_code unique_fail(db_conn *c, void *arg, err_t *e)
{
    (*(int *)arg)++;
    tdb_exec_ok(c, "INSERT INTO t (x) VALUES (1)");
    return err_set(e, ERR_UNIQUE, "simulated unique violation");
}

static void test_tx_run_gives_up_and_no_retry(void **state)
{
    tdb_fixture *f = *state;
    db_opts o;
    db_opts_default(&o);
    o.max_retries = 2;
    db_t *db = tdb_open_ok(f->url, &o);
    db_conn *c = NULL;
    err_t e = {0};
    assert_int_equal(db_acquire(db, DB_WRITE, &c, &e), ERR_OK);
    tdb_exec_ok(c, "CREATE TABLE t (x INTEGER)");
    db_release(c);
    int n = 0;
    log_level old = log_get_level();
    log_set_level(LOG_ERROR);
    assert_int_equal(db_tx_run(db, DB_WRITE, always_busy, &n, &e), ERR_BUSY);
    assert_int_equal(n, 3); /* 1 + max_retries */
    assert_non_null(strstr(e.msg, "simulated busy"));
    n = 0;
    assert_int_equal(db_tx_run(db, DB_WRITE, unique_fail, &n, &e), ERR_UNIQUE);
    assert_int_equal(n, 1);                  /* not retryable */
    assert_int_equal(tdb_count(db, "t"), 0); /* rolled back */
    log_set_level(old);
    db_query_stats qs;
    db_get_query_stats(db, &qs);
    assert_int_equal(qs.retries, 2);
    db_close(db);
}

/* ---- concurrency: threads and processes on one file ------------------------------ */

#define N_WORKERS 4
#define N_ROWS 150

typedef struct worker {
    db_t *db;
    int id;
    err_code rc;
    char msg[512];
} worker;

static err_code insert_row(db_conn *c, void *arg, err_t *e)
{
    int *v = arg;
    db_stmt *s = NULL;
    err_code rc = db_prepare(c, "INSERT INTO t (x) VALUES (?)", &s, e);
    if (rc != ERR_OK)
        return rc;
    db_bind_int64(s, 1, *v);
    int st = db_step(s, e);
    db_stmt_done(s);
    return st == DB_DONE ? ERR_OK : (err_code)st;
}

static err_code read_count(db_conn *c, void *arg, err_t *e)
{
    db_stmt *s = NULL;
    err_code rc = db_prepare(c, "SELECT count(*) FROM t", &s, e);
    if (rc != ERR_OK)
        return rc;
    int st = db_step(s, e);
    if (st == DB_ROW)
        *(int64_t *)arg = db_col_int64(s, 0);
    db_stmt_done(s);
    return st == DB_ROW ? ERR_OK : (err_code)st;
}

static void *thread_main(void *arg)
{
    worker *w = arg;
    err_t e = {0};
    w->rc = ERR_OK;
    for (int i = 0; i < N_ROWS && w->rc == ERR_OK; i++) {
        int v = w->id * 100000 + i;
        w->rc = db_tx_run(w->db, DB_WRITE, insert_row, &v, &e);
        if (w->rc == ERR_OK && i % 10 == 0) {
            int64_t n = 0;
            w->rc = db_tx_run(w->db, DB_READ, read_count, &n, &e);
        }
    }
    if (w->rc != ERR_OK)
        snprintf(w->msg, sizeof w->msg, "%s", e.msg);
    return NULL;
}

static void test_threads_one_file(void **state)
{
    tdb_fixture *f = *state;
    db_opts o;
    db_opts_default(&o);
    o.pool_size = 2;
    db_t *db = tdb_open_ok(f->url, &o);
    db_conn *c = NULL;
    err_t e = {0};
    assert_int_equal(db_acquire(db, DB_WRITE, &c, &e), ERR_OK);
    tdb_exec_ok(c, "CREATE TABLE t (x INTEGER UNIQUE)");
    db_release(c);
    pthread_t th[N_WORKERS];
    worker w[N_WORKERS];
    for (int i = 0; i < N_WORKERS; i++) {
        w[i] = (worker){db, i + 1, ERR_OK, ""};
        assert_int_equal(pthread_create(&th[i], NULL, thread_main, &w[i]), 0);
    }
    for (int i = 0; i < N_WORKERS; i++) {
        pthread_join(th[i], NULL);
        if (w[i].rc != ERR_OK)
            fail_msg("worker %d: %s: %s", i, err_code_name(w[i].rc), w[i].msg);
    }
    assert_int_equal(tdb_count(db, "t"), N_WORKERS * N_ROWS);
    db_pool_stats ps;
    db_get_pool_stats(db, &ps);
    assert_int_equal(ps.in_use, 0);
    assert_int_equal(ps.timeouts, 0);
    db_close(db);
}

static void test_processes_one_file(void **state)
{
    tdb_fixture *f = *state;
    db_t *db = tdb_open_ok(f->url, NULL);
    db_conn *c = NULL;
    err_t e = {0};
    assert_int_equal(db_acquire(db, DB_WRITE, &c, &e), ERR_OK);
    tdb_exec_ok(c, "CREATE TABLE t (x INTEGER UNIQUE)");
    db_release(c);
    db_close(db);
    fflush(NULL);
    pid_t pids[N_WORKERS];
    for (int i = 0; i < N_WORKERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            /* child: its own db on the same file with the default settings, as
             * one ctxd per stdio client would; the exit status says whether
             * every row went in (no "database is locked" leaked out) */
            char url[800];
            snprintf(url, sizeof url, "%s?pool_size=1", f->url);
            db_t *cdb = NULL;
            err_t ce = {0};
            if (db_open(url, NULL, &cdb, &ce) != ERR_OK) {
                fprintf(stderr, "child open: %s\n", ce.msg);
                _exit(2);
            }
            worker w = {cdb, i + 1, ERR_OK, ""};
            log_set_level(LOG_ERROR);
            thread_main(&w);
            db_close(cdb);
            if (w.rc != ERR_OK)
                fprintf(stderr, "child %d: %s: %s\n", i, err_code_name(w.rc), w.msg);
            _exit(w.rc == ERR_OK ? 0 : 1);
        }
    }
    for (int i = 0; i < N_WORKERS; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    db = tdb_open_ok(f->url, NULL);
    assert_int_equal(tdb_count(db, "t"), N_WORKERS * N_ROWS);
    db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exhaustion_timeout, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_memory_single_connection, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_overflow, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_overflow_kept_warm, tdb_setup, tdb_teardown),
        cmocka_unit_test(test_idle_timeout_and_size_options),
        cmocka_unit_test_setup_teardown(test_recycle_and_preping, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_tx_run_retries_busy, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_tx_run_gives_up_and_no_retry, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_threads_one_file, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_processes_one_file, tdb_setup, tdb_teardown),
    };
    return cmocka_run_group_tests_name("db_pool", tests, NULL, NULL);
}
