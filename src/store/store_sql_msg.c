/* store/store_sql_msg.c — the SQL store's sessions and messages: create, get and
 * list sessions (pages with their total and each session's participants, one
 * snapshot), add messages (session touched, parent checked as the poster sees
 * it, index text stored, audit record in the same transaction; where the dialect
 * does it in one statement, that statement is in store_sql_write.c), list them
 * (filters, cursors, pages, visibility clauses), get one, and a thread.
 * Must not: decide visibility (the caller's store_vis does) or compute index
 * text inside a transaction (message_add does it before). */
#include <stdlib.h>
#include <string.h>
#include "store/store_sql_int.h"
#include "base/utc.h"

#define SESS_FIELDS \
    "s.id, s.purpose, s.created_by, s.metadata, s.is_active, s.created_at," \
    " s.updated_at, s.access,"
/* counts and participants come from visibility_counts (migration 0004), kept by triggers
 * with every change of messages: a few rows per session, never its messages */
#define SESS_COUNT \
    " (SELECT COALESCE(SUM(m.n), 0) FROM visibility_counts m WHERE m.session_id = s.id"
#define SESS_LAST \
    " COALESCE((SELECT MAX(m.created_at) FROM messages m WHERE m.session_id = s.id)," \
    " s.created_at)"
#define SESS_COLS SESS_FIELDS SESS_COUNT ")," SESS_LAST

static const char SQL_SESSION_INSERT[] =
    "INSERT INTO sessions (id, purpose, created_by, metadata, is_active, created_at,"
    " updated_at, access) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
static const char SQL_SESSION_GET[] = "SELECT " SESS_COLS " FROM sessions s WHERE s.id = ?";
static const char SQL_SESSION_HEAD[] =
    "SELECT " SESS_FIELDS " 0, NULL FROM sessions s WHERE s.id = ?";
static const char SQL_SESSION_EXISTS[] = "SELECT 1 FROM sessions WHERE id = ?";

/* ---- shapes ----------------------------------------------------------------------------- */

/* message_list: the rows or their count, filters, visibility, order and page. A count
 * without a bound on id or time is a sum of visibility_counts rows, under the same clauses
 * (session_id, sender, visibility, sender_type are its columns too). */
#define MQ_BOUNDS (MQ_SINCE | MQ_FROM | MQ_TO)
static const ssql_frag msg_list_head[] = {
    {MQ_COUNT | MQ_BOUNDS, MQ_COUNT,
     "SELECT COALESCE(SUM(n), 0) FROM visibility_counts WHERE session_id = ?"},
    {MQ_COUNT, 0, "SELECT " MSG_COLS " FROM messages WHERE session_id = ?"},
    {MQ_SINCE, MQ_SINCE, " AND id > ?"},
    {MQ_SENDER, MQ_SENDER, " AND sender = ?"},
    {MQ_FROM, MQ_FROM, " AND created_at >= ?"},
    {MQ_TO, MQ_TO, " AND created_at <= ?"}};
static const ssql_frag msg_list_tail[] = {
    {MQ_COUNT | MQ_DESC, 0, " ORDER BY id LIMIT ? OFFSET ?"},
    {MQ_COUNT | MQ_DESC, MQ_DESC, " ORDER BY id DESC LIMIT ? OFFSET ?"}};

static void build_msg_list(const store_sql *s, unsigned m, sbuf_t *b)
{
    if ((m & MQ_COUNT) && (m & MQ_BOUNDS))
        sbuf_puts(b, "SELECT COUNT(*) FROM messages WHERE session_id = ?");
    SSQL_PUT_FRAGS(b, m, msg_list_head);
    ssql_put_vis(s, b, m & (V_N - 1));
    SSQL_PUT_FRAGS(b, m, msg_list_tail);
}

static void build_msg_get(const store_sql *s, unsigned m, sbuf_t *b)
{
    sbuf_puts(b, "SELECT " MSG_COLS " FROM messages WHERE id = ?");
    ssql_put_vis(s, b, m);
}

