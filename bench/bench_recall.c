/* bench/bench_recall.c — search quality and speed of search_context at a threshold
 * below the trigram prefilter's (default 60): sessions of N messages of agents'
 * findings (a Zipf-distributed vocabulary, identifiers, file paths, numbers, metadata
 * objects; fixed seed, messages regenerated from their index so RAM stays bounded),
 * and a query set of seven classes (common and rare words, typos, partial words,
 * phrases, metadata values, identifiers) drawn from the same text. Each query runs
 * through the app (tools/call, in-process) twice: with exhaustive: true (the full scan,
 * the reference ranking: score desc, id asc) and as a client calls it (the index path).
 * Prints recall@10 of the index path per class and overall, p50/p99 of both, the
 * index's memory, its build time and its catch-up cost per new message.
 * Usage: bench_recall [--url URL] [--sizes 1000,10000,100000] [--queries N per class]
 *                     [--threshold T] [--seed S]
 * Default store: a SQLite file in /tmp, removed afterwards; a server URL must name an
 * existing database (migrated here, new sessions each run).
 * Must not: run as a test, or keep every message of a session in memory. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "base/utc.h"
#include "store/store.h"

#define KEY "bench-api-key-0123456789"
#define SECRET "bench-jwt-secret-0123456789abcdef0123456789"
#define NVOCAB 4000
#define NCLASS 7

static const char *const CLASSES[NCLASS] = {"common", "rare",     "typo",      "partial",
                                            "phrase", "metadata", "identifier"};

/* ---- deterministic text ------------------------------------------------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t next(rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static uint32_t rn(rng *r, uint32_t n)
{
    return (uint32_t)(next(r) % n);
}

static const char *const REAL[] = {
    "the",         "agent",     "found",      "error",      "in",         "cache",
    "deployment",  "pipeline",  "rollback",   "database",   "migration",  "latency",
    "request",     "timeout",   "retry",      "server",     "client",     "token",
    "session",     "index",     "query",      "schema",     "config",     "worker",
    "queue",       "memory",    "leak",       "buffer",     "overflow",   "handler",
    "thread",      "lock",      "deadlock",   "race",       "condition",  "test",
    "failure",     "passes",    "after",      "before",     "fixed",      "broken",
    "check",       "review",    "refactor",   "module",     "function",   "parser",
    "tokenizer",   "encoder",   "decoder",    "socket",     "connection", "pool",
    "transaction", "commit",    "branch",     "merge",      "conflict",   "build",
    "release",     "version",   "upgrade",    "dependency", "package",    "container",
    "kubernetes",  "cluster",   "node",       "replica",    "shard",      "partition",
    "metrics",     "logging",   "tracing",    "alert",      "monitor",    "dashboard",
    "performance", "benchmark", "throughput", "allocation", "garbage",    "collector",
    "pointer",     "null",      "segfault",   "sanitizer",  "undefined",  "behaviour",
    "permission",  "denied",    "access",     "visibility", "private",    "public",
    "analysis",    "suggests",  "likely",     "cause",      "because",    "missing",
    "validation",  "input",     "output",     "response",   "header",     "payload",
    "json",        "schema",    "field",      "value",      "default",    "option"};
#define NREAL (sizeof REAL / sizeof REAL[0])

typedef struct corpus {
    char *words[NVOCAB];
    double cdf[NVOCAB];
} corpus;

static void corpus_init(corpus *c, uint64_t seed)
{
    static const char *const syl[] = {"ka",  "lo",  "mi",  "ren", "tas", "vo",  "zen", "qui",
                                      "bar", "dex", "nor", "pel", "sto", "gri", "fa",  "tum"};
    rng r = {seed};
    double sum = 0;
    for (size_t i = 0; i < NVOCAB; i++) {
        char w[40] = "";
        if (i < NREAL) {
            snprintf(w, sizeof w, "%s", REAL[i]);
        } else {
            for (uint32_t k = 2 + rn(&r, 3); k > 0; k--)
                strncat(w, syl[rn(&r, 16)], sizeof w - strlen(w) - 1);
        }
        c->words[i] = strdup(w);
        sum += 1.0 / pow((double)(i + 1), 1.07);
        c->cdf[i] = sum;
    }
    for (size_t i = 0; i < NVOCAB; i++)
        c->cdf[i] /= sum;
}

static const char *zipf(const corpus *c, rng *r)
{
    double u = (double)(next(r) >> 11) / 9007199254740992.0;
    size_t lo = 0, hi = NVOCAB - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c->cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return c->words[lo];
}

/* One message, regenerated from (seed, i): content, metadata, and what queries take. */
typedef struct msg {
    char content[2048];
    char meta[512];
    char ident[64], path[128], tag[40];
    char phrase[128]; /* 2-3 consecutive words of the content */
    int vis_private;
    int sender;
} msg;

