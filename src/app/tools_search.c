/* app/tools_search.c — search_context (every visible message of the session scored
 * 0..100 with the C fuzzy scorer, paged through the store with an id cursor, top-k
 * kept; verbatim containment scores 100), search_by_sender, search_by_timerange.
 * When the trigram prefilter plan is sound for (query, threshold) (search/prefilter.h:
 * then no message scoring >= threshold lacks a query trigram), only the candidates
 * the store's index returns (store_message_search) are fetched and scored; otherwise
 * (default threshold 60, queries < 3 characters) every visible message is. Both paths give the same results; message_count is the number
 * of visible messages searched either way.
 * Must not: search messages outside the caller's visibility (app_vis_build), or use
 * the index for a plan that is not sound. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_int.h"
#include "app/tools_common.h"
#include "base/sbuf.h"
#include "search/prefilter.h"

#define SEARCH_PAGE 500

typedef struct hit {
    double score;
    int64_t id;
    json_t *result; /* {message, score, match_preview, relevance} */
} hit;

/* keeps the best k (score desc, then id asc) in h[0..*n) */
static void topk_add(hit *h, size_t *n, size_t k, hit x)
{
    if (*n < k) {
        h[(*n)++] = x;
        return;
    }
    size_t worst = 0;
    for (size_t i = 1; i < *n; i++)
        if (h[i].score < h[worst].score || (h[i].score == h[worst].score && h[i].id > h[worst].id))
            worst = i;
    if (x.score > h[worst].score) {
        json_decref(h[worst].result);
        h[worst] = x;
    } else {
        json_decref(x.result);
    }
}

static int hit_cmp(const void *a, const void *b)
{
    const hit *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
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
    int64_t limit;
    if ((r = app_arg_range(c, args, "limit", 10, 1, 100, &limit)))
        return r;
    bool meta = app_arg_bool(args, "search_metadata", true);
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
    search_query *sq = search_query_new(query, strlen(query));
    search_ws *ws = app_search_ws(c->app);
    hit *hits = xcalloc((size_t)limit, sizeof *hits);
    size_t nh = 0;
    int64_t scanned = 0, cursor = 0;
    err_t e;
    search_match *mt = xmalloc(sizeof *mt);
    search_prefilter pf;
    search_prefilter_plan(ws, query, strlen(query), threshold, &pf);
    bool use_index = pf.sound;
    int64_t scored = 0;
    for (;;) {
        store_messages ms;
        err_code rc;
        if (use_index) {
            store_search_query q = {.session_id = sid,
                                    .vis = vis,
                                    .terms = (const char *const *)pf.terms,
                                    .nterms = pf.nterms,
                                    .since_id = cursor,
                                    .limit = SEARCH_PAGE};
            rc = store_message_search(c->app->st, &q, &ms, &e);
        } else {
            store_msg_query q = {
                .session_id = sid, .vis = vis, .since_id = cursor, .limit = SEARCH_PAGE};
            rc = store_message_list(c->app->st, &q, &ms, NULL, &e);
        }
        if (rc != ERR_OK) {
            r = app_error_store(c->app, &e, APP_SESSION_NOT_FOUND, "session");
            break;
        }
        for (size_t i = 0; i < ms.n; i++) {
            store_message *m = &ms.v[i];
            json_t *md = NULL;
            if (meta && m->metadata) {
                json_error_t je;
                md = json_loads(m->metadata, 0, &je);
            }
            double s = search_score_message(sq, ws, m->sender, m->content,
                                            m->content ? strlen(m->content) : 0, md, threshold, mt);
            json_decref(md);
            if (s >= threshold && (s > 0 || threshold <= 0)) {
                double rs = round(s * 100.0) / 100.0;
                hit h = {.score = rs, .id = m->id};
                h.result = json_pack("{s:o s:f s:s s:s}", "message", app_json_message(m), "score",
                                     rs, "match_preview", s > 0 ? mt->preview : "", "relevance",
                                     search_relevance(s));
                topk_add(hits, &nh, (size_t)limit, h);
            }
        }
        size_t got = ms.n;
        scored += (int64_t)got;
        if (got)
            cursor = ms.v[got - 1].id;
        store_messages_free(&ms);
        if (got < SEARCH_PAGE || mcp_call_cancelled(c->mc))
            break;
        /* long searches report how many messages were scored (no-op without a token) */
        mcp_call_progress(c->mc, (double)scored, -1, "messages scored");
    }
    scanned = scored;
    if (!r && use_index) {
        /* every visible message was searched (through the index) */
        store_msg_query q = {.session_id = sid, .vis = vis, .limit = 1};
        store_messages ms;
        if (store_message_list(c->app->st, &q, &ms, &scanned, &e) != ERR_OK)
            r = app_error_store(c->app, &e, APP_SESSION_NOT_FOUND, "session");
        else
            store_messages_free(&ms);
    }
    search_prefilter_free(&pf);
    free(mt);
    search_query_free(sq);
    if (r) {
        for (size_t i = 0; i < nh; i++)
            json_decref(hits[i].result);
        free(hits);
        return r;
    }
    qsort(hits, nh, sizeof *hits, hit_cmp);
    json_t *arr = json_array();
    for (size_t i = 0; i < nh; i++)
        json_array_append_new(arr, hits[i].result);
    free(hits);
    double ms_taken = (double)(utc_mono_us() - t0) / 1000.0;
    return app_ok(json_pack("{s:o s:s s:f s:s s:I s:f s:I}", "results", arr, "query", query,
                            "threshold", threshold, "search_scope", scope, "message_count",
                            (json_int_t)scanned, "search_time_ms", round(ms_taken * 1000) / 1000,
                            "count", (json_int_t)nh));
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
    json_t *o = json_pack("{s:o}", "messages", app_json_messages(&ms));
    json_object_update(o, extra);
    json_decref(extra);
    json_object_set_new(o, "count", json_integer((json_int_t)ms.n));
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
     "relevance high >= 80, medium >= 60, else low.",
     APP_RO, APP_NEED_READ, search_context},
    {"search_by_sender", "Search by sender", "Visible messages of one sender, newest first.",
     APP_RO, APP_NEED_READ, search_by_sender},
    {"search_by_timerange", "Search by time range",
     "Visible messages between start_time and end_time (ISO-8601; without an offset = UTC), oldest "
     "first.",
     APP_RO, APP_NEED_READ, search_by_timerange},
    {NULL, NULL, NULL, NULL, 0, NULL},
};