/* message_get_many: one shape per visibility mask, always STORE_GET_MANY_MAX ids (the
 * unused places repeat the first id) */
static void build_msg_get_many(const store_sql *s, unsigned m, sbuf_t *b)
{
    sbuf_puts(b, "SELECT " MSG_COLS " FROM messages WHERE id IN (?");
    for (int i = 1; i < STORE_GET_MANY_MAX; i++)
        sbuf_puts(b, ", ?");
    sbuf_puts(b, ")");
    ssql_put_vis(s, b, m);
    sbuf_puts(b, " ORDER BY id");
}

/* Replies have larger ids than their parent (the parent exists first), so the
 * root is the first row when it is visible; it is read on every page (id = root), the
 * rest from the cursor on (id > since). */
static void build_msg_thread(const store_sql *s, unsigned m, sbuf_t *b)
{
    sbuf_puts(b, "WITH RECURSIVE thread (id) AS ("
                 "SELECT id FROM messages WHERE id = ?"
                 " UNION SELECT c.id FROM messages c JOIN thread t ON c.parent_message_id = t.id)"
                 " SELECT " MSG_COLS " FROM messages WHERE id IN (SELECT id FROM thread)"
                 " AND (id = ? OR id > ?)");
    ssql_put_vis(s, b, m);
    sbuf_puts(b, " ORDER BY id LIMIT ?");
}

/* session_list: the rows (each with the count of its visible messages) or COUNT(*),
 * filters (the session clause of store_vis on the sessions themselves: V_MEMBER), order
 * and page */
static const ssql_frag sess_list[] = {
    {SQ_COUNT, SQ_COUNT, "SELECT COUNT(*) FROM sessions s WHERE 1 = 1"},
    {SQ_CREATOR, SQ_CREATOR, " AND s.created_by = ?"},
    {SQ_ACTIVE, SQ_ACTIVE, " AND s.is_active = ?"}};

static void build_sess_list(const store_sql *s, unsigned m, sbuf_t *b)
{
    if (!(m & SQ_COUNT)) {
        sbuf_puts(b, "SELECT " SESS_FIELDS SESS_COUNT);
        ssql_put_vis(s, b, m & (V_N - 1) & ~V_MEMBER);
        sbuf_puts(b, ")," SESS_LAST " FROM sessions s WHERE 1 = 1");
    }
    SSQL_PUT_FRAGS(b, m, sess_list);
    if (m & V_MEMBER)
        ssql_put_member(s, b);
    if (!(m & SQ_COUNT))
        sbuf_puts(b, " ORDER BY s.updated_at DESC, s.id LIMIT ? OFFSET ?");
}

/* the distinct senders of a session's visible messages */
static void build_sess_parts(const store_sql *s, unsigned m, sbuf_t *b)
{
    sbuf_puts(b, "SELECT DISTINCT sender FROM visibility_counts WHERE session_id = ? AND n > 0");
    ssql_put_vis(s, b, m);
    sbuf_puts(b, " ORDER BY sender");
}

/* ---- records ---------------------------------------------------------------------------- */

static const ssql_field message_fields[] = {SSQL_FIELD(store_message, id, INT),
                                            SSQL_FIELD(store_message, session_id, TEXT),
                                            SSQL_FIELD(store_message, sender, TEXT),
                                            SSQL_FIELD(store_message, sender_type, TEXT),
                                            SSQL_FIELD(store_message, content, TEXT),
                                            SSQL_FIELD(store_message, visibility, VIS),
                                            SSQL_FIELD(store_message, message_type, TEXT),
                                            SSQL_FIELD(store_message, metadata, JSON),
                                            SSQL_FIELD(store_message, parent_id, INT_OPT),
                                            SSQL_FIELD(store_message, created_at, TIME)};
const ssql_rec ssql_message_rec = SSQL_REC(store_message, message_fields, NULL);

