/* tests/pg/test_pg_resilience.c — PostgreSQL restarted under load: on a PRIVATE
 * server (tests/servers/server.sh start pg <own dir>; the shared fixture is never
 * touched) writer threads add messages through the store in a loop while the
 * server is restarted with `pg_ctl restart -m fast`. Asserts: calls in flight
 * fail only with retryable classes (connection / busy / timeout) or succeed after
 * the core's retries; nothing crashes; the pool reconnects and every writer
 * succeeds again after the restart; every acknowledged message id is in the
 * database afterwards. Bounded in time and in iterations; it waits for progress
 * by polling, never asserts on sleeps.
 * Must not: restart or stop any server it did not start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend_setup.h"
#include "base/utc.h"
#include "db/db.h"
#include "pg_test.h"
#include "store/store.h"
#include "test_support.h"

#ifndef CTXD_SOURCE_DIR
#error "CTXD_SOURCE_DIR must be defined by the build"
#endif

#define NTHREADS 4
#define MAX_PER_THREAD 20000
#define SID "session_resilience00"

typedef struct writer {
    store_t *st;
    int index;
    int64_t *ids;
    _Atomic int ok, errors;
    _Atomic int ok_after; /* successes that started after the restart */
    _Atomic int bad;      /* non-retryable failures */
    char bad_msg[600];
    char last_err[600];
} writer;

static atomic_bool stop, restarted;
static char *state_dir;

