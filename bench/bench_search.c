/* bench/bench_search.c — throughput of the search/ scorer: messages scored per
 * second by search_score_message for queries of 1, 3 and 5 words against contents
 * of 200, 2000 and 100000 chars (pseudo-English text, a few accented words, with
 * and without a near match), at min_score 60 (the tool's default threshold) and 0
 * (exact scores).
 * Must not: be run as a test, or depend on a database (it links ctxd_store only
 * because every bench does). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "search/search.h"

static const char *words[] = {"the",     "session",  "agent",   "database", "connection", "was",
                              "closed",  "after",    "timeout", "retry",    "request",    "café",
                              "naïve",   "response", "token",   "queue",    "worker",     "message",
                              "context", "shared",   "server",  "handler",  "error",      "cache",
                              "index",   "query",    "result",  "user",     "memory",     "value",
                              "with",    "from",     "into"};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *make_text(size_t n, unsigned seed, const char *plant)
{
    char *s = malloc(n + 64);
    size_t w = 0;
    srand(seed);
    while (w < n) {
        const char *x = words[(size_t)rand() % (sizeof words / sizeof words[0])];
        size_t l = strlen(x);
        if (w + l + 1 > n)
            break;
        memcpy(s + w, x, l);
        w += l;
        s[w++] = (rand() % 12 == 0) ? '\n' : ' ';
    }
    if (plant) {
        size_t l = strlen(plant), at = w / 2;
        if (at + l < w)
            memcpy(s + at, plant, l);
    }
    s[w] = '\0';
    return s;
}

int main(void)
{
    static const char *queries[] = {"deadlok", "deadlock in scheduler",
                                    "worker pool deadlock in scheduler"};
    static const size_t sizes[] = {200, 2000, 100000};
    search_ws *ws = search_ws_new();
    json_t *meta =
        json_pack("{s:s, s:i, s:[s,s]}", "topic", "ops", "prio", 3, "tags", "deploy", "db");
    printf("%-36s %8s %10s %14s %14s\n", "query", "content", "min_score", "msgs/s (miss)",
           "msgs/s (near)");
    for (size_t qi = 0; qi < 3; qi++) {
        search_query *q = search_query_new(queries[qi], strlen(queries[qi]));
        for (size_t si = 0; si < 3; si++) {
            char *miss = make_text(sizes[si], 7, NULL);
            char *near = make_text(sizes[si], 7, "workr pool deadlok in schedulr");
            size_t lm = strlen(miss), ln = strlen(near);
            for (int mi = 0; mi < 2; mi++) {
                double ms = mi == 0 ? 60.0 : 0.0;
                double rate[2];
                for (int k = 0; k < 2; k++) {
                    const char *t = k ? near : miss;
                    size_t tl = k ? ln : lm;
                    search_match m;
                    long iters = 0;
                    double t0 = now(), el = 0;
                    do {
                        for (int r = 0; r < 16; r++)
                            search_score_message(q, ws, "agent-7", t, tl, meta, ms, &m);
                        iters += 16;
                        el = now() - t0;
                    } while (el < 0.3);
                    rate[k] = (double)iters / el;
                }
                printf("%-36s %8zu %10.0f %14.0f %14.0f\n", queries[qi], sizes[si], ms, rate[0],
                       rate[1]);
            }
            free(miss);
            free(near);
        }
        search_query_free(q);
    }
    json_decref(meta);
    search_ws_free(ws);
    return 0;
}
