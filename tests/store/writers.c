/* tests/store/writers.c — concurrent writers of ONE session, on any SQL backend (the URL
 * as the contract suite takes it: argv[1], fixture:<server>:<VAR>[?options]). Threads
 * add messages to one session at once while a reader follows the session with since_id
 * cursors, as an agent polling for news does. What a user relies on:
 *   - every acknowledged message is stored once, with its audit record, ids unique;
 *   - created_at never goes down in id order (time ranges and id cursors agree);
 *   - a message becomes visible no later than every message with a bigger id of its
 *     session: a reader that moved its since_id past an id never misses a smaller one;
 *   - the session's updated_at is the created_at of its newest message;
 *   - writers that fail (missing session, parent elsewhere) get their own error and
 *     leave nothing behind, and never undo the writes of the others.
 * Must not: depend on timing (no sleeps, no "fast enough" assertions). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend_setup.h"
#include "test_support.h"
#include "base/log.h"
#include "store/store.h"

#define SID "session_00000000000000e1"
#define OTHER "session_00000000000000e2"
#define MISSING "session_00000000000000e9"

static err_t E;
#define OK(x) TS_OK(E, x)

enum {
    NTHREADS = 8,
    PER_THREAD = 60,
    ALL = NTHREADS * PER_THREAD
};

static const store_vis VIS_ALL = {.any = STORE_VIS_EVERY};

static void make_session(store_t *st, const char *id)
{
    store_session s = {.id = (char *)id,
                       .purpose = (char *)"writers",
                       .created_by = (char *)"test",
                       .is_active = true};
    OK(store_session_create(st, &s, NULL, &E));
}

typedef struct {
    store_t *st;
    int index;
    char sender[16];
    int64_t parent_elsewhere; /* a message of OTHER: every other write names it */
    int64_t ids[PER_THREAD];  /* 0 where the write failed */
    int unexpected;           /* failures that were not the planted ones */
    char error[600];
} writer;

/* Even messages go to SID; with bad_ones, every odd one fails by design (a missing
 * session, or a parent of another session) and must fail with its own error. */
static bool g_bad_ones;

/* Writer w's message i (its content written into content) and the result it must get. */
static store_message planned(const writer *w, int i, char *content, size_t n, err_code *want)
{
    snprintf(content, n, "w%d m%d", w->index, i);
    store_message m = {.session_id = SID, .sender = (char *)w->sender, .content = content};
    *want = ERR_OK;
    if (g_bad_ones && i % 4 == 1) {
        m.session_id = MISSING;
        *want = ERR_NOTFOUND;
    } else if (g_bad_ones && i % 4 == 3) {
        m.parent_id = w->parent_elsewhere;
        m.parent_vis = &VIS_ALL;
        *want = ERR_INVALID;
    }
    return m;
}

static void *writer_main(void *arg)
{
    writer *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        char content[48];
        err_code want;
        store_message m = planned(w, i, content, sizeof content, &want);
        store_audit_in a = {.event_type = "message_added"};
        err_t e;
        err_clear(&e);
        err_code rc = store_message_add(w->st, &m, &a, &e);
        w->ids[i] = rc == ERR_OK ? m.id : 0;
        if (rc != want && !w->unexpected++)
            snprintf(w->error, sizeof w->error, "message %d: %s (wanted %s): %s", i,
                     err_code_name(rc), err_code_name(want), e.msg);
    }
    return NULL;
}

/* The reader: since_id pages of SID until the writers are done, then to the end. */
typedef struct {
    store_t *st;
    atomic_bool writers_done;
    int64_t seen[ALL];
    size_t nseen;
    char error[600];
} follower;

/* One pass from since_id to the end; false on an error (kept in f->error). */
static bool follow_pass(follower *f, int64_t *since)
{
    for (;;) {
        store_messages l;
        err_t e;
        store_msg_query q = {.session_id = SID, .since_id = *since, .limit = 100, .vis = VIS_ALL};
        if (store_message_list(f->st, &q, &l, NULL, &e) != ERR_OK) {
            snprintf(f->error, sizeof f->error, "since_id %lld: %s", (long long)*since, e.msg);
            return false;
        }
        size_t n = l.n;
        for (size_t i = 0; i < n && f->nseen < ALL; i++) {
            f->seen[f->nseen++] = l.v[i].id;
            *since = l.v[i].id;
        }
        store_messages_free(&l);
        if (n < 100)
            return true;
    }
}

