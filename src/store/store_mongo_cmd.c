/* store/store_mongo_cmd.c — the MongoDB store's commands and executors: the
 * commands a unit of work runs (find, find one, into records or lists, count,
 * insert, delete, update, the id counters, the audit record) in its
 * transaction's session, and the executors that run a whole operation of one
 * command (a read of one record or one list, a count; a write that inserts a
 * new document, deletes, or upserts) so that such an operation needs neither a
 * context struct nor a callback of its own.
 * Must not: know the fields of a collection (records come through smongo_rec),
 * or decide visibility or permissions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store/store_mongo_int.h"

/* ---- commands inside a unit of work ---------------------------------------------------- */

/* opts of a find: o's sort, skip and projection, the limit, the session */
static void find_opts(smongo_ctx *c, const smongo_find *o, int64_t limit, bson_t *opts)
{
    smongo_opts(c, opts);
    if (o && o->sort[0])
        smongo_append_keys(opts, "sort", o->sort, 2);
    if (o && o->skip > 0)
        BSON_APPEND_INT64(opts, "skip", o->skip);
    if (limit > 0)
        BSON_APPEND_INT64(opts, "limit", limit);
    if (o && o->only)
        smongo_append_keys(opts, "projection", &o->only, 1);
}

/* smongo_each with a limit of its own (0: o's) */
static err_code each(smongo_ctx *c, const char *coll, const bson_t *filter, const smongo_find *o,
                     int64_t limit, smongo_each_fn fn, void *arg, err_t *e)
{
    mongoc_collection_t *col = smongo_coll(c, coll);
    bson_t opts;
    find_opts(c, o, limit ? limit : o ? o->limit : 0, &opts);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(col, filter, &opts, NULL);
    const bson_t *doc;
    err_code rc = ERR_OK;
    while (rc == ERR_OK && mongoc_cursor_next(cur, &doc))
        rc = fn(doc, arg, e);
    bson_error_t be;
    const bson_t *reply = NULL;
    if (rc == ERR_OK && mongoc_cursor_error_document(cur, &be, &reply))
        rc = smongo_err(&be, reply, coll, e);
    mongoc_cursor_destroy(cur);
    bson_destroy(&opts);
    mongoc_collection_destroy(col);
    return rc;
}

err_code smongo_each(smongo_ctx *c, const char *coll, const bson_t *filter, const smongo_find *o,
                     smongo_each_fn fn, void *arg, err_t *e)
{
    return each(c, coll, filter, o, 0, fn, arg, e);
}

/* The first document: copied to *copy, and/or read into rec through k. */
typedef struct {
    bson_t *copy;
    const smongo_rec *k;
    void *rec;
    bool found;
} first_doc;

static err_code take_first(const bson_t *doc, void *arg, err_t *e)
{
    (void)e;
    first_doc *f = arg;
    f->found = true;
    if (f->copy)
        bson_copy_to(doc, f->copy);
    if (f->k) {
        if (f->k->clear)
            f->k->clear(f->rec);
        memset(f->rec, 0, f->k->size);
        f->k->read(doc, f->rec);
    }
    return ERR_OK;
}

static err_code first(smongo_ctx *c, const char *coll, const bson_t *filter, const smongo_find *o,
                      first_doc *f, bool *found, err_t *e)
{
    err_code rc = each(c, coll, filter, o, 1, take_first, f, e);
    if (rc != ERR_OK && f->found && f->copy)
        bson_destroy(f->copy);
    *found = rc == ERR_OK && f->found;
    return rc;
}

err_code smongo_find_one(smongo_ctx *c, const char *coll, const bson_t *filter,
                         const smongo_find *o, bson_t *out, bool *found, err_t *e)
{
    return first(c, coll, filter, o, &(first_doc){out, NULL, NULL, false}, found, e);
}

err_code smongo_get_one(smongo_ctx *c, const char *coll, const bson_t *filter, const smongo_find *o,
                        const smongo_rec *k, void *rec, bool *found, err_t *e)
{
    return first(c, coll, filter, o, &(first_doc){NULL, k, rec, false}, found, e);
}

