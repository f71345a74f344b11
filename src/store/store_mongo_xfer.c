/* store/store_mongo_xfer.c — copy/export/import for the MongoDB store: the
 * whole-database iterator (rows as the logical tables of store.h, ordered by
 * identity byte-wise: integer keys sorted by the server, text-keyed tables
 * sorted in the client because not every server compares strings byte-wise),
 * bulk import (references checked before anything is written, each row an
 * upsert with $setOnInsert on its identity so existing rows are skipped and a
 * re-run completes an interrupted import), counters moved past imported ids,
 * and row counts. Without transactions (standalone server) an import batch is
 * not atomic and the iterator is not one snapshot: re-running is safe. The record of an
 * unfinished load (store.h) is the one document {id: 1, info} of the collection ctxd_load.
 * Must not: write audit records or change existing rows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store/store_mongo_int.h"
#include "base/sbuf.h"

/* ---- iterate ------------------------------------------------------------------------ */

static json_t *doc_to_row(const store_table *t, const bson_t *d)
{
    json_t *row = json_object();
    for (size_t i = 0; i < t->ncols; i++) {
        const store_column *col = &t->cols[i];
        bson_iter_t it;
        json_t *v;
        if (!bson_iter_init_find(&it, d, col->name) || BSON_ITER_HOLDS_NULL(&it)) {
            v = json_null();
        } else {
            char iso[UTC_ISO_LEN];
            switch (col->type) {
            case STORE_COL_INT: v = json_integer((json_int_t)bson_iter_as_int64(&it)); break;
            case STORE_COL_BOOL: v = json_boolean(bson_iter_as_bool(&it)); break;
            case STORE_COL_TIME: v = json_string(utc_format(bson_iter_as_int64(&it), iso)); break;
            default: v = smongo_iter_to_json(&it); break;
            }
        }
        json_object_set_new_nocheck(row, col->name, v);
    }
    return row;
}

typedef struct {
    bson_t **docs;
    size_t n, cap;
    const char *k1, *k2, *k3;
} doc_list;

static const char *text_of(const bson_t *d, const char *k, size_t *len)
{
    bson_iter_t it;
    if (!k || !bson_iter_init_find(&it, d, k) || !BSON_ITER_HOLDS_UTF8(&it)) {
        *len = 0;
        return "";
    }
    uint32_t n = 0;
    const char *s = bson_iter_utf8(&it, &n);
    *len = n;
    return s;
}

static int cmp_text(const bson_t *a, const bson_t *b, const char *k)
{
    size_t la, lb;
    const char *sa = text_of(a, k, &la), *sb = text_of(b, k, &lb);
    int r = memcmp(sa, sb, la < lb ? la : lb);
    return r ? r : (la > lb) - (la < lb);
}

static const doc_list *g_sort; /* qsort has no context argument in C17 */
static pthread_mutex_t g_sort_mu = PTHREAD_MUTEX_INITIALIZER;

static int cmp_docs(const void *pa, const void *pb)
{
    const bson_t *a = *(bson_t *const *)pa, *b = *(bson_t *const *)pb;
    int r = cmp_text(a, b, g_sort->k1);
    if (!r && g_sort->k2)
        r = cmp_text(a, b, g_sort->k2);
    if (!r && g_sort->k3)
        r = cmp_text(a, b, g_sort->k3);
    return r;
}

/* One table's rows going out: in key order from the server (integer keys), or
 * gathered and sorted here first (text keys). */
typedef struct {
    const store_table *t;
    store_row_cb cb;
    void *ud;
    doc_list l;
} iter_ctx;

static err_code emit(iter_ctx *x, const bson_t *doc, err_t *e)
{
    json_t *row = doc_to_row(x->t, doc);
    err_code rc = x->cb(x->ud, x->t->name, row, e);
    json_decref(row);
    return rc;
}

