/* store/store_sql.c — the store interface (store.h) over db/, for every SQL
 * dialect: sessions, messages (visibility, cursors, pages, threads), agent
 * memory (scopes, TTL, literal prefixes), audit log, protected tokens and
 * revoked JWT ids, a whole-database iterator, and the bulk import used by
 * copy/import (rows kept as given, existing keys skipped, sequences moved on). Writes run in db_tx_run
 * transactions (retried on transient classes) with their audit record; reads
 * borrow a connection for one statement or run in a read transaction when they
 * need a consistent snapshot. Statements are static strings, or built once per
 * query shape from fixed fragments and kept for the life of the store, so the
 * per-connection prepared-statement cache serves every call.
 * Must not: decide visibility or permissions (the caller's store_vis says what
 * is visible), write dialect-specific SQL outside the catalogue in
 * store_sql_dialect.c, or edit SQL strings per call. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "store/store_sql.h"
#include "store/store_sql_dialect.h"
#include "store/store_sql_int.h"
#include "base/sbuf.h"
#include "base/utc.h"

/* ---- statements the same in every dialect ---------------------------------------- */

#define SESS_COLS \
    "s.id, s.purpose, s.created_by, s.metadata, s.is_active, s.created_at," \
    " s.updated_at," \
    " (SELECT COUNT(*) FROM messages m WHERE m.session_id = s.id)," \
    " (SELECT MAX(m.created_at) FROM messages m WHERE m.session_id = s.id)"
#define AUDIT_COLS "id, created_at, event_type, agent_id, session_id, resource, metadata"
#define TOKEN_COLS "token_id, jwt, agent_id, agent_type, created_at, expires_at"

static const char SQL_SESSION_INSERT[] =
    "INSERT INTO sessions (id, purpose, created_by, metadata, is_active, created_at,"
    " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)";
static const char SQL_SESSION_GET[] = "SELECT " SESS_COLS " FROM sessions s WHERE s.id = ?";
static const char SQL_SESSION_TOUCH[] = "UPDATE sessions SET updated_at = ? WHERE id = ?";
static const char SQL_SESSION_EXISTS[] = "SELECT 1 FROM sessions WHERE id = ?";
static const char SQL_PARTICIPANTS[] =
    "SELECT DISTINCT sender FROM messages WHERE session_id = ? ORDER BY sender";
static const char SQL_AUDIT_INSERT[] =
    "INSERT INTO audit_log (created_at, event_type, agent_id, session_id, resource,"
    " metadata) VALUES (?, ?, ?, ?, ?, ?)";
static const char SQL_AUDIT_PURGE[] = "DELETE FROM audit_log WHERE created_at < ?";
static const char SQL_MEM_SWEEP[] =
    "DELETE FROM agent_memory WHERE expires_at IS NOT NULL AND expires_at <= ?";
static const char SQL_TOKEN_INSERT[] =
    "INSERT INTO secure_tokens (" TOKEN_COLS ") VALUES (?, ?, ?, ?, ?, ?)";
static const char SQL_TOKEN_GET[] = "SELECT " TOKEN_COLS " FROM secure_tokens WHERE token_id = ?";
static const char SQL_TOKEN_DELETE[] = "DELETE FROM secure_tokens WHERE token_id = ?";
static const char SQL_TOKEN_PURGE[] = "DELETE FROM secure_tokens WHERE expires_at <= ?";
static const char SQL_JTI_PURGE[] = "DELETE FROM revoked_jtis WHERE expires_at <= ?";
static const char SQL_JTI_GET[] = "SELECT 1 FROM revoked_jtis WHERE jti = ?";

/* The SQL text of one shape, built on first use and kept until store_close. */
const char *ssql_shape(store_sql *s, _Atomic(char *) *slot, shape_build_fn build, unsigned mask)
{
    char *p = atomic_load_explicit(slot, memory_order_acquire);
    if (p)
        return p;
    pthread_mutex_lock(&s->mu);
    p = atomic_load_explicit(slot, memory_order_relaxed);
    if (!p) {
        sbuf_t b = SBUF_INIT;
        build(s, mask, &b);
        p = sbuf_detach(&b);
        atomic_store_explicit(slot, p, memory_order_release);
    }
    pthread_mutex_unlock(&s->mu);
    return p;
}

static void free_shapes(_Atomic(char *) *slots, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(atomic_load_explicit(&slots[i], memory_order_relaxed));
}

unsigned ssql_vis_mask(const store_vis *v)
{
    return v->any | (v->private_of ? V_PRIVATE_OF : 0) | (v->agent_only_of ? V_AGENT_OF : 0);
}

/* " AND (clause OR clause ...)": each store_vis clause one predicate; nothing when
 * every visibility is matched for any sender. */
void ssql_put_vis(sbuf_t *b, unsigned vm)
{
    if ((vm & STORE_VIS_EVERY) == STORE_VIS_EVERY)
        return;
    const char *sep = "";
    sbuf_puts(b, " AND (");
    for (unsigned v = 0; v < STORE_VIS_COUNT; v++)
        if (vm & STORE_VIS_BIT(v)) {
            sbuf_printf(b, "%svisibility = '%s'", sep, store_visibility_name((store_visibility)v));
            sep = " OR ";
        }
    if (vm & V_PRIVATE_OF) {
        sbuf_printf(b, "%s(visibility = '%s' AND sender = ?)", sep,
                    store_visibility_name(STORE_VIS_PRIVATE));
        sep = " OR ";
    }
    if (vm & V_AGENT_OF) {
        sbuf_printf(b, "%s(visibility = '%s' AND sender_type = ?)", sep,
                    store_visibility_name(STORE_VIS_AGENT_ONLY));
        sep = " OR ";
    }
    if (!*sep)
        sbuf_puts(b, "1 = 0");
    sbuf_putc(b, ')');
}

/* Binds put_vis's parameters from index i; returns the next index. */
int ssql_bind_vis(db_stmt *st, int i, const store_vis *v, unsigned vm)
{
    if (vm & V_PRIVATE_OF)
        db_bind_text(st, i++, v->private_of, -1);
    if (vm & V_AGENT_OF)
        db_bind_text(st, i++, v->agent_only_of, -1);
    return i;
}

static void build_msg_list(const store_sql *s, unsigned m, sbuf_t *b)
{
    (void)s;
    sbuf_puts(b, (m & MQ_COUNT) ? "SELECT COUNT(*)" : "SELECT " MSG_COLS);
    sbuf_puts(b, " FROM messages WHERE session_id = ?");
    if (m & MQ_SINCE)
        sbuf_puts(b, " AND id > ?");
    if (m & MQ_SENDER)
        sbuf_puts(b, " AND sender = ?");
    if (m & MQ_FROM)
        sbuf_puts(b, " AND created_at >= ?");
    if (m & MQ_TO)
        sbuf_puts(b, " AND created_at <= ?");
    ssql_put_vis(b, m & (V_N - 1));
    if (!(m & MQ_COUNT)) {
        sbuf_puts(b, (m & MQ_DESC) ? " ORDER BY id DESC" : " ORDER BY id");
        sbuf_puts(b, " LIMIT ? OFFSET ?");
    }
}

static void build_msg_get(const store_sql *s, unsigned m, sbuf_t *b)
{
    (void)s;
    sbuf_puts(b, "SELECT " MSG_COLS " FROM messages WHERE id = ?");
    ssql_put_vis(b, m);
}

/* Replies have larger ids than their parent (the parent exists first), so the
 * root is the first row when it is visible. */
static void build_msg_thread(const store_sql *s, unsigned m, sbuf_t *b)
{
    (void)s;
    sbuf_puts(b, "WITH RECURSIVE thread (id) AS ("
                 "SELECT id FROM messages WHERE id = ?"
                 " UNION SELECT c.id FROM messages c JOIN thread t ON c.parent_message_id = t.id)"
                 " SELECT " MSG_COLS " FROM messages WHERE id IN (SELECT id FROM thread)");
    ssql_put_vis(b, m);
    sbuf_puts(b, " ORDER BY id");
}

static void build_sess_list(const store_sql *s, unsigned m, sbuf_t *b)
{
    (void)s;
    sbuf_puts(b, (m & SQ_COUNT) ? "SELECT COUNT(*)" : "SELECT " SESS_COLS);
    sbuf_puts(b, " FROM sessions s WHERE 1 = 1");
    if (m & SQ_CREATOR)
        sbuf_puts(b, " AND s.created_by = ?");
    if (m & SQ_ACTIVE)
        sbuf_puts(b, " AND s.is_active = ?");
    if (!(m & SQ_COUNT))
        sbuf_puts(b, " ORDER BY s.updated_at DESC, s.id LIMIT ? OFFSET ?");
}