err_code smongo_max(smongo_ctx *c, const char *coll, const char *field, int64_t *max, err_t *e)
{
    bson_t f = BSON_INITIALIZER, d;
    char desc[64];
    snprintf(desc, sizeof desc, "-%s", field);
    bool found = false;
    err_code rc =
        smongo_find_one(c, coll, &f, &(smongo_find){.sort = {desc}, .only = field}, &d, &found, e);
    bson_destroy(&f);
    *max = found ? smongo_get_int(&d, field) : 0;
    if (found)
        bson_destroy(&d);
    return rc;
}

/* documents appended to a list of records */
typedef struct {
    const smongo_rec *k;
    void **v;
    size_t *n, cap;
} list_fill;

static err_code push_rec(const bson_t *doc, void *arg, err_t *e)
{
    (void)e;
    list_fill *l = arg;
    l->k->read(doc, store_list_push(l->v, l->n, &l->cap, l->k->size));
    return ERR_OK;
}

err_code smongo_get_list(smongo_ctx *c, const char *coll, const bson_t *filter,
                         const smongo_find *o, const smongo_rec *k, void **v, size_t *n, err_t *e)
{
    for (size_t i = 0; k->clear && i < *n; i++)
        k->clear((char *)*v + i * k->size);
    free(*v);
    *v = NULL;
    *n = 0;
    list_fill l = {k, v, n, 0};
    return each(c, coll, filter, o, 0, push_rec, &l, e);
}

/* A count or write command: its collection, options (with the session), reply
 * and error, and after command_end the reply's counts. */
typedef struct {
    mongoc_collection_t *col;
    bson_t opts, reply;
    bson_error_t be;
    int64_t deleted, matched, upserted;
} command;

static void command_begin(smongo_ctx *c, const char *coll, command *k)
{
    k->col = smongo_coll(c, coll);
    smongo_opts(c, &k->opts);
}

/* The command's outcome (ok: what libmongoc returned; the reply is always
 * initialised); frees what command_begin made. */
static err_code command_end(command *k, bool ok, const char *coll, err_t *e)
{
    err_code rc = ok ? ERR_OK : smongo_err(&k->be, &k->reply, coll, e);
    k->deleted = ok ? smongo_get_int(&k->reply, "deletedCount") : 0;
    k->matched = ok ? smongo_get_int(&k->reply, "matchedCount") : 0;
    k->upserted = ok ? smongo_get_int(&k->reply, "upsertedCount") : 0;
    bson_destroy(&k->reply);
    bson_destroy(&k->opts);
    mongoc_collection_destroy(k->col);
    return rc;
}

err_code smongo_count(smongo_ctx *c, const char *coll, const bson_t *filter, int64_t *n, err_t *e)
{
    command k;
    command_begin(c, coll, &k);
    *n = mongoc_collection_count_documents(k.col, filter, &k.opts, NULL, &k.reply, &k.be);
    err_code rc = command_end(&k, *n >= 0, coll, e);
    if (*n < 0)
        *n = 0;
    return rc;
}

err_code smongo_insert(smongo_ctx *c, const char *coll, const bson_t *doc, err_t *e)
{
    command k;
    command_begin(c, coll, &k);
    bool ok = mongoc_collection_insert_one(k.col, doc, &k.opts, &k.reply, &k.be);
    return command_end(&k, ok, coll, e);
}

err_code smongo_delete(smongo_ctx *c, const char *coll, const bson_t *filter, bool many,
                       int64_t *deleted, err_t *e)
{
    command k;
    command_begin(c, coll, &k);
    bool ok = many ? mongoc_collection_delete_many(k.col, filter, &k.opts, &k.reply, &k.be)
                   : mongoc_collection_delete_one(k.col, filter, &k.opts, &k.reply, &k.be);
    err_code rc = command_end(&k, ok, coll, e);
    if (deleted)
        *deleted = k.deleted;
    return rc;
}

