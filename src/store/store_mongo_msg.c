/* store/store_mongo_msg.c — the MongoDB store's sessions and messages: create,
 * get and list sessions (with their message count, last activity and
 * participants), add a message (its session and parent checked, the session's
 * updated_at moved, the audit record), list, get, thread, search and reindex.
 * Visibility arrives as a store_vis and becomes $or clauses of the filter; its session
 * clause (restricted sessions) becomes a $nor: for sessions, of the condition itself; for
 * messages, of the ids of the sessions that do not admit the reader (looked up first,
 * through the index on the restricted sessions).
 * Search: each message keeps its index text (search_text, from the store's index
 * function; {unindexed: true} marks messages written without one until
 * message_reindex fills them). message_search filters the session's messages on
 * the server with a regular expression matching any term: MongoDB text indexes
 * are word-based and cannot serve substring/trigram candidates, so this is a
 * server-side scan of the session (idx session_id_id), not an index lookup.
 * Must not: decide visibility or permissions (store_vis says what is visible),
 * or know about collections other than sessions, messages, the counters and the
 * audit log. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store/store_mongo_int.h"
#include "base/sbuf.h"

/* ---- sessions ------------------------------------------------------------------------- */

err_code smongo_need_session(smongo_ctx *c, const char *id, err_t *e)
{
    bson_t q = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&q, "id", id);
    bool found = false;
    err_code rc = smongo_find_one(c, SMONGO_SESSIONS, &q, NULL, NULL, &found, e);
    bson_destroy(&q);
    return rc == ERR_OK && !found ? store_err_no_session(e, id) : rc;
}

err_code smongo_session_create(store_t *st, const store_session *in, const store_audit_in *audit,
                               err_t *e)
{
    utc_us created = in->created_at ? in->created_at : utc_now();
    bson_t key = BSON_INITIALIZER, d = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&key, "id", in->id);
    BSON_APPEND_UTF8(&d, "id", in->id);
    BSON_APPEND_UTF8(&d, "purpose", in->purpose);
    BSON_APPEND_UTF8(&d, "created_by", in->created_by);
    err_code rc = smongo_append_json_text(&d, "metadata", in->metadata, "session metadata", e);
    BSON_APPEND_BOOL(&d, "is_active", in->is_active);
    smongo_append_time(&d, "created_at", created);
    smongo_append_time(&d, "updated_at", in->updated_at ? in->updated_at : created);
    if (rc == ERR_OK)
        rc = smongo_append_json_text(&d, "access", in->access, "session access", e);
    if (in->access) /* indexed: the restricted sessions, which every reader's filter consults */
        BSON_APPEND_BOOL(&d, "restricted", true);
    store_audit_rec r = {0};
    bool exists = false;
    if (rc == ERR_OK)
        rc = smongo_write_new(M(st), SMONGO_SESSIONS, &key, &d,
                              audit ? &store_audit_session(&r, audit, in)->in : NULL, &exists, e);
    store_audit_rec_free(&r);
    bson_destroy(&d);
    bson_destroy(&key);
    return exists ? store_err_session_exists(e, in->id) : rc;
}

static void append_vis(bson_t *f, const store_vis *v);

/* {session_id, and vis's clauses when vis is given}: the messages of a session */
static void session_messages(bson_t *q, const char *sid, const store_vis *vis)
{
    bson_init(q);
    BSON_APPEND_UTF8(q, "session_id", sid);
    if (vis)
        append_vis(q, vis);
}

/* message_count (of the messages vis matches; NULL: all) and last_activity (of all) of
 * a session. */