static err_code take_doc(const bson_t *doc, void *arg, err_t *e)
{
    iter_ctx *x = arg;
    if (x->t->seq_col)
        return emit(x, doc, e);
    doc_list *l = &x->l;
    if (l->n == l->cap)
        l->docs = xrealloc(l->docs, (l->cap = l->cap ? l->cap * 2 : 64) * sizeof *l->docs);
    l->docs[l->n++] = bson_copy(doc);
    return ERR_OK;
}

static err_code iter_table(smongo_ctx *c, const store_table *t, store_row_cb cb, void *ud, err_t *e)
{
    bool memory = strcmp(t->name, SMONGO_MEMORY) == 0;
    /* agent_memory: by agent, then scope ("" = global first), then key */
    iter_ctx x = {.t = t,
                  .cb = cb,
                  .ud = ud,
                  .l = {.k1 = memory ? "agent_id" : t->key[0],
                        .k2 = memory ? "scope" : NULL,
                        .k3 = memory ? "key" : NULL}};
    smongo_find o = {.sort = {t->seq_col ? t->key[0] : NULL}};
    bson_t f = BSON_INITIALIZER;
    err_code rc = smongo_each(c, t->name, &f, &o, take_doc, &x, e);
    bson_destroy(&f);
    doc_list *l = &x.l;
    if (rc == ERR_OK && l->n > 1) {
        pthread_mutex_lock(&g_sort_mu);
        g_sort = l;
        qsort(l->docs, l->n, sizeof *l->docs, cmp_docs);
        pthread_mutex_unlock(&g_sort_mu);
    }
    for (size_t i = 0; i < l->n; i++) {
        if (rc == ERR_OK)
            rc = emit(&x, l->docs[i], e);
        bson_destroy(l->docs[i]);
    }
    free(l->docs);
    return rc;
}

err_code smongo_iterate(store_t *st, store_row_cb cb, void *ud, err_t *e)
{
    smongo_ctx c = {M(st), NULL, NULL};
    /* no retry: rows already handed to the callback cannot be taken back */
    err_code rc = smongo_acquire(M(st), &c.client, e);
    if (rc != ERR_OK)
        return rc;
    size_t nt;
    const store_table *t = store_tables(&nt);
    for (size_t k = 0; k < nt && rc == ERR_OK; k++)
        rc = iter_table(&c, &t[k], cb, ud, e);
    smongo_release(M(st), c.client);
    return rc;
}

/* ---- import ------------------------------------------------------------------------- */

static void row_to_doc(const store_table *t, const json_t *row, bson_t *d)
{
    bson_init(d);
    for (size_t i = 0; i < t->ncols; i++) {
        const store_column *col = &t->cols[i];
        json_t *v = json_object_get(row, col->name);
        if (json_is_null(v) && (col->nullable || col->type != STORE_COL_JSON)) {
            bson_append_null(d, col->name, -1);
            continue;
        }
        switch (col->type) {
        case STORE_COL_INT: bson_append_int64(d, col->name, -1, json_integer_value(v)); break;
        case STORE_COL_BOOL: bson_append_bool(d, col->name, -1, json_is_true(v)); break;
        case STORE_COL_TEXT:
            bson_append_utf8(d, col->name, -1, json_string_value(v), (int)json_string_length(v));
            break;
        case STORE_COL_TIME: {
            utc_us us = 0;
            err_t pe;
            utc_parse(json_string_value(v), &us, &pe); /* checked before */
            bson_append_int64(d, col->name, -1, us);
            break;
        }
        case STORE_COL_JSON: smongo_append_json(d, col->name, v); break;
        }
    }
    if (strcmp(t->name, SMONGO_MEMORY) == 0) {
        json_t *sid = json_object_get(row, "session_id");
        BSON_APPEND_UTF8(d, "scope", json_is_string(sid) ? json_string_value(sid) : "");
    }
    if (strcmp(t->name, SMONGO_SESSIONS) == 0 && json_is_object(json_object_get(row, "access")))
        BSON_APPEND_BOOL(d, "restricted", true); /* as session_create marks it */
}

