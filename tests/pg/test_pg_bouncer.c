/* tests/pg/test_pg_bouncer.c — PostgreSQL behind PgBouncer in transaction mode
 * (the `pgbouncer` fixture), as behind hosted poolers: with named server-side
 * prepared statements, a statement prepared on one server session and run when
 * the pooler has handed the client another one breaks — and ctxd detects it as
 * ERR_INVALID telling the user to add ?prepared_statements=false (never a wrong
 * result); with prepared_statements=false the same interleaving works, and the
 * session settings (TimeZone, DateStyle) survive the pooling; and several
 * processes migrating one database through the pooler migrate once and leave no
 * advisory lock behind on a pooled server session.
 * Must not: stop or reconfigure the shared fixture servers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db/db.h"
#include "migrate/migrate.h"
#include "pg_test.h"
#include "test_support.h"

static char *pg_url, *bouncer_url, *dbname;

static int group_setup(void **state)
{
    (void)state;
    pg_url = pgt_var("pg", "CTXD_TEST_PG_URL");
    char *b = pgt_var("pgbouncer", "CTXD_TEST_PGBOUNCER_URL");
    dbname = pgt_create_db(pg_url);
    bouncer_url = pgt_url_with(b, dbname, NULL);
    free(b);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    pgt_drop_db(pg_url, dbname);
    free(pg_url);
    free(bouncer_url);
    free(dbname);
    return 0;
}

typedef struct outcome {
    int ok, detected, wrong, other;
    char last[512];
} outcome;

/* One round of the interleaving that transaction pooling breaks: connection A
 * holds a server session in a transaction while B prepares (on another server
 * session, released right after); then A commits and B runs its statement on
 * whatever session the pooler gives it. */
static void round_trip(db_t *db, int k, outcome *o)
{
    db_conn *a, *b;
    db_stmt *s;
    err_t e;
    assert_int_equal(db_acquire(db, DB_WRITE, &a, &e), ERR_OK);
    assert_int_equal(db_acquire(db, DB_WRITE, &b, &e), ERR_OK);
    err_code rc = db_begin(a, &e);
    if (rc == ERR_OK)
        rc = db_exec(a, "SELECT 1", &e);
    char *sql = ts_strf("SELECT %d + ?", k);
    int64_t got = -1;
    if (rc == ERR_OK) {
        rc = db_prepare(b, sql, &s, &e);
        if (a && db_in_tx(a)) {
            err_t ce;
            if (db_commit(a, &ce) != ERR_OK && rc == ERR_OK) {
                rc = ce.code;
                e = ce;
            }
        }
        if (rc == ERR_OK) {
            db_bind_int64(s, 1, 1000);
            int r = db_step(s, &e);
            if (r == DB_ROW)
                got = db_col_int64(s, 0);
            else
                rc = (err_code)r;
            db_stmt_done(s);
        }
    }
    free(sql);
    if (rc == ERR_OK) {
        if (got == k + 1000)
            o->ok++;
        else
            o->wrong++;
    } else if (rc == ERR_INVALID && strstr(e.msg, "prepared_statements=false")) {
        o->detected++;
        snprintf(o->last, sizeof o->last, "%s", e.msg);
    } else {
        o->other++;
        snprintf(o->last, sizeof o->last, "%s: %s", err_code_name(rc), e.msg);
    }
    db_release(b);
    db_release(a);
}

static void test_named_statements_break_and_are_detected(void **state)
{
    (void)state;
    db_t *db = NULL;
    err_t e;
    char *u = pgt_url_with(bouncer_url, NULL, "pool_size=2");
    assert_int_equal(db_open(u, NULL, &db, &e), ERR_OK);
    outcome o = {0};
    for (int k = 0; k < 20; k++)
        round_trip(db, k, &o);
    printf("named statements through PgBouncer: %d ok, %d detected, %d wrong, %d other\n", o.ok,
           o.detected, o.wrong, o.other);
    if (o.last[0])
        printf("  e.g.: %s\n", o.last);
    assert_int_equal(o.wrong, 0); /* never another statement's result */
    assert_int_equal(o.other, 0);
    assert_true(o.detected >= 1); /* the breakage is real, and named for the user */
    db_close(db);
    free(u);
}