err_code smongo_update(smongo_ctx *c, const char *coll, const bson_t *filter, const bson_t *update,
                       bool upsert, int64_t *matched, int64_t *upserted, err_t *e)
{
    command k;
    command_begin(c, coll, &k);
    if (upsert)
        BSON_APPEND_BOOL(&k.opts, "upsert", true);
    bson_iter_t it;
    bool ops = bson_iter_init(&it, update) && bson_iter_next(&it) && bson_iter_key(&it)[0] == '$';
    bool ok = ops ? mongoc_collection_update_one(k.col, filter, update, &k.opts, &k.reply, &k.be)
                  : mongoc_collection_replace_one(k.col, filter, update, &k.opts, &k.reply, &k.be);
    err_code rc = command_end(&k, ok, coll, e);
    if (matched)
        *matched = k.matched;
    if (upserted)
        *upserted = k.upserted;
    return rc;
}

err_code smongo_next_id(smongo_ctx *c, const char *name, int64_t *out, err_t *e)
{
    mongoc_collection_t *col = smongo_coll(c, SMONGO_COUNTERS);
    bson_t q = BSON_INITIALIZER, upd = BSON_INITIALIZER, reply;
    BSON_APPEND_UTF8(&q, "name", name);
    smongo_append_op(&upd, "$inc", "seq", 1);
    mongoc_find_and_modify_opts_t *fm = mongoc_find_and_modify_opts_new();
    mongoc_find_and_modify_opts_set_update(fm, &upd);
    mongoc_find_and_modify_opts_set_flags(fm, MONGOC_FIND_AND_MODIFY_UPSERT |
                                                  MONGOC_FIND_AND_MODIFY_RETURN_NEW);
    bson_error_t be;
    err_code rc = ERR_OK;
    if (!mongoc_collection_find_and_modify_with_opts(col, &q, fm, &reply, &be)) {
        rc = smongo_err(&be, &reply, "counter", e);
    } else {
        bson_iter_t it, v;
        if (bson_iter_init_find(&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
            bson_iter_recurse(&it, &v) && bson_iter_find(&v, "seq") && BSON_ITER_HOLDS_NUMBER(&v))
            *out = bson_iter_as_int64(&v);
        else
            rc = err_set(e, ERR_INTERNAL, "mongodb: counter %s returned no value", name);
    }
    bson_destroy(&reply);
    mongoc_find_and_modify_opts_destroy(fm);
    bson_destroy(&q);
    bson_destroy(&upd);
    mongoc_collection_destroy(col);
    return rc;
}

err_code smongo_audit_insert(smongo_ctx *c, const store_audit_in *a, err_t *e)
{
    int64_t id = 0;
    err_code rc = smongo_next_id(c, SMONGO_AUDIT, &id, e);
    if (rc != ERR_OK)
        return rc;
    bson_t d = BSON_INITIALIZER;
    BSON_APPEND_INT64(&d, "id", id);
    smongo_append_time(&d, "created_at", utc_now());
    smongo_append_str(&d, "event_type", a->event_type);
    smongo_append_str(&d, "agent_id", a->agent_id);
    smongo_append_str(&d, "session_id", a->session_id);
    smongo_append_str(&d, "resource", a->resource);
    rc = smongo_append_json_text(&d, "metadata", a->metadata, "audit metadata", e);
    if (rc == ERR_OK)
        rc = smongo_insert(c, SMONGO_AUDIT, &d, e);
    bson_destroy(&d);
    return rc;
}

/* ---- executors: a whole operation of one command -------------------------------------- */

/* An executor's unit of work: the command's arguments and outputs. */
typedef struct {
    const char *coll, *coll2;
    const bson_t *filter, *doc;
    const smongo_find *o;
    const smongo_rec *k;
    void *rec;
    void **v;
    size_t *nv;
    const store_audit_in *audit;
    bool many, found;
    int64_t n;
} one_cmd;

static err_code rd_one(smongo_ctx *c, void *arg, err_t *e)
{
    one_cmd *x = arg;
    return smongo_get_one(c, x->coll, x->filter, x->o, x->k, x->rec, &x->found, e);
}

err_code smongo_read_one(smongo *s, const char *coll, const bson_t *filter, const smongo_find *o,
                         const smongo_rec *k, void *rec, bool *found, err_t *e)
{
    one_cmd x = {.coll = coll, .filter = filter, .o = o, .k = k, .rec = rec};
    err_code rc = smongo_read(s, rd_one, &x, e);
    *found = x.found;
    return rc;
}

static err_code rd_list(smongo_ctx *c, void *arg, err_t *e)
{
    one_cmd *x = arg;
    return smongo_get_list(c, x->coll, x->filter, x->o, x->k, x->v, x->nv, e);
}

err_code smongo_read_list(smongo *s, const char *coll, const bson_t *filter, const smongo_find *o,
                          const smongo_rec *k, void **v, size_t *n, err_t *e)
{
    one_cmd x = {.coll = coll, .filter = filter, .o = o, .k = k, .v = v, .nv = n};
    return smongo_read(s, rd_list, &x, e);
}

static err_code rd_count(smongo_ctx *c, void *arg, err_t *e)
{
    one_cmd *x = arg;
    return smongo_count(c, x->coll, x->filter, &x->n, e);
}

err_code smongo_read_count(smongo *s, const char *coll, const bson_t *filter, int64_t *n, err_t *e)
{
    one_cmd x = {.coll = coll, .filter = filter};
    err_code rc = smongo_read(s, rd_count, &x, e);
    *n = x.n;
    return rc;
}

/* The key is checked first, so a duplicate is reported even where a server does
 * not enforce the unique index. */
static err_code tx_new(smongo_ctx *c, void *arg, err_t *e)
{
    one_cmd *x = arg;
    err_code rc = smongo_find_one(c, x->coll, x->filter, NULL, NULL, &x->found, e);
    if (rc == ERR_OK && !x->found)
        rc = smongo_insert(c, x->coll, x->doc, e);
    if (rc == ERR_UNIQUE || x->found) {
        x->found = true;
        return err_set(e, ERR_UNIQUE, "mongodb: %s: the key exists", x->coll);
    }
    return rc != ERR_OK || !x->audit ? rc : smongo_audit_insert(c, x->audit, e);
}

err_code smongo_write_new(smongo *s, const char *coll, const bson_t *key, const bson_t *doc,
                          const store_audit_in *a, bool *exists, err_t *e)
{
    one_cmd x = {.coll = coll, .filter = key, .doc = doc, .audit = a};
    err_code rc = smongo_write(s, tx_new, &x, e);
    *exists = x.found;
    return rc;
}

static err_code tx_delete(smongo_ctx *c, void *arg, err_t *e)
{
    one_cmd *x = arg;
    x->n = 0;
    const char *colls[] = {x->coll, x->coll2};
    for (int i = 0; i < 2 && colls[i]; i++) {
        int64_t n = 0;
        err_code rc = smongo_delete(c, colls[i], x->filter, x->many, &n, e);
        if (rc != ERR_OK)
            return rc;
        x->n += n;
    }
    return x->n == 0 || !x->audit ? ERR_OK : smongo_audit_insert(c, x->audit, e);
}

err_code smongo_write_delete(smongo *s, const char *coll, const char *coll2, const bson_t *filter,
                             bool many, const store_audit_in *a, int64_t *n, err_t *e)
{
    one_cmd x = {.coll = coll, .coll2 = coll2, .filter = filter, .audit = a, .many = many};
    err_code rc = smongo_write(s, tx_delete, &x, e);
    if (n)
        *n = rc == ERR_OK ? x.n : 0;
    return rc;
}

err_code smongo_purge(smongo *s, const char *coll, const char *coll2, const char *field,
                      const char *op, utc_us t, int64_t *removed, err_t *e)
{
    bson_t f = BSON_INITIALIZER;
    smongo_append_op(&f, field, op, t);
    err_code rc = smongo_write_delete(s, coll, coll2, &f, true, NULL, removed, e);
    bson_destroy(&f);
    return rc;
}

static err_code tx_upsert(smongo_ctx *c, void *arg, err_t *e)
{
    one_cmd *x = arg;
    err_code rc = smongo_update(c, x->coll, x->filter, x->doc, true, NULL, NULL, e);
    if (rc == ERR_UNIQUE) /* a concurrent first insert: the retry updates it */
        rc = err_set(e, ERR_BUSY, "store: concurrent first write of one %s document", x->coll);
    return rc;
}

err_code smongo_write_upsert(smongo *s, const char *coll, const bson_t *filter,
                             const bson_t *update, err_t *e)
{
    one_cmd x = {.coll = coll, .filter = filter, .doc = update};
    return smongo_write(s, tx_upsert, &x, e);
}