static err_code session_figures(smongo_ctx *c, store_session *s, const store_vis *vis, err_t *e)
{
    bson_t q, all, d;
    session_messages(&q, s->id, vis);
    session_messages(&all, s->id, NULL);
    err_code rc = smongo_count(c, SMONGO_MESSAGES, &q, &s->message_count, e);
    s->last_activity = s->created_at;
    bool found = false;
    if (rc == ERR_OK && (vis || s->message_count > 0))
        rc = smongo_find_one(c, SMONGO_MESSAGES, &all,
                             &(smongo_find){.sort = {"-created_at"}, .only = "created_at"}, &d,
                             &found, e);
    if (found) {
        s->last_activity = smongo_get_time(&d, "created_at");
        bson_destroy(&d);
    }
    bson_destroy(&q);
    bson_destroy(&all);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The distinct senders of the session's messages vis matches, sorted. */
static err_code participants(smongo_ctx *c, store_session *s, const store_vis *vis, err_t *e)
{
    mongoc_collection_t *col = smongo_coll(c, SMONGO_MESSAGES);
    bson_t cmd = BSON_INITIALIZER, reply, q;
    session_messages(&q, s->id, vis);
    BCON_APPEND(&cmd, "distinct", BCON_UTF8(SMONGO_MESSAGES), "key", BCON_UTF8("sender"), "query",
                BCON_DOCUMENT(&q));
    bson_destroy(&q);
    bson_error_t be;
    err_code rc = ERR_OK;
    if (!mongoc_collection_read_command_with_opts(col, &cmd, NULL, NULL, &reply, &be)) {
        rc = smongo_err(&be, &reply, "distinct senders", e);
    } else {
        bson_iter_t it, v;
        size_t cap = 0;
        if (bson_iter_init_find(&it, &reply, "values") && bson_iter_recurse(&it, &v)) {
            while (bson_iter_next(&v)) {
                if (!BSON_ITER_HOLDS_UTF8(&v))
                    continue;
                uint32_t n = 0;
                const char *p = bson_iter_utf8(&v, &n);
                *(char **)store_list_push((void **)&s->participants, &s->nparticipants, &cap,
                                          sizeof(char *)) = xstrndup(p, n);
            }
        }
        if (s->nparticipants > 1)
            qsort(s->participants, s->nparticipants, sizeof(char *), cmp_str);
    }
    bson_destroy(&reply);
    bson_destroy(&cmd);
    mongoc_collection_destroy(col);
    return rc;
}

typedef struct {
    const char *id;
    store_session *out;
    bool figures; /* message_count and last_activity too */
} sess_get_ctx;

static err_code rd_session_get(smongo_ctx *c, void *arg, err_t *e)
{
    sess_get_ctx *x = arg;
    bson_t q = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&q, "id", x->id);
    bool found = false;
    err_code rc =
        smongo_get_one(c, SMONGO_SESSIONS, &q, NULL, &smongo_session_rec, x->out, &found, e);
    bson_destroy(&q);
    if (rc == ERR_OK && !found)
        return store_err_no_session(e, x->id);
    return rc != ERR_OK || !x->figures ? rc : session_figures(c, x->out, NULL, e);
}

err_code smongo_session_get(store_t *st, const char *id, store_session *out, err_t *e)
{
    return smongo_read(M(st), rd_session_get, &(sess_get_ctx){id, out, true}, e);
}

err_code smongo_session_head(store_t *st, const char *id, store_session *out, err_t *e)
{
    return smongo_read(M(st), rd_session_get, &(sess_get_ctx){id, out, false}, e);
}

typedef struct {
    const store_session_query *q;
    store_sessions *out;
    int64_t *total;
} sess_list_ctx;

/* The sessions that do not admit the reader of v (store_vis.member_id): restricted, not
 * created by the reader, neither its id nor its type listed. */
static void append_excluded(bson_t *f, const store_vis *v)
{
    BCON_APPEND(f, "restricted", BCON_BOOL(true), "created_by", "{", "$ne", BCON_UTF8(v->member_id),
                "}", "access.agents", "{", "$ne", BCON_UTF8(v->member_id), "}", "access.types", "{",
                "$ne", BCON_UTF8(v->member_type), "}");
}

/* {$nor: [one]} in f, one filled by fill(one, ud). */
static void append_nor(bson_t *f, void (*fill)(bson_t *one, const void *ud), const void *ud)
{
    bson_t nor, one;
    BSON_APPEND_ARRAY_BEGIN(f, "$nor", &nor);
    BSON_APPEND_DOCUMENT_BEGIN(&nor, "0", &one);
    fill(&one, ud);
    bson_append_document_end(&nor, &one);
    bson_append_array_end(f, &nor);
}

static void fill_excluded(bson_t *one, const void *ud)
{
    append_excluded(one, ud);
}

