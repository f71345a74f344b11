/* tests/store/concurrency.c — the store under concurrent and crashing writers on
 * an on-disk SQLite file: 8 threads on one store; 4 processes, each with its own
 * store, on one file; a writer killed with SIGKILL mid-load. Acknowledged writes
 * must all be there, ids unique and increasing, no error reaching a caller, and
 * the file must reopen clean. Processes are store_writer (writer.c), started
 * with fork+exec and synchronised with pipes, never with sleeps.
 * Must not: depend on timing (no sleeps, no "fast enough" assertions). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "backend_setup.h"
#include "test_support.h"
#include "base/log.h"
#include "base/sbuf.h"
#include "db/db.h"
#include "store/store.h"
#include "store/store_sql.h"

#ifndef STORE_WRITER_PATH
#error "STORE_WRITER_PATH must name the store_writer program"
#endif

#define SID "session_00000000000000cc"

static err_t E;
#define OK(x) TS_OK(E, x)

typedef struct {
    char *dir;
    tb_db db;
} fixture;

/* A fresh migrated file in a private directory, with one session. */
static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = ts_mkdtemp("store-concurrency");
    char *url = ts_strf("sqlite:///%s/store.db", f->dir);
    err_t e;
    err_clear(&e);
    err_code rc = tb_fresh(url, &f->db, &e);
    free(url);
    if (rc != ERR_OK) {
        print_error("fresh database: %s\n", e.msg);
        return -1;
    }
    store_session s = {
        .id = SID, .purpose = "concurrency", .created_by = "test", .is_active = true};
    if (store_session_create(f->db.st, &s, NULL, &e) != ERR_OK) {
        print_error("session: %s\n", e.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tb_drop(&f->db);
    ts_rm_rf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int64_t total_messages(store_t *st, const char *sender)
{
    store_messages l;
    int64_t total = -1;
    store_msg_query q = {
        .session_id = SID, .vis = {.any = STORE_VIS_EVERY}, .limit = 1, .sender = sender};
    OK(store_message_list(st, &q, &l, &total, &E));
    store_messages_free(&l);
    return total;
}

/* Every id present (visible to all), in one session. */
static void assert_all_present(store_t *st, const int64_t *ids, size_t n)
{
    store_vis all = {.any = STORE_VIS_EVERY};
    for (size_t i = 0; i < n; i++) {
        store_message m;
        err_clear(&E);
        err_code rc = store_message_get(st, ids[i], &all, &m, &E);
        if (rc != ERR_OK)
            fail_msg("acknowledged message %lld is missing: %s", (long long)ids[i], E.msg);
        assert_string_equal(m.session_id, SID);
        store_message_clear(&m);
    }
}

static void assert_unique(int64_t *ids, size_t n)
{
    qsort(ids, n, sizeof ids[0], cmp_i64);
    for (size_t i = 1; i < n; i++)
        if (ids[i] == ids[i - 1])
            fail_msg("id %lld acknowledged twice", (long long)ids[i]);
}

/* ---- 8 threads on one store ---------------------------------------------------------- */

enum {
    NTHREADS = 8,
    PER_THREAD = 1000
};

typedef struct {
    store_t *st;
    int index;
    int64_t ids[PER_THREAD];
    int failures;
    char error[600];
} worker;

static void *thread_main(void *arg)
{
    worker *w = arg;
    char sender[16];
    snprintf(sender, sizeof sender, "thread%d", w->index);
    for (int i = 0; i < PER_THREAD; i++) {
        char content[48];
        snprintf(content, sizeof content, "t%d m%d", w->index, i);
        store_message m = {.session_id = SID, .sender = sender, .content = content};
        store_audit_in a = {.event_type = "message_added"};
        err_t e;
        err_code rc = store_message_add(w->st, &m, &a, &e);
        if (rc != ERR_OK) {
            if (!w->failures++)
                snprintf(w->error, sizeof w->error, "%s: %s", err_code_name(rc), e.msg);
            w->ids[i] = 0;
            continue;
        }
        w->ids[i] = m.id;
    }
    return NULL;
}

static void test_threads_one_store(void **state)
{
    fixture *f = *state;
    static worker w[NTHREADS];
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].st = f->db.st;
        w[i].index = i;
        assert_int_equal(pthread_create(&th[i], NULL, thread_main, &w[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);

    static int64_t all[NTHREADS * PER_THREAD];
    size_t n = 0;
    for (int i = 0; i < NTHREADS; i++) {
        if (w[i].failures)
            fail_msg("thread %d: %d failed writes, first: %s", i, w[i].failures, w[i].error);
        for (int k = 0; k < PER_THREAD; k++) {
            if (k > 0 && w[i].ids[k] <= w[i].ids[k - 1])
                fail_msg("thread %d: id %lld after %lld", i, (long long)w[i].ids[k],
                         (long long)w[i].ids[k - 1]);
            all[n++] = w[i].ids[k];
        }
        char sender[16];
        snprintf(sender, sizeof sender, "thread%d", i);
        assert_int_equal(total_messages(f->db.st, sender), PER_THREAD);
    }
    assert_int_equal(total_messages(f->db.st, NULL), NTHREADS * PER_THREAD);
    assert_unique(all, n);

    /* one audit record per message */
    store_audits al;
    store_audit_query aq = {.event_type = "message_added", .session_id = SID, .limit = 100000};
    OK(store_audit_list(f->db.st, &aq, &al, &E));
    assert_int_equal(al.n, NTHREADS * PER_THREAD);
    store_audits_free(&al);
}

/* ---- writer processes ----------------------------------------------------------------- */

typedef struct {
    pid_t pid;
    int out; /* read end of its report pipe */
    char sender[32];
    int64_t *ids;
    size_t n, cap;
    unsigned char partial[8];
    size_t npartial; /* bytes of an incomplete id (writer killed mid-write) */
} child;

/* Starts store_writer; it blocks until *go_w is closed. */
static void spawn(child *c, const char *url, long count, int go_r)
{
    int rep[2];
    assert_int_equal(pipe2(rep, O_CLOEXEC), 0);
    char countbuf[32];
    snprintf(countbuf, sizeof countbuf, "%ld", count);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (dup2(go_r, 0) < 0 || dup2(rep[1], 1) < 0)
            _exit(120);
        char *args[] = {STORE_WRITER_PATH, (char *)url, SID, countbuf, c->sender, NULL};
        execv(STORE_WRITER_PATH, args);
        _exit(121);
    }
    close(rep[1]);
    c->pid = pid;
    c->out = rep[0];
    /* ready byte: the store is open */
    char r = 0;
    if (ts_read_full(c->out, &r, 1) != 1 || r != 'R')
        fail_msg("writer %s did not start (store_open failed?)", c->sender);
}

/* Reads what is available from c (blocking read once); false at EOF. */
static bool drain_once(child *c)
{
    unsigned char buf[4096];
    ssize_t r;
    do
        r = read(c->out, buf, sizeof buf);
    while (r < 0 && errno == EINTR);
    if (r <= 0)
        return false;
    for (ssize_t i = 0; i < r; i++) {
        c->partial[c->npartial++] = buf[i];
        if (c->npartial == 8) {
            if (c->n == c->cap) {
                c->cap = c->cap ? c->cap * 2 : 1024;
                c->ids = realloc(c->ids, c->cap * sizeof *c->ids);
            }
            memcpy(&c->ids[c->n++], c->partial, 8);
            c->npartial = 0;
        }
    }
    return true;
}

/* Reads every child's reports until all reach EOF. */
static void drain_all(child *cs, int n)
{
    struct pollfd p[8];
    int open = n;
    for (int i = 0; i < n; i++)
        p[i] = (struct pollfd){.fd = cs[i].out, .events = POLLIN};
    while (open > 0) {
        int r = poll(p, (nfds_t)n, -1);
        if (r < 0 && errno == EINTR)
            continue;
        assert_true(r > 0);
        for (int i = 0; i < n; i++) {
            if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (!drain_once(&cs[i])) {
                close(cs[i].out);
                p[i].fd = -1;
                open--;
            }
        }
    }
}

static int wait_child(child *c)
{
    int status = 0;
    while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
}

enum {
    NPROCS = 4,
    PER_PROC = 250
};

static void test_processes_one_file(void **state)
{
    fixture *f = *state;
    child cs[NPROCS];
    int go[2];
    assert_int_equal(pipe2(go, O_CLOEXEC), 0);
    for (int i = 0; i < NPROCS; i++) {
        memset(&cs[i], 0, sizeof cs[i]);
        snprintf(cs[i].sender, sizeof cs[i].sender, "proc%d", i);
        spawn(&cs[i], f->db.url, PER_PROC, go[0]);
    }
    close(go[0]);
    close(go[1]); /* all four start together */
    drain_all(cs, NPROCS);

    static int64_t all[NPROCS * PER_PROC];
    size_t n = 0;
    for (int i = 0; i < NPROCS; i++) {
        int status = wait_child(&cs[i]);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail_msg("writer %s failed (status %d): a write error reached the caller", cs[i].sender,
                     status);
        assert_int_equal(cs[i].n, PER_PROC);
        assert_int_equal(cs[i].npartial, 0);
        for (size_t k = 0; k < cs[i].n; k++) {
            if (k > 0)
                assert_true(cs[i].ids[k] > cs[i].ids[k - 1]);
            all[n++] = cs[i].ids[k];
        }
        assert_int_equal(total_messages(f->db.st, cs[i].sender), PER_PROC);
    }
    assert_all_present(f->db.st, all, n);
    assert_unique(all, n);
    assert_int_equal(total_messages(f->db.st, NULL), NPROCS * PER_PROC);
    for (int i = 0; i < NPROCS; i++)
        free(cs[i].ids);
}

/* ---- SIGKILL under load ------------------------------------------------------------------- */

enum {
    KILL_AFTER = 300,
    STEADY = 400
};

static void integrity_ok(const char *url)
{
    db_opts o;
    db_opts_default(&o);
    db_t *db = NULL;
    OK(db_open(url, &o, &db, &E));
    db_conn *c = NULL;
    OK(db_acquire(db, DB_READ, &c, &E));
    db_stmt *st = NULL;
    OK(db_prepare(c, "PRAGMA integrity_check", &st, &E));
    int r = db_step(st, &E);
    assert_int_equal(r, DB_ROW);
    const char *v = db_col_text(st, 0, NULL);
    assert_non_null(v);
    assert_string_equal(v, "ok");
    db_stmt_done(st);
    db_release(c);
    db_close(db);
}

static void test_sigkill_writer(void **state)
{
    fixture *f = *state;
    child victim, steady;
    memset(&victim, 0, sizeof victim);
    memset(&steady, 0, sizeof steady);
    snprintf(victim.sender, sizeof victim.sender, "victim");
    snprintf(steady.sender, sizeof steady.sender, "steady");
    int go[2];
    assert_int_equal(pipe2(go, O_CLOEXEC), 0);
    spawn(&victim, f->db.url, 0, go[0]);      /* writes until killed */
    spawn(&steady, f->db.url, STEADY, go[0]); /* keeps writing meanwhile */
    close(go[0]);
    close(go[1]);

    while (victim.n < KILL_AFTER)
        if (!drain_once(&victim))
            fail_msg("victim writer stopped after %zu writes", victim.n);
    assert_int_equal(kill(victim.pid, SIGKILL), 0);
    int status = wait_child(&victim);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    while (drain_once(&victim)) /* ids reported before the kill still in the pipe */
        ;
    close(victim.out);

    drain_all(&steady, 1);
    status = wait_child(&steady);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("the other writer failed (status %d) after the kill", status);
    assert_int_equal(steady.n, STEADY);

    /* the file reopens clean and holds every acknowledged write */
    char *url = xstrdup(f->db.url);
    store_close(f->db.st);
    f->db.st = NULL;
    integrity_ok(url);
    store_t *st = NULL;
    OK(store_open(url, NULL, &st, &E));
    f->db.st = st;
    free(url);
    assert_all_present(st, victim.ids, victim.n);
    assert_all_present(st, steady.ids, steady.n);
    assert_int_equal(total_messages(st, "steady"), STEADY);
    int64_t victim_rows = total_messages(st, "victim");
    /* at most the one write in flight at the kill was committed unreported */
    assert_true(victim_rows >= (int64_t)victim.n && victim_rows <= (int64_t)victim.n + 1);
    /* and the store still takes writes */
    store_message m = {.session_id = SID, .sender = "after", .content = "after the crash"};
    OK(store_message_add(st, &m, NULL, &E));
    free(victim.ids);
    free(steady.ids);
}

int main(void)
{
    log_set_level(LOG_WARN);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_threads_one_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_processes_one_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigkill_writer, setup, teardown),
    };
    return cmocka_run_group_tests_name("store_concurrency_sqlite", tests, NULL, NULL);
}