static void build_mem_list(const store_sql *s, unsigned m, sbuf_t *b)
{
    sbuf_printf(b, "SELECT %s FROM agent_memory WHERE agent_id = ?", s->d->mem_cols);
    switch (m & ML_SCOPE) {
    case STORE_MEM_GLOBAL: sbuf_puts(b, " AND session_id IS NULL"); break;
    case STORE_MEM_SESSION: sbuf_puts(b, " AND session_id = ?"); break;
    default: break;
    }
    if (m & ML_RANGE)
        sbuf_puts(b, s->d->key_range);
    else if (m & ML_FROM)
        sbuf_puts(b, s->d->key_from);
    sbuf_printf(b,
                " AND (expires_at IS NULL OR expires_at > ?)"
                " ORDER BY %s, CASE WHEN session_id IS NULL THEN 0 ELSE 1 END, session_id"
                " LIMIT ?",
                s->d->key_cmp);
}

static void build_audit_list(const store_sql *s, unsigned m, sbuf_t *b)
{
    (void)s;
    sbuf_puts(b, "SELECT " AUDIT_COLS " FROM audit_log WHERE 1 = 1");
    if (m & AQ_SESSION)
        sbuf_puts(b, " AND session_id = ?");
    if (m & AQ_AGENT)
        sbuf_puts(b, " AND agent_id = ?");
    if (m & AQ_EVENT)
        sbuf_puts(b, " AND event_type = ?");
    sbuf_puts(b, " ORDER BY id DESC LIMIT ?");
}

/* ---- small helpers ----------------------------------------------------------------- */

/* The store's error contract: argument-caused constraint failures are invalid input. */
static err_code finish(err_code rc, err_t *e)
{
    if (rc == ERR_CONSTRAINT) {
        if (e)
            e->code = ERR_INVALID;
        return ERR_INVALID;
    }
    return rc;
}

/* Steps a statement that returns no rows; ERR_OK on DB_DONE. */
static err_code step_done(db_stmt *st, err_t *e)
{
    int r = db_step(st, e);
    if (r == DB_DONE)
        return ERR_OK;
    if (r == DB_ROW)
        return err_set(e, ERR_INTERNAL, "store: statement returned an unexpected row");
    return (err_code)r;
}

/* Steps a bound write statement to DONE, reports the rows changed, finishes it. */
err_code ssql_exec_changes(db_stmt *st, int64_t *changes, err_t *e)
{
    err_code rc = step_done(st, e);
    if (changes)
        *changes = rc == ERR_OK ? db_changes(st) : 0;
    db_stmt_done(st);
    return rc;
}

static char *col_dup(db_stmt *st, int i)
{
    size_t n = 0;
    const char *p = db_col_text(st, i, &n);
    return p ? xstrndup(p, n) : NULL;
}

static char *col_json_dup(db_stmt *st, int i)
{
    size_t n = 0;
    const char *p = db_col_json(st, i, &n);
    return p ? xstrndup(p, n) : NULL;
}

/* Appends a zeroed element to a (v, n) list with capacity *cap. */

void ssql_read_message(db_stmt *st, store_message *m)
{
    m->id = db_col_int64(st, 0);
    m->session_id = col_dup(st, 1);
    m->sender = col_dup(st, 2);
    m->sender_type = col_dup(st, 3);
    m->content = col_dup(st, 4);
    size_t vn = 0;
    const char *vt = db_col_text(st, 5, &vn);
    m->visibility = store_visibility_stored(vt, vn);
    m->message_type = col_dup(st, 6);
    m->metadata = col_json_dup(st, 7);
    m->parent_id = db_col_null(st, 8) ? 0 : db_col_int64(st, 8);
    m->created_at = db_col_time(st, 9);
}

static void read_session(db_stmt *st, store_session *s)
{
    s->id = col_dup(st, 0);
    s->purpose = col_dup(st, 1);
    s->created_by = col_dup(st, 2);
    s->metadata = col_json_dup(st, 3);
    s->is_active = db_col_bool(st, 4);
    s->created_at = db_col_time(st, 5);
    s->updated_at = db_col_time(st, 6);
    s->message_count = db_col_int64(st, 7);
    s->last_activity = db_col_null(st, 8) ? s->created_at : db_col_time(st, 8);
}

static void read_memory(db_stmt *st, store_memory *m)
{
    m->agent_id = col_dup(st, 0);
    m->session_id = col_dup(st, 1);
    m->key = col_dup(st, 2);
    m->value = col_json_dup(st, 3);
    m->metadata = col_json_dup(st, 4);
    m->created_at = db_col_time(st, 5);
    m->updated_at = db_col_time(st, 6);
    m->expires_at = db_col_time(st, 7);
}

static void read_audit(db_stmt *st, store_audit *a)
{
    a->id = db_col_int64(st, 0);
    a->at = db_col_time(st, 1);
    a->event_type = col_dup(st, 2);
    a->agent_id = col_dup(st, 3);
    a->session_id = col_dup(st, 4);
    a->resource = col_dup(st, 5);
    a->metadata = col_json_dup(st, 6);
}

static void read_token(db_stmt *st, store_token *t)
{
    t->token_id = col_dup(st, 0);
    t->jwt = col_dup(st, 1);
    t->agent_id = col_dup(st, 2);
    t->agent_type = col_dup(st, 3);
    t->created_at = db_col_time(st, 4);
    t->expires_at = db_col_time(st, 5);
}

/* Binds an optional time: 0 -> NULL. */
static void bind_time_opt(db_stmt *st, int i, utc_us t)
{
    if (t)
        db_bind_time(st, i, t);
    else
        db_bind_null(st, i);
}

err_code ssql_run_read(store_sql *s, read_fn fn, void *arg, err_t *e)
{
    err_code rc = ERR_OK;
    for (int attempt = 0; attempt < 3; attempt++) {
        db_conn *c = NULL;
        rc = db_acquire(s->db, DB_READ, &c, e);
        if (rc == ERR_OK) {
            rc = fn(c, arg, e);
            db_release(c);
        }
        if (!err_retryable(rc))
            break;
    }
    return finish(rc, e);
}

/* Several statements that must agree (a page and its total): a read transaction. */
static err_code run_snapshot(store_sql *s, read_fn fn, void *arg, err_t *e)
{
    return finish(db_tx_run(s->db, DB_READ, fn, arg, e), e);
}

err_code ssql_run_write(store_sql *s, db_tx_fn fn, void *arg, err_t *e)
{
    return finish(db_tx_run(s->db, DB_WRITE, fn, arg, e), e);
}

/* Appends the audit record r (defaults filled, store_backend.h) and frees it. */
static err_code audit_insert(db_conn *c, store_audit_rec *r, err_t *e)
{
    db_stmt *st;
    err_code rc = db_prepare(c, SQL_AUDIT_INSERT, &st, e);
    if (rc == ERR_OK) {
        db_bind_time(st, 1, utc_now());
        db_bind_text(st, 2, r->in.event_type, -1);
        db_bind_text(st, 3, r->in.agent_id, -1);
        db_bind_text(st, 4, r->in.session_id, -1);
        db_bind_text(st, 5, r->in.resource, -1);
        db_bind_json(st, 6, r->in.metadata, -1);
        rc = ssql_exec_changes(st, NULL, e);
    }
    store_audit_rec_free(r);
    return rc;
}

err_code ssql_session_exists(db_conn *c, const char *id, bool *exists, err_t *e)
{
    db_stmt *st;
    err_code rc = db_prepare(c, SQL_SESSION_EXISTS, &st, e);
    if (rc != ERR_OK)
        return rc;
    db_bind_text(st, 1, id, -1);
    int r = db_step(st, e);
    db_stmt_done(st);
    if (r != DB_ROW && r != DB_DONE)
        return (err_code)r;
    *exists = r == DB_ROW;
    return ERR_OK;
}

/* ---- sessions ------------------------------------------------------------------------ */

typedef struct {
    const store_session *in;
    const store_audit_in *audit;
} sess_create_ctx;