static err_code rd_session_list(smongo_ctx *c, void *arg, err_t *e)
{
    sess_list_ctx *x = arg;
    const store_session_query *q = x->q;
    bson_t f = BSON_INITIALIZER;
    if (q->created_by)
        BSON_APPEND_UTF8(&f, "created_by", q->created_by);
    if (q->active_only)
        BSON_APPEND_BOOL(&f, "is_active", true);
    if (q->vis.member_id)
        append_nor(&f, fill_excluded, &q->vis);
    err_code rc = x->total ? smongo_count(c, SMONGO_SESSIONS, &f, x->total, e) : ERR_OK;
    smongo_find o = {.sort = {"-updated_at", "id"}, .skip = q->offset, .limit = q->limit};
    if (rc == ERR_OK)
        rc = smongo_get_list(c, SMONGO_SESSIONS, &f, &o, &smongo_session_rec, SMONGO_LIST(x->out),
                             e);
    bson_destroy(&f);
    for (size_t k = 0; k < x->out->n && rc == ERR_OK; k++) {
        rc = session_figures(c, &x->out->v[k], &q->vis, e);
        if (rc == ERR_OK)
            rc = participants(c, &x->out->v[k], &q->vis, e);
    }
    return rc;
}

err_code smongo_session_list(store_t *st, const store_session_query *q, store_sessions *out,
                             int64_t *total, err_t *e)
{
    return smongo_read(M(st), rd_session_list, &(sess_list_ctx){q, out, total}, e);
}

/* ---- message filters ------------------------------------------------------------------- */

/* The visibility clauses of store_vis into filter f, each one $or branch (nothing when
 * every visibility is matched for any sender). */
static void append_vis(bson_t *f, const store_vis *v)
{
    if ((v->any & STORE_VIS_EVERY) == STORE_VIS_EVERY)
        return;
    bson_t or, cl;
    int i = 0;
    char buf[16];
    const char *k;
    BSON_APPEND_ARRAY_BEGIN(f, "$or", & or);
#define CLAUSE(vis, field, val) \
    do { \
        bson_uint32_to_string((uint32_t)i++, &k, buf, sizeof buf); \
        bson_append_document_begin(& or, k, -1, &cl); \
        BSON_APPEND_UTF8(&cl, "visibility", vis); \
        if (field) \
            BSON_APPEND_UTF8(&cl, (const char *)(field), val); \
        bson_append_document_end(& or, &cl); \
    } while (0)
    for (unsigned vv = 0; vv < STORE_VIS_COUNT; vv++)
        if (v->any & STORE_VIS_BIT(vv))
            CLAUSE(store_visibility_name((store_visibility)vv), NULL, NULL);
    if (v->private_of)
        CLAUSE(store_visibility_name(STORE_VIS_PRIVATE), "sender", v->private_of);
    if (v->agent_only_of)
        CLAUSE(store_visibility_name(STORE_VIS_AGENT_ONLY), "sender_type", v->agent_only_of);
    if (i == 0)
        CLAUSE("\x01none", NULL, NULL); /* nothing is visible: a value never stored */
#undef CLAUSE
    bson_append_array_end(f, & or);
}

/* a session's id */
static void read_sid(const bson_t *d, void *rec)
{
    *(char **)rec = smongo_get_str(d, "id");
}

static void clear_sid(void *rec)
{
    free(*(char **)rec);
}

static const smongo_rec sid_rec = {sizeof(char *), read_sid, clear_sid};

typedef struct {
    char **ids;
    size_t n;
} sid_list;

/* {session_id: {$in: ids}} */
static void fill_sessions_in(bson_t *one, const void *ud)
{
    const sid_list *l = ud;
    bson_t in, arr;
    char buf[16];
    const char *k;
    BSON_APPEND_DOCUMENT_BEGIN(one, "session_id", &in);
    BSON_APPEND_ARRAY_BEGIN(&in, "$in", &arr);
    for (size_t i = 0; i < l->n; i++) {
        bson_uint32_to_string((uint32_t)i, &k, buf, sizeof buf);
        bson_append_utf8(&arr, k, -1, l->ids[i], -1);
    }
    bson_append_array_end(&in, &arr);
    bson_append_document_end(one, &in);
}

/* *out = a copy of the message filter f with, when vis has a session clause, the
 * messages of the sessions that do not admit the reader left out (a query of the
 * restricted sessions, then {$nor: [{session_id: {$in: [...]}}]}). bson_destroy *out. */
