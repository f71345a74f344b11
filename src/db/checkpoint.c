/* db/checkpoint.c — WAL checkpoints off the commit path for a single-writer
 * database (SQLite files). The writer connection runs with automatic
 * checkpoints off (the driver sets them off on writer connections of a file);
 * instead one background thread owned by the db handle, on a connection of its
 * own, runs a PASSIVE checkpoint (never blocks the writer or readers) after
 * every DB_CKPT_COMMITS write commits, or within DB_CKPT_IDLE_MS of the last
 * commit when fewer happened. Safety valve: when the WAL holds DB_CKPT_TRUNCATE_FRAMES
 * frames or more after a passive checkpoint (readers kept it from finishing), a
 * TRUNCATE checkpoint (which waits up to busy_timeout for readers and briefly
 * holds writers back) resets the file, so the WAL cannot grow without bound.
 * Other processes sharing the file keep their own settings: a connection with
 * automatic checkpoints checkpoints the same WAL as usual, which is safe.
 * The thread connects lazily at the first commit (a read-only open never
 * writes) and is stopped and joined at db_close.
 * Must not: run on the commit path, hold a lock while checkpointing, or know
 * any ctxd table. */
#include "db/db_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/log.h"
#include "base/sbuf.h"

#define DB_CKPT_COMMITS 64            /* commits between passive checkpoints */
#define DB_CKPT_IDLE_MS 500           /* ... or this long after the last one */
#define DB_CKPT_TRUNCATE_FRAMES 65536 /* ~256 MiB of 4 KiB pages: reset the WAL */

struct db_ckpt {
    db_t *db;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, failed;
    _Atomic uint32_t commits; /* since the last checkpoint */
    _Atomic uint64_t runs, truncates;
    db_drv_conn *dc;
};

static void checkpoint_once(db_ckpt *k)
{
    db_t *db = k->db;
    err_t e;
    err_clear(&e);
    if (!k->dc) {
        if (db->drv->connect(db->url, &db->o, DB_ROLE_WRITER, &k->dc, &e) != ERR_OK) {
            LOG_W("db",
                  "WAL checkpointer: cannot connect (%s); SQLite's own checkpoints "
                  "at close remain",
                  e.msg);
            k->dc = NULL;
            k->failed = true;
            return;
        }
    }
    int64_t frames = 0;
    err_code rc = db->drv->checkpoint(k->dc, false, &frames, &e);
    atomic_fetch_add_explicit(&k->runs, 1, memory_order_relaxed);
    if (rc == ERR_OK && frames >= DB_CKPT_TRUNCATE_FRAMES) {
        LOG_I("db", "WAL holds %lld frames after a passive checkpoint: truncating it",
              (long long)frames);
        rc = db->drv->checkpoint(k->dc, true, &frames, &e);
        atomic_fetch_add_explicit(&k->truncates, 1, memory_order_relaxed);
    }
    if (rc != ERR_OK && rc != ERR_BUSY)
        LOG_W("db", "WAL checkpoint failed: %s", e.msg);
}

static void *ckpt_main(void *arg)
{
    db_ckpt *k = arg;
    pthread_mutex_lock(&k->mu);
    while (!k->stop) {
        uint32_t n = atomic_load_explicit(&k->commits, memory_order_relaxed);
        if (n == 0 || k->failed) {
            pthread_cond_wait(&k->cv, &k->mu);
            continue;
        }
        if (n < DB_CKPT_COMMITS) {
            struct timespec ts;
            utc_cond_deadline(&ts, DB_CKPT_IDLE_MS);
            int w = 0;
            while (!k->stop && w != ETIMEDOUT &&
                   atomic_load_explicit(&k->commits, memory_order_relaxed) < DB_CKPT_COMMITS)
                w = pthread_cond_timedwait(&k->cv, &k->mu, &ts);
            if (k->stop)
                break;
        }
        atomic_store_explicit(&k->commits, 0, memory_order_relaxed);
        pthread_mutex_unlock(&k->mu);
        checkpoint_once(k);
        pthread_mutex_lock(&k->mu);
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

db_ckpt *db_ckpt_start(db_t *db)
{
    db_ckpt *k = xcalloc(1, sizeof *k);
    k->db = db;
    pthread_mutex_init(&k->mu, NULL);
    utc_cond_init(&k->cv);
    atomic_init(&k->commits, 0);
    atomic_init(&k->runs, 0);
    atomic_init(&k->truncates, 0);
    if (pthread_create(&k->th, NULL, ckpt_main, k) != 0) {
        LOG_W("db", "cannot start the WAL checkpointer thread; SQLite checkpoints on commit");
        pthread_cond_destroy(&k->cv);
        pthread_mutex_destroy(&k->mu);
        free(k);
        return NULL;
    }
    return k;
}

void db_ckpt_note_commit(db_ckpt *k)
{
    uint32_t n = atomic_fetch_add_explicit(&k->commits, 1, memory_order_relaxed) + 1;
    if (n == 1 || n == DB_CKPT_COMMITS) { /* wake it: start the idle timer, or run */
        pthread_mutex_lock(&k->mu);
        pthread_cond_signal(&k->cv);
        pthread_mutex_unlock(&k->mu);
    }
}

void db_ckpt_stop(db_ckpt *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&k->mu);
    k->stop = true;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->th, NULL);
    if (k->dc)
        k->db->drv->disconnect(k->dc);
    pthread_cond_destroy(&k->cv);
    pthread_mutex_destroy(&k->mu);
    free(k);
}

void db_ckpt_stats(db_ckpt *k, uint64_t *runs, uint64_t *truncates)
{
    *runs = k ? atomic_load_explicit(&k->runs, memory_order_relaxed) : 0;
    *truncates = k ? atomic_load_explicit(&k->truncates, memory_order_relaxed) : 0;
}