static err_code tx_session_create(db_conn *c, void *arg, err_t *e)
{
    sess_create_ctx *x = arg;
    const store_session *in = x->in;
    utc_us now = utc_now();
    utc_us created = in->created_at ? in->created_at : now;
    db_stmt *st;
    err_code rc = db_prepare(c, SQL_SESSION_INSERT, &st, e);
    if (rc != ERR_OK)
        return rc;
    db_bind_text(st, 1, in->id, -1);
    db_bind_text(st, 2, in->purpose, -1);
    db_bind_text(st, 3, in->created_by, -1);
    db_bind_json(st, 4, in->metadata, -1);
    db_bind_bool(st, 5, in->is_active);
    db_bind_time(st, 6, created);
    db_bind_time(st, 7, in->updated_at ? in->updated_at : created);
    rc = ssql_exec_changes(st, NULL, e);
    if (rc == ERR_UNIQUE)
        return store_err_session_exists(e, in->id);
    if (rc != ERR_OK || !x->audit)
        return rc;
    store_audit_rec r;
    return audit_insert(c, store_audit_session(&r, x->audit, in), e);
}

static err_code sql_session_create(store_t *st, const store_session *in,
                                   const store_audit_in *audit, err_t *e)
{
    ERR_LOCAL(e);
    sess_create_ctx x = {in, audit};
    return ssql_run_write(S(st), tx_session_create, &x, e);
}

typedef struct {
    const char *id;
    store_session *out;
} sess_get_ctx;

static err_code rd_session_get(db_conn *c, void *arg, err_t *e)
{
    sess_get_ctx *x = arg;
    store_session_clear(x->out);
    db_stmt *st;
    err_code rc = db_prepare(c, SQL_SESSION_GET, &st, e);
    if (rc != ERR_OK)
        return rc;
    db_bind_text(st, 1, x->id, -1);
    int r = db_step(st, e);
    if (r == DB_ROW)
        read_session(st, x->out);
    db_stmt_done(st);
    if (r == DB_DONE)
        return store_err_no_session(e, x->id);
    return r == DB_ROW ? ERR_OK : (err_code)r;
}

static err_code sql_session_get(store_t *st, const char *id, store_session *out, err_t *e)
{
    ERR_LOCAL(e);
    sess_get_ctx x = {id, out};
    return ssql_run_read(S(st), rd_session_get, &x, e);
}

typedef struct {
    store_sql *s;
    const store_session_query *q;
    store_sessions *out;
    int64_t *total;
} sess_list_ctx;

static err_code rd_session_list(db_conn *c, void *arg, err_t *e)
{
    sess_list_ctx *x = arg;
    const store_session_query *q = x->q;
    store_sessions_free(x->out);
    unsigned m = (q->created_by ? SQ_CREATOR : 0) | (q->active_only ? SQ_ACTIVE : 0);
    db_stmt *st;
    err_code rc;
    int r;

    if (x->total) {
        rc = db_prepare(
            c, ssql_shape(x->s, &x->s->sess_list[m | SQ_COUNT], build_sess_list, m | SQ_COUNT), &st,
            e);
        if (rc != ERR_OK)
            return rc;
        int i = 1;
        if (m & SQ_CREATOR)
            db_bind_text(st, i++, q->created_by, -1);
        if (m & SQ_ACTIVE)
            db_bind_bool(st, i++, true);
        r = db_step(st, e);
        if (r == DB_ROW)
            *x->total = db_col_int64(st, 0);
        db_stmt_done(st);
        if (r != DB_ROW)
            return r == DB_DONE ? err_set(e, ERR_INTERNAL, "store: COUNT returned no row")
                                : (err_code)r;
    }

    rc = db_prepare(c, ssql_shape(x->s, &x->s->sess_list[m], build_sess_list, m), &st, e);
    if (rc != ERR_OK)
        return rc;
    int i = 1;
    if (m & SQ_CREATOR)
        db_bind_text(st, i++, q->created_by, -1);
    if (m & SQ_ACTIVE)
        db_bind_bool(st, i++, true);
    db_bind_int64(st, i++, q->limit);
    db_bind_int64(st, i++, q->offset);
    size_t cap = 0;
    while ((r = db_step(st, e)) == DB_ROW)
        read_session(st, store_list_push((void **)&x->out->v, &x->out->n, &cap, sizeof *x->out->v));
    db_stmt_done(st);
    if (r != DB_DONE)
        return (err_code)r;

    for (size_t k = 0; k < x->out->n; k++) {
        store_session *s = &x->out->v[k];
        rc = db_prepare(c, SQL_PARTICIPANTS, &st, e);
        if (rc != ERR_OK)
            return rc;
        db_bind_text(st, 1, s->id, -1);
        size_t pcap = 0;
        while ((r = db_step(st, e)) == DB_ROW)
            *(char **)store_list_push((void **)&s->participants, &s->nparticipants, &pcap,
                                      sizeof(char *)) = col_dup(st, 0);
        db_stmt_done(st);
        if (r != DB_DONE)
            return (err_code)r;
    }
    return ERR_OK;
}

static err_code sql_session_list(store_t *st, const store_session_query *q, store_sessions *out,
                                 int64_t *total, err_t *e)
{
    ERR_LOCAL(e);
    sess_list_ctx x = {S(st), q, out, total};
    return run_snapshot(S(st), rd_session_list, &x, e);
}

/* ---- messages ------------------------------------------------------------------------ */

typedef struct {
    store_sql *s;
    const store_message *m;
    const store_audit_in *audit;
    const char *search_text;  /* the message's index text, or NULL (store.h) */
    const char *search_grams; /* MySQL: its FULLTEXT words (ssql_grams) */
    int64_t id;
    utc_us at;
} msg_add_ctx;

static err_code tx_message_add(db_conn *c, void *arg, err_t *e)
{
    msg_add_ctx *x = arg;
    const store_message *m = x->m;
    const store_sql_dialect *d = x->s->d;
    /* Taken inside the write transaction, so created_at follows id order. */
    utc_us now = utc_now();
    db_stmt *st;
    int64_t changed = 0;
    err_code rc = db_prepare(c, SQL_SESSION_TOUCH, &st, e);
    if (rc != ERR_OK)
        return rc;
    db_bind_time(st, 1, now);
    db_bind_text(st, 2, m->session_id, -1);
    if ((rc = ssql_exec_changes(st, &changed, e)) != ERR_OK)
        return rc;
    if (changed == 0)
        return store_err_no_session(e, m->session_id);

    if (m->parent_id) {
        /* the parent as the poster sees it (message_get's statement) */
        unsigned vm = ssql_vis_mask(m->parent_vis);
        const char *sql = ssql_shape(x->s, &x->s->msg_get[vm], build_msg_get, vm);
        if ((rc = db_prepare(c, sql, &st, e)) != ERR_OK)
            return rc;
        db_bind_int64(st, 1, m->parent_id);
        ssql_bind_vis(st, 2, m->parent_vis, vm);
        int r = db_step(st, e);
        size_t n = 0;
        const char *sid = r == DB_ROW ? db_col_text(st, 1, &n) : NULL;
        bool same = sid && strlen(m->session_id) == n && memcmp(sid, m->session_id, n) == 0;
        db_stmt_done(st);
        if (r != DB_ROW && r != DB_DONE)
            return (err_code)r;
        if (r == DB_DONE)
            return store_err_no_parent(e, m->parent_id);
        if (!same)
            return store_err_bad_parent(e, m->parent_id, m->session_id);
    }

    if ((rc = db_prepare(c, d->msg_insert, &st, e)) != ERR_OK)
        return rc;
    db_bind_text(st, 1, m->session_id, -1);
    db_bind_text(st, 2, m->sender, -1);
    db_bind_text(st, 3, m->sender_type ? m->sender_type : "generic", -1);
    db_bind_text(st, 4, m->content, -1);
    db_bind_text(st, 5, store_visibility_name(m->visibility), -1);
    db_bind_text(st, 6, m->message_type ? m->message_type : "agent_response", -1);
    db_bind_json(st, 7, m->metadata, -1);
    if (m->parent_id)
        db_bind_int64(st, 8, m->parent_id);
    else
        db_bind_null(st, 8);
    db_bind_time(st, 9, now);
    db_bind_text(st, 10, x->search_text, -1);
    if (d->search_grams)
        db_bind_text(st, 11, x->search_grams, -1);
    if (d->msg_insert_returns_id) {
        int r = db_step(st, e);
        if (r == DB_ROW)
            x->id = db_col_int64(st, 0);
        db_stmt_done(st);
        if (r != DB_ROW)
            return r == DB_DONE ? err_set(e, ERR_INTERNAL, "store: INSERT returned no id")
                                : (err_code)r;
    } else {
        if ((rc = ssql_exec_changes(st, NULL, e)) != ERR_OK)
            return rc;
        x->id = db_last_insert_id(c);
    }
    x->at = now;
    if (!x->audit)
        return ERR_OK;
    store_audit_rec r;
    return audit_insert(c, store_audit_message(&r, x->audit, m, x->id), e);
}

