/* tests/mysql/test_mysql_resilience.c — MariaDB restarted under load. Starts a
 * PRIVATE MariaDB (tests/servers/server.sh start mariadb <own dir>; never the
 * shared fixture), runs writer threads doing store_message_add in a loop,
 * restarts the server on the same port and datadir (server.sh restart), and
 * checks: calls in flight fail only with retryable classes (or succeed after
 * db_tx_run's retries), nothing crashes, the pool reconnects by itself, later
 * calls succeed, and every acknowledged message id is in the database exactly
 * once. Bounded by deadlines; the only waits are polls for progress.
 * Must not: touch the shared mariadb fixture, or assert on timing. */
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

#include "base/log.h"
#include "db/db.h"
#include "migrate/migrate.h"
#include "store/store.h"
#include "store/store_sql.h"
#include "test_support.h"

#ifndef CTXD_SERVER_SH
#error "CTXD_SERVER_SH (path of tests/servers/server.sh) must be defined"
#endif

enum {
    WRITERS = 4,
    MAX_IDS = 200000
};
#define SESSION_ID "session_00000000000000aa"

static char *g_state; /* the private server's state directory */

typedef struct writer {
    store_t *st;
    int n; /* acknowledged ids */
    int64_t *ids;
    int retryable_failures, other_failures;
    char other_msg[600];
} writer;

static atomic_bool g_stop;
static atomic_int g_acked;

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void *writer_main(void *arg)
{
    writer *w = arg;
    char content[64];
    int k = 0;
    while (!atomic_load(&g_stop) && w->n < MAX_IDS / WRITERS) {
        snprintf(content, sizeof content, "load %p %d", (void *)w, k++);
        store_message m = {.session_id = SESSION_ID,
                           .sender = "writer",
                           .sender_type = "test",
                           .content = content};
        store_audit_in a = {.event_type = "message_added"};
        err_t e;
        err_clear(&e);
        err_code rc = store_message_add(w->st, &m, &a, &e);
        if (rc == ERR_OK) {
            w->ids[w->n++] = m.id;
            atomic_fetch_add(&g_acked, 1);
        } else if (err_retryable(rc)) {
            w->retryable_failures++;
            pause_ms(5); /* the server is away: do not spin */
        } else {
            if (!w->other_failures)
                snprintf(w->other_msg, sizeof w->other_msg, "%s: %s", err_code_name(rc), e.msg);
            w->other_failures++;
            pause_ms(5);
        }
    }
    return NULL;
}

static int server(const char *cmd)
{
    char *sh = ts_strf("bash '%s' %s mariadb '%s'", CTXD_SERVER_SH, cmd, g_state);
    int rc = system(sh);
    free(sh);
    return rc;
}

/* Polls until g_acked reaches want or the deadline passes. */
static bool wait_acked(int want, int seconds)
{
    int64_t deadline = utc_mono_us() + (int64_t)seconds * 1000000;
    while (atomic_load(&g_acked) < want) {
        if (utc_mono_us() > deadline)
            return false;
        pause_ms(10);
    }
    return true;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_restart_under_load(void **state)
{
    (void)state;
    unsetenv("CTXD_TEST_MYSQL_URL"); /* server.sh must start a server of its own */
    g_state = ts_mkdtemp("my-resilience");
    assert_int_equal(server("start"), 0);
    setenv("CTXD_TEST_SERVERS", g_state, 1); /* ts_server_var reads our private env file */
    char *base = ts_server_var("mariadb", "CTXD_TEST_MYSQL_URL");
    assert_non_null(base);
    char *url = ts_strf("%s?pool_size=4&max_overflow=0&pool_timeout=10&connect_timeout=2", base);

    db_t *db = NULL;
    err_t e;
    err_clear(&e);
    if (db_open(url, NULL, &db, &e) != ERR_OK)
        fail_msg("db_open: %s", e.msg);
    if (migrate_up(db, -1, NULL, &e) != ERR_OK)
        fail_msg("migrate: %s", e.msg);
    store_t *st = NULL;
    if (store_sql_open(db, true, &st, &e) != ERR_OK)
        fail_msg("store: %s", e.msg);
    store_session s = {
        .id = SESSION_ID, .purpose = "resilience", .created_by = "test", .is_active = true};
    if (store_session_create(st, &s, NULL, &e) != ERR_OK)
        fail_msg("session: %s", e.msg);

    writer w[WRITERS];
    pthread_t th[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].st = st;
        w[i].ids = calloc(MAX_IDS / WRITERS, sizeof(int64_t));
        pthread_create(&th[i], NULL, writer_main, &w[i]);
    }
    assert_true(wait_acked(100, 30));
    int before = atomic_load(&g_acked);
    int rc = server("restart");
    int after_restart = atomic_load(&g_acked);
    bool progressed = rc == 0 && wait_acked(after_restart + 100, 30);
    atomic_store(&g_stop, true);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(rc, 0);
    assert_true(progressed); /* the pool reconnected by itself */

    int retryable = 0, total = 0;
    for (int i = 0; i < WRITERS; i++) {
        if (w[i].other_failures)
            fail_msg("writer %d: non-retryable failure: %s", i, w[i].other_msg);
        retryable += w[i].retryable_failures;
        total += w[i].n;
    }
    fprintf(stderr, "resilience: %d acknowledged (%d before the restart), %d retryable failures\n",
            total, before, retryable);

    /* a later call succeeds */
    store_message m = {.session_id = SESSION_ID, .sender = "after", .content = "after the restart"};
    if (store_message_add(st, &m, NULL, &e) != ERR_OK)
        fail_msg("after restart: %s", e.msg);

    /* every acknowledged id is there, once */
    int64_t *all = calloc((size_t)total + 1, sizeof *all);
    int n = 0;
    for (int i = 0; i < WRITERS; i++)
        for (int j = 0; j < w[i].n; j++)
            all[n++] = w[i].ids[j];
    qsort(all, (size_t)n, sizeof *all, cmp64);
    for (int i = 1; i < n; i++)
        if (all[i] == all[i - 1])
            fail_msg("id %lld acknowledged twice", (long long)all[i]);
    db_conn *c;
    if (db_acquire(db, DB_READ, &c, &e) != ERR_OK)
        fail_msg("acquire: %s", e.msg);
    db_stmt *q;
    if (db_prepare(c,
                   "SELECT id FROM messages WHERE session_id = ? AND sender = 'writer' ORDER BY id",
                   &q, &e) != ERR_OK)
        fail_msg("prepare: %s", e.msg);
    db_bind_text(q, 1, SESSION_ID, -1);
    int k = 0, r;
    while ((r = db_step(q, &e)) == DB_ROW) {
        int64_t id = db_col_int64(q, 0);
        if (k < n && all[k] == id)
            k++; /* rows beyond the acknowledged ones may exist */
    }
    assert_int_equal(r, DB_DONE);
    db_stmt_done(q);
    db_release(c);
    if (k != n)
        fail_msg("%d of %d acknowledged ids are missing (first: %lld)", n - k, n,
                 (long long)all[k]);

    db_pool_stats ps;
    db_get_pool_stats(db, &ps);
    assert_true(ps.created > 4); /* connections were replaced */
    free(all);
    for (int i = 0; i < WRITERS; i++)
        free(w[i].ids);
    store_close(st);
    free(url);
    free(base);
}

static int teardown(void **state)
{
    (void)state;
    if (g_state) {
        server("stop");
        ts_rm_rf(g_state);
        free(g_state);
    }
    return 0;
}

int main(void)
{
    log_set_level(LOG_OFF);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restart_under_load),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
