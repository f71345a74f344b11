/* db/pool.c — a pool of driver connections: `size` kept connections plus up to
 * `max_overflow` extra ones that are closed on return; borrowers wait on a
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
    int nbase, novf; /* open (or being opened) connections */
    int in_use, overflow_in_use;
    uint64_t acquired, waits, timeouts, created, closed, recycled, preping_failures;
    int64_t suspect_us; /* idle connections last used before this are pinged */
};

void db_cond_init_mono(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
}

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
    db_cond_init_mono(&p->cv);
    return p;
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
    while (c) {
        db_conn *nx = c->next_idle;
        db_conn_close(c);
        c = nx;
    }
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

/* Caller holds p->mu. Forgets an open connection slot. */
static void forget_locked(db_pool *p, db_conn *c)
{
    if (c->overflow) {
        p->novf--;
        p->overflow_in_use--;
    } else
        p->nbase--;
    p->in_use--;
    p->closed++;
    pthread_cond_signal(&p->cv);
}

/* A connection taken from the idle list and not handed out after all (too old,
 * or dead): forgotten, its take undone, counted in *why, closed. Called without
 * p->mu; returns holding it. */
static void drop_taken(db_pool *p, db_conn *c, uint64_t *why)
{
    pthread_mutex_lock(&p->mu);
    forget_locked(p, c);
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
    for (;;) {
        if (p->idle) {
            db_conn *c = p->idle;
            p->idle = c->next_idle;
            c->next_idle = NULL;
            p->nidle--;
            p->in_use++;
            if (c->overflow)
                p->overflow_in_use++;
            p->acquired++; /* taken back below if the connection is dropped */
            bool suspect = c->last_used_us <= p->suspect_us;
            pthread_mutex_unlock(&p->mu);

            int64_t now = utc_mono_us();
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
        if (p->nbase < p->size || p->novf < p->max_overflow) {
            bool ovf = p->nbase >= p->size;
            if (ovf) {
                p->novf++;
                p->overflow_in_use++;
            } else
                p->nbase++;
            p->in_use++;
            pthread_mutex_unlock(&p->mu);
            db_conn *c = NULL;
            err_code rc = db_conn_open(p->db, p->role, &c, e);
            pthread_mutex_lock(&p->mu);
            if (rc != ERR_OK) {
                if (ovf) {
                    p->novf--;
                    p->overflow_in_use--;
                } else
                    p->nbase--;
                p->in_use--;
                pthread_cond_signal(&p->cv);
                pthread_mutex_unlock(&p->mu);
                return rc;
            }
            c->pool = p;
            c->overflow = ovf;
            p->created++;
            p->acquired++;
            pthread_mutex_unlock(&p->mu);
            *out = c;
            return ERR_OK;
        }
        if (!have_deadline) {
            utc_mono_deadline(&deadline, o->pool_timeout_ms);
            have_deadline = true;
        }
        if (!waited) {
            p->waits++;
            waited = true;
        }
        int w =
            o->pool_timeout_ms > 0 ? pthread_cond_timedwait(&p->cv, &p->mu, &deadline) : ETIMEDOUT;
        if (w == ETIMEDOUT && !p->idle && p->nbase >= p->size && p->novf >= p->max_overflow) {
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
    int64_t now = utc_mono_us();
    bool close_it =
        !p->pinned && (c->broken || c->overflow ||
                       (p->db->o.pool_recycle_s > 0 &&
                        now - c->created_us > (int64_t)p->db->o.pool_recycle_s * 1000000));
    pthread_mutex_lock(&p->mu);
    if (close_it) {
        bool recycle = !c->broken && !c->overflow;
        /* One connection died (server restart, network cut): its idle siblings
         * probably did too, so each is pinged before it is handed out again. */
        if (c->broken)
            p->suspect_us = now;
        forget_locked(p, c);
        if (recycle)
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
    if (c->overflow)
        p->overflow_in_use--;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
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
    s->overflow_in_use += p->overflow_in_use;
    s->acquired += p->acquired;
    s->waits += p->waits;
    s->timeouts += p->timeouts;
    s->created += p->created;
    s->closed += p->closed;
    s->recycled += p->recycled;
    s->preping_failures += p->preping_failures;
    pthread_mutex_unlock(&p->mu);
}