static void gen(const corpus *c, uint64_t seed, size_t i, msg *m)
{
    rng r = {seed * 1000003u + i};
    size_t n = 0;
    int ntok = 12 + (int)rn(&r, 30), pat = (int)rn(&r, ntok > 3 ? ntok - 3 : 1);
    m->content[0] = m->phrase[0] = '\0';
    snprintf(m->ident, sizeof m->ident, "%s_%s%u", zipf(c, &r), zipf(c, &r), rn(&r, 100));
    snprintf(m->path, sizeof m->path, "src/%s/%s.c", zipf(c, &r), zipf(c, &r));
    snprintf(m->tag, sizeof m->tag, "%s", c->words[NREAL + rn(&r, NVOCAB - NREAL)]);
    for (int k = 0; k < ntok && n < sizeof m->content - 200; k++) {
        uint32_t kind = rn(&r, 100);
        char tok[160];
        if (kind < 78)
            snprintf(tok, sizeof tok, "%s", zipf(c, &r));
        else if (kind < 86)
            snprintf(tok, sizeof tok, "%s", m->ident);
        else if (kind < 92)
            snprintf(tok, sizeof tok, "%s:%u", m->path, 1 + rn(&r, 900));
        else
            snprintf(tok, sizeof tok, "%u", rn(&r, 100000));
        if (k >= pat && k < pat + 3 && kind < 78)
            snprintf(m->phrase + strlen(m->phrase), sizeof m->phrase - strlen(m->phrase), "%s%s",
                     m->phrase[0] ? " " : "", tok);
        n += (size_t)snprintf(m->content + n, sizeof m->content - n, "%s%s", k ? " " : "", tok);
        if (rn(&r, 9) == 0)
            n += (size_t)snprintf(m->content + n, sizeof m->content - n, ".");
    }
    static const char *const sev[] = {"low", "medium", "high", "critical"};
    if (rn(&r, 10) < 6)
        snprintf(m->meta, sizeof m->meta,
                 "{\"file\":\"%s\",\"line\":%u,\"severity\":\"%s\",\"tags\":[\"%s\",\"%s\"]}",
                 m->path, 1 + rn(&r, 900), sev[rn(&r, 4)], m->tag, zipf(c, &r));
    else
        snprintf(m->meta, sizeof m->meta, "{\"step\":%u}", rn(&r, 1000));
    m->vis_private = rn(&r, 10) == 0;
    m->sender = (int)rn(&r, 8);
}

/* The query of class k number j (from the text of messages of the session). */
static void make_query(const corpus *c, uint64_t seed, size_t nmsg, int k, int j, char *q,
                       size_t cap)
{
    rng r = {seed ^ (0xABCDEFull * (uint64_t)(k * 1000 + j + 1))};
    msg m;
    gen(c, seed, rn(&r, (uint32_t)nmsg), &m);
    const char *w;
    switch (k) {
    case 0: /* common: one of the 40 most frequent words */
        snprintf(q, cap, "%s", c->words[rn(&r, 40)]);
        break;
    case 1: /* rare: a word of the tail */
        snprintf(q, cap, "%s", c->words[1000 + rn(&r, NVOCAB - 1000)]);
        break;
    case 2: { /* typo: one edit (substitute, transpose, drop, insert) in a word >= 6 */
        do
            w = c->words[rn(&r, 1000)];
        while (strlen(w) < 6);
        char b[64];
        snprintf(b, sizeof b, "%s", w);
        size_t L = strlen(b), p = 1 + rn(&r, (uint32_t)L - 2);
        switch (rn(&r, 4)) {
        case 0: b[p] = (char)('a' + rn(&r, 26)); break;
        case 1: {
            char t = b[p];
            b[p] = b[p + 1];
            b[p + 1] = t;
            break;
        }
        case 2: memmove(b + p, b + p + 1, L - p); break;
        default: memmove(b + p + 1, b + p, L - p + 1); b[p] = (char)('a' + rn(&r, 26));
        }
        snprintf(q, cap, "%s", b);
        break;
    }
    case 3: /* partial: the first 4..len-2 characters of a word >= 7 */
        do
            w = c->words[rn(&r, 2000)];
        while (strlen(w) < 7);
        snprintf(q, cap, "%.*s", (int)(4 + rn(&r, (uint32_t)strlen(w) - 5)), w);
        break;
    case 4: snprintf(q, cap, "%s", m.phrase[0] ? m.phrase : m.tag); break;
    case 5: snprintf(q, cap, "%s", rn(&r, 2) ? m.path : m.tag); break;
    default: snprintf(q, cap, "%s", m.ident); break;
    }
}

