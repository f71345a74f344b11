/* app/indexer.c — keeps the search indexes complete. The store's: installs the index
 * function (search_message_index_text) on the store when the app is made, and runs
 * message_reindex in the background (app_indexer_start): once at start (messages
 * copied/imported without index text, or older than migration 0002), then after new
 * messages (at once when APP_INDEX_BATCH have been added, else within a second), in
 * short transactions of APP_INDEX_TX messages so writers wait little, on a thread
 * of lower CPU priority than the request threads. Searching is
 * correct at every moment without it (message_search treats messages not yet indexed
 * as candidates); the indexer only makes searching cheaper.
 * The process's own: a term index (search/termidx.h) per searched session, in memory,
 * for search_context below the prefilter's thresholds (app_sidx_*): built at the first
 * search of a session, brought up to date before every search and after new messages
 * (the thread above) from the store, so messages written by other processes are found
 * too, and bounded in memory (SEARCH_INDEX_MAX_BYTES: other sessions' indexes are
 * dropped first, then this one, and that session is searched by scanning).
 * Must not: decide what is indexed (search/ does) or touch the database directly. */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "app/app_int.h"
#include "base/log.h"
#include "base/sbuf.h"
#include "base/utc.h"
#include "search/prefilter.h"
#include "search/termidx.h"

enum {
    APP_INDEX_BATCH = 512,
    APP_INDEX_TX = 256
};

struct app_indexer {
    app_worker w;
    int64_t pending;     /* messages added since the last pass (>= 1: a pass is due) */
    int64_t unindexed;   /* messages added and not yet through a finished pass */
    int64_t oldest_mono; /* when the oldest of those was added (utc_mono_us) */
    int64_t in_pass;     /* of them, taken by the pass running now */
    uint64_t indexed;    /* messages the store's index took since start */
    app_t *app;
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
        ix->in_pass = ix->unindexed;
        int64_t pass_start = utc_mono_us();
        pthread_mutex_unlock(&ix->w.mu);
        err_t e;
        int64_t n = 0;
        app_sidx_refresh(ix->app); /* new messages into the term indexes, off the request path */
        if (app_index_flush(ix->app->st, &n, &e) != ERR_OK) {
            if (!warned) /* searching stays correct, only slower: say it once */
                LOG_W("app", "search index upkeep failed (searches still see every message): %s",
                      e.msg);
            warned = true;
        } else if (n > 0) {
            warned = false;
            LOG_D("app", "search index: %lld messages indexed", (long long)n);
        }
        pthread_mutex_lock(&ix->w.mu);
        ix->indexed += (uint64_t)(n > 0 ? n : 0);
        if (!warned) { /* what came during the pass waits for the next one since then */
            ix->unindexed -= ix->in_pass;
            ix->oldest_mono = ix->unindexed > 0 ? pass_start : 0;
        }
        ix->in_pass = 0;
    }
    pthread_mutex_unlock(&ix->w.mu);
    return NULL;
}

err_code app_indexer_start(app_t *a, err_t *e)
{
    if (a->ix)
        return ERR_OK;
    app_indexer *ix = xcalloc(1, sizeof *ix);
    ix->app = a;
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
    if (ix->unindexed++ == 0)
        ix->oldest_mono = utc_mono_us();
    if (++ix->pending == 1 || ix->pending == APP_INDEX_BATCH)
        pthread_cond_signal(&ix->w.cv);
    pthread_mutex_unlock(&ix->w.mu);
}

