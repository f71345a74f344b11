/* tests/unit/test_db_group.c — group commit of SQLite writes (db/group.c) and the
 * background WAL checkpointer (db/checkpoint.c): many threads writing at once
 * all get their rows; in one batch a failing callback (its own error, a unique
 * violation) undoes only its own work and gets its own error while
 * db_last_insert_id and db_changes stay per callback; a COMMIT that fails
 * (a deferred foreign key, checked only at COMMIT) fails every caller of the
 * batch and keeps nothing; a callback that ends the whole transaction makes the
 * callers before it run again in a new batch, exactly once in the end; the
 * writer runs without automatic checkpoints and the background thread
 * checkpoints. Batches are formed deterministically by holding the writer
 * until every thread is queued (a condition polled, never a timed sleep).
 * Must not: assert on elapsed time or depend on scheduling for its outcome. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "db/db.h"
#include "db/db_int.h"
#include "db_test.h"

#define NT 8

typedef enum {
    W_OK = 0,
    W_FAIL_OWN,
    W_DUP,
    W_DEFERRED_FK,
    W_END_TX
} w_kind;

typedef struct worker {
    db_t *db;
    int id;
    w_kind kind;
    int loops;
    _Atomic int calls;
    int64_t last_id, row_id, changes;
    err_code rc;
    err_t e;
} worker;

static err_code insert_cb(db_conn *c, void *arg, err_t *e)
{
    worker *w = arg;
    atomic_fetch_add(&w->calls, 1);
    db_stmt *s = NULL;
    err_code rc;
    if (w->kind == W_DEFERRED_FK) {
        if ((rc = db_prepare(c, "INSERT INTO child (pid) VALUES (999)", &s, e)) != ERR_OK)
            return rc;
        int r = db_step(s, e);
        db_stmt_done(s);
        return r == DB_DONE ? ERR_OK : (err_code)r;
    }
    if ((rc = db_prepare(c, "INSERT INTO t (v) VALUES (?)", &s, e)) != ERR_OK)
        return rc;
    db_bind_int64(s, 1, w->kind == W_DUP ? -1 : w->id);
    int r = db_step(s, e);
    w->changes = r == DB_DONE ? db_changes(s) : -1;
    db_stmt_done(s);
    if (r != DB_DONE)
        return (err_code)r;
    w->last_id = db_last_insert_id(c);
    if ((rc = db_prepare(c, "SELECT id FROM t WHERE v = ?", &s, e)) != ERR_OK)
        return rc;
    db_bind_int64(s, 1, w->id);
    if (db_step(s, e) == DB_ROW)
        w->row_id = db_col_int64(s, 0);
    db_stmt_done(s);
    if (w->kind == W_FAIL_OWN)
        return err_set(e, ERR_INVALID, "worker %d refuses", w->id);
    if (w->kind == W_END_TX) {
        db_rollback(c); /* as SQLite does on some I/O errors */
        return err_set(e, ERR_IO, "worker %d ended the transaction", w->id);
    }
    return ERR_OK;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    int loops = w->loops > 0 ? w->loops : 1;
    for (int i = 0; i < loops; i++) {
        err_clear(&w->e);
        w->rc = db_tx_run(w->db, DB_WRITE, insert_cb, w, &w->e);
        if (w->rc != ERR_OK)
            break;
        if (w->loops > 0)
            w->id += 1000000; /* a distinct value next time */
    }
    return NULL;
}

static db_t *open_schema(tdb_fixture *f)
{
    db_t *db = tdb_open_ok(f->url, NULL);
    db_conn *c = NULL;
    err_t e = {0};
    assert_int_equal(db_acquire(db, DB_WRITE, &c, &e), ERR_OK);
    tdb_exec_ok(c, "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL UNIQUE);"
                   "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
                   "CREATE TABLE child (pid INTEGER REFERENCES parent(id) "
                   "DEFERRABLE INITIALLY DEFERRED);"
                   "INSERT INTO t (v) VALUES (-1)");
    db_release(c);
    return db;
}

