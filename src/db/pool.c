/* db/pool.c — a pool of driver connections: `size` kept connections plus up to
 * `max_overflow` extra ones, which are kept warm for pool_idle_timeout_s after their last
 * use (0: closed on return) and then closed by the next borrow or return (the oldest idle
 * connections go first, never below `size`); borrowers wait on a
 * condition variable up to pool_timeout (then ERR_TIMEOUT); a connection idle
 * longer than preping_idle_ms is pinged before it is handed out, one older than
 * pool_recycle_s is replaced; a broken connection (connection-class error, or
 * the driver reports it dead) is closed on return, and then every connection
 * idle since is pinged before reuse; statistics. A SQLite database has two pools: the
 * writer (size 1: writes are serialised in-process) and the readers.
 * Must not: run statements other than the driver ping, hold the pool lock while
 * connecting/pinging/closing, or know which backend it serves. */
#include "db/db_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/log.h"
#include "base/sbuf.h"

struct db_pool {
    db_t *db;
    char label[32];
    db_role role;
    int size, max_overflow;
    bool pinned;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    db_conn *idle; /* LIFO: the most recently used first */
    int nidle;
    int nopen; /* open (or being opened) connections; those above size are overflow */
    int in_use;
    uint64_t acquired, waits, timeouts, created, closed, recycled, preping_failures;
    uint64_t idle_closed;
    int64_t suspect_us;    /* idle connections last used before this are pinged */
    int64_t next_sweep_us; /* the next look for overflow connections idle too long */
};

#define POOL_SWEEP_EVERY_US 1000000 /* idle overflow is looked for at most once a second */

db_pool *db_pool_new(db_t *db, const char *label, db_role role, int size, int max_overflow,
                     bool pinned)
{
    db_pool *p = xcalloc(1, sizeof *p);
    p->db = db;
    snprintf(p->label, sizeof p->label, "%s", label);
    p->role = role;
    p->size = size;
    p->max_overflow = max_overflow;
    p->pinned = pinned;
    pthread_mutex_init(&p->mu, NULL);
    utc_cond_init(&p->cv);
    return p;
}

static void close_list(db_conn *c)
{
    while (c) {
        db_conn *nx = c->next_idle;
        db_conn_close(c);
        c = nx;
    }
}