void app_indexer_figures(app_t *a, app_index_figures *out)
{
    memset(out, 0, sizeof *out);
    app_indexer *ix = a->ix;
    if (!ix)
        return;
    pthread_mutex_lock(&ix->w.mu);
    out->pending = ix->unindexed;
    out->indexed = ix->indexed;
    if (ix->unindexed > 0 && ix->oldest_mono > 0)
        out->lag_seconds = (double)(utc_mono_us() - ix->oldest_mono) / 1e6;
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

/* ---- the term indexes of searched sessions ------------------------------------------- */

enum {
    SIDX_PAGE = 500,    /* messages read per page */
    SIDX_WINDOW = 4096, /* the newest messages re-read at most when some are missing */
    SIDX_ROUNDS = 4     /* count checks before a search gives up and scans */
};

typedef struct sidx_entry {
    pthread_mutex_t mu; /* guards x, bytes, too_big */
    search_tidx *x;     /* NULL: not built, or dropped */
    size_t bytes;       /* what x held when last counted into app_sidx.bytes */
    bool too_big;       /* alone above the bound: never built again (scanned) */
    size_t refs;        /* callers holding it (app_sidx.mu) */
    char sid[];         /* the session id */
} sidx_entry;

struct app_sidx {
    pthread_mutex_t mu; /* guards h, bytes and the counters */
    hash_t *h;          /* session id -> sidx_entry */
    size_t bytes, limit;
    uint64_t builds, drops;
};

app_sidx *app_sidx_new(size_t limit)
{
    app_sidx *x = xcalloc(1, sizeof *x);
    pthread_mutex_init(&x->mu, NULL);
    x->h = hash_new(16);
    x->limit = limit;
    return x;
}

/* The entry of session sid (made when new), held until entry_put. */
static sidx_entry *entry_get(app_sidx *x, const char *sid)
{
    pthread_mutex_lock(&x->mu);
    sidx_entry *en = hash_get(x->h, sid, strlen(sid));
    if (!en) {
        en = xcalloc(1, sizeof *en + strlen(sid) + 1);
        memcpy(en->sid, sid, strlen(sid) + 1);
        pthread_mutex_init(&en->mu, NULL);
        hash_put(x->h, en->sid, strlen(en->sid), en);
    }
    en->refs++;
    pthread_mutex_unlock(&x->mu);
    return en;
}

/* with nobody holding it */
static void entry_free(sidx_entry *en)
{
    search_tidx_free(en->x);
    pthread_mutex_destroy(&en->mu);
    free(en); /* the id with it */
}

/* Lets en go; forget: the session does not exist (an entry per id asked for would
 * grow without bound), so it goes once nobody holds it and it has no index. */
static void entry_put(app_sidx *x, sidx_entry *en, bool forget)
{
    pthread_mutex_lock(&x->mu);
    bool drop = --en->refs == 0 && forget && !en->x;
    if (drop)
        hash_remove(x->h, en->sid, strlen(en->sid));
    pthread_mutex_unlock(&x->mu);
    if (drop)
        entry_free(en);
}

void app_sidx_free(app_sidx *x)
{
    if (!x)
        return;
    hash_iter it = HASH_ITER_INIT;
    for (sidx_entry *en; (en = hash_next(x->h, &it, NULL, NULL)) != NULL;) {
        hash_iter_remove(x->h, &it);
        entry_free(en);
    }
    hash_free(x->h);
    pthread_mutex_destroy(&x->mu);
    free(x);
}

/* With en->mu held: counts en's growth into the total; above the bound drops other
 * sessions' indexes (those not in use), then en's own. */
static void account(app_sidx *x, sidx_entry *en)
{
    size_t now = en->x ? search_tidx_bytes(en->x) : 0;
    pthread_mutex_lock(&x->mu);
    x->bytes = x->bytes - en->bytes + now;
    en->bytes = now;
    hash_iter it = HASH_ITER_INIT;
    for (sidx_entry *o; x->bytes > x->limit && (o = hash_next(x->h, &it, NULL, NULL)) != NULL;) {
        if (o == en || !o->x || pthread_mutex_trylock(&o->mu) != 0)
            continue;
        search_tidx_free(o->x);
        o->x = NULL;
        x->bytes -= o->bytes;
        o->bytes = 0;
        x->drops++;
        pthread_mutex_unlock(&o->mu);
    }
    if (x->bytes > x->limit && en->x) {
        search_tidx_free(en->x);
        en->x = NULL;
        x->bytes -= en->bytes;
        en->bytes = 0;
        en->too_big = true;
        x->drops++;
    }
    pthread_mutex_unlock(&x->mu);
}

/* Adds the messages of l that en's index lacks. */
static void add_all(sidx_entry *en, search_ws *ws, const store_messages *l)
{
    for (size_t i = 0; i < l->n; i++) {
        const store_message *m = &l->v[i];
        if (search_tidx_has(en->x, m->id))
            continue;
        size_t len = 0;
        char *t = search_index_text(ws, m->sender, m->content, m->content ? strlen(m->content) : 0,
                                    m->metadata, &len);
        search_tidx_add(en->x, m->id, t, len);
        free(t);
    }
}

/* Reads the session's messages with id > since_id in pages into en's index. */
static err_code read_after(app_t *a, sidx_entry *en, search_ws *ws, int64_t since_id, err_t *e)
{
    for (;;) {
        store_msg_query q = {.session_id = en->sid,
                             .vis = {.any = STORE_VIS_EVERY},
                             .since_id = since_id,
                             .limit = SIDX_PAGE};
        store_messages l;
        err_code rc = store_message_list(a->st, &q, &l, NULL, e);
        if (rc != ERR_OK)
            return rc;
        add_all(en, ws, &l);
        size_t got = l.n;
        if (got)
            since_id = l.v[got - 1].id;
        store_messages_free(&l);
        if (got < SIDX_PAGE || search_tidx_bytes(en->x) > a->sidx->limit)
            return ERR_OK; /* all read, or past the bound (account drops it) */
    }
}

/* The session's messages in all (from the store's maintained counters). */
static err_code session_total(app_t *a, const char *sid, int64_t *total, err_t *e)
{
    store_msg_query q = {.session_id = sid, .vis = {.any = STORE_VIS_EVERY}, .limit = 1};
    store_messages l;
    err_code rc = store_message_list(a->st, &q, &l, total, e);
    if (rc == ERR_OK)
        store_messages_free(&l);
    return rc;
}

/* With en->mu held: brings en's index up to date with the store. New messages are
 * read by id; then the session's message count proves that nothing is missing: the
 * index holds only messages of the session and messages are never deleted, so equal
 * counts (the count read after the messages) mean it holds every message committed
 * when the count was read. A message that became visible late with an id below the
 * newest indexed one (a PostgreSQL/MariaDB transaction committing after a later one)
 * shows as a smaller count: the newest messages are re-read, in a growing window,
 * then all of them. *complete = the proof held. */
static err_code sync_entry(app_t *a, sidx_entry *en, bool *complete, err_t *e)
{
    *complete = false;
    search_ws *ws = app_search_ws(a);
    if (!en->x) {
        en->x = search_tidx_new();
        pthread_mutex_lock(&a->sidx->mu);
        a->sidx->builds++;
        pthread_mutex_unlock(&a->sidx->mu);
    }
    err_code rc = read_after(a, en, ws, search_tidx_max_id(en->x), e);
    for (int round = 0; rc == ERR_OK && round < SIDX_ROUNDS; round++) {
        int64_t total = 0;
        if ((rc = session_total(a, en->sid, &total, e)) != ERR_OK)
            break;
        store_msg_query q = {.session_id = en->sid, .vis = {.any = STORE_VIS_EVERY}};
        store_messages l;
        int64_t have = (int64_t)search_tidx_count(en->x);
        if (have >= total) {
            *complete = true;
            break;
        }
        int64_t window = (total - have + 64) << (3 * round);
        if (window <= SIDX_WINDOW) {
            q.limit = (int)window;
            q.newest_first = true;
            if ((rc = store_message_list(a->st, &q, &l, NULL, e)) == ERR_OK) {
                add_all(en, ws, &l);
                store_messages_free(&l);
            }
        } else {
            rc = read_after(a, en, ws, 0, e); /* every message, the missing ones added */
        }
    }
    account(a->sidx, en);
    return rc;
}

err_code app_sidx_candidates(app_t *a, const char *sid, const search_query *q, double min_sim,
                             int64_t since_id, size_t max, search_tidx_result *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    sidx_entry *en = entry_get(a->sidx, sid);
    pthread_mutex_lock(&en->mu);
    err_code rc = ERR_OK;
    int64_t total = 0;
    size_t min = a->lim.search_terms_min_messages;
    if (!en->too_big && !en->x) /* not built yet: only for a session big enough */
        rc = session_total(a, sid, &total, e);
    if (rc == ERR_OK && !en->too_big && (en->x || total >= (int64_t)min)) {
        bool complete = false;
        rc = sync_entry(a, en, &complete, e);
        if (rc == ERR_OK && complete && en->x && search_tidx_count(en->x) >= min)
            search_tidx_query(en->x, q, min_sim, since_id, max, out);
        if (en->x) /* the query's scratch counts too */
            account(a->sidx, en);
        if (rc == ERR_NOTFOUND && en->x && search_tidx_count(en->x) == 0) {
            search_tidx_free(en->x); /* no such session: nothing to keep */
            en->x = NULL;
            account(a->sidx, en);
        }
    }
    pthread_mutex_unlock(&en->mu);
    entry_put(a->sidx, en, rc == ERR_NOTFOUND);
    return rc;
}

void app_sidx_refresh(app_t *a)
{
    app_sidx *x = a->sidx;
    /* the entries first, each held (entry_put) */
    pthread_mutex_lock(&x->mu);
    size_t n = 0;
    sidx_entry **v = xmalloc((hash_count(x->h) + 1) * sizeof *v);
    hash_iter it = HASH_ITER_INIT;
    for (sidx_entry *en; (en = hash_next(x->h, &it, NULL, NULL)) != NULL;) {
        en->refs++;
        v[n++] = en;
    }
    pthread_mutex_unlock(&x->mu);
    for (size_t i = 0; i < n; i++) {
        if (pthread_mutex_trylock(&v[i]->mu) == 0) { /* else a search is at it */
            if (v[i]->x) {
                err_t e;
                bool complete;
                (void)sync_entry(a, v[i], &complete, &e); /* the next search tries again */
            }
            pthread_mutex_unlock(&v[i]->mu);
        }
        entry_put(x, v[i], false);
    }
    free(v);
}

void app_sidx_report(app_t *a, app_sidx_stats *out)
{
    app_sidx *x = a->sidx;
    pthread_mutex_lock(&x->mu);
    *out = (app_sidx_stats){
        .bytes = x->bytes, .limit = x->limit, .builds = x->builds, .drops = x->drops};
    hash_iter it = HASH_ITER_INIT;
    for (sidx_entry *en; (en = hash_next(x->h, &it, NULL, NULL)) != NULL;)
        out->sessions += en->x != NULL;
    pthread_mutex_unlock(&x->mu);
}