static err_code sql_message_add(store_t *st, store_message *m, const store_audit_in *audit,
                                err_t *e)
{
    ERR_LOCAL(e);
    /* the index text is computed before the transaction (it is pure C work) */
    char *stext = ssql_index_text(st, m->sender, m->content, strlen(m->content), m->metadata);
    char *grams = stext && S(st)->d->search_grams ? ssql_grams(stext) : NULL;
    msg_add_ctx x = {S(st), m, audit, stext, grams, 0, 0};
    err_code rc = ssql_run_write(S(st), tx_message_add, &x, e);
    free(grams);
    free(stext);
    if (rc == ERR_OK) {
        m->id = x.id;
        m->created_at = x.at;
    }
    return rc;
}

typedef struct {
    store_sql *s;
    const store_msg_query *q;
    store_messages *out;
    int64_t *total;
} msg_list_ctx;

static int bind_msg_where(db_stmt *st, const store_msg_query *q, unsigned m)
{
    int i = 1;
    db_bind_text(st, i++, q->session_id, -1);
    if (m & MQ_SINCE)
        db_bind_int64(st, i++, q->since_id);
    if (m & MQ_SENDER)
        db_bind_text(st, i++, q->sender, -1);
    if (m & MQ_FROM)
        db_bind_time(st, i++, q->from);
    if (m & MQ_TO)
        db_bind_time(st, i++, q->to);
    return ssql_bind_vis(st, i, &q->vis, m);
}

static err_code rd_message_list(db_conn *c, void *arg, err_t *e)
{
    msg_list_ctx *x = arg;
    const store_msg_query *q = x->q;
    store_messages_free(x->out);
    unsigned m = ssql_vis_mask(&q->vis) | (q->since_id > 0 ? MQ_SINCE : 0) |
                 (q->sender ? MQ_SENDER : 0) | (q->from ? MQ_FROM : 0) | (q->to ? MQ_TO : 0);
    db_stmt *st;
    int r;
    int64_t total = -1;
    err_code rc;

    if (x->total) {
        unsigned mc = m | MQ_COUNT;
        rc = db_prepare(c, ssql_shape(x->s, &x->s->msg_list[mc], build_msg_list, mc), &st, e);
        if (rc != ERR_OK)
            return rc;
        bind_msg_where(st, q, mc);
        r = db_step(st, e);
        if (r == DB_ROW)
            total = db_col_int64(st, 0);
        db_stmt_done(st);
        if (r != DB_ROW)
            return r == DB_DONE ? err_set(e, ERR_INTERNAL, "store: COUNT returned no row")
                                : (err_code)r;
        *x->total = total;
    }

    m |= q->newest_first ? MQ_DESC : 0;
    rc = db_prepare(c, ssql_shape(x->s, &x->s->msg_list[m], build_msg_list, m), &st, e);
    if (rc != ERR_OK)
        return rc;
    int i = bind_msg_where(st, q, m);
    db_bind_int64(st, i++, q->limit);
    db_bind_int64(st, i++, q->offset);
    size_t cap = q->limit <= 1000 ? (size_t)q->limit : 1000;
    x->out->v = xmalloc(cap * sizeof *x->out->v);
    while ((r = db_step(st, e)) == DB_ROW)
        ssql_read_message(
            st, store_list_push((void **)&x->out->v, &x->out->n, &cap, sizeof *x->out->v));
    db_stmt_done(st);
    if (r != DB_DONE)
        return (err_code)r;

    /* Nothing found: tell an empty session from a missing one. */
    if (x->out->n == 0 && total <= 0) {
        bool exists = false;
        if ((rc = ssql_session_exists(c, q->session_id, &exists, e)) != ERR_OK)
            return rc;
        if (!exists)
            return store_err_no_session(e, q->session_id);
    }
    return ERR_OK;
}

static err_code sql_message_list(store_t *st, const store_msg_query *q, store_messages *out,
                                 int64_t *total, err_t *e)
{
    ERR_LOCAL(e);
    msg_list_ctx x = {S(st), q, out, total};
    return total ? run_snapshot(S(st), rd_message_list, &x, e)
                 : ssql_run_read(S(st), rd_message_list, &x, e);
}

typedef struct {
    store_sql *s;
    int64_t id;
    const store_vis *vis;
    store_message *one;   /* message_get */
    store_messages *many; /* message_thread */
} msg_get_ctx;

static err_code rd_message_get(db_conn *c, void *arg, err_t *e)
{
    msg_get_ctx *x = arg;
    store_message_clear(x->one);
    unsigned vm = ssql_vis_mask(x->vis);
    db_stmt *st;
    err_code rc = db_prepare(c, ssql_shape(x->s, &x->s->msg_get[vm], build_msg_get, vm), &st, e);
    if (rc != ERR_OK)
        return rc;
    db_bind_int64(st, 1, x->id);
    ssql_bind_vis(st, 2, x->vis, vm);
    int r = db_step(st, e);
    if (r == DB_ROW)
        ssql_read_message(st, x->one);
    db_stmt_done(st);
    if (r == DB_DONE)
        return store_err_no_message(e, x->id);
    return r == DB_ROW ? ERR_OK : (err_code)r;
}

static err_code sql_message_get(store_t *st, int64_t id, const store_vis *vis, store_message *out,
                                err_t *e)
{
    ERR_LOCAL(e);
    msg_get_ctx x = {S(st), id, vis, out, NULL};
    return ssql_run_read(S(st), rd_message_get, &x, e);
}

static err_code rd_message_thread(db_conn *c, void *arg, err_t *e)
{
    msg_get_ctx *x = arg;
    store_messages_free(x->many);
    unsigned vm = ssql_vis_mask(x->vis);
    db_stmt *st;
    err_code rc =
        db_prepare(c, ssql_shape(x->s, &x->s->msg_thread[vm], build_msg_thread, vm), &st, e);
    if (rc != ERR_OK)
        return rc;
    db_bind_int64(st, 1, x->id);
    ssql_bind_vis(st, 2, x->vis, vm);
    int r;
    size_t cap = 0;
    while ((r = db_step(st, e)) == DB_ROW)
        ssql_read_message(
            st, store_list_push((void **)&x->many->v, &x->many->n, &cap, sizeof *x->many->v));
    db_stmt_done(st);
    if (r != DB_DONE)
        return (err_code)r;
    if (x->many->n == 0 || x->many->v[0].id != x->id)
        return store_err_no_message(e, x->id);
    return ERR_OK;
}

static err_code sql_message_thread(store_t *st, int64_t root_id, const store_vis *vis,
                                   store_messages *out, err_t *e)
{
    ERR_LOCAL(e);
    msg_get_ctx x = {S(st), root_id, vis, NULL, out};
    return ssql_run_read(S(st), rd_message_thread, &x, e);
}

/* ---- memory ------------------------------------------------------------------------- */

typedef struct {
    store_sql *s;
    const store_mem_set *in;
    const store_audit_in *audit;
    utc_us now;
    utc_us created_at;
} mem_set_ctx;