void db_pool_free(db_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    db_conn *c = p->idle;
    p->idle = NULL;
    int leaked = p->in_use;
    pthread_mutex_unlock(&p->mu);
    close_list(c);
    if (leaked > 0) {
        /* A caller still holds connections: a bug. Keep the pool alive (leak it)
         * rather than let a later db_release touch freed memory. */
        LOG_E("db", "db_close: %d %s connection(s) still borrowed; not freeing them", leaked,
              p->label);
        return;
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* Caller holds p->mu. Forgets a borrowed connection's slot. */
static void forget_locked(db_pool *p)
{
    p->nopen--;
    p->in_use--;
    p->closed++;
    pthread_cond_signal(&p->cv);
}

/* Caller holds p->mu. Unlinks the idle connections beyond `size` that were last used
 * pool_idle_timeout_s or more before now (the idle list is most recently used first, so
 * they are its tail) and returns them for closing without the lock. */
static db_conn *take_expired_locked(db_pool *p, int64_t now)
{
    int timeout_s = p->db->o.pool_idle_timeout_s;
    if (p->pinned || timeout_s <= 0 || p->nopen <= p->size || now < p->next_sweep_us)
        return NULL;
    p->next_sweep_us = now + POOL_SWEEP_EVERY_US;
    int64_t cutoff = now - (int64_t)timeout_s * 1000000;
    int expired = 0;
    db_conn **link = &p->idle, **first = NULL;
    for (db_conn *c = p->idle; c; c = c->next_idle) {
        if (!first && c->last_used_us <= cutoff)
            first = link;
        if (first)
            expired++;
        link = &c->next_idle;
    }
    int excess = p->nopen - p->size;
    for (; first && expired > excess; expired--) /* keep the youngest of them */
        first = &(*first)->next_idle;
    if (!first || expired == 0)
        return NULL;
    db_conn *out = *first;
    *first = NULL;
    p->nidle -= expired;
    p->nopen -= expired;
    p->closed += (uint64_t)expired;
    p->idle_closed += (uint64_t)expired;
    return out;
}

/* A connection taken from the idle list and not handed out after all (too old,
 * or dead): forgotten, its take undone, counted in *why, closed. Called without
 * p->mu; returns holding it. */
static void drop_taken(db_pool *p, db_conn *c, uint64_t *why)
{
    pthread_mutex_lock(&p->mu);
    forget_locked(p);
    p->acquired--;
    (*why)++;
    pthread_mutex_unlock(&p->mu);
    db_conn_close(c);
    pthread_mutex_lock(&p->mu);
}

err_code db_pool_get(db_pool *p, db_conn **out, err_t *e)
{
    const db_opts *o = &p->db->o;
    struct timespec deadline;
    bool have_deadline = false, waited = false;
    *out = NULL;
    pthread_mutex_lock(&p->mu);
    db_conn *expired = take_expired_locked(p, db_mono_us(p->db));
    if (expired) {
        pthread_mutex_unlock(&p->mu);
        close_list(expired);
        pthread_mutex_lock(&p->mu);
    }
    for (;;) {
        if (p->idle) {
            db_conn *c = p->idle;
            p->idle = c->next_idle;
            c->next_idle = NULL;
            p->nidle--;
            p->in_use++;
            p->acquired++; /* taken back below if the connection is dropped */
            bool suspect = c->last_used_us <= p->suspect_us;
            pthread_mutex_unlock(&p->mu);

            int64_t now = db_mono_us(p->db);
            if (!p->pinned && o->pool_recycle_s > 0 &&
                now - c->created_us > (int64_t)o->pool_recycle_s * 1000000) {
                drop_taken(p, c, &p->recycled);
                continue;
            }
            if (!p->pinned && (suspect || o->preping_idle_ms == 0 ||
                               now - c->last_used_us > (int64_t)o->preping_idle_ms * 1000)) {
                err_t pe;
                if (c->drv->ping(c->dc, &pe) != ERR_OK) {
                    LOG_W("db", "dropping a dead %s connection: %s", p->label, pe.msg);
                    drop_taken(p, c, &p->preping_failures);
                    continue;
                }
            }
            *out = c;
            return ERR_OK;
        }
        if (p->nopen < p->size + p->max_overflow) {
            p->nopen++;
            p->in_use++;
            pthread_mutex_unlock(&p->mu);
            db_conn *c = NULL;
            err_code rc = db_conn_open(p->db, p->role, &c, e);
            pthread_mutex_lock(&p->mu);
            if (rc != ERR_OK) {
                p->nopen--;
                p->in_use--;
                pthread_cond_signal(&p->cv);
                pthread_mutex_unlock(&p->mu);
                return rc;
            }
            c->pool = p;
            p->created++;
            p->acquired++;
            pthread_mutex_unlock(&p->mu);
            *out = c;
            return ERR_OK;
        }
        if (!have_deadline) {
            utc_cond_deadline(&deadline, o->pool_timeout_ms);
            have_deadline = true;
        }
        if (!waited) {
            p->waits++;
            waited = true;
        }
        int w =
            o->pool_timeout_ms > 0 ? pthread_cond_timedwait(&p->cv, &p->mu, &deadline) : ETIMEDOUT;
        if (w == ETIMEDOUT && !p->idle && p->nopen >= p->size + p->max_overflow) {
            p->timeouts++;
            int size = p->size, ovf = p->max_overflow;
            pthread_mutex_unlock(&p->mu);
            if (p->pinned)
                return err_set(e, ERR_TIMEOUT,
                               "the shared in-memory database connection was not free within %g s "
                               "(sqlite :memory: serves every request on one connection)",
                               o->pool_timeout_ms / 1000.0);
            if (strcmp(p->label, "writer") == 0) /* the dedicated single writer (sqlite) */
                return err_set(e, ERR_TIMEOUT,
                               "the database writer connection was not free within %g s "
                               "(writes are serialised on one connection; a slow or stuck "
                               "transaction holds it)",
                               o->pool_timeout_ms / 1000.0);
            return err_set(e, ERR_TIMEOUT,
                           "no database connection free within %g s (pool size %d, overflow %d)",
                           o->pool_timeout_ms / 1000.0, size, ovf);
        }
    }
}

void db_pool_put(db_pool *p, db_conn *c)
{
    int64_t now = db_mono_us(p->db);
    bool old = p->db->o.pool_recycle_s > 0 &&
               now - c->created_us > (int64_t)p->db->o.pool_recycle_s * 1000000;
    pthread_mutex_lock(&p->mu);
    /* an overflow connection is closed on return only when it may not idle at all */
    bool surplus = p->db->o.pool_idle_timeout_s <= 0 && p->nopen > p->size;
    if (!p->pinned && (c->broken || old || surplus)) {
        /* One connection died (server restart, network cut): its idle siblings
         * probably did too, so each is pinged before it is handed out again. */
        if (c->broken)
            p->suspect_us = now;
        forget_locked(p);
        if (!c->broken && !surplus)
            p->recycled++;
        pthread_mutex_unlock(&p->mu);
        db_conn_close(c);
        return;
    }
    c->last_used_us = now;
    c->next_idle = p->idle;
    p->idle = c;
    p->nidle++;
    p->in_use--;
    pthread_cond_signal(&p->cv);
    db_conn *expired = take_expired_locked(p, now);
    pthread_mutex_unlock(&p->mu);
    close_list(expired);
}

void db_pool_stats_add(db_pool *p, db_pool_stats *s)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    s->size += p->size;
    s->max_overflow += p->max_overflow;
    s->in_use += p->in_use;
    s->idle += p->nidle;
    s->overflow_in_use += p->in_use > p->size ? p->in_use - p->size : 0;
    s->open += p->nopen;
    s->idle_closed += p->idle_closed;
    s->acquired += p->acquired;
    s->waits += p->waits;
    s->timeouts += p->timeouts;
    s->created += p->created;
    s->closed += p->closed;
    s->recycled += p->recycled;
    s->preping_failures += p->preping_failures;
    pthread_mutex_unlock(&p->mu);
}