static const ssql_field session_fields[] = {
    SSQL_FIELD(store_session, id, TEXT),           SSQL_FIELD(store_session, purpose, TEXT),
    SSQL_FIELD(store_session, created_by, TEXT),   SSQL_FIELD(store_session, metadata, JSON),
    SSQL_FIELD(store_session, is_active, BOOL),    SSQL_FIELD(store_session, created_at, TIME),
    SSQL_FIELD(store_session, updated_at, TIME),   SSQL_FIELD(store_session, access, JSON),
    SSQL_FIELD(store_session, message_count, INT), SSQL_FIELD(store_session, last_activity, TIME)};

static void clear_session(void *rec)
{
    store_session_clear(rec); /* the participants too */
}

static const ssql_rec session_rec = SSQL_REC(store_session, session_fields, clear_session);

static const ssql_field text_field[] = {{0, SSQL_TEXT}};
static const ssql_rec text_rec = SSQL_REC(char *, text_field, NULL);

err_code ssql_need_session(store_sql *s, db_conn *c, const char *id, err_t *e)
{
    bool found = false;
    const db_param p[] = {DB_TEXT(id)};
    err_code rc = c ? ssql_get_one(c, SQL_SESSION_EXISTS, p, 1, NULL, NULL, &found, e)
                    : ssql_read_one(s, SQL_SESSION_EXISTS, p, 1, NULL, NULL, &found, e);
    return rc == ERR_OK && !found ? store_err_no_session(e, id) : rc;
}

/* ---- pages: session_list, message_list ---------------------------------------------------- */

/* A page of records and, when total is given, the count of all of them: count
 * takes the parameters but the first count_skip and the last two (LIMIT, OFFSET).
 * each (may be NULL) runs on every record read, with each_ud, in the same snapshot. */
typedef struct page {
    const char *count, *list;
    const db_param *p;
    size_t n;
    const ssql_rec *k;
    void **v;
    size_t *nv;
    int64_t *total;
    err_code (*each)(db_conn *c, void *rec, const void *ud, err_t *e);
    const void *each_ud;
    size_t count_skip;
} page;

static err_code rd_page(db_conn *c, void *arg, err_t *e)
{
    page *x = arg;
    err_code rc = x->total ? db_query_int64(c, x->count, x->p + x->count_skip,
                                            x->n - 2 - x->count_skip, x->total, e)
                           : ERR_OK;
    if (rc == ERR_OK)
        rc = ssql_get_list(c, x->list, x->p, x->n, x->k, x->v, x->nv, e);
    for (size_t i = 0; x->each && rc == ERR_OK && i < *x->nv; i++)
        rc = x->each(c, (char *)*x->v + i * x->k->size, x->each_ud, e);
    return rc;
}

/* The page; several statements read one snapshot. */
static err_code read_page(store_sql *s, page *x, err_t *e)
{
    return x->total || x->each ? ssql_run_snapshot(s, rd_page, x, e)
                               : ssql_run_read(s, rd_page, x, e);
}

/* ---- sessions --------------------------------------------------------------------------- */

err_code ssql_session_create(store_t *st, const store_session *in, const store_audit_in *audit,
                             err_t *e)
{
    utc_us created = in->created_at ? in->created_at : utc_now();
    store_audit_rec r = {{0}, NULL};
    err_code rc =
        ssql_write(S(st), SQL_SESSION_INSERT, NULL,
                   DB_ARGS(DB_TEXT(in->id), DB_TEXT(in->purpose), DB_TEXT(in->created_by),
                           DB_JSON(in->metadata), DB_BOOL(in->is_active), DB_TIME(created),
                           DB_TIME(in->updated_at ? in->updated_at : created), DB_JSON(in->access)),
                   audit ? &store_audit_session(&r, audit, in)->in : NULL, NULL, e);
    store_audit_rec_free(&r);
    return rc == ERR_UNIQUE ? store_err_session_exists(e, in->id) : rc;
}