static err_code tx_memory_set(db_conn *c, void *arg, err_t *e)
{
    mem_set_ctx *x = arg;
    const store_mem_set *in = x->in;
    const store_sql_dialect *d = x->s->d;
    db_stmt *st;
    err_code rc;

    if (in->session_id) {
        bool exists = false;
        if ((rc = ssql_session_exists(c, in->session_id, &exists, e)) != ERR_OK)
            return rc;
        if (!exists)
            return store_err_no_session(e, in->session_id);
    }

    if ((rc = db_prepare(c, in->session_id ? d->mem_find_session : d->mem_find_global, &st, e)) !=
        ERR_OK)
        return rc;
    int i = 1;
    db_bind_text(st, i++, in->agent_id, -1);
    if (in->session_id)
        db_bind_text(st, i++, in->session_id, -1);
    db_bind_text(st, i++, in->key, -1);
    int r = db_step(st, e);
    int64_t id = 0;
    utc_us expires = 0, created = 0;
    if (r == DB_ROW) {
        id = db_col_int64(st, 0);
        expires = db_col_time(st, 1);
        created = db_col_time(st, 2);
    }
    db_stmt_done(st);
    if (r != DB_ROW && r != DB_DONE)
        return (err_code)r;

    bool live = id && (expires == 0 || expires > x->now);
    if (live && !in->overwrite)
        return store_err_memory_exists(e, in->key);
    x->created_at = live ? created : x->now;

    if (id) {
        if ((rc = db_prepare(c, d->mem_update, &st, e)) != ERR_OK)
            return rc;
        db_bind_json(st, 1, in->value, -1);
        db_bind_json(st, 2, in->metadata, -1);
        db_bind_time(st, 3, x->created_at);
        db_bind_time(st, 4, x->now);
        bind_time_opt(st, 5, in->expires_at);
        db_bind_int64(st, 6, id);
        rc = ssql_exec_changes(st, NULL, e);
    } else {
        if ((rc = db_prepare(c, d->mem_insert, &st, e)) != ERR_OK)
            return rc;
        db_bind_text(st, 1, in->agent_id, -1);
        db_bind_text(st, 2, in->session_id, -1);
        db_bind_text(st, 3, in->key, -1);
        db_bind_json(st, 4, in->value, -1);
        db_bind_json(st, 5, in->metadata, -1);
        db_bind_time(st, 6, x->now);
        db_bind_time(st, 7, x->now);
        bind_time_opt(st, 8, in->expires_at);
        rc = ssql_exec_changes(st, NULL, e);
        /* Another writer inserted the key between our read and insert (possible
         * on MVCC servers; SQLite serialises writers): retry, then we see it. */
        if (rc == ERR_UNIQUE)
            return store_err_memory_race(e, in->key);
    }
    if (rc != ERR_OK || !x->audit)
        return rc;
    store_audit_rec ar;
    return audit_insert(
        c, store_audit_memory(&ar, x->audit, "memory_set", in->agent_id, in->session_id, in->key),
        e);
}

static err_code sql_memory_set(store_t *st, const store_mem_set *in, const store_audit_in *audit,
                               store_memory *out, err_t *e)
{
    ERR_LOCAL(e);
    mem_set_ctx x = {S(st), in, audit, in->now ? in->now : utc_now(), 0};
    err_code rc = ssql_run_write(S(st), tx_memory_set, &x, e);
    if (rc == ERR_OK && out)
        store_memory_from_set(out, in, x.created_at, x.now);
    return rc;
}

typedef struct {
    const store_sql_dialect *d;
    const char *agent_id, *session_id, *key;
    utc_us now;
    store_memory *out;
} mem_get_ctx;

static err_code rd_memory_get(db_conn *c, void *arg, err_t *e)
{
    mem_get_ctx *x = arg;
    store_memory_clear(x->out);
    db_stmt *st;
    err_code rc =
        db_prepare(c, x->session_id ? x->d->mem_get_session : x->d->mem_get_global, &st, e);
    if (rc != ERR_OK)
        return rc;
    int i = 1;
    db_bind_text(st, i++, x->agent_id, -1);
    if (x->session_id)
        db_bind_text(st, i++, x->session_id, -1);
    db_bind_text(st, i++, x->key, -1);
    db_bind_time(st, i++, x->now);
    int r = db_step(st, e);
    if (r == DB_ROW)
        read_memory(st, x->out);
    db_stmt_done(st);
    if (r == DB_DONE)
        return store_err_no_memory(e, x->key);
    return r == DB_ROW ? ERR_OK : (err_code)r;
}

static err_code sql_memory_get(store_t *st, const char *agent_id, const char *session_id,
                               const char *key, utc_us now, store_memory *out, err_t *e)
{
    ERR_LOCAL(e);
    mem_get_ctx x = {S(st)->d, agent_id, session_id, key, now ? now : utc_now(), out};
    return ssql_run_read(S(st), rd_memory_get, &x, e);
}

/* The smallest string greater than every string that starts with p (valid
 * UTF-8, n bytes): p with its last code point incremented, trailing U+10FFFF
 * dropped. Byte order of UTF-8 is code point order, so [p, successor) is exactly
 * the strings with prefix p. out needs n + 4 bytes. False if none exists. */
