/* store/store_mongo_mem.c — the MongoDB store's agent memory (scopes, TTL,
 * literal prefixes), audit log, protected tokens and revoked JWT ids.
 * Memory entries are keyed by (agent_id, scope, key) with scope = the session
 * id or "" for global scope (a sentinel, because unique indexes treat missing
 * and null fields as equal values); memory_set inserts a new key (the unique
 * index refuses a concurrent second insert) and replaces an existing entry
 * only while it is still live / still expired as read, so overwrite=false holds
 * under races on a real server. On a server that does not enforce the unique
 * index, two first writers of one key at the same moment can both insert.
 * memory_list sorts and limits in the client: key order must be byte order on
 * every server (MongoDB compares strings byte-wise, emulators may not), and one
 * agent's live entries are a small set.
 * Must not: decide permissions, or know about collections other than its own,
 * sessions (existence) and the counters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store/store_mongo_int.h"
#include "store/store_backend.h"
#include "base/sbuf.h"

static smongo *M(store_t *st)
{
    return (smongo *)st;
}

/* {agent_id, scope, key} */
static void mem_key(bson_t *q, const char *agent, const char *session, const char *key)
{
    bson_init(q);
    BSON_APPEND_UTF8(q, "agent_id", agent);
    BSON_APPEND_UTF8(q, "scope", session ? session : "");
    BSON_APPEND_UTF8(q, "key", key);
}

/* expires_at missing/null (never) or > now */
static void append_live(bson_t *f, utc_us now)
{
    bson_t or, a, b, gt;
    BSON_APPEND_ARRAY_BEGIN(f, "$or", & or);
    BSON_APPEND_DOCUMENT_BEGIN(& or, "0", &a);
    BSON_APPEND_NULL(&a, "expires_at");
    bson_append_document_end(& or, &a);
    BSON_APPEND_DOCUMENT_BEGIN(& or, "1", &b);
    BSON_APPEND_DOCUMENT_BEGIN(&b, "expires_at", &gt);
    BSON_APPEND_INT64(&gt, "$gt", now);
    bson_append_document_end(&b, &gt);
    bson_append_document_end(& or, &b);
    bson_append_array_end(f, & or);
}

static void read_memory(const bson_t *d, store_memory *m)
{
    m->agent_id = smongo_get_str(d, "agent_id");
    m->session_id = smongo_get_str(d, "session_id");
    m->key = smongo_get_str(d, "key");
    m->value = smongo_get_json_text(d, "value", false);
    m->metadata = smongo_get_json_text(d, "metadata", true);
    m->created_at = smongo_get_time(d, "created_at");
    m->updated_at = smongo_get_time(d, "updated_at");
    m->expires_at = smongo_get_time(d, "expires_at");
}

typedef struct {
    const store_mem_set *in;
    const store_audit_in *audit;
    utc_us now, created_at;
} mem_set_ctx;