/* One session by id (sql: SQL_SESSION_GET or SQL_SESSION_HEAD). */
static err_code session_by_id(store_t *st, const char *sql, const char *id, store_session *out,
                              err_t *e)
{
    bool found = false;
    err_code rc = ssql_read_one(S(st), sql, DB_ARGS(DB_TEXT(id)), &session_rec, out, &found, e);
    return rc == ERR_OK && !found ? store_err_no_session(e, id) : rc;
}

err_code ssql_session_get(store_t *st, const char *id, store_session *out, err_t *e)
{
    return session_by_id(st, SQL_SESSION_GET, id, out, e);
}

err_code ssql_session_head(store_t *st, const char *id, store_session *out, err_t *e)
{
    return session_by_id(st, SQL_SESSION_HEAD, id, out, e);
}

typedef struct parts_ctx {
    store_sql *s;
    const store_vis *vis;
} parts_ctx;

static err_code read_participants(db_conn *c, void *rec, const void *ud, err_t *e)
{
    const parts_ctx *x = ud;
    store_session *ss = rec;
    unsigned vm = ssql_vis_mask(x->vis) & ~V_MEMBER; /* the session admits the reader */
    db_param p[1 + SSQL_VIS_PARAMS] = {DB_TEXT(ss->id)};
    size_t n = 1 + ssql_vis_params(p + 1, x->vis, vm);
    return ssql_get_list(c, ssql_shape(x->s, &x->s->sess_parts[vm], build_sess_parts, vm), p, n,
                         &text_rec, (void **)&ss->participants, &ss->nparticipants, e);
}

err_code ssql_session_list(store_t *st, const store_session_query *q, store_sessions *out,
                           int64_t *total, err_t *e)
{
    store_sql *s = S(st);
    unsigned vm = ssql_vis_mask(&q->vis);
    unsigned m =
        (q->created_by ? SQ_CREATOR : 0) | (q->active_only ? SQ_ACTIVE : 0) | (vm & V_MEMBER);
    db_param p[4 + 2 * SSQL_VIS_PARAMS];
    /* the counts' visibility, then the filters, the session clause, the page */
    size_t n = ssql_vis_params(p, &q->vis, vm & ~V_MEMBER), skip = n;
    if (q->created_by)
        p[n++] = DB_TEXT(q->created_by);
    if (q->active_only)
        p[n++] = DB_BOOL(true);
    if (vm & V_MEMBER)
        n += ssql_member_params(p + n, &q->vis);
    p[n++] = DB_INT(q->limit);
    p[n++] = DB_INT(q->offset);
    const char *count = ssql_shape(s, &s->sess_list[m | SQ_COUNT], build_sess_list, m | SQ_COUNT);
    const char *list = ssql_shape(s, &s->sess_list[m | vm], build_sess_list, m | vm);
    parts_ctx pc = {s, &q->vis};
    page x = {count, list, p, n, &session_rec, (void **)&out->v, &out->n, total, read_participants,
              &pc,   skip};
    return read_page(s, &x, e);
}

/* ---- messages --------------------------------------------------------------------------- */

typedef struct {
    store_sql *s;
    store_message *m; /* id and created_at filled by the transaction */
    const store_audit_in *audit;
    const char *search_text;  /* the message's index text, or NULL (store.h) */
    const char *search_grams; /* MySQL: its FULLTEXT words (ssql_grams) */
} msg_add_ctx;

/* The statement of message_get (slots, build) for message id
 * under vis, and its parameters p (n of them). */
static const char *by_id(store_sql *s, _Atomic(char *) *slots, shape_build_fn build, int64_t id,
                         const store_vis *vis, db_param p[1 + SSQL_VIS_PARAMS], size_t *n)
{
    unsigned vm = ssql_vis_mask(vis);
    p[0] = DB_INT(id);
    *n = 1 + ssql_vis_params(p + 1, vis, vm);
    return ssql_shape(s, &slots[vm], build, vm);
}

