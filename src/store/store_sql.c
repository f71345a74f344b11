/* store/store_sql.c — the SQL store (store.h over db/, every SQL dialect): its
 * object, open and close, the query shapes built once per store, visibility
 * clauses, the executors that turn rows into records, the runners (a read on a
 * borrowed connection, a read transaction, a write transaction with its audit
 * record, retried on transient classes), health, and the vtable. The operations
 * live in store_sql_msg.c, store_sql_mem.c, store_sql_auth.c, store_sql_xfer.c
 * and store_sql_search.c (store_sql_int.h lists them).
 * Statements are static strings, or built once per query shape from fixed
 * fragments and kept for the life of the store, so the per-connection
 * prepared-statement cache serves every call.
 * Must not: decide visibility or permissions (the caller's store_vis says what
 * is visible), write dialect-specific SQL outside the catalogue in
 * store_sql_dialect.c, or edit SQL strings per call. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "store/store_sql.h"
#include "store/store_sql_int.h"
#include "base/sbuf.h"
#include "base/utc.h"

static const char SQL_AUDIT_INSERT[] =
    "INSERT INTO audit_log (created_at, event_type, agent_id, session_id, resource,"
    " metadata) VALUES (?, ?, ?, ?, ?, ?)";

/* ---- shapes and visibility clauses ------------------------------------------------- */

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

void ssql_put_frags(sbuf_t *b, unsigned m, const ssql_frag *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((m & f[i].bits) == f[i].when)
            sbuf_puts(b, f[i].sql);
}

unsigned ssql_vis_mask(const store_vis *v)
{
    return v->any | (v->private_of ? V_PRIVATE_OF : 0) | (v->agent_only_of ? V_AGENT_OF : 0) |
           (v->member_id ? V_MEMBER : 0);
}

/* The sessions s that do not admit the reader (3 parameters: member_id twice, member_type):
 * restricted, not created by the reader, the reader's id and type not listed. */
static void put_excluded(const store_sql *s, sbuf_t *b)
{
    const char *t = s->d->member_in, *at = strstr(t, "%s");
    sbuf_puts(b, "s.access IS NOT NULL AND s.created_by <> ?");
    for (int i = 0; i < 2; i++) {
        sbuf_puts(b, " AND NOT ");
        sbuf_append(b, t, (size_t)(at - t));
        sbuf_puts(b, i ? "types" : "agents");
        sbuf_puts(b, at + 2);
    }
}

/* " AND (clause OR clause ...)": each store_vis clause one predicate; nothing when
 * every visibility is matched for any sender. Then the session clause. */
