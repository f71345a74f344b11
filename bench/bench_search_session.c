/* bench/bench_search_session.c — search_context on one session of N messages
 * (default 10000): the full scan (every visible message fetched in pages of 500
 * and scored in C) against the index-backed path (search_prefilter_plan +
 * store_message_search candidates, scored in C), per query and threshold, with the
 * result counts checked equal. Usage: bench_search_session [URL] [N] [small]; default
 * sqlite file in /tmp; a server URL must name an existing database (migrated here;
 * a new session each run). Must not: run as a test, or compare paths whose results
 * differ without saying so (it exits non-zero then). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "base/ids.h"
#include "base/utc.h"
#include "db/db.h"
#include "migrate/migrate.h"
#include "search/prefilter.h"
#include "search/search.h"
#include "store/store.h"
#include "store/store_sql.h"

static const char *const WORDS[] = {
    "the",      "agent",     "session", "review",     "server",     "client",   "request",
    "message",  "token",     "error",   "retry",      "cache",      "index",    "query",
    "result",   "context",   "memory",  "update",     "deployment", "pipeline", "rollback",
    "database", "migration", "latency", "throughput", "Café",       "naïve",    "straße",
    "config",   "schema",    "backend", "frontend",   "worker",     "queue"};
#define NW (sizeof WORDS / sizeof WORDS[0])
static uint64_t rs = 0x2545F4914F6CDD1Dull;
static uint32_t rnd(uint32_t n)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (uint32_t)(rs % n);
}

static void die(const char *what, const err_t *e)
{
    fprintf(stderr, "bench_search_session: %s: %s\n", what, e->msg);
    exit(1);
}

static size_t score_page(search_ws *ws, const search_query *sq, double th, store_messages *l)
{
    size_t hits = 0;
    search_match mt;
    for (size_t i = 0; i < l->n; i++) {
        json_error_t je;
        json_t *md = l->v[i].metadata ? json_loads(l->v[i].metadata, 0, &je) : NULL;
        double s = search_score_message(sq, ws, l->v[i].sender, l->v[i].content,
                                        strlen(l->v[i].content), md, th, &mt);
        json_decref(md);
        hits += s >= th && s > 0;
    }
    return hits;
}

/* one search; returns hits, *scored = messages scored */
static size_t run(store_t *st, const char *sid, const char *query, double th, bool index,
                  size_t *scored)
{
    err_t e;
    search_ws *ws = search_ws_new();
    search_query *sq = search_query_new(query, strlen(query));
    search_prefilter pf;
    search_prefilter_plan(ws, query, strlen(query), th, &pf);
    bool use = index && pf.sound;
    size_t hits = 0;
    *scored = 0;
    int64_t cursor = 0;
    store_vis vis = {.any = STORE_VIS_EVERY};
    for (;;) {
        store_messages l;
        if (use) {
            store_search_query q = {.session_id = sid,
                                    .vis = vis,
                                    .terms = (const char *const *)pf.terms,
                                    .nterms = pf.nterms,
                                    .since_id = cursor,
                                    .limit = 500};
            if (store_message_search(st, &q, &l, &e) != ERR_OK)
                die("message_search", &e);
        } else {
            store_msg_query q = {.session_id = sid, .vis = vis, .since_id = cursor, .limit = 500};
            if (store_message_list(st, &q, &l, NULL, &e) != ERR_OK)
                die("message_list", &e);
        }
        hits += score_page(ws, sq, th, &l);
        *scored += l.n;
        size_t got = l.n;
        if (got)
            cursor = l.v[got - 1].id;
        store_messages_free(&l);
        if (got < 500)
            break;
    }
    search_prefilter_free(&pf);
    search_query_free(sq);
    search_ws_free(ws);
    return hits;
}