static void *follower_main(void *arg)
{
    follower *f = arg;
    int64_t since = 0;
    while (!atomic_load(&f->writers_done))
        if (!follow_pass(f, &since))
            return NULL;
    follow_pass(f, &since); /* everything acknowledged is committed by now */
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Runs the writers and the follower; returns the acknowledged ids, sorted (*n of them). */
static int64_t *run_writers(store_t *st, int64_t parent_elsewhere, follower *f, size_t *n)
{
    static writer w[NTHREADS];
    pthread_t th[NTHREADS], fth;
    memset(f, 0, sizeof *f);
    f->st = st;
    atomic_init(&f->writers_done, false);
    assert_int_equal(pthread_create(&fth, NULL, follower_main, f), 0);
    for (int i = 0; i < NTHREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].st = st;
        w[i].index = i;
        snprintf(w[i].sender, sizeof w[i].sender, "writer%d", i);
        w[i].parent_elsewhere = parent_elsewhere;
        assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    atomic_store(&f->writers_done, true);
    pthread_join(fth, NULL);
    if (f->error[0])
        fail_msg("follower: %s", f->error);

    int64_t *ids = calloc(ALL, sizeof *ids);
    *n = 0;
    for (int i = 0; i < NTHREADS; i++) {
        if (w[i].unexpected)
            fail_msg("writer %d: %d unexpected results, first: %s", i, w[i].unexpected, w[i].error);
        for (int k = 0; k < PER_THREAD; k++)
            if (w[i].ids[k])
                ids[(*n)++] = w[i].ids[k];
    }
    qsort(ids, *n, sizeof *ids, cmp_i64);
    for (size_t i = 1; i < *n; i++)
        if (ids[i] == ids[i - 1])
            fail_msg("id %lld acknowledged twice", (long long)ids[i]);
    return ids;
}

/* The session holds exactly ids (sorted), created_at never going down in id order, each
 * with one audit record naming it; the follower saw every one of them, in id order. */
static void check_session(store_t *st, const int64_t *ids, size_t n, const follower *f)
{
    store_messages l;
    int64_t total = -1;
    store_msg_query q = {.session_id = SID, .limit = ALL + 10, .vis = VIS_ALL};
    OK(store_message_list(st, &q, &l, &total, &E));
    assert_int_equal(total, (int64_t)n);
    assert_int_equal(l.n, n);
    for (size_t i = 0; i < n; i++) {
        if (l.v[i].id != ids[i])
            fail_msg("message %zu: id %lld stored, %lld acknowledged", i, (long long)l.v[i].id,
                     (long long)ids[i]);
        if (i > 0 && l.v[i].created_at < l.v[i - 1].created_at)
            fail_msg("created_at goes down in id order: id %lld at %lld, id %lld at %lld",
                     (long long)l.v[i - 1].id, (long long)l.v[i - 1].created_at,
                     (long long)l.v[i].id, (long long)l.v[i].created_at);
    }
    store_session s;
    OK(store_session_get(st, SID, &s, &E));
    assert_int_equal(s.updated_at, l.v[n - 1].created_at);
    store_session_clear(&s);
    store_messages_free(&l);

    /* a follower that moved past an id never misses a smaller one */
    if (f->nseen != n)
        fail_msg("the since_id follower saw %zu of %zu messages", f->nseen, n);
    for (size_t i = 0; i < n; i++)
        if (f->seen[i] != ids[i])
            fail_msg("the since_id follower saw id %lld where %lld was", (long long)f->seen[i],
                     (long long)ids[i]);

    store_audits al;
    store_audit_query aq = {.event_type = "message_added", .session_id = SID, .limit = ALL * 2};
    OK(store_audit_list(st, &aq, &al, &E));
    assert_int_equal(al.n, n);
    int64_t *named = calloc(n, sizeof *named);
    for (size_t i = 0; i < al.n; i++) {
        long long id = 0;
        if (!al.v[i].resource || sscanf(al.v[i].resource, "message:%lld", &id) != 1)
            fail_msg("audit record %lld: resource %s", (long long)al.v[i].id,
                     al.v[i].resource ? al.v[i].resource : "NULL");
        named[i] = id;
    }
    qsort(named, n, sizeof *named, cmp_i64);
    for (size_t i = 0; i < n; i++)
        if (named[i] != ids[i])
            fail_msg("audit records name message %lld where %lld was", (long long)named[i],
                     (long long)ids[i]);
    free(named);
    store_audits_free(&al);
}

static void test_one_session_many_writers(void **state)
{
    store_t *st = ((tb_db *)*state)->st;
    make_session(st, SID);
    g_bad_ones = false;
    static follower f;
    size_t n = 0;
    int64_t *ids = run_writers(st, 0, &f, &n);
    assert_int_equal(n, ALL);
    check_session(st, ids, n, &f);
    free(ids);
}

static void test_failing_writers_undo_nothing_else(void **state)
{
    store_t *st = ((tb_db *)*state)->st;
    make_session(st, SID);
    make_session(st, OTHER);
    store_message p = {.session_id = OTHER, .sender = "test", .content = "elsewhere"};
    OK(store_message_add(st, &p, NULL, &E));
    g_bad_ones = true;
    static follower f;
    size_t n = 0;
    int64_t *ids = run_writers(st, p.id, &f, &n);
    assert_int_equal(n, ALL / 2);
    check_session(st, ids, n, &f);
    free(ids);
    /* nothing of the failed writes anywhere */
    store_audits al;
    store_audit_query aq = {.event_type = "message_added", .limit = ALL * 2};
    OK(store_audit_list(st, &aq, &al, &E));
    assert_int_equal(al.n, ALL / 2);
    store_audits_free(&al);
    store_session s;
    OK(store_session_get(st, OTHER, &s, &E));
    assert_int_equal(s.message_count, 1);
    store_session_clear(&s);
}

int main(int argc, char **argv)
{
    tb_url(argc, argv);
    log_set_level(LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_session_many_writers, tb_setup, tb_teardown),
        cmocka_unit_test_setup_teardown(test_failing_writers_undo_nothing_else, tb_setup,
                                        tb_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