static void *writer_main(void *arg)
{
    writer *w = arg;
    char sender[16];
    snprintf(sender, sizeof sender, "w%d", w->index);
    for (int i = 0; i < MAX_PER_THREAD && !atomic_load(&stop); i++) {
        bool after = atomic_load(&restarted);
        char content[48];
        snprintf(content, sizeof content, "w%d m%d", w->index, i);
        store_message m = {.session_id = SID, .sender = sender, .content = content};
        err_t e;
        err_code rc = store_message_add(w->st, &m, NULL, &e);
        if (rc == ERR_OK) {
            w->ids[atomic_load(&w->ok)] = m.id;
            atomic_fetch_add(&w->ok, 1);
            if (after)
                atomic_fetch_add(&w->ok_after, 1);
        } else if (rc == ERR_CONN || rc == ERR_BUSY || rc == ERR_TIMEOUT) {
            atomic_fetch_add(&w->errors, 1);
            snprintf(w->last_err, sizeof w->last_err, "%s: %s", err_code_name(rc), e.msg);
        } else {
            if (atomic_fetch_add(&w->bad, 1) == 0)
                snprintf(w->bad_msg, sizeof w->bad_msg, "%s: %s", err_code_name(rc), e.msg);
        }
    }
    return NULL;
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int run(const char *cmd)
{
    int rc = system(cmd);
    return rc == -1 ? -1 : WEXITSTATUS(rc);
}

static void test_restart_under_load(void **state)
{
    (void)state;
    char *url = pgt_var("pg", "CTXD_TEST_PG_URL");
    char *data = pgt_var("pg", "CTXD_TEST_PG_DATA");
    char *bin = pgt_var("pg", "CTXD_TEST_PG_BIN");
    tb_db d;
    err_t e;
    if (tb_fresh(url, &d, &e) != ERR_OK)
        fail_msg("fresh database: %s", e.msg);
    store_session s = {.id = SID, .purpose = "resilience", .created_by = "test", .is_active = true};
    if (store_session_create(d.st, &s, NULL, &e) != ERR_OK)
        fail_msg("session: %s", e.msg);

    static writer w[NTHREADS];
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].st = d.st;
        w[i].index = i;
        w[i].ids = calloc(MAX_PER_THREAD, sizeof *w[i].ids);
        assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
    }
    /* load is flowing */
    int64_t deadline = utc_mono_us() + 20000000;
    for (;;) {
        int min = MAX_PER_THREAD;
        for (int i = 0; i < NTHREADS; i++)
            if (atomic_load(&w[i].ok) < min)
                min = atomic_load(&w[i].ok);
        if (min >= 20)
            break;
        if (utc_mono_us() > deadline)
            fail_msg("writers made no progress before the restart");
        pause_ms(5);
    }
    char *cmd = ts_strf("runuser -u postgres -- '%s/pg_ctl' -D '%s' -m fast -w -t 60 restart"
                        " </dev/null >/dev/null 2>&1",
                        bin, data);
    int64_t t0 = utc_mono_us();
    int rc = run(cmd);
    free(cmd);
    atomic_store(&restarted, true);
    printf("restart took %.0f ms (pg_ctl exit %d)\n", (utc_mono_us() - t0) / 1000.0, rc);
    assert_int_equal(rc, 0);
    /* every writer succeeds again after the restart */
    deadline = utc_mono_us() + 30000000;
    for (;;) {
        int min = MAX_PER_THREAD;
        bool finished = true;
        for (int i = 0; i < NTHREADS; i++) {
            if (atomic_load(&w[i].ok_after) < min)
                min = atomic_load(&w[i].ok_after);
            if (atomic_load(&w[i].ok) + atomic_load(&w[i].errors) + atomic_load(&w[i].bad) <
                MAX_PER_THREAD)
                finished = false;
        }
        if (min >= 20 || finished || utc_mono_us() > deadline)
            break;
        pause_ms(5);
    }
    atomic_store(&stop, true);
    int total_ok = 0, total_err = 0;
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        printf("writer %d: %d ok (%d after the restart), %d retryable errors%s%s\n", i,
               atomic_load(&w[i].ok), atomic_load(&w[i].ok_after), atomic_load(&w[i].errors),
               w[i].last_err[0] ? "; last: " : "", w[i].last_err);
        total_ok += atomic_load(&w[i].ok);
        total_err += atomic_load(&w[i].errors);
    }
    for (int i = 0; i < NTHREADS; i++) {
        if (atomic_load(&w[i].bad))
            fail_msg("writer %d: %d non-retryable failure(s), first: %s", i, atomic_load(&w[i].bad),
                     w[i].bad_msg);
        if (atomic_load(&w[i].ok_after) < 20)
            fail_msg("writer %d: only %d successes after the restart", i,
                     atomic_load(&w[i].ok_after));
    }
    /* every acknowledged id is there */
    store_msg_query q = {
        .session_id = SID, .vis = {.any = STORE_VIS_EVERY}, .limit = NTHREADS * MAX_PER_THREAD};
    store_messages l = {0};
    int64_t total = 0;
    if (store_message_list(d.st, &q, &l, &total, &e) != ERR_OK)
        fail_msg("list: %s", e.msg);
    int missing = 0;
    for (int i = 0; i < NTHREADS; i++) {
        for (int k = 0; k < atomic_load(&w[i].ok); k++) {
            int64_t id = w[i].ids[k];
            size_t lo = 0, hi = l.n; /* ids come back ascending */
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (l.v[mid].id < id)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo >= l.n || l.v[lo].id != id)
                missing++;
        }
    }
    printf("%d acknowledged, %lld stored, %d retryable errors, %d missing\n", total_ok,
           (long long)total, total_err, missing);
    assert_int_equal(missing, 0);
    assert_true(total >= total_ok);
    store_messages_free(&l);
    for (int i = 0; i < NTHREADS; i++)
        free(w[i].ids);
    tb_drop(&d);
    free(url);
    free(data);
    free(bin);
}

static int setup(void **state)
{
    (void)state;
    state_dir = ts_mkdtemp("pg-resilience");
    /* this test's own server: never the shared fixture */
    unsetenv("CTXD_TEST_PG_URL");
    unsetenv("CTXD_TEST_PG_ADMIN_URL");
    setenv("CTXD_TEST_SERVERS", state_dir, 1);
    char *cmd = ts_strf("bash '%s/tests/servers/server.sh' start pg '%s' </dev/null >/dev/null",
                        CTXD_SOURCE_DIR, state_dir);
    int rc = run(cmd);
    free(cmd);
    if (rc != 0) {
        fprintf(stderr, "could not start a private PostgreSQL (server.sh exit %d)\n", rc);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char *cmd = ts_strf("bash '%s/tests/servers/server.sh' stop pg '%s' </dev/null >/dev/null 2>&1",
                        CTXD_SOURCE_DIR, state_dir);
    run(cmd);
    free(cmd);
    ts_rm_rf(state_dir);
    free(state_dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_restart_under_load, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
