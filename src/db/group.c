/* db/group.c — group commit for a single-writer database (SQLite files): when
 * several threads run a write transaction (db_tx_run with DB_WRITE) at once,
 * one of them (the leader) borrows the writer connection, takes up to
 * DB_GROUP_MAX waiting callers, opens ONE transaction (BEGIN IMMEDIATE with the
 * driver's busy handling, as before), runs each caller's callback inside its own
 * SAVEPOINT (RELEASE on success; ROLLBACK TO + RELEASE on failure, so one
 * caller's failure never undoes another's work), COMMITs once and hands every
 * caller its own result and error. A caller returns only after the COMMIT that
 * holds its work (or with the error that says it is not durable):
 *   - callback failed: that caller gets its own code and message;
 *   - COMMIT (or BEGIN, or borrowing the writer) failed: every caller of the
 *     batch gets that failure; db_tx_run then applies its retry rules per caller,
 *     a retry joining a later batch (nothing is applied twice: the failed batch
 *     was rolled back as a whole);
 *   - a callback's failure ended the whole transaction (SQLite rolls back on
 *     some I/O, full and busy errors): the callers before it in the batch get
 *     ERR_BUSY so db_tx_run runs them again, and the rest run in a new
 *     transaction.
 * A batch of one runs exactly as an ungrouped transaction (no SAVEPOINT).
 * Callbacks cannot tell they are batched: they run one after the other on the
 * one writer connection, so the statement cache, db_last_insert_id and
 * db_changes stay per callback; statements a callback left open are finished
 * after it. They run on the leader's thread (nothing in ctxd keeps per-thread
 * state that a callback depends on).
 * Must not: be used for readers or for backends with many writer connections
 * (there each transaction is independent); call a callback twice in one batch;
 * wake a caller before its batch is committed or rolled back; know any table. */
#include "db/db_int.h"

#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "base/sbuf.h"

#define DB_GROUP_MAX 64 /* callers per transaction */
#define SP_BEGIN "SAVEPOINT ctxd_group"
#define SP_RELEASE "RELEASE SAVEPOINT ctxd_group"
#define SP_ROLLBACK "ROLLBACK TO SAVEPOINT ctxd_group"

typedef struct gc_req {
    struct gc_req *next;
    db_tx_fn fn;
    void *arg;
    err_t *e;
    pthread_cond_t cv;
    err_code rc;
    bool acquire_failed;
    bool done, lead;
} gc_req;

struct db_group {
    db_t *db;
    pthread_mutex_t mu;
    gc_req *head, *tail;
    int queued;
    bool leading;
    uint64_t batches, callers, max_batch; /* under mu */
};

db_group *db_group_new(db_t *db)
{
    db_group *g = xcalloc(1, sizeof *g);
    g->db = db;
    pthread_mutex_init(&g->mu, NULL);
    return g;
}

void db_group_free(db_group *g)
{
    if (!g)
        return;
    pthread_mutex_destroy(&g->mu);
    free(g);
}

void db_group_stats(db_group *g, db_group_stat *out)
{
    memset(out, 0, sizeof *out);
    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    out->batches = g->batches;
    out->callers = g->callers;
    out->max_batch = g->max_batch;
    out->queued = g->queued;
    pthread_mutex_unlock(&g->mu);
}

/* Copies the batch-level error into a caller's error struct. */
static void fail_req(gc_req *r, const err_t *src, err_code rc)
{
    r->rc = rc;
    if (r->e && src)
        *r->e = *src;
    else if (r->e)
        err_set(r->e, rc, "write transaction failed");
}

/* One short control statement (savepoints) through the statement cache. */
static err_code run_ctl(db_conn *c, const char *sql, err_t *e)
{
    return db_exec_params(c, sql, NULL, 0, NULL, e);
}

static void finish_stmts(db_conn *c)
{
    while (c->active)
        db_stmt_done(c->active);
}

/* The work of a caller that was rolled back with the transaction, not by its
 * own failure: run it again in a later batch. */
static void requeue_done(gc_req **b, int upto)
{
    for (int j = 0; j < upto; j++)
        if (b[j]->rc == ERR_OK) {
            b[j]->rc = err_set(b[j]->e, ERR_BUSY,
                               "the write was rolled back with its batch after another write "
                               "failed; retrying");
        }
}