/* ---- the app in-process ----------------------------------------------------------------- */

static int sink(void *ud, void *stream, const char *json, size_t len)
{
    (void)ud, (void)stream, (void)json, (void)len;
    return 0;
}
static const mcp_transport_ops ops = {sink};
static mcp_server *g_srv;
static mcp_session *g_s;
static app_req g_req = {.api_key_ok = true, .rate_key = "127.0.0.1"};
static long g_id;

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_recall: %s: %s\n", what, why);
    exit(1);
}

/* tools/call; the structuredContent (new reference; the call must succeed). */
static json_t *tool(const char *name, json_t *args)
{
    json_t *p = json_pack("{s:s s:o}", "name", name, "arguments", args);
    char *ps = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    size_t n = strlen(ps) + 96;
    char *body = malloc(n);
    snprintf(body, n, "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"tools/call\",\"params\":%s}",
             ++g_id, ps);
    free(ps);
    mcp_reply rep;
    mcp_session_handle(g_s, body, strlen(body), &(mcp_request_ctx){NULL, &g_req}, &rep);
    free(body);
    json_t *r = rep.json ? json_loadb(rep.json, rep.len, 0, NULL) : NULL;
    mcp_reply_free(&rep);
    json_t *sc = json_incref(json_object_get(json_object_get(r, "result"), "structuredContent"));
    if (!json_is_true(json_object_get(sc, "success"))) {
        char *t = json_dumps(r, JSON_COMPACT);
        die(name, t ? t : "no answer");
    }
    json_decref(r);
    return sc;
}

/* One search: the ids found (best first) into ids[0..10), their count; *ms its time. */
static size_t search(const char *tok, const char *sid, const char *q, double th, bool exh,
                     int64_t *ids, double *ms, json_t **index_info)
{
    int64_t t0 = utc_mono_us();
    json_t *sc = tool("search_context", json_pack("{s:s s:s s:f s:i s:b s:s}", "session_id", sid,
                                                  "query", q, "fuzzy_threshold", th, "limit", 10,
                                                  "exhaustive", exh, "auth_token", tok));
    *ms = (double)(utc_mono_us() - t0) / 1000.0;
    json_t *res = json_object_get(sc, "results");
    size_t n = json_array_size(res);
    for (size_t i = 0; i < n && i < 10; i++)
        ids[i] = json_integer_value(
            json_object_get(json_object_get(json_array_get(res, i), "message"), "id"));
    if (index_info)
        *index_info = json_incref(json_object_get(sc, "search_index"));
    json_decref(sc);
    return n;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double pct(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmp_d);
    return n ? v[(size_t)(p * (double)(n - 1) + 0.5)] : 0;
}

static void add_messages(store_t *st, const corpus *c, uint64_t seed, const char *sid, size_t from,
                         size_t to)
{
    static const char *const senders[] = {"agent-0", "agent-1", "agent-2", "agent-3",
                                          "agent-4", "agent-5", "agent-6", "agent-7"};
    err_t e;
    for (size_t i = from; i < to; i++) {
        msg m;
        gen(c, seed, i, &m);
        store_message sm = {.session_id = (char *)sid,
                            .sender = (char *)senders[m.sender],
                            .sender_type = "claude",
                            .content = m.content,
                            .metadata = m.meta,
                            .visibility = m.vis_private ? STORE_VIS_PRIVATE : STORE_VIS_PUBLIC};
        if (store_message_add(st, &sm, NULL, &e) != ERR_OK)
            die("message_add", e.msg);
    }
}