static err_code tx_memory_set(smongo_ctx *c, void *arg, err_t *e)
{
    mem_set_ctx *x = arg;
    const store_mem_set *in = x->in;
    err_code rc;
    if (in->session_id) {
        bool exists = false;
        if ((rc = smongo_session_exists(c, in->session_id, &exists, e)) != ERR_OK)
            return rc;
        if (!exists)
            return store_err_no_session(e, in->session_id);
    }
    bson_t q, d;
    mem_key(&q, in->agent_id, in->session_id, in->key);
    bool found = false;
    if ((rc = smongo_find_one(c, SMONGO_MEMORY, &q, &d, &found, e)) != ERR_OK) {
        bson_destroy(&q);
        return rc;
    }
    utc_us expires = 0, created = 0;
    if (found) {
        expires = smongo_get_time(&d, "expires_at");
        created = smongo_get_time(&d, "created_at");
        bson_destroy(&d);
    }
    bool live = found && (expires == 0 || expires > x->now);
    if (live && !in->overwrite) {
        bson_destroy(&q);
        return store_err_memory_exists(e, in->key);
    }
    x->created_at = live ? created : x->now;

    bson_init(&d);
    BSON_APPEND_UTF8(&d, "agent_id", in->agent_id);
    BSON_APPEND_UTF8(&d, "scope", in->session_id ? in->session_id : "");
    smongo_append_str(&d, "session_id", in->session_id);
    BSON_APPEND_UTF8(&d, "key", in->key);
    rc = smongo_append_json_text(&d, "value", in->value, "memory value", e);
    if (rc == ERR_OK)
        rc = smongo_append_json_text(&d, "metadata", in->metadata, "memory metadata", e);
    smongo_append_time(&d, "created_at", x->created_at);
    smongo_append_time(&d, "updated_at", x->now);
    smongo_append_time(&d, "expires_at", in->expires_at);
    /* No upsert: a real server retries an upsert that hits the unique index as
     * an update (MongoDB >= 4.2), which would overwrite a live entry another
     * writer just created despite overwrite=false. A new key is a plain insert
     * (the index refuses the second writer); an existing entry is replaced only
     * if it is still what we saw (live, or still expired). Losing either race
     * is ERR_BUSY: the write is retried and then sees the winner's entry. */
    if (rc == ERR_OK && !found) {
        rc = smongo_insert(c, SMONGO_MEMORY, &d, e);
        if (rc == ERR_UNIQUE)
            rc = store_err_memory_race(e, in->key);
    } else if (rc == ERR_OK) {
        if (!live) {
            bson_t lte;
            BSON_APPEND_DOCUMENT_BEGIN(&q, "expires_at", &lte);
            BSON_APPEND_INT64(&lte, "$lte", x->now);
            bson_append_document_end(&q, &lte);
        }
        mongoc_collection_t *col = smongo_coll(c, SMONGO_MEMORY);
        bson_t opts, reply;
        smongo_opts(c, &opts);
        bson_error_t be;
        if (!mongoc_collection_replace_one(col, &q, &d, &opts, &reply, &be))
            rc = smongo_err(&be, &reply, "memory", e);
        else if (smongo_get_int(&reply, "matchedCount") == 0)
            rc = store_err_memory_race(e, in->key);
        bson_destroy(&reply);
        bson_destroy(&opts);
        mongoc_collection_destroy(col);
    }
    bson_destroy(&d);
    bson_destroy(&q);
    if (rc != ERR_OK || !x->audit)
        return rc;
    store_audit_rec r;
    return smongo_audit_insert(
        c, store_audit_memory(&r, x->audit, "memory_set", in->agent_id, in->session_id, in->key),
        e);
}

err_code smongo_memory_set(store_t *st, const store_mem_set *in, const store_audit_in *audit,
                           store_memory *out, err_t *e)
{
    ERR_LOCAL(e);
    /* the value first: ERR_INVALID before the session and entry lookups */
    json_error_t je;
    json_t *v = json_loads(in->value, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!v)
        return err_set(e, ERR_INVALID, "memory value is not valid JSON: %s", je.text);
    json_decref(v);
    mem_set_ctx x = {in, audit, in->now ? in->now : utc_now(), 0};
    err_code rc = smongo_write(M(st), tx_memory_set, &x, e);
    if (rc == ERR_OK && out)
        store_memory_from_set(out, in, x.created_at, x.now);
    return rc;
}

typedef struct {
    const char *agent_id, *session_id, *key;
    utc_us now;
    store_memory *out;
} mem_get_ctx;

static err_code rd_memory_get(smongo_ctx *c, void *arg, err_t *e)
{
    mem_get_ctx *x = arg;
    store_memory_clear(x->out);
    bson_t q, d;
    mem_key(&q, x->agent_id, x->session_id, x->key);
    append_live(&q, x->now);
    bool found = false;
    err_code rc = smongo_find_one(c, SMONGO_MEMORY, &q, &d, &found, e);
    bson_destroy(&q);
    if (rc != ERR_OK)
        return rc;
    if (!found)
        return store_err_no_memory(e, x->key);
    read_memory(&d, x->out);
    bson_destroy(&d);
    return ERR_OK;
}