static err_code member_filter(smongo_ctx *c, const store_vis *vis, const bson_t *f, bson_t *out,
                              err_t *e)
{
    bson_copy_to(f, out);
    if (!vis || !vis->member_id)
        return ERR_OK;
    bson_t q = BSON_INITIALIZER;
    append_excluded(&q, vis);
    sid_list l = {NULL, 0};
    err_code rc = smongo_get_list(c, SMONGO_SESSIONS, &q, &(smongo_find){.only = "id"}, &sid_rec,
                                  (void **)&l.ids, &l.n, e);
    bson_destroy(&q);
    if (rc == ERR_OK && l.n > 0)
        append_nor(out, fill_sessions_in, &l);
    for (size_t i = 0; i < l.n; i++)
        free(l.ids[i]);
    free(l.ids);
    return rc;
}

/* {id, the visibility clauses}: one message as vis sees it */
static void id_vis_filter(bson_t *f, int64_t id, const store_vis *vis)
{
    bson_init(f);
    BSON_APPEND_INT64(f, "id", id);
    append_vis(f, vis);
}

static void msg_filter(const store_msg_query *q, bson_t *f)
{
    bson_init(f);
    BSON_APPEND_UTF8(f, "session_id", q->session_id);
    if (q->since_id > 0)
        smongo_append_op(f, "id", "$gt", q->since_id);
    if (q->sender)
        BSON_APPEND_UTF8(f, "sender", q->sender);
    if (q->from && q->to)
        BCON_APPEND(f, "created_at", "{", "$gte", BCON_INT64(q->from), "$lte", BCON_INT64(q->to),
                    "}");
    else if (q->from || q->to)
        smongo_append_op(f, "created_at", q->from ? "$gte" : "$lte", q->from ? q->from : q->to);
    append_vis(f, &q->vis);
}

/* ---- adding a message ------------------------------------------------------------------ */

typedef struct {
    store_message *m;
    const store_audit_in *audit;
    const char *search_text; /* the store's index function's text, or NULL */
} msg_add_ctx;

/* The parent as the poster sees it (message_get's filter), in the same session. */
static err_code check_parent(smongo_ctx *c, const store_message *m, err_t *e)
{
    bson_t q0, q, d;
    id_vis_filter(&q0, m->parent_id, m->parent_vis);
    bool found = false;
    err_code rc = member_filter(c, m->parent_vis, &q0, &q, e);
    if (rc == ERR_OK)
        rc = smongo_find_one(c, SMONGO_MESSAGES, &q, &(smongo_find){.only = "session_id"}, &d,
                             &found, e);
    bson_destroy(&q0);
    bson_destroy(&q);
    if (rc != ERR_OK)
        return rc;
    if (!found)
        return store_err_no_parent(e, m->parent_id);
    char *sid = smongo_get_str(&d, "session_id");
    bson_destroy(&d);
    bool same = sid && strcmp(sid, m->session_id) == 0;
    free(sid);
    return same ? ERR_OK : store_err_bad_parent(e, m->parent_id, m->session_id);
}

static err_code tx_message_add(smongo_ctx *c, void *arg, err_t *e)
{
    msg_add_ctx *x = arg;
    store_message *m = x->m;
    err_code rc = smongo_need_session(c, m->session_id, e);
    if (rc == ERR_OK && m->parent_id)
        rc = check_parent(c, m, e);
    json_t *meta = NULL;
    if (rc == ERR_OK)
        rc = smongo_parse_json(m->metadata, "message metadata", &meta, e);
    if (rc == ERR_OK)
        rc = smongo_next_id(c, SMONGO_MESSAGES, &m->id, e);
    if (rc != ERR_OK) {
        json_decref(meta);
        return rc;
    }
    m->created_at = utc_now();
    bson_t d = BSON_INITIALIZER;
    BSON_APPEND_INT64(&d, "id", m->id);
    BSON_APPEND_UTF8(&d, "session_id", m->session_id);
    BSON_APPEND_UTF8(&d, "sender", m->sender);
    BSON_APPEND_UTF8(&d, "sender_type", m->sender_type ? m->sender_type : "generic");
    BSON_APPEND_UTF8(&d, "content", m->content);
    BSON_APPEND_UTF8(&d, "visibility", store_visibility_name(m->visibility));
    BSON_APPEND_UTF8(&d, "message_type", m->message_type ? m->message_type : "agent_response");
    smongo_append_json(&d, "metadata", meta);
    json_decref(meta);
    if (m->parent_id)
        BSON_APPEND_INT64(&d, "parent_message_id", m->parent_id);
    else
        BSON_APPEND_NULL(&d, "parent_message_id");
    smongo_append_time(&d, "created_at", m->created_at);
    if (x->search_text)
        BSON_APPEND_UTF8(&d, "search_text", x->search_text);
    else
        BSON_APPEND_BOOL(&d, "unindexed", true); /* message_reindex gives it text */
    rc = smongo_insert(c, SMONGO_MESSAGES, &d, e);
    bson_destroy(&d);
    if (rc == ERR_OK) { /* the session's updated_at */
        bson_t q = BSON_INITIALIZER, upd = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&q, "id", m->session_id);
        smongo_append_op(&upd, "$set", "updated_at", m->created_at);
        rc = smongo_update(c, SMONGO_SESSIONS, &q, &upd, false, NULL, NULL, e);
        bson_destroy(&upd);
        bson_destroy(&q);
    }
    if (rc != ERR_OK || !x->audit)
        return rc;
    store_audit_rec r;
    rc = smongo_audit_insert(c, &store_audit_message(&r, x->audit, m, m->id)->in, e);
    store_audit_rec_free(&r);
    return rc;
}