static void run_size(store_t *st, const corpus *c, uint64_t seed, size_t n, int per_class,
                     double th, const char *tok)
{
    char *sid = NULL;
    {
        json_t *sc = tool("create_session",
                          json_pack("{s:s s:s}", "purpose", "bench_recall", "auth_token", tok));
        sid = strdup(json_string_value(json_object_get(sc, "session_id")));
        json_decref(sc);
    }
    int64_t t0 = utc_mono_us();
    add_messages(st, c, seed, sid, 0, n);
    double add_s = (double)(utc_mono_us() - t0) / 1e6;
    /* the first indexed search builds the session's index */
    int64_t ids[10];
    double build_ms, ms;
    json_t *info = NULL;
    search(tok, sid, "warm up the index", th, false, ids, &build_ms, &info);
    json_decref(info);
    size_t nq = (size_t)per_class * NCLASS;
    double *lat_i = calloc(nq, sizeof *lat_i), *lat_e = calloc(nq, sizeof *lat_e);
    double rec_sum[NCLASS] = {0}, all = 0;
    int exact[NCLASS] = {0}, cnt[NCLASS] = {0};
    double cls_i[NCLASS][64], cls_e[NCLASS][64];
    size_t q = 0;
    char path[32] = "?";
    long long mem = 0, cands = 0;
    for (int k = 0; k < NCLASS; k++)
        for (int j = 0; j < per_class; j++, q++) {
            char query[256];
            make_query(c, seed, n, k, j, query, sizeof query);
            int64_t ie[10], ii[10];
            size_t ne = search(tok, sid, query, th, true, ie, &lat_e[q], NULL);
            size_t ni = search(tok, sid, query, th, false, ii, &lat_i[q], &info);
            snprintf(path, sizeof path, "%s", json_string_value(json_object_get(info, "path")));
            mem = json_integer_value(json_object_get(info, "memory_bytes"));
            cands += json_integer_value(json_object_get(info, "candidates"));
            json_decref(info);
            size_t hit = 0;
            for (size_t a = 0; a < ne; a++)
                for (size_t b = 0; b < ni; b++)
                    hit += ie[a] == ii[b];
            double rec = ne ? (double)hit / (double)ne : 1.0;
            bool same = ne == ni;
            for (size_t a = 0; same && a < ne; a++)
                same = ie[a] == ii[a];
            rec_sum[k] += rec;
            all += rec;
            exact[k] += same;
            cnt[k]++;
            if (j < 64) {
                cls_i[k][j] = lat_i[q];
                cls_e[k][j] = lat_e[q];
            }
            if (getenv("BENCH_RECALL_VERBOSE"))
                printf("  %-10s %-40s exh %2zu idx %2zu recall %.2f %s (%.1f / %.1f ms)\n",
                       CLASSES[k], query, ne, ni, rec, same ? "same" : "", lat_e[q], lat_i[q]);
        }
    printf("\n%zu messages (%s): added in %.1f s; index built by the first search in %.0f ms "
           "(%.1f us/message), %.1f MiB\n",
           n, store_name(st), add_s, build_ms, build_ms * 1000.0 / (double)n,
           (double)mem / 1048576.0);
    printf("%-11s %7s %9s %10s %10s %10s %10s\n", "class", "recall", "same top", "exh p50",
           "exh p99", "index p50", "index p99");
    for (int k = 0; k < NCLASS; k++) {
        size_t m = (size_t)(per_class < 64 ? per_class : 64);
        printf("%-11s %7.3f %6d/%-2d %10.2f %10.2f %10.2f %10.2f\n", CLASSES[k],
               rec_sum[k] / cnt[k], exact[k], cnt[k], pct(cls_e[k], m, 0.5), pct(cls_e[k], m, 0.99),
               pct(cls_i[k], m, 0.5), pct(cls_i[k], m, 0.99));
    }
    printf("%-11s %7.3f %9s %10.2f %10.2f %10.2f %10.2f   (path %s, %.0f candidates/query)\n",
           "all", all / (double)q, "", pct(lat_e, q, 0.5), pct(lat_e, q, 0.99), pct(lat_i, q, 0.5),
           pct(lat_i, q, 0.99), path, (double)cands / (double)q);
    /* catch-up: 1000 new messages, then one search brings the index up to date */
    size_t more = 1000;
    add_messages(st, c, seed, sid, n, n + more);
    search(tok, sid, c->words[0], th, false, ids, &ms, NULL);
    double base;
    search(tok, sid, c->words[0], th, false, ids, &base, NULL);
    printf("catch-up: the search after %zu new messages took %.1f ms (%.1f ms without): "
           "%.1f us/message\n",
           more, ms, base, (ms - base) * 1000.0 / (double)more);
    fflush(stdout);
    free(lat_i);
    free(lat_e);
    free(sid);
}

