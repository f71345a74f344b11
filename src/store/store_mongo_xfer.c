/* store/store_mongo_xfer.c — copy/export/import for the MongoDB store: the
 * whole-database iterator (rows as the logical tables of store.h, ordered by
 * identity byte-wise: integer keys sorted by the server, text-keyed tables
 * sorted in the client because not every server compares strings byte-wise),
 * bulk import (references checked before anything is written, each row an
 * upsert with $setOnInsert on its identity so existing rows are skipped and a
 * re-run completes an interrupted import), counters moved past imported ids,
 * and row counts. Without transactions (standalone server) an import batch is
 * not atomic and the iterator is not one snapshot: re-running is safe.
 * Must not: write audit records or change existing rows. */
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
        r = cmp_text(a, b, g_sort->k2); /* agent_memory: scope "" (global) first */
    if (!r && g_sort->k3)
        r = cmp_text(a, b, g_sort->k3);
    return r;
}

typedef struct {
    store_row_cb cb;
    void *ud;
} iter_ctx;

static err_code iter_table(smongo_ctx *c, const store_table *t, iter_ctx *x, err_t *e)
{
    bool numeric = t->seq_col != NULL;
    bool memory = strcmp(t->name, SMONGO_MEMORY) == 0;
    mongoc_collection_t *col = smongo_coll(c, t->name);
    bson_t f = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort;
    if (numeric) {
        BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
        BSON_APPEND_INT32(&sort, t->key[0], 1);
        bson_append_document_end(&opts, &sort);
    }
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(col, &f, &opts, NULL);
    const bson_t *doc;
    err_code rc = ERR_OK;
    doc_list l = {NULL,
                  0,
                  0,
                  memory ? "agent_id" : t->key[0],
                  memory ? "scope" : NULL,
                  memory ? "key" : NULL};
    while (rc == ERR_OK && mongoc_cursor_next(cur, &doc)) {
        if (numeric) {
            json_t *row = doc_to_row(t, doc);
            rc = x->cb(x->ud, t->name, row, e);
            json_decref(row);
        } else {
            if (l.n == l.cap)
                l.docs = xrealloc(l.docs, (l.cap = l.cap ? l.cap * 2 : 64) * sizeof *l.docs);
            l.docs[l.n++] = bson_copy(doc);
        }
    }
    bson_error_t be;
    const bson_t *reply = NULL;
    if (rc == ERR_OK && mongoc_cursor_error_document(cur, &be, &reply))
        rc = smongo_err(&be, reply, t->name, e);
    mongoc_cursor_destroy(cur);
    bson_destroy(&opts);
    bson_destroy(&f);
    mongoc_collection_destroy(col);
    if (rc == ERR_OK && l.n > 1) {
        pthread_mutex_lock(&g_sort_mu);
        g_sort = &l;
        qsort(l.docs, l.n, sizeof *l.docs, cmp_docs);
        pthread_mutex_unlock(&g_sort_mu);
    }
    for (size_t i = 0; i < l.n; i++) {
        if (rc == ERR_OK) {
            json_t *row = doc_to_row(t, l.docs[i]);
            rc = x->cb(x->ud, t->name, row, e);
            json_decref(row);
        }
        bson_destroy(l.docs[i]);
    }
    free(l.docs);
    return rc;
}

err_code smongo_iterate(store_t *st, store_row_cb cb, void *ud, err_t *e)
{
    ERR_LOCAL(e);
    smongo_ctx c = {M(st), NULL, NULL};
    /* no retry: rows already handed to the callback cannot be taken back */
    err_code rc = smongo_acquire(M(st), &c.client, e);
    if (rc != ERR_OK)
        return rc;
    size_t nt;
    const store_table *t = store_tables(&nt);
    iter_ctx x = {cb, ud};
    for (size_t k = 0; k < nt && rc == ERR_OK; k++)
        rc = iter_table(&c, &t[k], &x, e);
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
        if (json_is_string(sid)) {
            bool exists = false;
            err_code rc = smongo_session_exists(c, json_string_value(sid), &exists, e);
            if (rc != ERR_OK)
                return rc;
            if (!exists)
                return err_set(e, ERR_INVALID, "store: %s row %zu: session %.64s does not exist",
                               x->t->name, r + 1, json_string_value(sid));
        }
        json_t *parent = msgs ? json_object_get(x->rows[r], "parent_message_id") : NULL;
        if (json_is_integer(parent)) {
            bool found = false;
            for (size_t k = 0; k < r && !found; k++)
                found = json_integer_value(json_object_get(x->rows[k], "id")) ==
                        json_integer_value(parent);
            if (!found) {
                bson_t q = BSON_INITIALIZER;
                BSON_APPEND_INT64(&q, "id", json_integer_value(parent));
                err_code rc = smongo_find_one(c, SMONGO_MESSAGES, &q, NULL, &found, e);
                bson_destroy(&q);
                if (rc != ERR_OK)
                    return rc;
            }
            if (!found)
                return err_set(e, ERR_INVALID,
                               "store: messages row %zu: parent message %lld "
                               "does not exist",
                               r + 1, (long long)json_integer_value(parent));
        }
    }
    return ERR_OK;
}