err_code smongo_message_add(store_t *st, store_message *m, const store_audit_in *audit, err_t *e)
{
    /* the index text is computed before the write (pure C work) */
    char *stext = store_index_text(st, m->sender, m->content, strlen(m->content), m->metadata);
    msg_add_ctx x = {m, audit, stext};
    err_code rc = smongo_write(M(st), tx_message_add, &x, e);
    free(stext);
    return rc;
}

/* ---- reading messages ------------------------------------------------------------------ */

/* A page of a session's messages: filter f, sorted, skipped and limited as o
 * says, into out and, if total, their count; no message and no total: the
 * session must exist. */
typedef struct {
    const char *session_id;
    const bson_t *f;
    const store_vis *vis; /* its session clause (member_filter) */
    smongo_find o;
    store_messages *out;
    int64_t *total;
} msg_page;

static err_code rd_msg_page(smongo_ctx *c, void *arg, err_t *e)
{
    msg_page *x = arg;
    int64_t total = -1;
    bson_t f;
    err_code rc = member_filter(c, x->vis, x->f, &f, e);
    if (rc == ERR_OK && x->total)
        rc = smongo_count(c, SMONGO_MESSAGES, &f, &total, e);
    if (x->total)
        *x->total = total;
    if (rc == ERR_OK)
        rc = smongo_get_list(c, SMONGO_MESSAGES, &f, &x->o, &smongo_message_rec,
                             SMONGO_LIST(x->out), e);
    bson_destroy(&f);
    if (rc == ERR_OK && x->out->n == 0 && total <= 0)
        rc = smongo_need_session(c, x->session_id, e);
    return rc;
}

err_code smongo_message_list(store_t *st, const store_msg_query *q, store_messages *out,
                             int64_t *total, err_t *e)
{
    bson_t f;
    msg_filter(q, &f);
    msg_page x = {
        .session_id = q->session_id,
        .f = &f,
        .vis = &q->vis,
        .o = {.sort = {q->newest_first ? "-id" : "id"}, .skip = q->offset, .limit = q->limit},
        .out = out,
        .total = total};
    err_code rc = smongo_read(M(st), rd_msg_page, &x, e);
    bson_destroy(&f);
    return rc;
}

/* message_get (out: a store_message) and message_thread (out: store_messages, id: the
 * root): a message by id as vis sees it */
typedef struct {
    int64_t id;
    const store_vis *vis;
    void *out;
} by_id_ctx;

/* The messages of filter f0 (destroyed here) in the sessions vis admits (member_filter):
 * the first into *one (*found: whether there was one), or with one NULL all of them by id
 * into *many. */
static err_code get_admitted(smongo_ctx *c, bson_t *f0, const store_vis *vis, store_message *one,
                             bool *found, store_messages *many, err_t *e)
{
    bson_t f;
    err_code rc = member_filter(c, vis, f0, &f, e);
    if (rc == ERR_OK && one)
        rc = smongo_get_one(c, SMONGO_MESSAGES, &f, NULL, &smongo_message_rec, one, found, e);
    else if (rc == ERR_OK)
        rc = smongo_get_list(c, SMONGO_MESSAGES, &f, &(smongo_find){.sort = {"id"}},
                             &smongo_message_rec, SMONGO_LIST(many), e);
    bson_destroy(f0);
    bson_destroy(&f);
    return rc;
}