static bool prefix_successor(const char *p, size_t n, char *out, size_t *outn)
{
    const unsigned char *u = (const unsigned char *)p;
    while (n > 0) {
        size_t start = n - 1;
        while (start > 0 && (u[start] & 0xC0) == 0x80)
            start--;
        size_t len = n - start;
        uint32_t cp = len == 1   ? u[start]
                      : len == 2 ? (uint32_t)(u[start] & 0x1F) << 6 | (u[start + 1] & 0x3F)
                      : len == 3 ? (uint32_t)(u[start] & 0x0F) << 12 |
                                       (uint32_t)(u[start + 1] & 0x3F) << 6 | (u[start + 2] & 0x3F)
                                 : (uint32_t)(u[start] & 0x07) << 18 |
                                       (uint32_t)(u[start + 1] & 0x3F) << 12 |
                                       (uint32_t)(u[start + 2] & 0x3F) << 6 | (u[start + 3] & 0x3F);
        if (cp >= 0x10FFFF) {
            n = start;
            continue;
        }
        cp = cp == 0xD7FF ? 0xE000 : cp + 1;
        memcpy(out, p, start);
        unsigned char *o = (unsigned char *)out + start;
        if (cp < 0x80) {
            *o++ = (unsigned char)cp;
        } else if (cp < 0x800) {
            *o++ = (unsigned char)(0xC0 | cp >> 6);
            *o++ = (unsigned char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            *o++ = (unsigned char)(0xE0 | cp >> 12);
            *o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            *o++ = (unsigned char)(0x80 | (cp & 0x3F));
        } else {
            *o++ = (unsigned char)(0xF0 | cp >> 18);
            *o++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
            *o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            *o++ = (unsigned char)(0x80 | (cp & 0x3F));
        }
        *o = 0;
        *outn = (size_t)((char *)o - out);
        return true;
    }
    return false;
}

typedef struct {
    store_sql *s;
    const store_mem_query *q;
    utc_us now;
    const char *upper; /* successor of the prefix, or NULL */
    store_memories *out;
} mem_list_ctx;

static err_code rd_memory_list(db_conn *c, void *arg, err_t *e)
{
    mem_list_ctx *x = arg;
    const store_mem_query *q = x->q;
    store_memories_free(x->out);
    bool prefix = q->prefix && *q->prefix;
    unsigned m = (unsigned)q->scope | (prefix ? (x->upper ? ML_RANGE : ML_FROM) : 0);
    db_stmt *st;
    err_code rc = db_prepare(c, ssql_shape(x->s, &x->s->mem_list[m], build_mem_list, m), &st, e);
    if (rc != ERR_OK)
        return rc;
    int i = 1;
    db_bind_text(st, i++, q->agent_id, -1);
    if (q->scope == STORE_MEM_SESSION)
        db_bind_text(st, i++, q->session_id, -1);
    if (prefix) {
        db_bind_text(st, i++, q->prefix, -1);
        if (x->upper)
            db_bind_text(st, i++, x->upper, -1);
    }
    db_bind_time(st, i++, x->now);
    db_bind_int64(st, i++, q->limit);
    int r;
    size_t cap = 0;
    while ((r = db_step(st, e)) == DB_ROW)
        read_memory(st, store_list_push((void **)&x->out->v, &x->out->n, &cap, sizeof *x->out->v));
    db_stmt_done(st);
    return r == DB_DONE ? ERR_OK : (err_code)r;
}

static err_code sql_memory_list(store_t *st, const store_mem_query *q, store_memories *out,
                                err_t *e)
{
    ERR_LOCAL(e);
    char small[256 + 4], *upper = NULL, *heap = NULL;
    if (q->prefix && *q->prefix) {
        size_t n = strlen(q->prefix), un = 0;
        char *buf = n + 4 <= sizeof small ? small : (heap = xmalloc(n + 4));
        if (prefix_successor(q->prefix, n, buf, &un))
            upper = buf;
    }
    mem_list_ctx x = {S(st), q, q->now ? q->now : utc_now(), upper, out};
    err_code rc = ssql_run_read(S(st), rd_memory_list, &x, e);
    free(heap);
    return rc;
}

typedef struct {
    const store_sql_dialect *d;
    const char *agent_id, *session_id, *key;
    const store_audit_in *audit;
    bool deleted;
} mem_del_ctx;

static err_code tx_memory_delete(db_conn *c, void *arg, err_t *e)
{
    mem_del_ctx *x = arg;
    db_stmt *st;
    err_code rc =
        db_prepare(c, x->session_id ? x->d->mem_delete_session : x->d->mem_delete_global, &st, e);
    if (rc != ERR_OK)
        return rc;
    int i = 1;
    db_bind_text(st, i++, x->agent_id, -1);
    if (x->session_id)
        db_bind_text(st, i++, x->session_id, -1);
    db_bind_text(st, i++, x->key, -1);
    int64_t changed = 0;
    if ((rc = ssql_exec_changes(st, &changed, e)) != ERR_OK)
        return rc;
    x->deleted = changed > 0;
    if (!x->deleted || !x->audit)
        return ERR_OK;
    store_audit_rec r;
    return audit_insert(
        c, store_audit_memory(&r, x->audit, "memory_deleted", x->agent_id, x->session_id, x->key),
        e);
}

static err_code sql_memory_delete(store_t *st, const char *agent_id, const char *session_id,
                                  const char *key, const store_audit_in *audit, bool *deleted,
                                  err_t *e)
{
    ERR_LOCAL(e);
    mem_del_ctx x = {S(st)->d, agent_id, session_id, key, audit, false};
    err_code rc = ssql_run_write(S(st), tx_memory_delete, &x, e);
    if (rc == ERR_OK && deleted)
        *deleted = x.deleted;
    return rc;
}

/* One parameterless-but-time DELETE (sweeps and purges). */
typedef struct {
    const char *sql[2];
    utc_us t;
    int64_t removed;
} purge_ctx;

static err_code tx_purge(db_conn *c, void *arg, err_t *e)
{
    purge_ctx *x = arg;
    x->removed = 0;
    for (int k = 0; k < 2 && x->sql[k]; k++) {
        db_stmt *st;
        err_code rc = db_prepare(c, x->sql[k], &st, e);
        if (rc != ERR_OK)
            return rc;
        db_bind_time(st, 1, x->t);
        int64_t n = 0;
        if ((rc = ssql_exec_changes(st, &n, e)) != ERR_OK)
            return rc;
        x->removed += n;
    }
    return ERR_OK;
}

static err_code run_purge(store_sql *s, const char *a, const char *b, utc_us t, int64_t *removed,
                          err_t *e)
{
    if (removed)
        *removed = 0;
    purge_ctx x = {{a, b}, t, 0};
    err_code rc = ssql_run_write(s, tx_purge, &x, e);
    if (rc == ERR_OK && removed)
        *removed = x.removed;
    return rc;
}

static err_code sql_memory_sweep(store_t *st, utc_us now, int64_t *removed, err_t *e)
{
    ERR_LOCAL(e);
    return run_purge(S(st), SQL_MEM_SWEEP, NULL, now ? now : utc_now(), removed, e);
}

/* ---- audit -------------------------------------------------------------------------- */

typedef struct {
    const store_audit_in *a;
} audit_ctx;

static err_code tx_audit_append(db_conn *c, void *arg, err_t *e)
{
    audit_ctx *x = arg;
    store_audit_rec r = {*x->a, NULL}; /* as given: no defaults */
    return audit_insert(c, &r, e);
}

static err_code sql_audit_append(store_t *st, const store_audit_in *a, err_t *e)
{
    ERR_LOCAL(e);
    audit_ctx x = {a};
    return ssql_run_write(S(st), tx_audit_append, &x, e);
}

typedef struct {
    store_sql *s;
    const store_audit_query *q;
    store_audits *out;
} audit_list_ctx;

static err_code rd_audit_list(db_conn *c, void *arg, err_t *e)
{
    audit_list_ctx *x = arg;
    const store_audit_query *q = x->q;
    store_audits_free(x->out);
    unsigned m = (q->session_id ? AQ_SESSION : 0) | (q->agent_id ? AQ_AGENT : 0) |
                 (q->event_type ? AQ_EVENT : 0);
    db_stmt *st;
    err_code rc =
        db_prepare(c, ssql_shape(x->s, &x->s->audit_list[m], build_audit_list, m), &st, e);
    if (rc != ERR_OK)
        return rc;
    int i = 1;
    if (q->session_id)
        db_bind_text(st, i++, q->session_id, -1);
    if (q->agent_id)
        db_bind_text(st, i++, q->agent_id, -1);
    if (q->event_type)
        db_bind_text(st, i++, q->event_type, -1);
    db_bind_int64(st, i++, q->limit);
    int r;
    size_t cap = 0;
    while ((r = db_step(st, e)) == DB_ROW)
        read_audit(st, store_list_push((void **)&x->out->v, &x->out->n, &cap, sizeof *x->out->v));
    db_stmt_done(st);
    return r == DB_DONE ? ERR_OK : (err_code)r;
}

static err_code sql_audit_list(store_t *st, const store_audit_query *q, store_audits *out, err_t *e)
{
    ERR_LOCAL(e);
    audit_list_ctx x = {S(st), q, out};
    return ssql_run_read(S(st), rd_audit_list, &x, e);
}

static err_code sql_audit_purge(store_t *st, utc_us older_than, int64_t *removed, err_t *e)
{
    ERR_LOCAL(e);
    return run_purge(S(st), SQL_AUDIT_PURGE, NULL, older_than, removed, e);
}

/* ---- tokens and revoked jtis ------------------------------------------------------------ */

static err_code tx_token_put(db_conn *c, void *arg, err_t *e)
{
    const store_token *t = arg;
    db_stmt *st;
    err_code rc = db_prepare(c, SQL_TOKEN_INSERT, &st, e);
    if (rc != ERR_OK)
        return rc;
    db_bind_text(st, 1, t->token_id, -1);
    db_bind_text(st, 2, t->jwt, -1);
    db_bind_text(st, 3, t->agent_id, -1);
    db_bind_text(st, 4, t->agent_type, -1);
    db_bind_time(st, 5, t->created_at ? t->created_at : utc_now());
    db_bind_time(st, 6, t->expires_at);
    rc = ssql_exec_changes(st, NULL, e);
    if (rc == ERR_UNIQUE)
        return store_err_token_exists(e, t->token_id);
    return rc;
}

static err_code sql_token_put(store_t *st, const store_token *t, err_t *e)
{
    ERR_LOCAL(e);
    return ssql_run_write(S(st), tx_token_put, (void *)t, e);
}

typedef struct {
    const char *id;
    store_token *out;
} token_get_ctx;

static err_code rd_token_get(db_conn *c, void *arg, err_t *e)
{
    token_get_ctx *x = arg;
    store_token_clear(x->out);
    db_stmt *st;
    err_code rc = db_prepare(c, SQL_TOKEN_GET, &st, e);
    if (rc != ERR_OK)
        return rc;
    db_bind_text(st, 1, x->id, -1);
    int r = db_step(st, e);
    if (r == DB_ROW)
        read_token(st, x->out);
    db_stmt_done(st);
    if (r == DB_DONE)
        return store_err_no_token(e);
    return r == DB_ROW ? ERR_OK : (err_code)r;
}

static err_code sql_token_get(store_t *st, const char *token_id, store_token *out, err_t *e)
{
    ERR_LOCAL(e);
    token_get_ctx x = {token_id, out};
    return ssql_run_read(S(st), rd_token_get, &x, e);
}

typedef struct {
    const char *id;
    bool deleted;
} token_del_ctx;

static err_code tx_token_delete(db_conn *c, void *arg, err_t *e)
{
    token_del_ctx *x = arg;
    db_stmt *st;
    err_code rc = db_prepare(c, SQL_TOKEN_DELETE, &st, e);
    if (rc != ERR_OK)
        return rc;
    db_bind_text(st, 1, x->id, -1);
    int64_t n = 0;
    rc = ssql_exec_changes(st, &n, e);
    x->deleted = n > 0;
    return rc;
}

static err_code sql_token_delete(store_t *st, const char *token_id, bool *deleted, err_t *e)
{
    ERR_LOCAL(e);
    token_del_ctx x = {token_id, false};
    err_code rc = ssql_run_write(S(st), tx_token_delete, &x, e);
    if (rc == ERR_OK && deleted)
        *deleted = x.deleted;
    return rc;
}

static err_code sql_token_purge(store_t *st, utc_us now, int64_t *removed, err_t *e)
{
    ERR_LOCAL(e);
    return run_purge(S(st), SQL_TOKEN_PURGE, SQL_JTI_PURGE, now ? now : utc_now(), removed, e);
}

typedef struct {
    const store_sql_dialect *d;
    const char *jti;
    utc_us expires_at;
    bool revoked;
} jti_ctx;

static err_code tx_jti_revoke(db_conn *c, void *arg, err_t *e)
{
    jti_ctx *x = arg;
    db_stmt *st;
    err_code rc = db_prepare(c, x->d->jti_revoke, &st, e);
    if (rc != ERR_OK)
        return rc;
    db_bind_text(st, 1, x->jti, -1);
    db_bind_time(st, 2, x->expires_at);
    return ssql_exec_changes(st, NULL, e);
}

static err_code sql_jti_revoke(store_t *st, const char *jti, utc_us expires_at, err_t *e)
{
    ERR_LOCAL(e);
    jti_ctx x = {S(st)->d, jti, expires_at, false};
    return ssql_run_write(S(st), tx_jti_revoke, &x, e);
}

static err_code rd_jti_get(db_conn *c, void *arg, err_t *e)
{
    jti_ctx *x = arg;
    db_stmt *st;
    err_code rc = db_prepare(c, SQL_JTI_GET, &st, e);
    if (rc != ERR_OK)
        return rc;
    db_bind_text(st, 1, x->jti, -1);
    int r = db_step(st, e);
    db_stmt_done(st);
    if (r != DB_ROW && r != DB_DONE)
        return (err_code)r;
    x->revoked = r == DB_ROW;
    return ERR_OK;
}

static err_code sql_jti_is_revoked(store_t *st, const char *jti, bool *revoked, err_t *e)
{
    ERR_LOCAL(e);
    jti_ctx x = {S(st)->d, jti, 0, false};
    err_code rc = ssql_run_read(S(st), rd_jti_get, &x, e);
    if (rc == ERR_OK)
        *revoked = x.revoked;
    return rc;
}

/* ---- iterate ------------------------------------------------------------------------- */

/* The column as written in SQL (agent_memory.key is reserved in MySQL). */
static const char *sql_col(const store_sql *s, const char *name)
{
    return strcmp(name, "key") == 0 ? s->d->key_col : name;
}

/* Text keys compared byte-wise so every backend yields the same order. */
static void put_bin(const store_sql *s, sbuf_t *b, const char *col)
{
    sbuf_printf(b, "%s%s%s", s->d->bin_pre, col, s->d->bin_post);
}

static void put_order(const store_sql *s, const store_table *t, sbuf_t *b)
{
    sbuf_puts(b, " ORDER BY ");
    if (strcmp(t->name, "agent_memory") == 0) {
        put_bin(s, b, "agent_id");
        sbuf_puts(b, ", CASE WHEN session_id IS NULL THEN 0 ELSE 1 END, ");
        put_bin(s, b, "session_id");
        sbuf_printf(b, ", %s", s->d->key_cmp);
        return;
    }
    /* single-column keys: integers numerically, text byte-wise */
    const store_column *kc = NULL;
    for (size_t i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].name, t->key[0]) == 0)
            kc = &t->cols[i];
    if (kc && kc->type == STORE_COL_TEXT)
        put_bin(s, b, t->key[0]);
    else
        sbuf_puts(b, t->key[0]);
}