static void run_batch(db_conn *c, gc_req **b, int n)
{
    err_t te;
    err_clear(&te);
    if (n == 1) { /* exactly the ungrouped transaction */
        gc_req *r = b[0];
        err_code rc = db_begin(c, r->e);
        if (rc == ERR_OK) {
            rc = r->fn(c, r->arg, r->e);
            finish_stmts(c);
            if (rc == ERR_OK)
                rc = db_commit(c, r->e);
            if (rc != ERR_OK && db_in_tx(c))
                db_rollback(c);
        }
        r->rc = rc;
        return;
    }
    bool in_tx = false;
    for (int i = 0; i < n; i++) {
        gc_req *r = b[i];
        if (!in_tx || !db_in_tx(c)) {
            if (in_tx)
                requeue_done(b, i); /* the transaction ended under us */
            err_code rc = db_begin(c, &te);
            if (rc != ERR_OK) {
                for (int j = i; j < n; j++)
                    fail_req(b[j], &te, rc);
                return;
            }
            in_tx = true;
        }
        err_code rc = run_ctl(c, SP_BEGIN, r->e);
        r->rc = rc;
        if (rc != ERR_OK)
            continue; /* nothing of it to undo */
        rc = r->fn(c, r->arg, r->e);
        finish_stmts(c);
        if (rc == ERR_OK && db_in_tx(c))
            rc = run_ctl(c, SP_RELEASE, r->e);
        r->rc = rc;
        if (rc == ERR_OK)
            continue;
        if (!db_in_tx(c))
            continue; /* handled at the next round or below */
        err_t re;
        if (run_ctl(c, SP_ROLLBACK, &re) != ERR_OK || run_ctl(c, SP_RELEASE, &re) != ERR_OK) {
            LOG_W("db", "group commit: undoing one write failed (%s); rolling back its batch",
                  re.msg);
            db_rollback(c);
            requeue_done(b, i);
            in_tx = false;
        }
    }
    if (!db_in_tx(c)) { /* the last callback ended it */
        if (in_tx)
            requeue_done(b, n);
        return;
    }
    err_code rc = db_commit(c, &te);
    if (rc != ERR_OK) {
        if (db_in_tx(c))
            db_rollback(c);
        for (int j = 0; j < n; j++)
            if (b[j]->rc == ERR_OK)
                fail_req(b[j], &te, rc);
    }
}

/* Leader: borrow the writer, take a batch from the queue (including whoever
 * arrived while it waited for the writer), run and commit it, wake its callers. */
static void lead_one_batch(db_group *g)
{
    db_conn *c = NULL;
    err_t ae;
    err_clear(&ae);
    pthread_mutex_unlock(&g->mu);
    err_code arc = db_acquire(g->db, DB_WRITE, &c, &ae);
    pthread_mutex_lock(&g->mu);
    gc_req *b[DB_GROUP_MAX];
    int n = 0;
    while (g->head && n < DB_GROUP_MAX) {
        b[n++] = g->head;
        g->head = g->head->next;
        g->queued--;
    }
    if (!g->head)
        g->tail = NULL;
    g->batches++;
    g->callers += (uint64_t)n;
    if ((uint64_t)n > g->max_batch)
        g->max_batch = (uint64_t)n;
    pthread_mutex_unlock(&g->mu);
    if (arc != ERR_OK) {
        for (int i = 0; i < n; i++) {
            fail_req(b[i], &ae, arc);
            b[i]->acquire_failed = true;
        }
    } else {
        run_batch(c, b, n);
        db_release(c);
    }
    pthread_mutex_lock(&g->mu);
    for (int i = 0; i < n; i++) {
        gc_req *r = b[i];
        r->done = true;
        pthread_cond_signal(&r->cv); /* r may vanish once mu is released */
    }
}

err_code db_group_run(db_group *g, db_tx_fn fn, void *arg, err_t *e, bool *acquire_failed)
{
    gc_req r;
    memset(&r, 0, sizeof r);
    r.fn = fn;
    r.arg = arg;
    r.e = e;
    pthread_cond_init(&r.cv, NULL);
    pthread_mutex_lock(&g->mu);
    if (g->tail)
        g->tail->next = &r;
    else
        g->head = &r;
    g->tail = &r;
    g->queued++;
    if (!g->leading) {
        g->leading = true;
        r.lead = true;
    }
    while (!r.done && !r.lead)
        pthread_cond_wait(&r.cv, &g->mu);
    if (r.lead) {
        while (!r.done)
            lead_one_batch(g);
        /* Hand the lead to the oldest waiter, if any. */
        if (g->head) {
            g->head->lead = true;
            pthread_cond_signal(&g->head->cv);
        } else {
            g->leading = false;
        }
    }
    pthread_mutex_unlock(&g->mu);
    pthread_cond_destroy(&r.cv);
    *acquire_failed = r.acquire_failed;
    return r.rc;
}