static void row_identity(const store_table *t, const json_t *row, bson_t *q)
{
    bson_init(q);
    if (strcmp(t->name, SMONGO_MEMORY) == 0) {
        json_t *sid = json_object_get(row, "session_id");
        BSON_APPEND_UTF8(q, "agent_id", json_string_value(json_object_get(row, "agent_id")));
        BSON_APPEND_UTF8(q, "scope", json_is_string(sid) ? json_string_value(sid) : "");
        BSON_APPEND_UTF8(q, "key", json_string_value(json_object_get(row, "key")));
        return;
    }
    json_t *v = json_object_get(row, t->key[0]);
    if (json_is_integer(v))
        BSON_APPEND_INT64(q, t->key[0], json_integer_value(v));
    else
        BSON_APPEND_UTF8(q, t->key[0], json_string_value(v));
}

typedef struct {
    const store_table *t;
    json_t *const *rows;
    size_t n;
    int64_t inserted;
} import_ctx;

/* What a foreign key would refuse: a message's session or earlier parent, a
 * session-scoped memory entry's session. */
static err_code check_refs(smongo_ctx *c, import_ctx *x, err_t *e)
{
    bool msgs = strcmp(x->t->name, SMONGO_MESSAGES) == 0;
    if (!msgs && strcmp(x->t->name, SMONGO_MEMORY) != 0)
        return ERR_OK;
    for (size_t r = 0; r < x->n; r++) {
        json_t *sid = json_object_get(x->rows[r], "session_id");
        err_code rc =
            json_is_string(sid) ? smongo_need_session(c, json_string_value(sid), e) : ERR_OK;
        if (rc == ERR_NOTFOUND)
            return err_set(e, ERR_INVALID, "store: %s row %zu: session %.64s does not exist",
                           x->t->name, r + 1, json_string_value(sid));
        if (rc != ERR_OK)
            return rc;
        json_t *parent = msgs ? json_object_get(x->rows[r], "parent_message_id") : NULL;
        if (!json_is_integer(parent))
            continue;
        bool found = false;
        for (size_t k = 0; k < r && !found; k++)
            found =
                json_integer_value(json_object_get(x->rows[k], "id")) == json_integer_value(parent);
        if (!found) {
            bson_t q = BSON_INITIALIZER;
            BSON_APPEND_INT64(&q, "id", json_integer_value(parent));
            rc = smongo_find_one(c, SMONGO_MESSAGES, &q, NULL, NULL, &found, e);
            bson_destroy(&q);
            if (rc != ERR_OK)
                return rc;
        }
        if (!found)
            return err_set(e, ERR_INVALID,
                           "store: messages row %zu: parent message %lld does not exist", r + 1,
                           (long long)json_integer_value(parent));
    }
    return ERR_OK;
}

static err_code tx_import(smongo_ctx *c, void *arg, err_t *e)
{
    import_ctx *x = arg;
    x->inserted = 0;
    err_code rc = check_refs(c, x, e);
    for (size_t r = 0; r < x->n && rc == ERR_OK; r++) {
        bson_t q, d, upd = BSON_INITIALIZER;
        row_identity(x->t, x->rows[r], &q);
        row_to_doc(x->t, x->rows[r], &d);
        if (strcmp(x->t->name, SMONGO_MESSAGES) == 0) /* message_reindex gives it text */
            BSON_APPEND_BOOL(&d, "unindexed", true);
        BSON_APPEND_DOCUMENT(&upd, "$setOnInsert", &d);
        int64_t upserted = 0;
        rc = smongo_update(c, x->t->name, &q, &upd, true, NULL, &upserted, e);
        /* a concurrent import inserted this identity between our upsert's match
         * and its insert: retry, and the row is then skipped */
        if (rc == ERR_UNIQUE)
            rc = err_set(e, ERR_BUSY, "concurrent import of the same row");
        if (rc != ERR_OK)
            err_prefix(e, "store: %s row %zu", x->t->name, r + 1);
        x->inserted += upserted > 0;
        bson_destroy(&upd);
        bson_destroy(&d);
        bson_destroy(&q);
    }
    return rc;
}