int main(int argc, char **argv)
{
    char path[256];
    snprintf(path, sizeof path, "sqlite:////tmp/bench_search_session-%d.db", (int)getpid());
    const char *url = argc > 1 && *argv[1] ? argv[1] : path;
    int n = argc > 2 ? atoi(argv[2]) : 10000;
    bool small = argc > 3 && strcmp(argv[3], "small") == 0;
    db_opts o;
    db_opts_default(&o);
    db_t *db;
    err_t e;
    store_t *st;
    if (db_open(url, &o, &db, &e) != ERR_OK)
        die("open", &e);
    if (migrate_up(db, -1, NULL, &e) != ERR_OK)
        die("migrate", &e);
    if (store_sql_open(db, true, &st, &e) != ERR_OK)
        die("store", &e);
    store_set_index_fn(st, search_message_index_text);
    char sid[64];
    ids_session(sid);
    store_session s = {.id = sid, .purpose = "bench", .created_by = "bench", .is_active = true};
    if (store_session_create(st, &s, NULL, &e) != ERR_OK)
        die("session", &e);
    int64_t t0 = utc_mono_us();
    char text[2048];
    for (int i = 0; i < n; i++) { /* ~200 characters of words, some metadata */
        text[0] = '\0';
        while (strlen(text) < 200) {
            /* mixed: 1 word in 8 from the fixed list, the rest pseudo-words of 2-4
             * syllables (a realistic spread of trigrams); with argv[3] = "small",
             * only the fixed list (worst case: every trigram in almost every row) */
            char pw[32] = "";
            if (small || rnd(8) == 0) {
                snprintf(pw, sizeof pw, "%s", WORDS[rnd(NW)]);
            } else {
                for (uint32_t k = 2 + rnd(3); k > 0; k--)
                    snprintf(pw + strlen(pw), sizeof pw - strlen(pw), "%c%c",
                             "bcdfghklmnprstvz"[rnd(16)], "aeiou"[rnd(5)]);
            }
            snprintf(text + strlen(text), sizeof text - strlen(text), "%s%s", text[0] ? " " : "",
                     pw);
        }
        char meta[128];
        snprintf(meta, sizeof meta, "{\"topic\":\"%s\",\"n\":%d}", WORDS[rnd(NW)], i);
        store_message m = {.session_id = sid,
                           .sender = (char *)(i % 2 ? "alice" : "bob"),
                           .content = text,
                           .metadata = meta};
        if (store_message_add(st, &m, NULL, &e) != ERR_OK)
            die("message_add", &e);
    }
    printf("%s: %d messages added in %.1f s\n", store_name(st), n,
           (double)(utc_mono_us() - t0) / 1e6);
    /* the background indexer's work (ctxd serve), done here before measuring */
    t0 = utc_mono_us();
    int64_t done = 1;
    while (done > 0)
        if (store_message_reindex(st, 256, &done, &e) != ERR_OK)
            die("message_reindex", &e);
    printf("%s: index upkeep (message_reindex) %.1f s\n", store_name(st),
           (double)(utc_mono_us() - t0) / 1e6);
    static const struct {
        const char *q;
        double th;
    } qs[] = {
        {"deployment pipeline", 90}, {"deploymnet", 85}, {"rollback", 95},   {"kubernetes", 90},
        {"database migration", 100}, {"xylophone", 95},  {"deployment", 60}, {"agent", 80}};
    printf("%-22s %5s %9s %9s %8s %8s %7s %5s\n", "query", "thr", "full ms", "index ms", "scored",
           "cands", "speedup", "hits");
    int bad = 0;
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        double best[2] = {1e18, 1e18};
        size_t hits[2], scored[2];
        for (int rep = 0; rep < 3; rep++)
            for (int k = 0; k < 2; k++) {
                int64_t a = utc_mono_us();
                hits[k] = run(st, sid, qs[i].q, qs[i].th, k == 1, &scored[k]);
                double ms = (double)(utc_mono_us() - a) / 1000.0;
                if (ms < best[k])
                    best[k] = ms;
            }
        bad |= hits[0] != hits[1];
        printf("%-22s %5.0f %9.1f %9.1f %8zu %8zu %6.1fx %5zu%s\n", qs[i].q, qs[i].th, best[0],
               best[1], scored[0], scored[1], best[0] / best[1], hits[0],
               hits[0] != hits[1] ? " DIFFERENT RESULTS" : "");
    }
    store_close(st);
    if (url == path)
        unlink(path + strlen("sqlite:///"));
    return bad;
}