/* The parent as the poster sees it (message_get's statement), in m's session. */
static err_code parent_check(db_conn *c, store_sql *s, const store_message *m, err_t *e)
{
    db_param p[1 + SSQL_VIS_PARAMS];
    size_t n;
    const char *sql = by_id(s, s->msg_get, build_msg_get, m->parent_id, m->parent_vis, p, &n);
    store_message parent = {0};
    bool found = false;
    err_code rc = ssql_get_one(c, sql, p, n, &ssql_message_rec, &parent, &found, e);
    if (rc == ERR_OK && !found)
        rc = store_err_no_parent(e, m->parent_id);
    else if (rc == ERR_OK && strcmp(parent.session_id, m->session_id) != 0)
        rc = store_err_bad_parent(e, m->parent_id, m->session_id);
    store_message_clear(&parent);
    return rc;
}

static err_code tx_message_add(db_conn *c, void *arg, err_t *e)
{
    msg_add_ctx *x = arg;
    store_message *m = x->m;
    const store_sql_dialect *d = x->s->d;
    /* Taken inside the write transaction: where the touch can wait for the session's
     * lock, created_at comes from the touch instead (msg_insert). */
    utc_us now = utc_now();
    int64_t touched = 0;
    err_code rc =
        db_exec_params(c, d->msg_touch, DB_ARGS(DB_TIME(now), DB_TEXT(m->session_id)), &touched, e);
    if (rc == ERR_OK && touched == 0)
        rc = store_err_no_session(e, m->session_id);
    if (rc == ERR_OK && m->parent_id)
        rc = parent_check(c, x->s, m, e);
    if (rc != ERR_OK)
        return rc;
    db_param p[11];
    size_t n = ssql_msg_params(p, m, now, x->search_text, d->search_grams, x->search_grams);
    bool returned = false;
    m->id = 0;
    if ((rc = db_query_one(c, d->msg_insert, p, n, ssql_read_id_time, m, &returned, e)) != ERR_OK)
        return rc;
    if (!returned) {
        m->id = db_last_insert_id(c);
        m->created_at = now;
    }
    if (m->id == 0)
        return err_set(e, ERR_INTERNAL, "store: INSERT INTO messages gave no id");
    if (!x->audit)
        return ERR_OK;
    store_audit_rec r;
    rc = ssql_audit(c, &store_audit_message(&r, x->audit, m, m->id)->in, e);
    store_audit_rec_free(&r);
    return rc;
}

/* The parent as the poster sees it, checked before a one-statement add (messages
 * never change: what is checked stays true until the write); a missing session is
 * reported first, as the transaction path does. */
static err_code rd_parent_check(db_conn *c, void *arg, err_t *e)
{
    msg_add_ctx *x = arg;
    err_code rc = parent_check(c, x->s, x->m, e);
    err_t se;
    if (rc == ERR_INVALID && ssql_need_session(x->s, c, x->m->session_id, &se) == ERR_NOTFOUND) {
        *e = se;
        rc = ERR_NOTFOUND;
    }
    return rc;
}

err_code ssql_message_add(store_t *st, store_message *m, const store_audit_in *audit, err_t *e)
{
    /* the index text is computed before the transaction (it is pure C work) */
    char *stext = store_index_text(st, m->sender, m->content, strlen(m->content), m->metadata);
    char *grams = stext && S(st)->d->search_grams ? ssql_grams(stext) : NULL;
    msg_add_ctx x = {S(st), m, audit, stext, grams};
    err_code rc;
    if (!S(st)->d->msg_add_one)
        rc = ssql_run_write(S(st), tx_message_add, &x, e);
    else if ((rc = m->parent_id ? ssql_run_read(S(st), rd_parent_check, &x, e) : ERR_OK) == ERR_OK)
        rc = ssql_message_add_one(S(st), m, audit, stext, e);
    free(grams);
    free(stext);
    return rc;
}

