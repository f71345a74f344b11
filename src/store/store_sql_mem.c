/* store/store_sql_mem.c — the SQL store's agent memory: set (insert a new key or
 * update the existing row, overwrite rules, TTL, audit record in the same
 * transaction), get a live entry, list an agent's entries by scope and literal
 * key prefix (an index-friendly byte-wise range), delete, and sweep expired ones.
 * Must not: write dialect-specific SQL (the key column differs per dialect: the
 * memory statements are in store_sql_dialect.c) or return expired entries. */
#include <stdlib.h>
#include <string.h>
#include "store/store_sql_int.h"
#include "base/utc.h"

static const char SQL_MEM_SWEEP[] =
    "DELETE FROM agent_memory WHERE expires_at IS NOT NULL AND expires_at <= ?";

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

static const ssql_field memory_fields[] = {
    SSQL_FIELD(store_memory, agent_id, TEXT),   SSQL_FIELD(store_memory, session_id, TEXT),
    SSQL_FIELD(store_memory, key, TEXT),        SSQL_FIELD(store_memory, value, JSON),
    SSQL_FIELD(store_memory, metadata, JSON),   SSQL_FIELD(store_memory, created_at, TIME),
    SSQL_FIELD(store_memory, updated_at, TIME), SSQL_FIELD(store_memory, expires_at, TIME)};
static const ssql_rec memory_rec = SSQL_REC(store_memory, memory_fields, NULL);

/* The row memory_set finds for a key (mem_find_*): id, expires_at, created_at. */
typedef struct mem_row {
    int64_t id;
    utc_us expires, created;
} mem_row;

static const ssql_field mem_row_fields[] = {SSQL_FIELD(mem_row, id, INT),
                                            SSQL_FIELD(mem_row, expires, TIME),
                                            SSQL_FIELD(mem_row, created, TIME)};
static const ssql_rec mem_row_rec = SSQL_REC(mem_row, mem_row_fields, NULL);

/* memory_set's unit of work: its input, and the created_at it keeps or sets. */
typedef struct {
    store_sql *s;
    const store_mem_set *in;
    const store_audit_in *audit;
    utc_us now, created_at;
} mem_set_ctx;

/* The key parameters of the memory statements: agent_id[, session_id], key. */
static size_t key_params(db_param *p, const char *agent_id, const char *session_id, const char *key)
{
    size_t n = 0;
    p[n++] = DB_TEXT(agent_id);
    if (session_id)
        p[n++] = DB_TEXT(session_id);
    p[n++] = DB_TEXT(key);
    return n;
}

static err_code tx_memory_set(db_conn *c, void *arg, err_t *e)
{
    mem_set_ctx *x = arg;
    const store_mem_set *in = x->in;
    const store_sql_dialect *d = x->s->d;
    err_code rc = in->session_id ? ssql_need_session(x->s, c, in->session_id, e) : ERR_OK;
    db_param p[8];
    size_t n = key_params(p, in->agent_id, in->session_id, in->key);
    mem_row row = {0, 0, 0}; /* id 0: no row */
    bool found = false;
    if (rc == ERR_OK)
        rc = ssql_get_one(c, in->session_id ? d->mem_find_session : d->mem_find_global, p, n,
                          &mem_row_rec, &row, &found, e);
    if (rc != ERR_OK)
        return rc;

    bool live = row.id && (row.expires == 0 || row.expires > x->now);
    if (live && !in->overwrite)
        return store_err_memory_exists(e, in->key);
    x->created_at = live ? row.created : x->now;

    if (row.id) {
        rc = db_exec_params(c, d->mem_update,
                            DB_ARGS(DB_JSON(in->value), DB_JSON(in->metadata),
                                    DB_TIME(x->created_at), DB_TIME(x->now),
                                    DB_TIME_OPT(in->expires_at), DB_INT(row.id)),
                            NULL, e);
    } else {
        rc = db_exec_params(c, d->mem_insert,
                            DB_ARGS(DB_TEXT(in->agent_id), DB_TEXT(in->session_id),
                                    DB_TEXT(in->key), DB_JSON(in->value), DB_JSON(in->metadata),
                                    DB_TIME(x->now), DB_TIME(x->now), DB_TIME_OPT(in->expires_at)),
                            NULL, e);
        /* Another writer inserted the key between our read and insert (possible
         * on MVCC servers; SQLite serialises writers): retry, then we see it. */
        if (rc == ERR_UNIQUE)
            return store_err_memory_race(e, in->key);
    }
    if (rc != ERR_OK || !x->audit)
        return rc;
    store_audit_rec ar;
    rc = ssql_audit(
        c,
        &store_audit_memory(&ar, x->audit, "memory_set", in->agent_id, in->session_id, in->key)->in,
        e);
    store_audit_rec_free(&ar);
    return rc;
}