static err_code tx_import(smongo_ctx *c, void *arg, err_t *e)
{
    import_ctx *x = arg;
    x->inserted = 0;
    err_code rc = check_refs(c, x, e);
    mongoc_collection_t *col = smongo_coll(c, x->t->name);
    for (size_t r = 0; r < x->n && rc == ERR_OK; r++) {
        bson_t q, d, upd = BSON_INITIALIZER, opts, reply;
        row_identity(x->t, x->rows[r], &q);
        row_to_doc(x->t, x->rows[r], &d);
        if (strcmp(x->t->name, SMONGO_MESSAGES) == 0) /* message_reindex gives it text */
            BSON_APPEND_BOOL(&d, "unindexed", true);
        BSON_APPEND_DOCUMENT(&upd, "$setOnInsert", &d);
        smongo_opts(c, &opts);
        BSON_APPEND_BOOL(&opts, "upsert", true);
        bson_error_t be;
        if (!mongoc_collection_update_one(col, &q, &upd, &opts, &reply, &be)) {
            rc = smongo_err(&be, &reply, x->t->name, e);
            /* a concurrent import inserted this identity between our upsert's
             * match and its insert: retry, and the row is then skipped */
            if (rc == ERR_UNIQUE)
                rc = err_set(e, ERR_BUSY, "concurrent import of the same row");
            err_prefix(e, "store: %s row %zu", x->t->name, r + 1);
        } else if (smongo_get_int(&reply, "upsertedCount") > 0) {
            x->inserted++;
        }
        bson_destroy(&reply);
        bson_destroy(&opts);
        bson_destroy(&upd);
        bson_destroy(&d);
        bson_destroy(&q);
    }
    mongoc_collection_destroy(col);
    return rc;
}

err_code smongo_import_rows(store_t *st, const char *table, json_t *const *rows, size_t n,
                            int64_t *inserted, err_t *e)
{
    ERR_LOCAL(e);
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
    mongoc_collection_t *col = smongo_coll(c, name);
    bson_t f = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort;
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "id", -1);
    bson_append_document_end(&opts, &sort);
    BSON_APPEND_INT64(&opts, "limit", 1);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(col, &f, &opts, NULL);
    const bson_t *doc;
    int64_t max = 0;
    if (mongoc_cursor_next(cur, &doc))
        max = smongo_get_int(doc, "id");
    bson_error_t be;
    const bson_t *reply = NULL;
    err_code rc = ERR_OK;
    if (mongoc_cursor_error_document(cur, &be, &reply))
        rc = smongo_err(&be, reply, name, e);
    mongoc_cursor_destroy(cur);
    bson_destroy(&opts);
    bson_destroy(&f);
    mongoc_collection_destroy(col);
    if (rc != ERR_OK)
        return rc;
    col = smongo_coll(c, SMONGO_COUNTERS);
    bson_t q = BSON_INITIALIZER, upd = BSON_INITIALIZER, mx, uo = BSON_INITIALIZER, r2;
    BSON_APPEND_UTF8(&q, "name", name);
    BSON_APPEND_DOCUMENT_BEGIN(&upd, "$max", &mx);
    BSON_APPEND_INT64(&mx, "seq", max);
    bson_append_document_end(&upd, &mx);
    BSON_APPEND_BOOL(&uo, "upsert", true);
    if (!mongoc_collection_update_one(col, &q, &upd, &uo, &r2, &be))
        rc = smongo_err(&be, &r2, "counter", e);
    bson_destroy(&r2);
    bson_destroy(&uo);
    bson_destroy(&upd);
    bson_destroy(&q);
    mongoc_collection_destroy(col);
    return rc;
}

static err_code do_finish(smongo_ctx *c, void *arg, err_t *e)
{
    (void)arg;
    err_code rc = sync_counter(c, SMONGO_MESSAGES, e);
    return rc == ERR_OK ? sync_counter(c, SMONGO_AUDIT, e) : rc;
}

err_code smongo_import_finish(store_t *st, err_t *e)
{
    ERR_LOCAL(e);
    return smongo_read(M(st), do_finish, NULL, e);
}

typedef struct {
    const char *table;
    int64_t n;
} count_ctx;

static err_code rd_count(smongo_ctx *c, void *arg, err_t *e)
{
    count_ctx *x = arg;
    bson_t f = BSON_INITIALIZER;
    err_code rc = smongo_count(c, x->table, &f, &x->n, e);
    bson_destroy(&f);
    return rc;
}

err_code smongo_count_rows(store_t *st, const char *table, int64_t *n, err_t *e)
{
    ERR_LOCAL(e);
    count_ctx x = {table, 0};
    err_code rc = smongo_read(M(st), rd_count, &x, e);
    if (rc == ERR_OK)
        *n = x.n;
    return rc;
}