static err_code rd_message_get(smongo_ctx *c, void *arg, err_t *e)
{
    by_id_ctx *x = arg;
    bson_t f0;
    id_vis_filter(&f0, x->id, x->vis);
    bool found = false;
    err_code rc = get_admitted(c, &f0, x->vis, x->out, &found, NULL, e);
    return rc == ERR_OK && !found ? store_err_no_message(e, x->id) : rc;
}

err_code smongo_message_get(store_t *st, int64_t id, const store_vis *vis, store_message *out,
                            err_t *e)
{
    return smongo_read(M(st), rd_message_get, &(by_id_ctx){id, vis, out}, e);
}

static void append_int_array(bson_t *d, const char *key, const int64_t *v, size_t n)
{
    bson_t arr;
    char buf[16];
    const char *k;
    BSON_APPEND_ARRAY_BEGIN(d, key, &arr);
    for (size_t i = 0; i < n; i++) {
        bson_uint32_to_string((uint32_t)i, &k, buf, sizeof buf);
        bson_append_int64(&arr, k, -1, v[i]);
    }
    bson_append_array_end(d, &arr);
}

/* {field: {$in: [v...]}} */
static void in_filter(bson_t *f, const char *field, const int64_t *v, size_t n)
{
    bson_t in;
    bson_init(f);
    BSON_APPEND_DOCUMENT_BEGIN(f, field, &in);
    append_int_array(&in, "$in", v, n);
    bson_append_document_end(f, &in);
}

/* message_get_many: the visible ones among ids, by id */
typedef struct {
    const int64_t *ids;
    size_t n;
    const store_vis *vis;
    store_messages *out;
} by_ids_ctx;

static err_code rd_message_get_many(smongo_ctx *c, void *arg, err_t *e)
{
    by_ids_ctx *x = arg;
    bson_t f0;
    in_filter(&f0, "id", x->ids, x->n);
    append_vis(&f0, x->vis);
    return get_admitted(c, &f0, x->vis, NULL, NULL, x->out, e);
}

err_code smongo_message_get_many(store_t *st, const int64_t *ids, size_t n, const store_vis *vis,
                                 store_messages *out, err_t *e)
{
    return smongo_read(M(st), rd_message_get_many, &(by_ids_ctx){ids, n, vis, out}, e);
}

/* a message's id */
static void read_id(const bson_t *d, void *rec)
{
    *(int64_t *)rec = smongo_get_int(d, "id");
}

static const smongo_rec id_rec = {sizeof(int64_t), read_id, NULL};

typedef struct {
    store_thread_query q; /* a copy */
    store_messages *out;
} thread_ctx;

static err_code rd_message_thread(smongo_ctx *c, void *arg, err_t *e)
{
    thread_ctx *x = arg;
    const store_thread_query *q = &x->q;
    /* every descendant id, level by level (replies are newer than their parent) */
    int64_t *all = NULL, *level = NULL;
    size_t n = 0, cap = 0, nlevel = 0;
    *(int64_t *)store_list_push((void **)&all, &n, &cap, sizeof *all) = q->root_id;
    err_code rc = ERR_OK;
    for (size_t from = 0; rc == ERR_OK && from < n;) {
        bson_t f;
        in_filter(&f, "parent_message_id", all + from, n - from);
        from = n;
        rc = smongo_get_list(c, SMONGO_MESSAGES, &f, &(smongo_find){.only = "id"}, &id_rec,
                             (void **)&level, &nlevel, e);
        bson_destroy(&f);
        for (size_t i = 0; i < nlevel; i++)
            *(int64_t *)store_list_push((void **)&all, &n, &cap, sizeof *all) = level[i];
    }
    free(level);
    /* the page: the root (store_thread_page_done) and the ids past the cursor */
    bool skip_root = q->since_id >= q->root_id;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (all[i] == q->root_id || all[i] > q->since_id)
            all[kept++] = all[i];
    if (rc == ERR_OK) {
        bson_t f0, f;
        in_filter(&f0, "id", all, kept);
        append_vis(&f0, q->vis);
        rc = member_filter(c, q->vis, &f0, &f, e);
        smongo_find o = {.sort = {"id"}, .limit = (int64_t)q->limit + (skip_root ? 1 : 0)};
        if (rc == ERR_OK)
            rc = smongo_get_list(c, SMONGO_MESSAGES, &f, &o, &smongo_message_rec,
                                 SMONGO_LIST(x->out), e);
        bson_destroy(&f0);
        bson_destroy(&f);
    }
    free(all);
    return store_thread_page_done(q, x->out, rc, e);
}