void ssql_put_vis(const store_sql *s, sbuf_t *b, unsigned vm)
{
    if ((vm & STORE_VIS_EVERY) != STORE_VIS_EVERY) {
        const char *sep = "";
        sbuf_puts(b, " AND (");
        for (unsigned v = 0; v < STORE_VIS_COUNT; v++)
            if (vm & STORE_VIS_BIT(v)) {
                sbuf_printf(b, "%svisibility = '%s'", sep,
                            store_visibility_name((store_visibility)v));
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
    if (vm & V_MEMBER) {
        sbuf_puts(b, " AND session_id NOT IN (SELECT s.id FROM sessions s WHERE ");
        put_excluded(s, b);
        sbuf_putc(b, ')');
    }
}

size_t ssql_member_params(db_param *p, const store_vis *v)
{
    p[0] = DB_TEXT(v->member_id);
    p[1] = DB_TEXT(v->member_id);
    p[2] = DB_TEXT(v->member_type);
    return 3;
}

size_t ssql_vis_params(db_param *p, const store_vis *v, unsigned vm)
{
    size_t n = 0;
    if (vm & V_PRIVATE_OF)
        p[n++] = DB_TEXT(v->private_of);
    if (vm & V_AGENT_OF)
        p[n++] = DB_TEXT(v->agent_only_of);
    if (vm & V_MEMBER)
        n += ssql_member_params(p + n, v);
    return n;
}

void ssql_put_member(const store_sql *s, sbuf_t *b)
{
    sbuf_puts(b, " AND NOT (");
    put_excluded(s, b);
    sbuf_putc(b, ')');
}

/* ---- rows into records -------------------------------------------------------------- */

char *ssql_col_text(db_stmt *st, int i)
{
    size_t n = 0;
    const char *p = db_col_text(st, i, &n);
    return p ? xstrndup(p, n) : NULL;
}

char *ssql_col_json(db_stmt *st, int i)
{
    size_t n = 0;
    const char *p = db_col_json(st, i, &n);
    return p ? xstrndup(p, n) : NULL;
}

static const ssql_field int_field[] = {{0, SSQL_INT_OPT}};
const ssql_rec ssql_int_rec = SSQL_REC(int64_t, int_field, NULL);

/* The current row into the zeroed record rec of kind k. */
static void read_rec(const ssql_rec *k, db_stmt *st, void *rec)
{
    if (k->read) {
        k->read(st, rec);
        return;
    }
    for (size_t i = 0; i < k->nf; i++) {
        char *at = (char *)rec + k->f[i].off;
        int c = (int)i;
        size_t n = 0;
        const char *t;
        switch (k->f[i].type) {
        case SSQL_INT: *(int64_t *)at = db_col_int64(st, c); break;
        case SSQL_INT_OPT: *(int64_t *)at = db_col_null(st, c) ? 0 : db_col_int64(st, c); break;
        case SSQL_BOOL: *(bool *)at = db_col_bool(st, c); break;
        case SSQL_TIME: *(utc_us *)at = db_col_time(st, c); break;
        case SSQL_TEXT: *(char **)at = ssql_col_text(st, c); break;
        case SSQL_JSON: *(char **)at = ssql_col_json(st, c); break;
        case SSQL_VIS:
            t = db_col_text(st, c, &n);
            *(store_visibility *)at = store_visibility_stored(t, n);
            break;
        }
    }
}

static void clear_rec(const ssql_rec *k, void *rec)
{
    if (k->clear) {
        k->clear(rec);
        return;
    }
    for (size_t i = 0; i < k->nf; i++)
        if (k->f[i].type == SSQL_TEXT || k->f[i].type == SSQL_JSON)
            free(*(char **)((char *)rec + k->f[i].off));
    memset(rec, 0, k->size);
}

void ssql_list_free(const ssql_rec *k, void **v, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        clear_rec(k, (char *)*v + i * k->size);
    free(*v);
    *v = NULL;
    *n = 0;
}

/* Where the rows of a query go: one record, or a growing list. */
typedef struct row_sink {
    const ssql_rec *k;
    void *rec;
    void **v;
    size_t *nv, cap;
} row_sink;

static err_code sink_row(db_stmt *st, void *ud, err_t *e)
{
    (void)e;
    row_sink *x = ud;
    read_rec(x->k, st, x->v ? store_list_push(x->v, x->nv, &x->cap, x->k->size) : x->rec);
    return ERR_OK;
}

err_code ssql_get_one(db_conn *c, const char *sql, const db_param *p, size_t n, const ssql_rec *k,
                      void *rec, bool *found, err_t *e)
{
    row_sink x = {k, rec, NULL, NULL, 0};
    return db_query_one(c, sql, p, n, k ? sink_row : NULL, &x, found, e);
}

err_code ssql_get_list(db_conn *c, const char *sql, const db_param *p, size_t n, const ssql_rec *k,
                       void **v, size_t *nv, err_t *e)
{
    ssql_list_free(k, v, nv);
    row_sink x = {k, NULL, v, nv, 0};
    return db_query_params(c, sql, p, n, sink_row, &x, e);
}

err_code ssql_audit(db_conn *c, const store_audit_in *a, err_t *e)
{
    return db_exec_params(c, SQL_AUDIT_INSERT,
                          DB_ARGS(DB_TIME(utc_now()), DB_TEXT(a->event_type), DB_TEXT(a->agent_id),
                                  DB_TEXT(a->session_id), DB_TEXT(a->resource),
                                  DB_JSON(a->metadata)),
                          NULL, e);
}

/* ---- runners ---------------------------------------------------------------------------- */

err_code ssql_finish(err_code rc, err_t *e)
{
    if (rc == ERR_CONSTRAINT) {
        e->code = ERR_INVALID;
        return ERR_INVALID;
    }
    return rc;
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
    return ssql_finish(rc, e);
}

err_code ssql_run_snapshot(store_sql *s, read_fn fn, void *arg, err_t *e)
{
    return ssql_finish(db_tx_run(s->db, DB_READ, fn, arg, e), e);
}

err_code ssql_run_write(store_sql *s, db_tx_fn fn, void *arg, err_t *e)
{
    return ssql_finish(db_tx_run(s->db, DB_WRITE, fn, arg, e), e);
}

/* One statement and where its rows go: the unit of work of ssql_read_one/list. */
typedef struct stmt_read {
    const char *sql;
    const db_param *p;
    size_t n;
    row_sink to;
    bool *found;
} stmt_read;

static err_code rd_stmt(db_conn *c, void *arg, err_t *e)
{
    stmt_read *x = arg;
    const row_sink *t = &x->to;
    return t->v ? ssql_get_list(c, x->sql, x->p, x->n, t->k, t->v, t->nv, e)
                : ssql_get_one(c, x->sql, x->p, x->n, t->k, t->rec, x->found, e);
}

err_code ssql_read_one(store_sql *s, const char *sql, const db_param *p, size_t n,
                       const ssql_rec *k, void *rec, bool *found, err_t *e)
{
    stmt_read x = {sql, p, n, {k, rec, NULL, NULL, 0}, found};
    return ssql_run_read(s, rd_stmt, &x, e);
}

err_code ssql_read_list(store_sql *s, const char *sql, const db_param *p, size_t n,
                        const ssql_rec *k, void **v, size_t *nv, err_t *e)
{
    stmt_read x = {sql, p, n, {k, NULL, v, nv, 0}, NULL};
    return ssql_run_read(s, rd_stmt, &x, e);
}

/* Up to two statements with the same parameters, then an audit record. */
typedef struct stmt_write {
    const char *sql[2];
    const db_param *p;
    size_t n;
    const store_audit_in *a;
    int64_t changes;
} stmt_write;

static err_code tx_write(db_conn *c, void *arg, err_t *e)
{
    stmt_write *x = arg;
    x->changes = 0;
    for (int i = 0; i < 2; i++) {
        int64_t k = 0;
        err_code rc = x->sql[i] ? db_exec_params(c, x->sql[i], x->p, x->n, &k, e) : ERR_OK;
        if (rc != ERR_OK)
            return rc;
        x->changes += k;
    }
    if (!x->a || (x->sql[0] && x->changes == 0))
        return ERR_OK;
    return ssql_audit(c, x->a, e);
}

err_code ssql_write(store_sql *s, const char *sql, const char *sql2, const db_param *p, size_t n,
                    const store_audit_in *a, int64_t *changes, err_t *e)
{
    stmt_write x = {{sql, sql2}, p, n, a, 0};
    err_code rc = ssql_run_write(s, tx_write, &x, e);
    if (changes)
        *changes = rc == ERR_OK ? x.changes : 0;
    return rc;
}

/* ---- lifetime and health ----------------------------------------------------------------- */

static void sql_close(store_t *st)
{
    store_sql *s = S(st);
    free_shapes(s->msg_list, MQ_N);
    free_shapes(s->msg_get, V_N);
    free_shapes(s->msg_get_many, V_N);
    free_shapes(s->msg_thread, V_N);
    free_shapes(s->msg_search, MS_N);
    free_shapes(s->sess_list, SQ_N);
    free_shapes(s->sess_parts, V_N);
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
    .session_create = ssql_session_create,
    .session_get = ssql_session_get,
    .session_head = ssql_session_head,
    .session_list = ssql_session_list,
    .message_add = ssql_message_add,
    .message_list = ssql_message_list,
    .message_get = ssql_message_get,
    .message_get_many = ssql_message_get_many,
    .message_thread = ssql_message_thread,
    .message_search = ssql_message_search,
    .message_reindex = ssql_message_reindex,
    .memory_set = ssql_memory_set,
    .memory_get = ssql_memory_get,
    .memory_list = ssql_memory_list,
    .memory_delete = ssql_memory_delete,
    .memory_sweep = ssql_memory_sweep,
    .audit_append = ssql_audit_append,
    .audit_list = ssql_audit_list,
    .audit_purge = ssql_audit_purge,
    .token_put = ssql_token_put,
    .token_get = ssql_token_get,
    .token_delete = ssql_token_delete,
    .token_delete_agent = ssql_token_delete_agent,
    .token_purge = ssql_token_purge,
    .jti_revoke = ssql_jti_revoke,
    .jti_is_revoked = ssql_jti_is_revoked,
    .cred_add = ssql_cred_add,
    .cred_get = ssql_cred_get,
    .cred_list = ssql_cred_list,
    .cred_rekey = ssql_cred_rekey,
    .cred_revoke = ssql_cred_revoke,
    .iterate = ssql_iterate,
    .import_rows = ssql_import_rows,
    .import_finish = ssql_import_finish,
    .count_rows = ssql_count_rows,
    .load_put = ssql_load_put,
    .load_get = ssql_load_get,
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
    const store_sql_dialect *d = store_sql_dialect_of(db_backend_of(db));
    size_t nt;
    store_tables(&nt);
    err_code rc = !d ? err_set(e, ERR_INVALID, "store: no SQL statement catalogue for dialect '%s'",
                               db_dialect(db))
                  : nt != IT_TABLES
                      ? err_set(e, ERR_INTERNAL, "store: %zu tables described, %d iterated", nt,
                                (int)IT_TABLES)
                      : ERR_OK;
    if (rc != ERR_OK) {
        if (own_db)
            db_close(db);
        return rc;
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