err_code smongo_memory_get(store_t *st, const char *agent_id, const char *session_id,
                           const char *key, utc_us now, store_memory *out, err_t *e)
{
    ERR_LOCAL(e);
    mem_get_ctx x = {agent_id, session_id, key, now ? now : utc_now(), out};
    return smongo_read(M(st), rd_memory_get, &x, e);
}

/* ^ and the prefix with every regex metacharacter escaped: a literal prefix. */
static char *prefix_regex(const char *p)
{
    sbuf_t b = SBUF_INIT;
    sbuf_putc(&b, '^');
    for (; *p; p++) {
        if (strchr("\\^$.|?*+()[]{}-/", *p))
            sbuf_putc(&b, '\\');
        sbuf_putc(&b, *p);
    }
    return sbuf_detach(&b);
}

static int cmp_mem(const void *pa, const void *pb)
{
    const store_memory *a = pa, *b = pb;
    int r = strcmp(a->key, b->key);
    if (r)
        return r;
    if (!a->session_id || !b->session_id)
        return (a->session_id != NULL) - (b->session_id != NULL);
    return strcmp(a->session_id, b->session_id);
}

typedef struct {
    const store_mem_query *q;
    utc_us now;
    store_memories *out;
} mem_list_ctx;

static err_code rd_memory_list(smongo_ctx *c, void *arg, err_t *e)
{
    mem_list_ctx *x = arg;
    const store_mem_query *q = x->q;
    store_memories_free(x->out);
    bson_t f = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&f, "agent_id", q->agent_id);
    if (q->scope == STORE_MEM_GLOBAL)
        BSON_APPEND_UTF8(&f, "scope", "");
    else if (q->scope == STORE_MEM_SESSION)
        BSON_APPEND_UTF8(&f, "scope", q->session_id);
    char *re = NULL;
    if (q->prefix && *q->prefix) {
        re = prefix_regex(q->prefix);
        BSON_APPEND_REGEX(&f, "key", re, "");
    }
    append_live(&f, x->now);
    mongoc_collection_t *col = smongo_coll(c, SMONGO_MEMORY);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(col, &f, NULL, NULL);
    const bson_t *doc;
    size_t cap = 0;
    size_t plen = q->prefix ? strlen(q->prefix) : 0;
    while (mongoc_cursor_next(cur, &doc)) {
        store_memory m = {0};
        read_memory(doc, &m);
        if (!m.key || (plen && strncmp(m.key, q->prefix, plen) != 0)) { /* byte-exact */
            store_memory_clear(&m);
            continue;
        }
        *(store_memory *)store_list_push((void **)&x->out->v, &x->out->n, &cap, sizeof *x->out->v) =
            m;
    }
    bson_error_t be;
    const bson_t *reply = NULL;
    err_code rc = ERR_OK;
    if (mongoc_cursor_error_document(cur, &be, &reply))
        rc = smongo_err(&be, reply, SMONGO_MEMORY, e);
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(col);
    bson_destroy(&f);
    free(re);
    if (rc == ERR_OK) {
        if (x->out->n > 1)
            qsort(x->out->v, x->out->n, sizeof *x->out->v, cmp_mem);
        while (x->out->n > (size_t)q->limit)
            store_memory_clear(&x->out->v[--x->out->n]);
    }
    return rc;
}

err_code smongo_memory_list(store_t *st, const store_mem_query *q, store_memories *out, err_t *e)
{
    ERR_LOCAL(e);
    mem_list_ctx x = {q, q->now ? q->now : utc_now(), out};
    return smongo_read(M(st), rd_memory_list, &x, e);
}

typedef struct {
    const char *agent_id, *session_id, *key;
    const store_audit_in *audit;
    bool deleted;
} mem_del_ctx;