static void wait_queued(db_t *db, int n)
{
    for (;;) {
        db_group_stat st;
        db_group_stats(db->group, &st);
        if (st.queued >= n)
            return;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

/* Runs NT workers as ONE batch in index order: the writer is held until all are
 * queued, each queued before the next starts. */
static void run_one_batch(db_t *db, worker *w)
{
    db_conn *hold = NULL;
    err_t e = {0};
    db_group_stat before, after;
    db_group_stats(db->group, &before);
    assert_int_equal(db_acquire(db, DB_WRITE, &hold, &e), ERR_OK);
    pthread_t th[NT];
    for (int i = 0; i < NT; i++) { /* queued in index order */
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
        wait_queued(db, i + 1);
    }
    db_release(hold);
    for (int i = 0; i < NT; i++)
        pthread_join(th[i], NULL);
    db_group_stats(db->group, &after);
    assert_int_equal(after.max_batch, NT);
}

static void init_workers(db_t *db, worker *w)
{
    memset(w, 0, sizeof(worker) * NT);
    for (int i = 0; i < NT; i++) {
        w[i].db = db;
        w[i].id = i + 1;
        atomic_init(&w[i].calls, 0);
    }
}

static int64_t count_v(db_t *db, int v)
{
    db_conn *c = NULL;
    err_t e = {0};
    assert_int_equal(db_acquire(db, DB_READ, &c, &e), ERR_OK);
    char sql[80];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM t WHERE v = %d", v);
    int64_t n = tdb_q1i(c, sql);
    db_release(c);
    return n;
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_many_threads_all_rows(void **state)
{
    db_t *db = open_schema(*state);
    enum {
        N = 16,
        LOOPS = 40
    };
    worker w[N];
    pthread_t th[N];
    memset(w, 0, sizeof w);
    for (int i = 0; i < N; i++) {
        w[i].db = db;
        w[i].id = i + 1;
        w[i].loops = LOOPS;
        atomic_init(&w[i].calls, 0);
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].rc, ERR_OK);
        assert_int_equal(atomic_load(&w[i].calls), LOOPS);
    }
    assert_int_equal(tdb_count(db, "t"), 1 + N * LOOPS);
    db_group_stat st;
    db_group_stats(db->group, &st);
    assert_int_equal(st.callers, N * LOOPS);
    assert_int_equal(st.queued, 0);
    db_close(db);
}

static void test_failure_isolated_in_batch(void **state)
{
    db_t *db = open_schema(*state);
    worker w[NT];
    init_workers(db, w);
    w[2].kind = W_FAIL_OWN;
    w[5].kind = W_DUP;
    run_one_batch(db, w);
    for (int i = 0; i < NT; i++) {
        assert_int_equal(atomic_load(&w[i].calls), 1);
        if (i == 2) {
            assert_int_equal(w[i].rc, ERR_INVALID);
            assert_string_equal(w[i].e.msg, "worker 3 refuses");
            assert_int_equal(count_v(db, 3), 0);
        } else if (i == 5) {
            assert_int_equal(w[i].rc, ERR_UNIQUE);
        } else {
            assert_int_equal(w[i].rc, ERR_OK);
            assert_int_equal(count_v(db, w[i].id), 1);
            assert_int_equal(w[i].changes, 1);
            assert_int_equal(w[i].last_id, w[i].row_id); /* its own insert's id */
        }
    }
    assert_int_equal(tdb_count(db, "t"), 1 + NT - 2);
    db_close(db);
}

static void test_commit_failure_fails_batch(void **state)
{
    db_t *db = open_schema(*state);
    worker w[NT];
    init_workers(db, w);
    w[4].kind = W_DEFERRED_FK; /* fine until COMMIT checks the deferred key */
    run_one_batch(db, w);
    for (int i = 0; i < NT; i++) {
        assert_int_equal(w[i].rc, ERR_CONSTRAINT);
        assert_int_equal(atomic_load(&w[i].calls), 1); /* not retryable: not run again */
        assert_non_null(strstr(w[i].e.msg, "FOREIGN KEY"));
    }
    assert_int_equal(tdb_count(db, "t"), 1);
    assert_int_equal(tdb_count(db, "child"), 0);
    /* the writer is usable again */
    init_workers(db, w);
    run_one_batch(db, w);
    for (int i = 0; i < NT; i++)
        assert_int_equal(w[i].rc, ERR_OK);
    assert_int_equal(tdb_count(db, "t"), 1 + NT);
    db_close(db);
}

static void test_tx_ended_reruns_earlier_once(void **state)
{
    db_t *db = open_schema(*state);
    worker w[NT];
    init_workers(db, w);
    w[3].kind = W_END_TX;
    run_one_batch(db, w);
    for (int i = 0; i < NT; i++) {
        if (i == 3) {
            assert_int_equal(w[i].rc, ERR_IO);
            assert_int_equal(count_v(db, w[i].id), 0);
            continue;
        }
        assert_int_equal(w[i].rc, ERR_OK);
        /* callers before it lost their work with the transaction and ran again */
        assert_int_equal(atomic_load(&w[i].calls), i < 3 ? 2 : 1);
        assert_int_equal(count_v(db, w[i].id), 1);
    }
    assert_int_equal(tdb_count(db, "t"), 1 + NT - 1);
    db_close(db);
}

static void test_checkpoints_in_background(void **state)
{
    db_t *db = open_schema(*state);
    db_conn *c = NULL;
    err_t e = {0};
    assert_int_equal(db_acquire(db, DB_WRITE, &c, &e), ERR_OK);
    assert_int_equal(tdb_q1i(c, "PRAGMA wal_autocheckpoint"), 0);
    db_release(c);
    worker one;
    memset(&one, 0, sizeof one);
    one.db = db;
    one.id = 1;
    one.loops = 200;
    atomic_init(&one.calls, 0);
    worker_main(&one);
    assert_int_equal(one.rc, ERR_OK);
    uint64_t runs = 0, truncs = 0;
    for (;;) { /* the checkpointer was woken by the commits: wait for it */
        db_ckpt_stats(db->ckpt, &runs, &truncs);
        if (runs > 0)
            break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(truncs, 0);
    assert_int_equal(tdb_count(db, "t"), 201);
    db_close(db);
}

static void test_memory_not_grouped(void **state)
{
    (void)state;
    db_t *db = tdb_open_ok("sqlite:///:memory:", NULL);
    assert_null(db->group);
    assert_null(db->ckpt);
    db_close(db);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_many_threads_all_rows, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_failure_isolated_in_batch, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_commit_failure_fails_batch, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_tx_ended_reruns_earlier_once, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_checkpoints_in_background, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_memory_not_grouped, tdb_setup, tdb_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
