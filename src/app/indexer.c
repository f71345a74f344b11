/* app/indexer.c — keeps the store's search index complete: installs the index
 * function (search_message_index_text) on the store when the app is made, and runs
 * message_reindex in the background (app_indexer_start): once at start (messages
 * copied/imported without index text, or older than migration 0002), then after new
 * messages (at once when APP_INDEX_BATCH have been added, else within a second), in
 * short transactions of APP_INDEX_TX messages so writers wait little, on a thread
 * of lower CPU priority than the request threads. Searching is
 * correct at every moment without it (message_search treats messages not yet indexed
 * as candidates); the indexer only makes searching cheaper.
 * Must not: decide what is indexed (search/ does) or touch the database directly. */
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "app/app_int.h"
#include "base/log.h"
#include "base/sbuf.h"
#include "search/prefilter.h"

enum {
    APP_INDEX_BATCH = 512,
    APP_INDEX_TX = 256
};

struct app_indexer {
    app_worker w;
    int64_t pending; /* messages added since the last pass (>= 1: a pass is due) */
    store_t *st;
};

err_code app_index_flush(store_t *st, int64_t *handled, err_t *e)
{
    int64_t total = 0, done = 0;
    err_code rc;
    while ((rc = store_message_reindex(st, APP_INDEX_TX, &done, e)) == ERR_OK && done > 0)
        total += done;
    if (handled)
        *handled = total;
    return rc;
}

static void *indexer_main(void *p)
{
    app_indexer *ix = p;
    bool warned = false;
    /* below the request threads: under full load indexing waits, requests do not
     * (Linux: the nice value of this thread only; failure just leaves it at 0) */
    (void)setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
    pthread_mutex_lock(&ix->w.mu);
    while (!ix->w.stop) {
        if (ix->pending == 0) {
            app_worker_wait(&ix->w, -1);
            continue;
        }
        /* a second for more messages, unless a batch is already due (poke signals then) */
        if (ix->pending < APP_INDEX_BATCH) {
            app_worker_wait(&ix->w, 1);
            if (ix->w.stop)
                break;
        }
        ix->pending = 0;
        pthread_mutex_unlock(&ix->w.mu);
        err_t e;
        int64_t n = 0;
        if (app_index_flush(ix->st, &n, &e) != ERR_OK) {
            if (!warned) /* searching stays correct, only slower: say it once */
                LOG_W("app", "search index upkeep failed (searches still see every message): %s",
                      e.msg);
            warned = true;
        } else if (n > 0) {
            warned = false;
            LOG_D("app", "search index: %lld messages indexed", (long long)n);
        }
        pthread_mutex_lock(&ix->w.mu);
    }
    pthread_mutex_unlock(&ix->w.mu);
    return NULL;
}

err_code app_indexer_start(app_t *a, err_t *e)
{
    if (a->ix)
        return ERR_OK;
    app_indexer *ix = xcalloc(1, sizeof *ix);
    ix->st = a->st;
    ix->pending = APP_INDEX_BATCH; /* the first pass at once */
    if (!app_worker_start(&ix->w, indexer_main, ix)) {
        free(ix);
        return err_set(e, ERR_FATAL, "app: cannot start the search indexer thread");
    }
    a->ix = ix;
    return ERR_OK;
}

void app_indexer_poke(app_t *a)
{
    app_indexer *ix = a->ix;
    if (!ix)
        return;
    pthread_mutex_lock(&ix->w.mu);
    if (++ix->pending == 1 || ix->pending == APP_INDEX_BATCH)
        pthread_cond_signal(&ix->w.cv);
    pthread_mutex_unlock(&ix->w.mu);
}

void app_indexer_stop(app_t *a)
{
    app_indexer *ix = a->ix;
    if (!ix)
        return;
    app_worker_stop(&ix->w);
    free(ix);
    a->ix = NULL;
}

void app_index_install(store_t *st)
{
    store_set_index_fn(st, search_message_index_text);
}