static err_code tx_memory_delete(smongo_ctx *c, void *arg, err_t *e)
{
    mem_del_ctx *x = arg;
    bson_t q;
    mem_key(&q, x->agent_id, x->session_id, x->key);
    int64_t n = 0;
    err_code rc = smongo_delete(c, SMONGO_MEMORY, &q, false, &n, e);
    bson_destroy(&q);
    if (rc != ERR_OK)
        return rc;
    x->deleted = n > 0;
    if (!x->deleted || !x->audit)
        return ERR_OK;
    store_audit_rec r;
    return smongo_audit_insert(
        c, store_audit_memory(&r, x->audit, "memory_deleted", x->agent_id, x->session_id, x->key),
        e);
}

err_code smongo_memory_delete(store_t *st, const char *agent_id, const char *session_id,
                              const char *key, const store_audit_in *audit, bool *deleted, err_t *e)
{
    ERR_LOCAL(e);
    mem_del_ctx x = {agent_id, session_id, key, audit, false};
    err_code rc = smongo_write(M(st), tx_memory_delete, &x, e);
    if (rc == ERR_OK && deleted)
        *deleted = x.deleted;
    return rc;
}

/* Deletes {field: {op: t}} from one or two collections. */
typedef struct {
    const char *coll[2];
    const char *field, *op;
    utc_us t;
    int64_t removed;
} purge_ctx;

static err_code tx_purge(smongo_ctx *c, void *arg, err_t *e)
{
    purge_ctx *x = arg;
    x->removed = 0;
    for (int k = 0; k < 2 && x->coll[k]; k++) {
        bson_t f = BSON_INITIALIZER, r;
        BSON_APPEND_DOCUMENT_BEGIN(&f, x->field, &r);
        BSON_APPEND_INT64(&r, x->op, x->t);
        bson_append_document_end(&f, &r);
        int64_t n = 0;
        err_code rc = smongo_delete(c, x->coll[k], &f, true, &n, e);
        bson_destroy(&f);
        if (rc != ERR_OK)
            return rc;
        x->removed += n;
    }
    return ERR_OK;
}

static err_code run_purge(smongo *s, const char *a, const char *b, const char *field,
                          const char *op, utc_us t, int64_t *removed, err_t *e)
{
    if (removed)
        *removed = 0;
    purge_ctx x = {{a, b}, field, op, t, 0};
    err_code rc = smongo_write(s, tx_purge, &x, e);
    if (rc == ERR_OK && removed)
        *removed = x.removed;
    return rc;
}

err_code smongo_memory_sweep(store_t *st, utc_us now, int64_t *removed, err_t *e)
{
    ERR_LOCAL(e);
    return run_purge(M(st), SMONGO_MEMORY, NULL, "expires_at", "$lte", now ? now : utc_now(),
                     removed, e);
}

/* ---- audit -------------------------------------------------------------------------- */

static err_code tx_audit_append(smongo_ctx *c, void *arg, err_t *e)
{
    store_audit_rec r = {*(const store_audit_in *)arg, NULL}; /* as given: no defaults */
    return smongo_audit_insert(c, &r, e);
}

err_code smongo_audit_append(store_t *st, const store_audit_in *a, err_t *e)
{
    ERR_LOCAL(e);
    return smongo_write(M(st), tx_audit_append, (void *)a, e);
}

typedef struct {
    const store_audit_query *q;
    store_audits *out;
} audit_list_ctx;