err_code smongo_message_thread(store_t *st, const store_thread_query *q, store_messages *out,
                               err_t *e)
{
    return smongo_read(M(st), rd_message_thread, &(thread_ctx){*q, out}, e);
}

/* ---- search ---------------------------------------------------------------------------- */

/* A regular expression matching any of the terms literally: ASCII non-alphanumerics
 * escaped with '\\' (literal in PCRE and in JavaScript), other bytes as they are. */
static char *terms_regex(const char *const *terms, size_t n)
{
    sbuf_t b = SBUF_INIT;
    for (size_t i = 0; i < n; i++) {
        if (i)
            sbuf_putc(&b, '|');
        for (const char *t = terms[i]; *t; t++) {
            unsigned char ch = (unsigned char)*t;
            bool alnum =
                (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
            if (ch < 0x80 && !alnum)
                sbuf_putc(&b, '\\');
            sbuf_putc(&b, *t);
        }
    }
    return sbuf_detach(&b);
}

/* Candidates: messages whose search_text holds a term (a server-side regular
 * expression over the session's messages), and messages without search_text. */
err_code smongo_message_search(store_t *st, const store_search_query *q, store_messages *out,
                               err_t *e)
{
    store_msg_query mq = {
        .session_id = q->session_id, .vis = q->vis, .since_id = q->since_id, .limit = q->limit};
    bson_t f;
    msg_filter(&mq, &f);
    /* $and: [{$or: [{search_text: null}, {search_text: {$regex: terms}}]}] (the
     * visibility clauses already use the filter's own $or) */
    char *regex = terms_regex(q->terms, q->nterms);
    BCON_APPEND(&f, "$and", "[", "{", "$or", "[", "{", "search_text", BCON_NULL, "}", "{",
                "search_text", "{", "$regex", BCON_UTF8(regex), "}", "}", "]", "}", "]");
    free(regex);
    msg_page x = {.session_id = q->session_id,
                  .f = &f,
                  .vis = &q->vis,
                  .o = {.sort = {"id"}, .limit = q->limit},
                  .out = out};
    err_code rc = smongo_read(M(st), rd_msg_page, &x, e);
    bson_destroy(&f);
    return rc;
}

/* Gives search_text to up to *n messages marked {unindexed: true} (written
 * without an index function, or imported), oldest first; *n = how many, once
 * they all have it (a failed attempt leaves *n, the limit, for the retry). */
static err_code tx_message_reindex(smongo_ctx *c, void *arg, err_t *e)
{
    int64_t *n = arg;
    bson_t f = BSON_INITIALIZER;
    BSON_APPEND_BOOL(&f, "unindexed", true);
    store_messages ms = {0};
    err_code rc =
        smongo_get_list(c, SMONGO_MESSAGES, &f, &(smongo_find){.sort = {"id"}, .limit = *n},
                        &smongo_message_rec, SMONGO_LIST(&ms), e);
    bson_destroy(&f);
    for (size_t i = 0; i < ms.n && rc == ERR_OK; i++) {
        store_message *m = &ms.v[i];
        char *text =
            store_index_text(&c->s->base, m->sender, m->content, strlen(m->content), m->metadata);
        bson_t q = BSON_INITIALIZER, upd = BSON_INITIALIZER;
        BSON_APPEND_INT64(&q, "id", m->id);
        BCON_APPEND(&upd, "$set", "{", "search_text", BCON_UTF8(text), "}", "$unset", "{",
                    "unindexed", BCON_UTF8(""), "}");
        rc = smongo_update(c, SMONGO_MESSAGES, &q, &upd, false, NULL, NULL, e);
        bson_destroy(&upd);
        bson_destroy(&q);
        free(text);
    }
    if (rc == ERR_OK)
        *n = (int64_t)ms.n;
    store_messages_free(&ms);
    return rc;
}

err_code smongo_message_reindex(store_t *st, int limit, int64_t *done, err_t *e)
{
    int64_t n = limit;
    err_code rc = smongo_write(M(st), tx_message_reindex, &n, e);
    if (rc == ERR_OK)
        *done = n;
    return rc;
}