err_code ssql_message_list(store_t *st, const store_msg_query *q, store_messages *out,
                           int64_t *total, err_t *e)
{
    store_sql *s = S(st);
    unsigned m = ssql_vis_mask(&q->vis) | (q->since_id > 0 ? MQ_SINCE : 0) |
                 (q->sender ? MQ_SENDER : 0) | (q->from ? MQ_FROM : 0) | (q->to ? MQ_TO : 0);
    db_param p[7 + SSQL_VIS_PARAMS];
    size_t n = 0;
    p[n++] = DB_TEXT(q->session_id);
    if (m & MQ_SINCE)
        p[n++] = DB_INT(q->since_id);
    if (m & MQ_SENDER)
        p[n++] = DB_TEXT(q->sender);
    if (m & MQ_FROM)
        p[n++] = DB_TIME(q->from);
    if (m & MQ_TO)
        p[n++] = DB_TIME(q->to);
    n += ssql_vis_params(p + n, &q->vis, m);
    p[n++] = DB_INT(q->limit);
    p[n++] = DB_INT(q->offset);
    unsigned ml = m | (q->newest_first ? MQ_DESC : 0);
    const char *count = ssql_shape(s, &s->msg_list[m | MQ_COUNT], build_msg_list, m | MQ_COUNT);
    const char *list = ssql_shape(s, &s->msg_list[ml], build_msg_list, ml);
    page x = {count, list, p,    n, &ssql_message_rec, (void **)&out->v, &out->n,
              total, NULL, NULL, 0};
    err_code rc = read_page(s, &x, e);
    /* Nothing found: tell an empty session from a missing one. */
    if (rc == ERR_OK && out->n == 0 && (!total || *total == 0))
        rc = ssql_need_session(s, NULL, q->session_id, e);
    return rc;
}

err_code ssql_message_get(store_t *st, int64_t id, const store_vis *vis, store_message *out,
                          err_t *e)
{
    db_param p[1 + SSQL_VIS_PARAMS];
    size_t n;
    const char *sql = by_id(S(st), S(st)->msg_get, build_msg_get, id, vis, p, &n);
    bool found = false;
    err_code rc = ssql_read_one(S(st), sql, p, n, &ssql_message_rec, out, &found, e);
    return rc == ERR_OK && !found ? store_err_no_message(e, id) : rc;
}

err_code ssql_message_get_many(store_t *st, const int64_t *ids, size_t n, const store_vis *vis,
                               store_messages *out, err_t *e)
{
    unsigned vm = ssql_vis_mask(vis);
    db_param p[STORE_GET_MANY_MAX + SSQL_VIS_PARAMS];
    for (size_t i = 0; i < STORE_GET_MANY_MAX; i++)
        p[i] = DB_INT(ids[i < n ? i : 0]);
    size_t np = STORE_GET_MANY_MAX + ssql_vis_params(p + STORE_GET_MANY_MAX, vis, vm);
    const char *sql = ssql_shape(S(st), &S(st)->msg_get_many[vm], build_msg_get_many, vm);
    return ssql_read_list(S(st), sql, p, np, &ssql_message_rec, (void **)&out->v, &out->n, e);
}

err_code ssql_message_thread(store_t *st, const store_thread_query *q, store_messages *out,
                             err_t *e)
{
    unsigned vm = ssql_vis_mask(q->vis);
    /* the root comes first on every page (store_thread_page_done) */
    bool skip_root = q->since_id >= q->root_id;
    db_param p[4 + SSQL_VIS_PARAMS] = {DB_INT(q->root_id), DB_INT(q->root_id), DB_INT(q->since_id)};
    size_t n = 3 + ssql_vis_params(p + 3, q->vis, vm);
    p[n++] = DB_INT((int64_t)q->limit + (skip_root ? 1 : 0));
    const char *sql = ssql_shape(S(st), &S(st)->msg_thread[vm], build_msg_thread, vm);
    err_code rc = ssql_read_list(S(st), sql, p, n, &ssql_message_rec, (void **)&out->v, &out->n, e);
    return store_thread_page_done(q, out, rc, e);
}