static err_code rd_audit_list(smongo_ctx *c, void *arg, err_t *e)
{
    audit_list_ctx *x = arg;
    const store_audit_query *q = x->q;
    store_audits_free(x->out);
    bson_t f = BSON_INITIALIZER;
    if (q->session_id)
        BSON_APPEND_UTF8(&f, "session_id", q->session_id);
    if (q->agent_id)
        BSON_APPEND_UTF8(&f, "agent_id", q->agent_id);
    if (q->event_type)
        BSON_APPEND_UTF8(&f, "event_type", q->event_type);
    mongoc_collection_t *col = smongo_coll(c, SMONGO_AUDIT);
    bson_t opts = BSON_INITIALIZER, sort;
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "id", -1);
    bson_append_document_end(&opts, &sort);
    BSON_APPEND_INT64(&opts, "limit", q->limit);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(col, &f, &opts, NULL);
    const bson_t *d;
    size_t cap = 0;
    while (mongoc_cursor_next(cur, &d)) {
        store_audit *a = store_list_push((void **)&x->out->v, &x->out->n, &cap, sizeof *x->out->v);
        a->id = smongo_get_int(d, "id");
        a->at = smongo_get_time(d, "created_at");
        a->event_type = smongo_get_str(d, "event_type");
        a->agent_id = smongo_get_str(d, "agent_id");
        a->session_id = smongo_get_str(d, "session_id");
        a->resource = smongo_get_str(d, "resource");
        a->metadata = smongo_get_json_text(d, "metadata", true);
    }
    bson_error_t be;
    const bson_t *reply = NULL;
    err_code rc = ERR_OK;
    if (mongoc_cursor_error_document(cur, &be, &reply))
        rc = smongo_err(&be, reply, SMONGO_AUDIT, e);
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(col);
    bson_destroy(&opts);
    bson_destroy(&f);
    return rc;
}

err_code smongo_audit_list(store_t *st, const store_audit_query *q, store_audits *out, err_t *e)
{
    ERR_LOCAL(e);
    audit_list_ctx x = {q, out};
    return smongo_read(M(st), rd_audit_list, &x, e);
}

err_code smongo_audit_purge(store_t *st, utc_us older_than, int64_t *removed, err_t *e)
{
    ERR_LOCAL(e);
    return run_purge(M(st), SMONGO_AUDIT, NULL, "created_at", "$lt", older_than, removed, e);
}

/* ---- tokens and revoked jtis ------------------------------------------------------------ */

static err_code tx_token_put(smongo_ctx *c, void *arg, err_t *e)
{
    const store_token *t = arg;
    bson_t q = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&q, "token_id", t->token_id);
    bool found = false;
    err_code rc = smongo_find_one(c, SMONGO_TOKENS, &q, NULL, &found, e);
    bson_destroy(&q);
    if (rc == ERR_OK && !found) {
        bson_t d = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&d, "token_id", t->token_id);
        BSON_APPEND_UTF8(&d, "jwt", t->jwt);
        BSON_APPEND_UTF8(&d, "agent_id", t->agent_id);
        BSON_APPEND_UTF8(&d, "agent_type", t->agent_type);
        smongo_append_time(&d, "created_at", t->created_at ? t->created_at : utc_now());
        smongo_append_time(&d, "expires_at", t->expires_at);
        rc = smongo_insert(c, SMONGO_TOKENS, &d, e);
        bson_destroy(&d);
    }
    if (found || rc == ERR_UNIQUE)
        return store_err_token_exists(e, t->token_id);
    return rc;
}

err_code smongo_token_put(store_t *st, const store_token *t, err_t *e)
{
    ERR_LOCAL(e);
    return smongo_write(M(st), tx_token_put, (void *)t, e);
}

typedef struct {
    const char *id;
    store_token *out;
    bool deleted;
} token_ctx;

static err_code rd_token_get(smongo_ctx *c, void *arg, err_t *e)
{
    token_ctx *x = arg;
    store_token_clear(x->out);
    bson_t q = BSON_INITIALIZER, d;
    BSON_APPEND_UTF8(&q, "token_id", x->id);
    bool found = false;
    err_code rc = smongo_find_one(c, SMONGO_TOKENS, &q, &d, &found, e);
    bson_destroy(&q);
    if (rc != ERR_OK)
        return rc;
    if (!found)
        return store_err_no_token(e);
    x->out->token_id = smongo_get_str(&d, "token_id");
    x->out->jwt = smongo_get_str(&d, "jwt");
    x->out->agent_id = smongo_get_str(&d, "agent_id");
    x->out->agent_type = smongo_get_str(&d, "agent_type");
    x->out->created_at = smongo_get_time(&d, "created_at");
    x->out->expires_at = smongo_get_time(&d, "expires_at");
    bson_destroy(&d);
    return ERR_OK;
}

