/* app/tools_search.c — search_context (visible messages of the session scored 0..100
 * with the C fuzzy scorer, top-k kept; verbatim containment scores 100),
 * search_by_sender, search_by_timerange. search_context takes one of three paths:
 *  - "trigrams": the trigram prefilter plan is sound for (query, threshold)
 *    (search/prefilter.h: no message scoring >= threshold lacks a query trigram): only
 *    the candidates the store's index returns (store_message_search) are fetched and
 *    scored; the same results as a scan.
 *  - "terms": from SEARCH_TERMS_FROM to below SEARCH_TERMS_BELOW (the default
 *    threshold 60 among them; lower thresholds make almost every message a result, so
 *    they rank by scanning) and sessions of lim.search_terms_min_messages or more
 *    (smaller ones are scanned), the session's in-memory term index (app_sidx_candidates,
 *    search/termidx.h) gives candidates pre-ranked by the query tokens they hold
 *    (typos and partial words too); the best SEARCH_TERMS_MAX are fetched through the
 *    store under the caller's visibility, in that order, and scored; messages holding every query token come in id order, so
 *    once `limit` of them scored 100 no later one can enter. Approximate: recall@10
 *    against the scan is measured by bench/bench_recall.
 *  - "scan": otherwise (exhaustive: true, a small session, a query the index cannot
 *    serve, the index over its memory bound): every visible message, paged by id.
 * message_count is the number of visible messages searched on every path. Every path
 * is bounded: it stops before a message once SEARCH_MAX_SCAN_BYTES of text were scored
 * or SEARCH_TIME_BUDGET_MS have passed, and answers with what it found, cut_short and,
 * for a scan, where to go on (next_since_id); pages are sized by bytes, so a
 * session of huge messages is never read at once. Answers stop adding rows at
 * MAX_RESPONSE_BYTES (truncated).
 * Must not: search messages outside the caller's visibility (app_vis_build), use the
 * trigram index for a plan that is not sound, or the term index from
 * SEARCH_TERMS_BELOW (there answers must be the scan's). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_int.h"
#include "app/tools_common.h"
#include "base/sbuf.h"
#include "search/prefilter.h"

/* Pages of messages are read by id; their size follows the messages' size, so a page
 * holds about SEARCH_PAGE_BYTES of text (SEARCH_PAGE_MIN..SEARCH_PAGE_MAX messages). */
#define SEARCH_PAGE_FIRST 100
#define SEARCH_PAGE_MIN 16
#define SEARCH_PAGE_MAX 500
#define SEARCH_PAGE_BYTES ((size_t)8 << 20)
/* The term index serves thresholds from SEARCH_TERMS_FROM to below SEARCH_TERMS_BELOW
 * (from there the trigram plan is sound for most queries, and results must be those of
 * a scan); it fetches and scores at most SEARCH_TERMS_MAX candidates (more for a larger
 * limit), keeping terms whose similarity to a query token is at least the threshold,
 * within SEARCH_TERMS_SIM_MIN..MAX. 500 candidates: recall@10 0.95-0.97 in bench_recall
 * (200: 0.92-0.93), read from the store STORE_GET_MANY_MAX at a time. */
#define SEARCH_TERMS_FROM 50.0
#define SEARCH_TERMS_BELOW 85.0
#define SEARCH_TERMS_MAX 500
#define SEARCH_TERMS_SIM_MIN 50.0
#define SEARCH_TERMS_SIM_MAX 75.0

typedef struct hit {
    double score; /* rounded to 2 decimals: what is shown and ordered by */
    double raw;   /* as scored: the relevance */
    int64_t id;
    store_message m; /* owned */
    char *preview;   /* owned */
} hit;

static void hit_clear(hit *h)
{
    store_message_clear(&h->m);
    free(h->preview);
}

/* keeps the best k (score desc, then id asc) in h[0..*n) */
static void topk_add(hit *h, size_t *n, size_t k, hit *x)
{
    if (*n < k) {
        h[(*n)++] = *x;
        return;
    }
    size_t worst = 0;
    for (size_t i = 1; i < *n; i++)
        if (h[i].score < h[worst].score || (h[i].score == h[worst].score && h[i].id > h[worst].id))
            worst = i;
    /* the ranking's order, not arrival order: the "terms" path brings candidates best
     * pre-rank first, so a later hit can tie the worst with a lower id */
    if (x->score > h[worst].score || (x->score == h[worst].score && x->id < h[worst].id)) {
        hit_clear(&h[worst]);
        h[worst] = *x;
    } else {
        hit_clear(x);
    }
}