err_code smongo_import_rows(store_t *st, const char *table, json_t *const *rows, size_t n,
                            int64_t *inserted, err_t *e)
{
    if (n == 0)
        return ERR_OK;
    import_ctx x = {store_table_find(table), rows, n, 0};
    err_code rc = smongo_write(M(st), tx_import, &x, e);
    if (rc == ERR_OK && inserted)
        *inserted = x.inserted;
    return rc;
}

/* counter `name` = max(counter, largest id in the collection) */
static err_code sync_counter(smongo_ctx *c, const char *name, err_t *e)
{
    int64_t max = 0;
    err_code rc = smongo_max(c, name, "id", &max, e);
    if (rc != ERR_OK)
        return rc;
    bson_t q = BSON_INITIALIZER, upd = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&q, "name", name);
    smongo_append_op(&upd, "$max", "seq", max);
    rc = smongo_update(c, SMONGO_COUNTERS, &q, &upd, true, NULL, NULL, e);
    bson_destroy(&upd);
    bson_destroy(&q);
    return rc;
}

static err_code rd_import_finish(smongo_ctx *c, void *arg, err_t *e)
{
    (void)arg;
    err_code rc = sync_counter(c, SMONGO_MESSAGES, e);
    return rc == ERR_OK ? sync_counter(c, SMONGO_AUDIT, e) : rc;
}

err_code smongo_import_finish(store_t *st, err_t *e)
{
    return smongo_read(M(st), rd_import_finish, NULL, e);
}

err_code smongo_count_rows(store_t *st, const char *table, int64_t *n, err_t *e)
{
    bson_t f = BSON_INITIALIZER;
    err_code rc = smongo_read_count(M(st), table, &f, n, e);
    bson_destroy(&f);
    return rc;
}

/* ---- the record of an unfinished load (store.h) ----------------------------------------- */

#define SMONGO_LOAD "ctxd_load"

err_code smongo_load_put(store_t *st, const char *text, err_t *e)
{
    bson_t q = BSON_INITIALIZER;
    BSON_APPEND_INT32(&q, "id", 1);
    err_code rc;
    if (!text) {
        rc = smongo_write_delete(M(st), SMONGO_LOAD, NULL, &q, true, NULL, NULL, e);
    } else {
        bson_t upd = BSON_INITIALIZER;
        BCON_APPEND(&upd, "$set", "{", "info", BCON_UTF8(text), "}");
        rc = smongo_write_upsert(M(st), SMONGO_LOAD, &q, &upd, e);
        bson_destroy(&upd);
    }
    bson_destroy(&q);
    return rc;
}

static err_code rd_load(smongo_ctx *c, void *arg, err_t *e)
{
    char **text = arg;
    free(*text);
    *text = NULL;
    bson_t q = BSON_INITIALIZER, doc;
    BSON_APPEND_INT32(&q, "id", 1);
    bool found = false;
    err_code rc = smongo_find_one(c, SMONGO_LOAD, &q, NULL, &doc, &found, e);
    bson_destroy(&q);
    if (rc == ERR_OK && found) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, &doc, "info") && BSON_ITER_HOLDS_UTF8(&it))
            *text = xstrdup(bson_iter_utf8(&it, NULL));
        else
            *text = xstrdup("{}"); /* damaged: still an unfinished load */
        bson_destroy(&doc);
    }
    return rc;
}

err_code smongo_load_get(store_t *st, char **text, err_t *e)
{
    return smongo_read(M(st), rd_load, text, e);
}