err_code ssql_memory_set(store_t *st, const store_mem_set *in, const store_audit_in *audit,
                         store_memory *out, err_t *e)
{
    mem_set_ctx x = {S(st), in, audit, in->now ? in->now : utc_now(), 0};
    err_code rc = ssql_run_write(S(st), tx_memory_set, &x, e);
    if (rc == ERR_OK && out)
        store_memory_from_set(out, in, x.created_at, x.now);
    return rc;
}

err_code ssql_memory_get(store_t *st, const char *agent_id, const char *session_id, const char *key,
                         utc_us now, store_memory *out, err_t *e)
{
    const store_sql_dialect *d = S(st)->d;
    db_param p[4];
    size_t n = key_params(p, agent_id, session_id, key);
    p[n++] = DB_TIME(now ? now : utc_now());
    bool found = false;
    err_code rc = ssql_read_one(S(st), session_id ? d->mem_get_session : d->mem_get_global, p, n,
                                &memory_rec, out, &found, e);
    return rc == ERR_OK && !found ? store_err_no_memory(e, key) : rc;
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

err_code ssql_memory_list(store_t *st, const store_mem_query *q, store_memories *out, err_t *e)
{
    store_sql *s = S(st);
    char small[256 + 4], *heap = NULL;
    const char *upper = NULL; /* successor of the prefix, or NULL */
    bool prefix = q->prefix && *q->prefix;
    if (prefix) {
        size_t n = strlen(q->prefix), un = 0;
        char *buf = n + 4 <= sizeof small ? small : (heap = xmalloc(n + 4));
        if (prefix_successor(q->prefix, n, buf, &un))
            upper = buf;
    }
    unsigned m = (unsigned)q->scope | (prefix ? (upper ? ML_RANGE : ML_FROM) : 0);
    db_param p[6];
    size_t n = 0;
    p[n++] = DB_TEXT(q->agent_id);
    if (q->scope == STORE_MEM_SESSION)
        p[n++] = DB_TEXT(q->session_id);
    if (prefix)
        p[n++] = DB_TEXT(q->prefix);
    if (upper)
        p[n++] = DB_TEXT(upper);
    p[n++] = DB_TIME(q->now ? q->now : utc_now());
    p[n++] = DB_INT(q->limit);
    err_code rc = ssql_read_list(s, ssql_shape(s, &s->mem_list[m], build_mem_list, m), p, n,
                                 &memory_rec, (void **)&out->v, &out->n, e);
    free(heap);
    return rc;
}

err_code ssql_memory_delete(store_t *st, const char *agent_id, const char *session_id,
                            const char *key, const store_audit_in *audit, bool *deleted, err_t *e)
{
    const store_sql_dialect *d = S(st)->d;
    db_param p[3];
    size_t n = key_params(p, agent_id, session_id, key);
    store_audit_rec r = {{0}, NULL};
    int64_t changed = 0;
    err_code rc = ssql_write(
        S(st), session_id ? d->mem_delete_session : d->mem_delete_global, NULL, p, n,
        audit ? &store_audit_memory(&r, audit, "memory_deleted", agent_id, session_id, key)->in
              : NULL,
        &changed, e);
    store_audit_rec_free(&r);
    if (deleted)
        *deleted = changed > 0;
    return rc;
}

err_code ssql_memory_sweep(store_t *st, utc_us now, int64_t *removed, err_t *e)
{
    return ssql_write(S(st), SQL_MEM_SWEEP, NULL, DB_ARGS(DB_TIME(now ? now : utc_now())), NULL,
                      removed, e);
}