static void test_unnamed_statements_work(void **state)
{
    (void)state;
    db_t *db = NULL;
    err_t e;
    char *u = pgt_url_with(bouncer_url, NULL, "pool_size=2&prepared_statements=false");
    if (db_open(u, NULL, &db, &e) != ERR_OK)
        fail_msg("%s", e.msg);
    outcome o = {0};
    for (int k = 0; k < 20; k++)
        round_trip(db, k, &o);
    if (o.ok != 20)
        fail_msg("%d ok of 20; last: %s", o.ok, o.last);
    /* session settings PgBouncer tracks survive transaction pooling */
    for (int k = 0; k < 4; k++) {
        db_conn *c;
        db_stmt *s;
        assert_int_equal(db_acquire(db, DB_READ, &c, &e), ERR_OK);
        assert_int_equal(
            db_prepare(c,
                       "SELECT current_setting('TimeZone'), current_setting('DateStyle'),"
                       " ?::timestamptz::text",
                       &s, &e),
            ERR_OK);
        db_bind_time(s, 1, 1);
        assert_int_equal(db_step(s, &e), DB_ROW);
        assert_string_equal(db_col_text(s, 0, NULL), "UTC");
        assert_string_equal(db_col_text(s, 1, NULL), "ISO, YMD");
        assert_string_equal(db_col_text(s, 2, NULL), "1970-01-01 00:00:00.000001+00");
        db_stmt_done(s);
        db_release(c);
    }
    db_close(db);
    free(u);
}

/* Settings PgBouncer does not track are re-applied with SET LOCAL in each BEGIN. */
static void test_untracked_settings_in_transactions(void **state)
{
    (void)state;
    db_t *db = NULL;
    err_t e;
    char *u =
        pgt_url_with(bouncer_url, NULL,
                     "pool_size=2&prepared_statements=false&statement_timeout=150&schema=public");
    if (db_open(u, NULL, &db, &e) != ERR_OK)
        fail_msg("%s", e.msg);
    for (int k = 0; k < 3; k++) {
        db_conn *c;
        db_stmt *s;
        assert_int_equal(db_acquire(db, DB_WRITE, &c, &e), ERR_OK);
        assert_int_equal(db_begin(c, &e), ERR_OK);
        assert_int_equal(db_prepare(c,
                                    "SELECT current_setting('statement_timeout'),"
                                    " current_setting('search_path')",
                                    &s, &e),
                         ERR_OK);
        assert_int_equal(db_step(s, &e), DB_ROW);
        assert_string_equal(db_col_text(s, 0, NULL), "150ms");
        assert_string_equal(db_col_text(s, 1, NULL), "public, public");
        db_stmt_done(s);
        assert_int_equal(db_prepare(c, "SELECT pg_sleep(3)", &s, &e), ERR_OK);
        assert_int_equal(db_step(s, &e), ERR_TIMEOUT);
        db_stmt_done(s);
        db_rollback(c);
        db_release(c);
    }
    db_close(db);
    free(u);
}

static void test_concurrent_migrators_through_pooler(void **state)
{
    (void)state;
    char *name = pgt_create_db(pg_url);
    char *u = pgt_url_with(bouncer_url, name, "prepared_statements=false");
    enum {
        N = 3
    };
    for (int round = 0; round < 2; round++) { /* the second round finds it migrated */
        int go[2];
        assert_int_equal(pipe(go), 0);
        pid_t pids[N];
        for (int i = 0; i < N; i++) {
            pids[i] = fork();
            assert_true(pids[i] >= 0);
            if (pids[i] == 0) {
                close(go[1]);
                char ch;
                (void)!read(go[0], &ch, 1);
                db_t *db = NULL;
                err_t e;
                int applied = -1;
                if (db_open(u, NULL, &db, &e) != ERR_OK ||
                    migrate_up(db, -1, &applied, &e) != ERR_OK) {
                    fprintf(stderr, "migrator %d: %s\n", i, e.msg);
                    _exit(100);
                }
                db_close(db);
                _exit(applied);
            }
        }
        close(go[0]);
        close(go[1]);
        int total = 0;
        for (int i = 0; i < N; i++) {
            int st = 0;
            assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
            assert_true(WIFEXITED(st) && WEXITSTATUS(st) < 100);
            total += WEXITSTATUS(st);
        }
        assert_int_equal(total, round == 0 ? migrate_latest("postgresql") : 0);
    }
    /* no advisory lock left on any (pooled) server session of that database */
    char *direct = pgt_url_with(pg_url, name, NULL);
    char *n =
        pgt_query(direct, "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                          " WHERE l.locktype = 'advisory' AND d.datname = current_database()");
    assert_string_equal(n, "0");
    free(n);
    free(direct);
    pgt_drop_db(pg_url, name);
    free(name);
    free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_named_statements_break_and_are_detected),
        cmocka_unit_test(test_unnamed_statements_work),
        cmocka_unit_test(test_untracked_settings_in_transactions),
        cmocka_unit_test(test_concurrent_migrators_through_pooler),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