static void build_iter(const store_sql *s, unsigned k, sbuf_t *b)
{
    size_t nt;
    const store_table *t = &store_tables(&nt)[k];
    sbuf_puts(b, "SELECT ");
    for (size_t i = 0; i < t->ncols; i++) {
        if (i)
            sbuf_puts(b, ", ");
        sbuf_puts(b, sql_col(s, t->cols[i].name));
    }
    sbuf_printf(b, " FROM %s", t->name);
    put_order(s, t, b);
}

static err_code iter_row(db_stmt *st, const store_table *t, json_t **out, err_t *e)
{
    json_t *row = json_object();
    for (size_t i = 0; i < t->ncols; i++) {
        json_t *v;
        int ci = (int)i;
        if (db_col_null(st, ci)) {
            v = json_null();
        } else {
            size_t n = 0;
            const char *p;
            char iso[UTC_ISO_LEN];
            switch (t->cols[i].type) {
            case STORE_COL_INT: v = json_integer(db_col_int64(st, ci)); break;
            case STORE_COL_BOOL: v = json_boolean(db_col_bool(st, ci)); break;
            case STORE_COL_TIME: v = json_string(utc_format(db_col_time(st, ci), iso)); break;
            case STORE_COL_JSON: {
                json_error_t je;
                p = db_col_json(st, ci, &n);
                v = json_loadb(p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
                if (!v) {
                    json_decref(row);
                    return err_set(e, ERR_FATAL, "store: %s.%s holds invalid JSON: %s", t->name,
                                   t->cols[i].name, je.text);
                }
                break;
            }
            default:
                p = db_col_text(st, ci, &n);
                v = json_stringn_nocheck(p, n);
                break;
            }
        }
        json_object_set_new_nocheck(row, t->cols[i].name, v);
    }
    *out = row;
    return ERR_OK;
}

static err_code sql_iterate(store_t *stp, store_row_cb cb, void *ud, err_t *e)
{
    ERR_LOCAL(e);
    store_sql *s = S(stp);
    db_conn *c = NULL;
    /* One read transaction: a consistent snapshot. No retry: rows already
     * handed to the callback cannot be taken back. */
    err_code rc = db_acquire(s->db, DB_READ, &c, e);
    if (rc != ERR_OK)
        return rc;
    if ((rc = db_begin(c, e)) != ERR_OK) {
        db_release(c);
        return rc;
    }
    size_t nt;
    const store_table *tables = store_tables(&nt);
    for (unsigned k = 0; k < IT_TABLES && rc == ERR_OK; k++) {
        db_stmt *st;
        rc = db_prepare(c, ssql_shape(s, &s->iter[k], build_iter, k), &st, e);
        if (rc != ERR_OK)
            break;
        int r;
        while ((r = db_step(st, e)) == DB_ROW) {
            json_t *row = NULL;
            if ((rc = iter_row(st, &tables[k], &row, e)) != ERR_OK)
                break;
            rc = cb(ud, tables[k].name, row, e);
            json_decref(row);
            if (rc != ERR_OK)
                break;
        }
        db_stmt_done(st);
        if (rc == ERR_OK && r != DB_DONE)
            rc = (err_code)r;
    }
    if (rc == ERR_OK)
        rc = db_commit(c, e);
    else
        db_rollback(c);
    db_release(c);
    return finish(rc, e);
}

/* ---- bulk transfer: import_rows, import_finish, count_rows ----------------------------- */

static void build_import(const store_sql *s, unsigned k, sbuf_t *b)
{
    size_t nt;
    const store_table *t = &store_tables(&nt)[k];
    sbuf_printf(b, "INSERT INTO %s (", t->name);
    for (size_t i = 0; i < t->ncols; i++)
        sbuf_printf(b, "%s%s", i ? ", " : "", sql_col(s, t->cols[i].name));
    /* messages: + the derived index text (not a logical column: recomputed here) */
    bool msgs = strcmp(t->name, "messages") == 0;
    if (msgs)
        sbuf_puts(b, s->d->search_grams ? ", search_text, search_grams" : ", search_text");
    sbuf_printf(b, ")%s VALUES (", t->seq_col ? s->d->ins_keep_id : "");
    for (size_t i = 0; i < t->ncols; i++)
        sbuf_puts(b, i ? ", ?" : "?");
    if (msgs)
        sbuf_puts(b, s->d->search_grams ? ", ?, ?" : ", ?");
    sbuf_printf(b, ")%s", s->d->ins_skip);
    if (s->d->ins_skip_self) {
        const char *c0 = sql_col(s, t->cols[0].name);
        sbuf_printf(b, "%s = %s", c0, c0);
    }
}

static void build_count(const store_sql *s, unsigned k, sbuf_t *b)
{
    (void)s;
    size_t nt;
    sbuf_printf(b, "SELECT COUNT(*) FROM %s", store_tables(&nt)[k].name);
}

typedef struct {
    store_sql *s;
    int k;
    json_t *const *rows;
    size_t n;
    int64_t inserted;
} import_ctx;

static err_code tx_import(db_conn *c, void *arg, err_t *e)
{
    import_ctx *x = arg;
    size_t nt;
    const store_table *t = &store_tables(&nt)[x->k];
    x->inserted = 0;
    const char *sql = ssql_shape(x->s, &x->s->imp[x->k], build_import, (unsigned)x->k);
    char *json_text[16] = {0}; /* JSON values as text, alive until the step */
    bool msgs = strcmp(t->name, "messages") == 0;
    err_code rc = ERR_OK;
    for (size_t r = 0; r < x->n && rc == ERR_OK; r++) {
        db_stmt *st;
        if ((rc = db_prepare(c, sql, &st, e)) != ERR_OK)
            break;
        size_t nj = 0;
        for (size_t i = 0; i < t->ncols; i++) {
            const store_column *col = &t->cols[i];
            json_t *v = json_object_get(x->rows[r], col->name);
            int bi = (int)i + 1;
            if (json_is_null(v) && (col->nullable || col->type != STORE_COL_JSON)) {
                db_bind_null(st, bi);
                continue;
            }
            switch (col->type) {
            case STORE_COL_INT: db_bind_int64(st, bi, json_integer_value(v)); break;
            case STORE_COL_BOOL: db_bind_bool(st, bi, json_is_true(v)); break;
            case STORE_COL_TEXT:
                db_bind_text(st, bi, json_string_value(v), (ptrdiff_t)json_string_length(v));
                break;
            case STORE_COL_TIME: {
                utc_us us = 0;
                err_t pe;
                utc_parse(json_string_value(v), &us, &pe); /* checked before */
                db_bind_time(st, bi, us);
                break;
            }
            case STORE_COL_JSON:
                json_text[nj] = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
                db_bind_json(st, bi, json_text[nj], -1);
                nj++;
                break;
            }
        }
        char *stext = NULL, *grams = NULL;
        if (msgs) {
            json_t *md = json_object_get(x->rows[r], "metadata");
            char *mdt = json_is_object(md) ? json_dumps(md, JSON_COMPACT) : NULL;
            json_t *sv = json_object_get(x->rows[r], "sender");
            json_t *cv = json_object_get(x->rows[r], "content");
            if (json_is_string(sv) && json_is_string(cv))
                stext = ssql_index_text(&x->s->base, json_string_value(sv), json_string_value(cv),
                                        json_string_length(cv), mdt);
            free(mdt);
            db_bind_text(st, (int)t->ncols + 1, stext, -1);
            if (x->s->d->search_grams) {
                grams = stext ? ssql_grams(stext) : NULL;
                db_bind_text(st, (int)t->ncols + 2, grams, -1);
            }
        }
        int64_t changed = 0;
        rc = ssql_exec_changes(st, &changed, e);
        free(grams);
        free(stext);
        for (size_t j = 0; j < nj; j++) {
            free(json_text[j]);
            json_text[j] = NULL;
        }
        if (rc != ERR_OK)
            err_prefix(e, "store: %s row %zu", t->name, r + 1);
        else if (changed > 0)
            x->inserted++;
    }
    return rc;
}

static err_code sql_import_rows(store_t *stp, const char *table, json_t *const *rows, size_t n,
                                int64_t *inserted, err_t *e)
{
    ERR_LOCAL(e);
    if (n == 0)
        return ERR_OK;
    import_ctx x = {S(stp), store_table_index(table), rows, n, 0};
    err_code rc = ssql_run_write(S(stp), tx_import, &x, e);
    if (rc == ERR_OK && inserted)
        *inserted = x.inserted;
    return rc;
}

static err_code tx_seq_sync(db_conn *c, void *arg, err_t *e)
{
    const store_sql_dialect *d = arg;
    const char *sqls[] = {d->seq_sync_messages, d->seq_sync_audit};
    for (size_t i = 0; i < 2; i++) {
        if (!sqls[i])
            continue;
        db_stmt *st;
        err_code rc = db_prepare(c, sqls[i], &st, e);
        if (rc != ERR_OK)
            return rc;
        int r;
        while ((r = db_step(st, e)) == DB_ROW)
            ;
        db_stmt_done(st);
        if (r != DB_DONE)
            return (err_code)r;
    }
    return ERR_OK;
}

static err_code sql_import_finish(store_t *stp, err_t *e)
{
    ERR_LOCAL(e);
    store_sql *s = S(stp);
    if (!s->d->seq_sync_messages && !s->d->seq_sync_audit)
        return ERR_OK;
    return ssql_run_write(s, tx_seq_sync, (void *)s->d, e);
}

typedef struct {
    store_sql *s;
    int k;
    int64_t n;
} count_ctx;

static err_code rd_count(db_conn *c, void *arg, err_t *e)
{
    count_ctx *x = arg;
    db_stmt *st;
    err_code rc =
        db_prepare(c, ssql_shape(x->s, &x->s->cnt[x->k], build_count, (unsigned)x->k), &st, e);
    if (rc != ERR_OK)
        return rc;
    int r = db_step(st, e);
    if (r == DB_ROW)
        x->n = db_col_int64(st, 0);
    db_stmt_done(st);
    return r == DB_ROW    ? ERR_OK
           : r == DB_DONE ? err_set(e, ERR_INTERNAL, "store: COUNT gave no row")
                          : (err_code)r;
}

static err_code sql_count_rows(store_t *stp, const char *table, int64_t *n, err_t *e)
{
    ERR_LOCAL(e);
    count_ctx x = {S(stp), store_table_index(table), 0};
    err_code rc = ssql_run_read(S(stp), rd_count, &x, e);
    if (rc == ERR_OK)
        *n = x.n;
    return rc;
}

/* ---- lifetime --------------------------------------------------------------------------- */

static void sql_close(store_t *st)
{
    store_sql *s = S(st);
    free_shapes(s->msg_list, MQ_N);
    free_shapes(s->msg_get, V_N);
    free_shapes(s->msg_thread, V_N);
    free_shapes(s->msg_search, MS_N);
    free_shapes(s->sess_list, SQ_N);
    free_shapes(s->mem_list, ML_N);
    free_shapes(s->audit_list, AQ_N);
    free_shapes(s->iter, IT_TABLES);
    free_shapes(s->imp, IT_TABLES);
    free_shapes(s->cnt, IT_TABLES);
    pthread_mutex_destroy(&s->mu);
    if (s->own_db)
        db_close(s->db);
    free(s);
}

/* ---- health ------------------------------------------------------------------- */
static err_code sql_ping(store_t *st, int64_t *rtt_us, err_t *e)
{
    return db_ping(S(st)->db, rtt_us, e);
}

static err_code sql_server_version(store_t *st, char *buf, size_t n, err_t *e)
{
    return db_server_version(S(st)->db, buf, n, e);
}

static void sql_stats(store_t *st, store_stats *out)
{
    db_t *db = S(st)->db;
    out->backend = db_dialect(db);
    db_get_pool_stats(db, &out->pool);
    db_get_query_stats(db, &out->queries);
}

static const store_vt sql_vt = {
    .close = sql_close,
    .session_create = sql_session_create,
    .session_get = sql_session_get,
    .session_list = sql_session_list,
    .message_add = sql_message_add,
    .message_list = sql_message_list,
    .message_get = sql_message_get,
    .message_thread = sql_message_thread,
    .message_search = ssql_message_search,
    .message_reindex = ssql_message_reindex,
    .memory_set = sql_memory_set,
    .memory_get = sql_memory_get,
    .memory_list = sql_memory_list,
    .memory_delete = sql_memory_delete,
    .memory_sweep = sql_memory_sweep,
    .audit_append = sql_audit_append,
    .audit_list = sql_audit_list,
    .audit_purge = sql_audit_purge,
    .token_put = sql_token_put,
    .token_get = sql_token_get,
    .token_delete = sql_token_delete,
    .token_purge = sql_token_purge,
    .jti_revoke = sql_jti_revoke,
    .jti_is_revoked = sql_jti_is_revoked,
    .iterate = sql_iterate,
    .import_rows = sql_import_rows,
    .import_finish = sql_import_finish,
    .count_rows = sql_count_rows,
    .ping = sql_ping,
    .server_version = sql_server_version,
    .stats = sql_stats,
    .schema_status = ssql_schema_status,
    .migrate_to = ssql_migrate_to,
    .schema_check = ssql_schema_check,
    .drop = ssql_drop,
};

err_code store_sql_open(db_t *db, bool own_db, store_t **out, err_t *e)
{
    *out = NULL;
    const store_sql_dialect *d = store_sql_dialect_find(db_dialect(db));
    if (!d) {
        err_code rc = err_set(e, ERR_INVALID, "store: no SQL statement catalogue for dialect '%s'",
                              db_dialect(db));
        if (own_db)
            db_close(db);
        return rc;
    }
    size_t nt;
    store_tables(&nt);
    if (nt != IT_TABLES) {
        if (own_db)
            db_close(db);
        return err_set(e, ERR_INTERNAL, "store: %zu tables described, %d iterated", nt,
                       (int)IT_TABLES);
    }
    store_sql *s = xcalloc(1, sizeof *s);
    s->base.vt = &sql_vt;
    s->base.backend = &store_sql_backend;
    s->base.name = d->vt_name;
    s->base.url_masked = db_url_text_masked(db);
    s->db = db;
    s->own_db = own_db;
    s->d = d;
    pthread_mutex_init(&s->mu, NULL);
    *out = &s->base;
    return ERR_OK;
}