static int hit_cmp(const void *a, const void *b)
{
    const hit *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* One search_context call: what it scores and what it has found so far. */
typedef struct scan {
    app_call *c;
    search_query *sq;
    search_ws *ws;
    search_match mt;
    double threshold;
    bool meta;
    size_t k;
    hit *hits;
    size_t nh;
    int64_t scored, last_id; /* messages scored, the id of the last one */
    size_t spent;            /* bytes of text scored (sender, content, metadata) */
    int64_t deadline;        /* utc_mono_us() after which no message is scored */
    const char *cut;         /* why the scan stopped early ("scan_bytes", "time"), or NULL */
    double hits_min;         /* the lowest score in hits once it holds k */
    size_t candidates;       /* the "terms" path: candidates the index gave */
} scan;

static size_t message_bytes(const store_message *m)
{
    return (m->content ? strlen(m->content) : 0) + (m->sender ? strlen(m->sender) : 0) +
           (m->metadata ? strlen(m->metadata) : 0);
}

/* Scores m (its fields move into a hit when it is kept); false when a budget says to stop
 * before it (s->cut set) or the call was cancelled. */
static bool scan_one(scan *s, store_message *m)
{
    if (s->spent >= s->c->app->lim.search_max_bytes) {
        s->cut = "scan_bytes";
        return false;
    }
    if (utc_mono_us() >= s->deadline) {
        s->cut = "time";
        return false;
    }
    if (mcp_call_cancelled(s->c->mc))
        return false;
    json_t *md = NULL;
    if (s->meta && m->metadata) {
        json_error_t je;
        md = json_loads(m->metadata, 0, &je);
    }
    /* once k hits are held, a message whose score would round below the lowest cannot
     * enter: the scorer may stop early on it (a score is kept rounded to 2 decimals) */
    double floor = s->threshold;
    if (s->nh == s->k && s->hits_min - 0.01 > floor)
        floor = s->hits_min - 0.01;
    double v = search_score_message(s->sq, s->ws, m->sender, m->content,
                                    m->content ? strlen(m->content) : 0, md, floor, &s->mt);
    json_decref(md);
    s->spent += message_bytes(m);
    s->scored++;
    s->last_id = m->id;
    if (v >= s->threshold && (v > 0 || s->threshold <= 0)) {
        hit h = {.score = round(v * 100.0) / 100.0,
                 .raw = v,
                 .id = m->id,
                 .m = *m,
                 .preview = xstrdup(v > 0 ? s->mt.preview : "")};
        memset(m, 0, sizeof *m); /* moved into h */
        topk_add(s->hits, &s->nh, s->k, &h);
        if (s->nh == s->k) {
            s->hits_min = s->hits[0].score;
            for (size_t i = 1; i < s->nh; i++)
                if (s->hits[i].score < s->hits_min)
                    s->hits_min = s->hits[i].score;
        }
    }
    return true;
}

/* The size of the next page: about SEARCH_PAGE_BYTES of text at the average size of the
 * messages so far, and no more than the scan budget still allows. */
static int next_page(const scan *s)
{
    size_t avg = s->scored ? s->spent / (size_t)s->scored : 0,
           max = s->c->app->lim.search_max_bytes;
    if (avg == 0)
        return SEARCH_PAGE_MAX;
    size_t n = SEARCH_PAGE_BYTES / avg, left = s->spent < max ? (max - s->spent) / avg + 1 : 1;
    if (left < n)
        n = left;
    return n < SEARCH_PAGE_MIN ? SEARCH_PAGE_MIN : n > SEARCH_PAGE_MAX ? SEARCH_PAGE_MAX : (int)n;
}

/* Scores the visible messages of the session with id > since_id, page after page (only
 * the index's candidates when pf is sound), until all are scored, a budget stops the scan
 * or the call is cancelled. NULL, or the store's error result. */
static json_t *scan_session(scan *s, const char *sid, const store_vis *vis,
                            const search_prefilter *pf, int64_t since_id)
{
    err_t e;
    int64_t cursor = since_id;
    int page = SEARCH_PAGE_FIRST;
    for (;;) {
        store_messages ms;
        err_code rc;
        if (pf->sound) {
            store_search_query q = {.session_id = sid,
                                    .vis = *vis,
                                    .terms = (const char *const *)pf->terms,
                                    .nterms = pf->nterms,
                                    .since_id = cursor,
                                    .limit = page};
            rc = store_message_search(s->c->app->st, &q, &ms, &e);
        } else {
            store_msg_query q = {.session_id = sid, .vis = *vis, .since_id = cursor, .limit = page};
            rc = store_message_list(s->c->app->st, &q, &ms, NULL, &e);
        }
        if (rc != ERR_OK)
            return app_error_store(s->c->app, &e, APP_SESSION_NOT_FOUND, "session");
        size_t got = ms.n;
        if (got)
            cursor = ms.v[got - 1].id; /* before scan_one moves messages out */
        bool go = true;
        for (size_t i = 0; go && i < got; i++)
            go = scan_one(s, &ms.v[i]);
        store_messages_free(&ms);
        if (!go || got < (size_t)page)
            return NULL;
        /* long searches report how many messages were scored (no-op without a token) */
        mcp_call_progress(s->c->mc, (double)s->scored, -1, "messages scored");
        page = next_page(s);
    }
}

/* The "terms" path: the term index's candidates of the session with id > since_id,
 * fetched under the caller's visibility in reads of up to STORE_GET_MANY_MAX and scored,
 * best pre-rank first. *served false
 * (nothing scored) when the index cannot serve the query: the caller scans. NULL, or
 * the store's error result. */
static json_t *terms_session(scan *s, const char *sid, const store_vis *vis, int64_t since_id,
                             bool *served)
{
    err_t e;
    search_tidx_result res;
    double min_sim = s->threshold < SEARCH_TERMS_SIM_MIN   ? SEARCH_TERMS_SIM_MIN
                     : s->threshold > SEARCH_TERMS_SIM_MAX ? SEARCH_TERMS_SIM_MAX
                                                           : s->threshold;
    size_t max = SEARCH_TERMS_MAX > 20 * s->k ? SEARCH_TERMS_MAX : 20 * s->k;
    *served = false;
    if (app_sidx_candidates(s->c->app, sid, s->sq, min_sim, since_id, max, &res, &e) != ERR_OK)
        return app_error_store(s->c->app, &e, APP_SESSION_NOT_FOUND, "session");
    if (!res.usable) {
        search_tidx_result_free(&res);
        return NULL;
    }
    *served = true;
    s->candidates = res.n;
    json_t *r = NULL;
    bool go = true;
    for (size_t i = 0; go && i < res.n;) {
        /* the rest of the id-ordered top tier cannot beat `limit` hits scoring 100 */
        if (i < res.top && s->nh == s->k && s->hits_min >= 100.0)
            break;
        /* a read of the next candidates, those the caller may see come back; in the top
         * tier, `limit` at a time and not across its end (it likely fills the answer) */
        size_t b = res.n - i < STORE_GET_MANY_MAX ? res.n - i : STORE_GET_MANY_MAX;
        if (i < res.top && res.top - i < b)
            b = res.top - i;
        if (i < res.top && s->k < b)
            b = s->k;
        int64_t ids[STORE_GET_MANY_MAX];
        for (size_t j = 0; j < b; j++)
            ids[j] = res.v[i + j].id;
        i += b;
        store_messages ms;
        if (store_message_get_many(s->c->app->st, ids, b, vis, &ms, &e) != ERR_OK) {
            r = app_error_store(s->c->app, &e, APP_SESSION_NOT_FOUND, "session");
            break;
        }
        for (size_t j = 0; go && j < ms.n; j++)
            go = scan_one(s, &ms.v[j]);
        store_messages_free(&ms);
    }
    search_tidx_result_free(&res);
    if (!r) /* as a scan reports after its pages (no-op without a progress token) */
        mcp_call_progress(s->c->mc, (double)s->scored, -1, "messages scored");
    return r;
}

/* The found messages, best first, as result rows within MAX_RESPONSE_BYTES (*truncated:
 * some did not fit); frees the hits. */
static json_t *scan_results(scan *s, bool *truncated)
{
    qsort(s->hits, s->nh, sizeof *s->hits, hit_cmp);
    json_t *arr = json_array();
    size_t used = 0;
    *truncated = false;
    for (size_t i = 0; i < s->nh; i++) {
        hit *h = &s->hits[i];
        if (!*truncated) {
            json_t *row = json_pack("{s:o s:f s:s s:s}", "message", app_json_message(&h->m),
                                    "score", h->score, "match_preview", h->preview, "relevance",
                                    search_relevance(h->raw));
            if (app_row_fits(s->c->app, &used, app_json_size(row)))
                json_array_append_new(arr, row);
            else {
                json_decref(row);
                *truncated = true;
            }
        }
        hit_clear(h);
    }
    free(s->hits);
    s->hits = NULL;
    return arr;
}

static json_t *search_context(app_call *c, json_t *args)
{
    const char *sid;
    json_t *r = app_arg_session(c, args, &sid);
    if (r)
        return r;
    const char *query = app_arg_str(args, "query");
    if (!query || !str_utf8_valid(query, strlen(query)))
        return app_error(c->app, APP_INVALID_INPUT, "query must be a UTF-8 string");
    size_t qcps = app_utf8_cps(query);
    if (qcps == 0 || qcps > c->app->lim.query_max_chars)
        return app_error(c->app, APP_INVALID_INPUT, "query must be 1..%zu characters",
                         c->app->lim.query_max_chars);
    json_t *th = json_object_get(args, "fuzzy_threshold");
    double threshold = json_is_number(th) ? json_number_value(th) : 60.0;
    if (!(threshold >= 0 && threshold <= 100))
        return app_error_ex(
            c->app, APP_INVALID_INPUT,
            json_pack("{s:s s:i s:i}", "argument", "fuzzy_threshold", "min", 0, "max", 100), NULL,
            0, "fuzzy_threshold must be a number from 0 to 100");
    int64_t limit, since;
    if ((r = app_arg_range(c, args, "limit", 10, 1, 100, &limit)) ||
        (r = app_arg_range(c, args, "since_id", 0, 0, INT64_MAX, &since)))
        return r;
    const char *scope = app_arg_str(args, "search_scope");
    if (!scope)
        scope = "all";
    /* "all", or one of two visibilities (an admin's: from any sender) */
    store_visibility sv = STORE_VIS_ADMIN_ONLY;
    bool all = !strcmp(scope, "all");
    if (!all && !(store_visibility_parse(scope, &sv) &&
                  (sv == STORE_VIS_PUBLIC || sv == STORE_VIS_PRIVATE)))
        return app_error(c->app, APP_INVALID_INPUT, "search_scope must be all, %s or %s",
                         store_visibility_name(STORE_VIS_PUBLIC),
                         store_visibility_name(STORE_VIS_PRIVATE));
    store_vis vis;
    if ((r = app_vis_build(c, &c->id, all ? NULL : scope, &vis)))
        return r;

    int64_t t0 = utc_mono_us();
    scan *s = xcalloc(1, sizeof *s);
    s->c = c;
    s->sq = search_query_new(query, strlen(query));
    s->ws = app_search_ws(c->app);
    s->threshold = threshold;
    s->meta = app_arg_bool(args, "search_metadata", true);
    s->k = (size_t)limit;
    s->hits = xcalloc(s->k, sizeof *s->hits);
    s->deadline = t0 + (int64_t)c->app->lim.search_time_ms * 1000;
    bool exhaustive = app_arg_bool(args, "exhaustive", false);
    search_prefilter pf;
    search_prefilter_plan(s->ws, query, strlen(query), threshold, &pf);
    if (exhaustive)
        pf.sound = false;
    const char *path = "scan";
    bool served = false;
    if (!exhaustive && !pf.sound && threshold >= SEARCH_TERMS_FROM &&
        threshold < SEARCH_TERMS_BELOW) {
        r = terms_session(s, sid, &vis, since, &served);
        if (served)
            path = "terms";
    } else if (pf.sound) {
        path = "trigrams";
    }
    if (!r && !served)
        r = scan_session(s, sid, &vis, &pf, since);
    int64_t searched = s->scored;
    if (!r && (pf.sound || served) && !s->cut) {
        /* every visible message was searched (through an index) */
        err_t e;
        store_msg_query q = {.session_id = sid, .vis = vis, .since_id = since, .limit = 1};
        store_messages ms;
        if (store_message_list(c->app->st, &q, &ms, &searched, &e) != ERR_OK)
            r = app_error_store(c->app, &e, APP_SESSION_NOT_FOUND, "session");
        else
            store_messages_free(&ms);
    }
    search_prefilter_free(&pf);
    search_query_free(s->sq);
    bool truncated;
    json_t *arr = scan_results(s, &truncated);
    if (r) {
        json_decref(arr);
    } else {
        double ms_taken = (double)(utc_mono_us() - t0) / 1000.0;
        r = json_pack("{s:o s:s s:f s:s s:I s:f s:I s:b s:b}", "results", arr, "query", query,
                      "threshold", threshold, "search_scope", scope, "message_count",
                      (json_int_t)searched, "search_time_ms", round(ms_taken * 1000) / 1000,
                      "count", (json_int_t)json_array_size(arr), "cut_short", s->cut != NULL,
                      "truncated", truncated);
        app_sidx_stats st;
        app_sidx_report(c->app, &st);
        json_object_set_new(r, "search_index",
                            json_pack("{s:s s:I s:I s:I}", "path", path, "candidates",
                                      (json_int_t)s->candidates, "memory_bytes",
                                      (json_int_t)st.bytes, "memory_limit_bytes",
                                      (json_int_t)st.limit));
        if (s->cut) {
            json_object_set_new(r, "cut_short_reason", json_string(s->cut));
            if (s->scored && !served) /* the terms path does not go by id */
                json_object_set_new(r, "next_since_id", json_integer(s->last_id));
        }
        r = app_ok(r);
    }
    free(s);
    return r;
}

/* search_by_sender / search_by_timerange: the caller's visible messages of q (its
 * vis is filled here) as {messages, <extra's members>, count}; steals extra */
static json_t *visible_list(app_call *c, store_msg_query *q, json_t *extra)
{
    json_t *r = app_vis_build(c, &c->id, NULL, &q->vis);
    store_messages ms;
    err_t e;
    if (!r && store_message_list(c->app->st, q, &ms, NULL, &e) != ERR_OK)
        r = app_error_store(c->app, &e, APP_SESSION_NOT_FOUND, "session");
    if (r) {
        json_decref(extra);
        return r;
    }
    bool truncated;
    json_t *rows = app_json_messages_within(c->app, &ms, ms.n, &truncated);
    json_t *o = json_pack("{s:o}", "messages", rows);
    json_object_update(o, extra);
    json_decref(extra);
    json_object_set_new(o, "count", json_integer((json_int_t)json_array_size(rows)));
    json_object_set_new(o, "truncated", json_boolean(truncated));
    store_messages_free(&ms);
    return app_ok(o);
}

static json_t *search_by_sender(app_call *c, json_t *args)
{
    const char *sid, *sender = app_arg_str(args, "sender");
    int64_t limit;
    json_t *r = app_arg_session(c, args, &sid);
    if (!r)
        r = app_arg_range(c, args, "limit", 20, 1, 100, &limit);
    if (r)
        return r;
    if (!sender || !*sender)
        return app_error(c->app, APP_INVALID_INPUT, "sender is required");
    store_msg_query q = {
        .session_id = sid, .sender = sender, .limit = (int)limit, .newest_first = true};
    return visible_list(c, &q, json_pack("{s:s}", "sender", sender));
}

static json_t *search_by_timerange(app_call *c, json_t *args)
{
    const char *sid;
    json_t *r = app_arg_session(c, args, &sid);
    if (r)
        return r;
    const char *st = app_arg_str(args, "start_time"), *et = app_arg_str(args, "end_time");
    utc_us from, to;
    err_t e;
    if (!st || utc_parse(st, &from, &e) != ERR_OK)
        return app_error(c->app, APP_INVALID_DATETIME,
                         "start_time is not an ISO-8601 date-time: %s", st ? e.msg : "missing");
    if (!et || utc_parse(et, &to, &e) != ERR_OK)
        return app_error(c->app, APP_INVALID_DATETIME, "end_time is not an ISO-8601 date-time: %s",
                         et ? e.msg : "missing");
    if (from > to)
        return app_error(c->app, APP_INVALID_DATETIME, "start_time is after end_time");
    int64_t limit;
    if ((r = app_arg_range(c, args, "limit", 50, 1, 200, &limit)))
        return r;
    store_msg_query q = {.session_id = sid, .from = from, .to = to, .limit = (int)limit};
    return visible_list(c, &q,
                        json_pack("{s:{s:o s:o}}", "timerange", "start", app_json_time(from), "end",
                                  app_json_time(to)));
}

const app_tool app_tools_search[] = {
    {"search_context", "Search context",
     "Fuzzy search over every visible message of a session (sender, content and, with "
     "search_metadata, metadata values). Score 0..100 (a verbatim match scores 100); "
     "relevance high >= 80, medium >= 60, else low. A search stops at its scan budget: "
     "cut_short is then true; pass next_since_id as since_id to search the rest.",
     APP_RO, APP_NEED_READ, search_context},
    {"search_by_sender", "Search by sender", "Visible messages of one sender, newest first.",
     APP_RO, APP_NEED_READ, search_by_sender},
    {"search_by_timerange", "Search by time range",
     "Visible messages between start_time and end_time (ISO-8601; without an offset = UTC), oldest "
     "first.",
     APP_RO, APP_NEED_READ, search_by_timerange},
    {NULL, NULL, NULL, NULL, 0, NULL},
};