int main(int argc, char **argv)
{
    char def[128];
    snprintf(def, sizeof def, "sqlite:////tmp/ctxd-bench-recall-%d.db", (int)getpid());
    const char *url = def, *sizes = "1000,10000,100000";
    int per_class = 15;
    double th = 60;
    uint64_t seed = 42;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--url"))
            url = argv[i + 1];
        else if (!strcmp(argv[i], "--sizes"))
            sizes = argv[i + 1];
        else if (!strcmp(argv[i], "--queries"))
            per_class = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threshold"))
            th = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--seed"))
            seed = strtoull(argv[i + 1], NULL, 10);
        else
            die("usage", "bench_recall [--url URL] [--sizes 1000,10000] [--queries N] "
                         "[--threshold T] [--seed S]");
    }
    if (per_class < 1 || per_class > 64)
        die("--queries", "1..64 per class");
    err_t e;
    store_t *st;
    if (store_open_with(url, NULL, STORE_OPEN_MIGRATE, &st, &e) != ERR_OK)
        die("store", e.msg);
    auth_ctx *auth;
    auth_opts ao = {.jwt_secret = SECRET, .api_key = KEY, .store = st};
    if (auth_ctx_new(&ao, &auth, &e) != ERR_OK)
        die("auth", e.msg);
    /* budgets the exhaustive scan of the largest session never reaches */
    app_opts o = {.store = st, .auth = auth};
    o.limits.search_time_ms = 600000;
    o.limits.search_max_bytes = (size_t)1 << 40;
    app_t *app;
    if (app_new(&o, &app, &e) != ERR_OK)
        die("app", e.msg);
    mcp_server_info info = app_server_info();
    g_srv = mcp_server_new(&info);
    if (app_register(app, g_srv, &e) != ERR_OK)
        die("register", e.msg);
    g_s = mcp_session_new(g_srv, &ops, NULL);
    app_session_open(g_s, false);
    {
        mcp_reply rep;
        const char *init = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
                           "\"protocolVersion\":\"2025-03-26\",\"capabilities\":{},"
                           "\"clientInfo\":{\"name\":\"bench\",\"version\":\"1\"}}}";
        mcp_session_handle(g_s, init, strlen(init), &(mcp_request_ctx){NULL, &g_req}, &rep);
        mcp_reply_free(&rep);
    }
    json_t *sc = tool("authenticate_agent",
                      json_pack("{s:s s:s}", "agent_id", "agent-0", "agent_type", "claude"));
    char *tok = strdup(json_string_value(json_object_get(sc, "token")));
    json_decref(sc);
    corpus c;
    corpus_init(&c, seed);
    printf("bench_recall: threshold %.0f, %d queries per class, seed %llu, reader agent-0 "
           "(10%% of messages private to their sender)\n",
           th, per_class, (unsigned long long)seed);
    for (const char *p = sizes; *p;) {
        size_t n = strtoull(p, NULL, 10);
        if (n)
            run_size(st, &c, seed, n, per_class, th, tok);
        p = strchr(p, ',');
        if (!p)
            break;
        p++;
    }
    free(tok);
    app_session_close(g_s);
    mcp_session_free(g_s);
    mcp_server_free(g_srv);
    app_free(app);
    auth_ctx_free(auth);
    store_close(st);
    for (size_t i = 0; i < NVOCAB; i++)
        free(c.words[i]);
    if (url == def)
        unlink(def + strlen("sqlite:///"));
    return 0;
}