err_code smongo_token_get(store_t *st, const char *token_id, store_token *out, err_t *e)
{
    ERR_LOCAL(e);
    token_ctx x = {token_id, out, false};
    return smongo_read(M(st), rd_token_get, &x, e);
}

static err_code tx_token_delete(smongo_ctx *c, void *arg, err_t *e)
{
    token_ctx *x = arg;
    bson_t q = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&q, "token_id", x->id);
    int64_t n = 0;
    err_code rc = smongo_delete(c, SMONGO_TOKENS, &q, false, &n, e);
    bson_destroy(&q);
    x->deleted = n > 0;
    return rc;
}

err_code smongo_token_delete(store_t *st, const char *token_id, bool *deleted, err_t *e)
{
    ERR_LOCAL(e);
    token_ctx x = {token_id, NULL, false};
    err_code rc = smongo_write(M(st), tx_token_delete, &x, e);
    if (rc == ERR_OK && deleted)
        *deleted = x.deleted;
    return rc;
}

err_code smongo_token_purge(store_t *st, utc_us now, int64_t *removed, err_t *e)
{
    ERR_LOCAL(e);
    return run_purge(M(st), SMONGO_TOKENS, SMONGO_JTIS, "expires_at", "$lte", now ? now : utc_now(),
                     removed, e);
}

typedef struct {
    const char *jti;
    utc_us expires_at;
    bool revoked;
} jti_ctx;

static err_code tx_jti_revoke(smongo_ctx *c, void *arg, err_t *e)
{
    jti_ctx *x = arg;
    bson_t q = BSON_INITIALIZER, upd = BSON_INITIALIZER, op, opts, reply;
    BSON_APPEND_UTF8(&q, "jti", x->jti);
    /* the later expiry wins; a new revocation is inserted by the upsert */
    BSON_APPEND_DOCUMENT_BEGIN(&upd, "$max", &op);
    BSON_APPEND_INT64(&op, "expires_at", x->expires_at);
    bson_append_document_end(&upd, &op);
    mongoc_collection_t *col = smongo_coll(c, SMONGO_JTIS);
    smongo_opts(c, &opts);
    BSON_APPEND_BOOL(&opts, "upsert", true);
    bson_error_t be;
    err_code rc = ERR_OK;
    if (!mongoc_collection_update_one(col, &q, &upd, &opts, &reply, &be))
        rc = smongo_err(&be, &reply, SMONGO_JTIS, e);
    if (rc == ERR_UNIQUE) /* a concurrent first revocation: retry updates it */
        rc = err_set(e, ERR_BUSY, "store: concurrent revocation of a jti");
    bson_destroy(&reply);
    bson_destroy(&opts);
    bson_destroy(&q);
    bson_destroy(&upd);
    mongoc_collection_destroy(col);
    return rc;
}

err_code smongo_jti_revoke(store_t *st, const char *jti, utc_us expires_at, err_t *e)
{
    ERR_LOCAL(e);
    jti_ctx x = {jti, expires_at, false};
    return smongo_write(M(st), tx_jti_revoke, &x, e);
}

static err_code rd_jti_get(smongo_ctx *c, void *arg, err_t *e)
{
    jti_ctx *x = arg;
    bson_t q = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&q, "jti", x->jti);
    err_code rc = smongo_find_one(c, SMONGO_JTIS, &q, NULL, &x->revoked, e);
    bson_destroy(&q);
    return rc;
}

err_code smongo_jti_is_revoked(store_t *st, const char *jti, bool *revoked, err_t *e)
{
    ERR_LOCAL(e);
    jti_ctx x = {jti, 0, false};
    err_code rc = smongo_read(M(st), rd_jti_get, &x, e);
    if (rc == ERR_OK)
        *revoked = x.revoked;
    return rc;
}
