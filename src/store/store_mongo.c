/* store/store_mongo.c — the MongoDB store (libmongoc 1.23): opening (URL ->
 * client pool, ping, topology check, schema check), the pool accounting, the
 * read/write runners and error classes, sessions and messages, and the vtable.
 * Memory/audit/tokens live in store_mongo_mem.c, copy/import in
 * store_mongo_xfer.c, migrations in store_mongo_migrate.c, value encodings in
 * store_mongo_conv.c.
 *
 * Data model: one collection per logical table, field names = column names,
 * times as int64 microseconds (utc_us), JSON columns as BSON values. _id is the
 * server's ObjectId (never data); the natural keys (sessions.id, messages.id,
 * secure_tokens.token_id, revoked_jtis.jti, agent_memory (agent_id, scope, key)
 * with scope = session id or "" for global) carry unique indexes (migration 1).
 * Writes that create-if-absent check the natural key first, so a duplicate is
 * reported (ERR_UNIQUE) even where a server does not enforce the index; on a
 * real server a race between two writers ends in duplicate key 11000 from the
 * index, which maps to ERR_UNIQUE (or ERR_BUSY + retry for memory upserts).
 * Message and audit ids come from a counter document ({name, seq}, findAndModify
 * $inc) taken outside any transaction: increasing, never reused, gaps allowed.
 *
 * Transactions: on a replica set or sharded cluster (hello reports setName, or
 * msg "isdbgrid") every write with its audit record runs in one multi-document
 * transaction (mongoc_client_session_with_transaction). A standalone server has
 * no transactions: the writes then run as ordered single-document writes
 * (arguments validated first, the record, then the audit record), so a failure
 * between them can leave a record without its audit entry. Reads of a page and
 * its total are two commands, not one snapshot.
 * The URL option transactions=auto|on|off (a ctxd option, never passed to
 * libmongoc) overrides this: auto (the default) is the rule above; off always
 * uses ordered single-document writes; on always uses transactions. With on and
 * a server whose hello says standalone, open tries one transaction (a read in
 * it, then abort): a real standalone mongod refuses it ("Transaction numbers
 * are only allowed on a replica set member or mongos") and open fails with
 * ERR_INVALID saying transactions=on needs a replica set or mongos; a server
 * that accepts it (an emulator) is used with transactions. Any other value is
 * ERR_INVALID naming the option and the allowed values.
 *
 * Search: each message keeps its index text (search_text, from the store's index
 * function; {unindexed: true} marks messages written without one until
 * message_reindex fills them). message_search filters the session's messages on
 * the server with a regular expression matching any term: MongoDB text indexes
 * are word-based and cannot serve substring/trigram candidates, so this is a
 * server-side scan of the session (idx session_id_id), not an index lookup.
 * Must not: decide visibility or permissions, or print the URL's password. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store/store_mongo_int.h"
#include "store/store_backend.h"
#include "base/sbuf.h"
#include "base/log.h"
#include "db/url.h"

static smongo *M(store_t *st)
{
    return (smongo *)st;
}

/* ---- errors ------------------------------------------------------------------------ */

err_code smongo_err(const bson_error_t *be, const bson_t *reply, const char *what, err_t *e)
{
    err_code c = ERR_FATAL;
    uint32_t code = be->code;
    if (reply && (mongoc_error_has_label(reply, "TransientTransactionError") ||
                  mongoc_error_has_label(reply, "RetryableWriteError")))
        c = ERR_BUSY;
    else if (be->domain == MONGOC_ERROR_STREAM || be->domain == MONGOC_ERROR_SERVER_SELECTION)
        c = ERR_CONN;
    else if (be->domain == MONGOC_ERROR_CLIENT && code == MONGOC_ERROR_CLIENT_AUTHENTICATE)
        c = ERR_AUTH;
    else if (be->domain == MONGOC_ERROR_SERVER || be->domain == MONGOC_ERROR_WRITE_CONCERN ||
             be->domain == MONGOC_ERROR_QUERY || be->domain == MONGOC_ERROR_COLLECTION ||
             be->domain == MONGOC_ERROR_COMMAND) {
        switch (code) {
        case 11000:
        case 11001:
        case 12582: c = ERR_UNIQUE; break;
        case 50:
        case 262: c = ERR_TIMEOUT; break; /* MaxTimeMSExpired, ExceededTimeLimit */
        case 13:
        case 18: c = ERR_AUTH; break; /* Unauthorized, AuthenticationFailed */
        case 112:
        case 251:
        case 24: c = ERR_BUSY; break; /* WriteConflict, NoSuchTransaction, LockTimeout */
        case 6:
        case 7:
        case 89:
        case 91:
        case 189:
        case 9001: /* host unreachable/not found, network timeout, shutdown, stepdown */
        case 10107:
        case 11600:
        case 11602:
        case 13435:
        case 13436: c = ERR_CONN; break;
        default: break;
        }
    }
    if (c == ERR_CONN && be->domain == MONGOC_ERROR_SERVER_SELECTION &&
        strstr(be->message, "imed out"))
        c = ERR_CONN; /* no server within serverSelectionTimeoutMS: unreachable */
    const char *msg = be->message[0] ? be->message : "error";
    /* libmongoc's SCRAM errors do not always say that authentication failed */
    bool say_auth = c == ERR_AUTH && !strstr(msg, "uthenticat");
    err_set(e, c, "mongodb: %s: %s%s", what, say_auth ? "authentication failed: " : "", msg);
    if (e)
        e->native = (int)code;
    return c;
}

/* ---- the pool ---------------------------------------------------------------------- */

err_code smongo_acquire(smongo *s, mongoc_client_t **out, err_t *e)
{
    pthread_mutex_lock(&s->mu);
    if (s->in_use >= s->cap) {
        s->waits++;
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        int64_t ns = dl.tv_nsec + (int64_t)(s->pool_timeout_ms % 1000) * 1000000;
        dl.tv_sec += s->pool_timeout_ms / 1000 + (time_t)(ns / 1000000000);
        dl.tv_nsec = (long)(ns % 1000000000);
        while (s->in_use >= s->cap) {
            if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) != 0 && s->in_use >= s->cap) {
                s->timeouts++;
                pthread_mutex_unlock(&s->mu);
                return err_set(e, ERR_TIMEOUT,
                               "mongodb: no free connection within pool_timeout "
                               "(%d ms; pool_size %d + max_overflow %d in use)",
                               s->pool_timeout_ms, s->size, s->max_overflow);
            }
        }
    }
    s->in_use++;
    s->acquired++;
    if (s->in_use > s->created)
        s->created = s->in_use; /* libmongoc keeps the clients it made */
    pthread_mutex_unlock(&s->mu);
    *out = mongoc_client_pool_pop(s->pool); /* never blocks: its max is our cap */
    return ERR_OK;
}

void smongo_release(smongo *s, mongoc_client_t *c)
{
    mongoc_client_pool_push(s->pool, c);
    pthread_mutex_lock(&s->mu);
    s->in_use--;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* The pool in db_pool_stats terms. libmongoc's pool makes a client only when none
 * is idle and keeps every client until it is destroyed (ctxd never sets
 * minPoolSize), and smongo_acquire lets at most `cap` be out at once, so the
 * clients made = the most ever in use at once, and idle = made - in use: exact,
 * not estimates. closed/recycled/preping_failures stay 0 (libmongoc reconnects
 * a client's server connections itself and does not report it). */
void smongo_stats(store_t *st, store_stats *out)
{
    memset(out, 0, sizeof *out);
    smongo *s = M(st);
    out->backend = "mongodb";
    db_pool_stats *p = &out->pool;
    pthread_mutex_lock(&s->mu);
    p->size = s->size;
    p->max_overflow = s->max_overflow;
    p->in_use = s->in_use;
    p->idle = s->created - s->in_use;
    p->overflow_in_use = s->in_use > s->size ? s->in_use - s->size : 0;
    p->acquired = s->acquired;
    p->waits = s->waits;
    p->timeouts = s->timeouts;
    p->created = (uint64_t)s->created;
    out->queries = s->ops;
    pthread_mutex_unlock(&s->mu);
}

/* Counts one operation (all its attempts): time, retries, and a failure with a
 * database error class (not-found / exists / invalid-argument outcomes are
 * answers, not database errors); logs one slower than SLOW_QUERY_THRESHOLD_MS. */
static void account(smongo *s, err_code rc, int attempts, int64_t t0)
{
    int64_t us = utc_mono_us() - t0;
    bool slow = s->slow_query_ms > 0 && us >= (int64_t)s->slow_query_ms * 1000;
    pthread_mutex_lock(&s->mu);
    db_query_stats *q = &s->ops;
    q->statements++;
    q->total_us += (uint64_t)us;
    q->retries += (uint64_t)(attempts > 1 ? attempts - 1 : 0);
    q->slow += slow;
    if (rc != ERR_OK && rc != ERR_NOTFOUND && rc != ERR_EXISTS && rc != ERR_INVALID && rc >= 0 &&
        rc <= ERR_INTERNAL) {
        q->errors++;
        q->errors_by_class[rc]++;
    }
    pthread_mutex_unlock(&s->mu);
    if (slow)
        log_msg(LOG_WARN, "mongodb",
                "slow operation: %lld ms (%d attempt%s; "
                "SLOW_QUERY_THRESHOLD_MS=%d)",
                (long long)(us / 1000), attempts, attempts == 1 ? "" : "s", s->slow_query_ms);
}

/* ---- runners ----------------------------------------------------------------------- */

mongoc_collection_t *smongo_coll(smongo_ctx *c, const char *name)
{
    return mongoc_client_get_collection(c->client, c->s->dbname, name);
}

void smongo_opts(smongo_ctx *c, bson_t *opts)
{
    bson_init(opts);
    if (c->cs) {
        bson_error_t be;
        mongoc_client_session_append(c->cs, opts, &be);
    }
}

err_code smongo_read(smongo *s, smongo_fn fn, void *arg, err_t *e)
{
    err_code rc = ERR_OK;
    int64_t t0 = utc_mono_us();
    int attempt = 0;
    while (attempt < 3) {
        attempt++;
        smongo_ctx c = {s, NULL, NULL};
        if ((rc = smongo_acquire(s, &c.client, e)) != ERR_OK)
            break;
        rc = fn(&c, arg, e);
        smongo_release(s, c.client);
        if (rc != ERR_CONN && rc != ERR_BUSY)
            break;
    }
    account(s, rc, attempt, t0);
    return rc;
}

typedef struct {
    smongo_ctx c;
    smongo_fn fn;
    void *arg;
    err_t *e;
    err_code rc;
} tx_run;

static bool tx_cb(mongoc_client_session_t *cs, void *ctx, bson_t **reply, bson_error_t *error)
{
    (void)reply;
    tx_run *r = ctx;
    r->c.cs = cs;
    r->rc = r->fn(&r->c, r->arg, r->e);
    if (r->rc == ERR_OK)
        return true;
    bson_set_error(error, 0x7ccd, (uint32_t)r->rc, "%s", r->e->msg);
    return false;
}

err_code smongo_write(smongo *s, smongo_fn fn, void *arg, err_t *e)
{
    err_code rc = ERR_OK;
    int tries = s->max_retries > 0 ? s->max_retries : 1;
    int64_t t0 = utc_mono_us();
    int attempt = 0;
    while (attempt < tries) {
        attempt++;
        smongo_ctx c = {s, NULL, NULL};
        if ((rc = smongo_acquire(s, &c.client, e)) != ERR_OK)
            break;
        if (!s->use_tx) {
            rc = fn(&c, arg, e);
        } else {
            bson_error_t be;
            mongoc_client_session_t *cs = mongoc_client_start_session(c.client, NULL, &be);
            if (!cs) {
                rc = smongo_err(&be, NULL, "start session", e);
            } else {
                tx_run r = {c, fn, arg, e, ERR_OK};
                bson_t reply;
                if (mongoc_client_session_with_transaction(cs, tx_cb, NULL, &r, &reply, &be))
                    rc = ERR_OK;
                else if (r.rc != ERR_OK)
                    rc = r.rc; /* our own error, already in *e */
                else
                    rc = smongo_err(&be, &reply, "commit", e);
                bson_destroy(&reply);
                mongoc_client_session_destroy(cs);
            }
        }
        smongo_release(s, c.client);
        if (!err_retryable(rc))
            break;
    }
    account(s, rc, attempt, t0);
    return rc;
}

/* ---- command helpers ------------------------------------------------------------------ */

err_code smongo_find_one(smongo_ctx *c, const char *coll, const bson_t *filter, bson_t *out,
                         bool *found, err_t *e)
{
    *found = false;
    mongoc_collection_t *col = smongo_coll(c, coll);
    bson_t opts;
    smongo_opts(c, &opts);
    BSON_APPEND_INT64(&opts, "limit", 1);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(col, filter, &opts, NULL);
    const bson_t *doc;
    if (mongoc_cursor_next(cur, &doc)) {
        *found = true;
        if (out)
            bson_copy_to(doc, out);
    }
    bson_error_t be;
    const bson_t *reply = NULL;
    err_code rc = ERR_OK;
    if (mongoc_cursor_error_document(cur, &be, &reply)) {
        rc = smongo_err(&be, reply, coll, e);
        if (*found && out)
            bson_destroy(out);
        *found = false;
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(&opts);
    mongoc_collection_destroy(col);
    return rc;
}

err_code smongo_count(smongo_ctx *c, const char *coll, const bson_t *filter, int64_t *n, err_t *e)
{
    mongoc_collection_t *col = smongo_coll(c, coll);
    bson_t opts;
    smongo_opts(c, &opts);
    bson_error_t be;
    bson_t reply;
    *n = mongoc_collection_count_documents(col, filter, &opts, NULL, &reply, &be);
    err_code rc = *n < 0 ? smongo_err(&be, &reply, coll, e) : ERR_OK;
    if (*n < 0)
        *n = 0;
    bson_destroy(&reply);
    bson_destroy(&opts);
    mongoc_collection_destroy(col);
    return rc;
}

err_code smongo_insert(smongo_ctx *c, const char *coll, const bson_t *doc, err_t *e)
{
    mongoc_collection_t *col = smongo_coll(c, coll);
    bson_t opts;
    smongo_opts(c, &opts);
    bson_error_t be;
    bson_t reply;
    err_code rc = mongoc_collection_insert_one(col, doc, &opts, &reply, &be)
                      ? ERR_OK
                      : smongo_err(&be, &reply, coll, e);
    bson_destroy(&reply);
    bson_destroy(&opts);
    mongoc_collection_destroy(col);
    return rc;
}

err_code smongo_delete(smongo_ctx *c, const char *coll, const bson_t *filter, bool many,
                       int64_t *deleted, err_t *e)
{
    mongoc_collection_t *col = smongo_coll(c, coll);
    bson_t opts;
    smongo_opts(c, &opts);
    bson_error_t be;
    bson_t reply;
    bool ok = many ? mongoc_collection_delete_many(col, filter, &opts, &reply, &be)
                   : mongoc_collection_delete_one(col, filter, &opts, &reply, &be);
    err_code rc = ok ? ERR_OK : smongo_err(&be, &reply, coll, e);
    if (deleted)
        *deleted = ok ? smongo_get_int(&reply, "deletedCount") : 0;
    bson_destroy(&reply);
    bson_destroy(&opts);
    mongoc_collection_destroy(col);
    return rc;
}

err_code smongo_next_id(smongo_ctx *c, const char *name, int64_t *out, err_t *e)
{
    mongoc_collection_t *col = smongo_coll(c, SMONGO_COUNTERS);
    bson_t q = BSON_INITIALIZER, upd = BSON_INITIALIZER, inc, reply;
    BSON_APPEND_UTF8(&q, "name", name);
    BSON_APPEND_DOCUMENT_BEGIN(&upd, "$inc", &inc);
    BSON_APPEND_INT64(&inc, "seq", 1);
    bson_append_document_end(&upd, &inc);
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

err_code smongo_audit_insert(smongo_ctx *c, store_audit_rec *r, err_t *e)
{
    int64_t id = 0;
    err_code rc = smongo_next_id(c, SMONGO_AUDIT, &id, e);
    if (rc == ERR_OK) {
        const store_audit_in *a = &r->in;
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
    }
    store_audit_rec_free(r);
    return rc;
}

err_code smongo_session_exists(smongo_ctx *c, const char *id, bool *exists, err_t *e)
{
    bson_t q = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&q, "id", id);
    err_code rc = smongo_find_one(c, SMONGO_SESSIONS, &q, NULL, exists, e);
    bson_destroy(&q);
    return rc;
}

/* ---- sessions ------------------------------------------------------------------------ */

typedef struct {
    const store_session *in;
    const store_audit_in *audit;
} sess_create_ctx;

static err_code tx_session_create(smongo_ctx *c, void *arg, err_t *e)
{
    sess_create_ctx *x = arg;
    const store_session *in = x->in;
    bool exists = false;
    err_code rc = smongo_session_exists(c, in->id, &exists, e);
    if (rc != ERR_OK)
        return rc;
    if (exists)
        return store_err_session_exists(e, in->id);
    utc_us created = in->created_at ? in->created_at : utc_now();
    bson_t d = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&d, "id", in->id);
    BSON_APPEND_UTF8(&d, "purpose", in->purpose);
    BSON_APPEND_UTF8(&d, "created_by", in->created_by);
    rc = smongo_append_json_text(&d, "metadata", in->metadata, "session metadata", e);
    BSON_APPEND_BOOL(&d, "is_active", in->is_active);
    smongo_append_time(&d, "created_at", created);
    smongo_append_time(&d, "updated_at", in->updated_at ? in->updated_at : created);
    if (rc == ERR_OK)
        rc = smongo_insert(c, SMONGO_SESSIONS, &d, e);
    bson_destroy(&d);
    if (rc == ERR_UNIQUE)
        return store_err_session_exists(e, in->id);
    if (rc != ERR_OK || !x->audit)
        return rc;
    store_audit_rec r;
    return smongo_audit_insert(c, store_audit_session(&r, x->audit, in), e);
}

static err_code mg_session_create(store_t *st, const store_session *in, const store_audit_in *audit,
                                  err_t *e)
{
    ERR_LOCAL(e);
    sess_create_ctx x = {in, audit};
    return smongo_write(M(st), tx_session_create, &x, e);
}

/* message_count and last_activity of a session document. */
static err_code session_figures(smongo_ctx *c, store_session *s, err_t *e)
{
    bson_t q = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&q, "session_id", s->id);
    err_code rc = smongo_count(c, SMONGO_MESSAGES, &q, &s->message_count, e);
    s->last_activity = s->created_at;
    if (rc == ERR_OK && s->message_count > 0) {
        mongoc_collection_t *col = smongo_coll(c, SMONGO_MESSAGES);
        bson_t opts = BSON_INITIALIZER, sort;
        BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
        BSON_APPEND_INT32(&sort, "created_at", -1);
        bson_append_document_end(&opts, &sort);
        BSON_APPEND_INT64(&opts, "limit", 1);
        mongoc_cursor_t *cur = mongoc_collection_find_with_opts(col, &q, &opts, NULL);
        const bson_t *doc;
        if (mongoc_cursor_next(cur, &doc))
            s->last_activity = smongo_get_time(doc, "created_at");
        bson_error_t be;
        const bson_t *reply = NULL;
        if (mongoc_cursor_error_document(cur, &be, &reply))
            rc = smongo_err(&be, reply, SMONGO_MESSAGES, e);
        mongoc_cursor_destroy(cur);
        bson_destroy(&opts);
        mongoc_collection_destroy(col);
    }
    bson_destroy(&q);
    return rc;
}

static void read_session(const bson_t *d, store_session *s)
{
    s->id = smongo_get_str(d, "id");
    s->purpose = smongo_get_str(d, "purpose");
    s->created_by = smongo_get_str(d, "created_by");
    s->metadata = smongo_get_json_text(d, "metadata", true);
    s->is_active = smongo_get_bool(d, "is_active");
    s->created_at = smongo_get_time(d, "created_at");
    s->updated_at = smongo_get_time(d, "updated_at");
}

typedef struct {
    const char *id;
    store_session *out;
} sess_get_ctx;

static err_code rd_session_get(smongo_ctx *c, void *arg, err_t *e)
{
    sess_get_ctx *x = arg;
    store_session_clear(x->out);
    bson_t q = BSON_INITIALIZER, d;
    BSON_APPEND_UTF8(&q, "id", x->id);
    bool found = false;
    err_code rc = smongo_find_one(c, SMONGO_SESSIONS, &q, &d, &found, e);
    bson_destroy(&q);
    if (rc != ERR_OK)
        return rc;
    if (!found)
        return store_err_no_session(e, x->id);
    read_session(&d, x->out);
    bson_destroy(&d);
    return session_figures(c, x->out, e);
}

static err_code mg_session_get(store_t *st, const char *id, store_session *out, err_t *e)
{
    ERR_LOCAL(e);
    sess_get_ctx x = {id, out};
    return smongo_read(M(st), rd_session_get, &x, e);
}

typedef struct {
    const store_session_query *q;
    store_sessions *out;
    int64_t *total;
} sess_list_ctx;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static err_code participants(smongo_ctx *c, store_session *s, err_t *e)
{
    mongoc_collection_t *col = smongo_coll(c, SMONGO_MESSAGES);
    bson_t cmd = BSON_INITIALIZER, q, reply;
    BSON_APPEND_UTF8(&cmd, "distinct", SMONGO_MESSAGES);
    BSON_APPEND_UTF8(&cmd, "key", "sender");
    BSON_APPEND_DOCUMENT_BEGIN(&cmd, "query", &q);
    BSON_APPEND_UTF8(&q, "session_id", s->id);
    bson_append_document_end(&cmd, &q);
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

static err_code rd_session_list(smongo_ctx *c, void *arg, err_t *e)
{
    sess_list_ctx *x = arg;
    const store_session_query *q = x->q;
    store_sessions_free(x->out);
    bson_t f = BSON_INITIALIZER;
    if (q->created_by)
        BSON_APPEND_UTF8(&f, "created_by", q->created_by);
    if (q->active_only)
        BSON_APPEND_BOOL(&f, "is_active", true);
    err_code rc = ERR_OK;
    if (x->total && (rc = smongo_count(c, SMONGO_SESSIONS, &f, x->total, e)) != ERR_OK) {
        bson_destroy(&f);
        return rc;
    }
    mongoc_collection_t *col = smongo_coll(c, SMONGO_SESSIONS);
    bson_t opts = BSON_INITIALIZER, sort;
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "updated_at", -1);
    BSON_APPEND_INT32(&sort, "id", 1);
    bson_append_document_end(&opts, &sort);
    BSON_APPEND_INT64(&opts, "skip", q->offset);
    BSON_APPEND_INT64(&opts, "limit", q->limit);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(col, &f, &opts, NULL);
    const bson_t *doc;
    size_t cap = 0;
    while (mongoc_cursor_next(cur, &doc))
        read_session(doc,
                     store_list_push((void **)&x->out->v, &x->out->n, &cap, sizeof *x->out->v));
    bson_error_t be;
    const bson_t *reply = NULL;
    if (mongoc_cursor_error_document(cur, &be, &reply))
        rc = smongo_err(&be, reply, SMONGO_SESSIONS, e);
    mongoc_cursor_destroy(cur);
    bson_destroy(&opts);
    bson_destroy(&f);
    mongoc_collection_destroy(col);
    for (size_t k = 0; k < x->out->n && rc == ERR_OK; k++) {
        rc = session_figures(c, &x->out->v[k], e);
        if (rc == ERR_OK)
            rc = participants(c, &x->out->v[k], e);
    }
    return rc;
}

static err_code mg_session_list(store_t *st, const store_session_query *q, store_sessions *out,
                                int64_t *total, err_t *e)
{
    ERR_LOCAL(e);
    sess_list_ctx x = {q, out, total};
    return smongo_read(M(st), rd_session_list, &x, e);
}

/* ---- messages ------------------------------------------------------------------------ */

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

static void read_message(const bson_t *d, store_message *m)
{
    m->id = smongo_get_int(d, "id");
    m->session_id = smongo_get_str(d, "session_id");
    m->sender = smongo_get_str(d, "sender");
    m->sender_type = smongo_get_str(d, "sender_type");
    m->content = smongo_get_str(d, "content");
    char *vis = smongo_get_str(d, "visibility");
    m->visibility = store_visibility_stored(vis, vis ? strlen(vis) : 0);
    free(vis);
    m->message_type = smongo_get_str(d, "message_type");
    m->metadata = smongo_get_json_text(d, "metadata", true);
    m->parent_id = smongo_get_int(d, "parent_message_id");
    m->created_at = smongo_get_time(d, "created_at");
}

/* Runs find(filter, sort by id, skip, limit) into a message list. */
static err_code find_messages(smongo_ctx *c, const bson_t *f, bool desc, int64_t skip,
                              int64_t limit, store_messages *out, err_t *e)
{
    mongoc_collection_t *col = smongo_coll(c, SMONGO_MESSAGES);
    bson_t opts, sort;
    smongo_opts(c, &opts);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "id", desc ? -1 : 1);
    bson_append_document_end(&opts, &sort);
    if (skip > 0)
        BSON_APPEND_INT64(&opts, "skip", skip);
    if (limit > 0)
        BSON_APPEND_INT64(&opts, "limit", limit);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(col, f, &opts, NULL);
    const bson_t *doc;
    size_t cap = out->n;
    while (mongoc_cursor_next(cur, &doc))
        read_message(doc, store_list_push((void **)&out->v, &out->n, &cap, sizeof *out->v));
    bson_error_t be;
    const bson_t *reply = NULL;
    err_code rc = ERR_OK;
    if (mongoc_cursor_error_document(cur, &be, &reply))
        rc = smongo_err(&be, reply, SMONGO_MESSAGES, e);
    mongoc_cursor_destroy(cur);
    bson_destroy(&opts);
    mongoc_collection_destroy(col);
    return rc;
}

typedef struct {
    store_message *m;
    const store_audit_in *audit;
    const char *search_text; /* the store's index function's text, or NULL */
    int64_t id;
    utc_us at;
} msg_add_ctx;

static err_code tx_message_add(smongo_ctx *c, void *arg, err_t *e)
{
    msg_add_ctx *x = arg;
    const store_message *m = x->m;
    bool exists = false;
    err_code rc = smongo_session_exists(c, m->session_id, &exists, e);
    if (rc != ERR_OK)
        return rc;
    if (!exists)
        return store_err_no_session(e, m->session_id);
    if (m->parent_id) {
        /* the parent as the poster sees it (message_get's filter) */
        bson_t q = BSON_INITIALIZER, d;
        BSON_APPEND_INT64(&q, "id", m->parent_id);
        append_vis(&q, m->parent_vis);
        bool found = false;
        rc = smongo_find_one(c, SMONGO_MESSAGES, &q, &d, &found, e);
        bson_destroy(&q);
        if (rc != ERR_OK)
            return rc;
        char *sid = found ? smongo_get_str(&d, "session_id") : NULL;
        if (found)
            bson_destroy(&d);
        bool same = sid && strcmp(sid, m->session_id) == 0;
        free(sid);
        if (!found)
            return store_err_no_parent(e, m->parent_id);
        if (!same)
            return store_err_bad_parent(e, m->parent_id, m->session_id);
    }
    bson_t d = BSON_INITIALIZER;
    rc = smongo_append_json_text(&d, "metadata", m->metadata, "message metadata", e);
    bson_destroy(&d);
    if (rc != ERR_OK)
        return rc;

    if ((rc = smongo_next_id(c, SMONGO_MESSAGES, &x->id, e)) != ERR_OK)
        return rc;
    x->at = utc_now();
    bson_init(&d);
    BSON_APPEND_INT64(&d, "id", x->id);
    BSON_APPEND_UTF8(&d, "session_id", m->session_id);
    BSON_APPEND_UTF8(&d, "sender", m->sender);
    BSON_APPEND_UTF8(&d, "sender_type", m->sender_type ? m->sender_type : "generic");
    BSON_APPEND_UTF8(&d, "content", m->content);
    BSON_APPEND_UTF8(&d, "visibility", store_visibility_name(m->visibility));
    BSON_APPEND_UTF8(&d, "message_type", m->message_type ? m->message_type : "agent_response");
    smongo_append_json_text(&d, "metadata", m->metadata, "message metadata", e);
    if (m->parent_id)
        BSON_APPEND_INT64(&d, "parent_message_id", m->parent_id);
    else
        BSON_APPEND_NULL(&d, "parent_message_id");
    smongo_append_time(&d, "created_at", x->at);
    if (x->search_text)
        BSON_APPEND_UTF8(&d, "search_text", x->search_text);
    else
        BSON_APPEND_BOOL(&d, "unindexed", true); /* message_reindex gives it text */
    rc = smongo_insert(c, SMONGO_MESSAGES, &d, e);
    bson_destroy(&d);
    if (rc != ERR_OK)
        return rc;

    /* the session's updated_at */
    mongoc_collection_t *col = smongo_coll(c, SMONGO_SESSIONS);
    bson_t q = BSON_INITIALIZER, upd = BSON_INITIALIZER, set, opts, reply;
    BSON_APPEND_UTF8(&q, "id", m->session_id);
    BSON_APPEND_DOCUMENT_BEGIN(&upd, "$set", &set);
    smongo_append_time(&set, "updated_at", x->at);
    bson_append_document_end(&upd, &set);
    smongo_opts(c, &opts);
    bson_error_t be;
    if (!mongoc_collection_update_one(col, &q, &upd, &opts, &reply, &be))
        rc = smongo_err(&be, &reply, "session updated_at", e);
    bson_destroy(&reply);
    bson_destroy(&opts);
    bson_destroy(&q);
    bson_destroy(&upd);
    mongoc_collection_destroy(col);
    if (rc != ERR_OK || !x->audit)
        return rc;
    store_audit_rec r;
    return smongo_audit_insert(c, store_audit_message(&r, x->audit, m, x->id), e);
}

static err_code mg_message_add(store_t *st, store_message *m, const store_audit_in *audit, err_t *e)
{
    ERR_LOCAL(e);
    /* the index text is computed before the write (pure C work) */
    char *stext =
        st->index_fn ? st->index_fn(m->sender, m->content, strlen(m->content), m->metadata) : NULL;
    msg_add_ctx x = {m, audit, stext, 0, 0};
    err_code rc = smongo_write(M(st), tx_message_add, &x, e);
    free(stext);
    if (rc == ERR_OK) {
        m->id = x.id;
        m->created_at = x.at;
    }
    return rc;
}

typedef struct {
    const store_msg_query *q;
    store_messages *out;
    int64_t *total;
} msg_list_ctx;

static void msg_filter(const store_msg_query *q, bson_t *f)
{
    bson_t r;
    bson_init(f);
    BSON_APPEND_UTF8(f, "session_id", q->session_id);
    if (q->since_id > 0) {
        BSON_APPEND_DOCUMENT_BEGIN(f, "id", &r);
        BSON_APPEND_INT64(&r, "$gt", q->since_id);
        bson_append_document_end(f, &r);
    }
    if (q->sender)
        BSON_APPEND_UTF8(f, "sender", q->sender);
    if (q->from || q->to) {
        BSON_APPEND_DOCUMENT_BEGIN(f, "created_at", &r);
        if (q->from)
            BSON_APPEND_INT64(&r, "$gte", q->from);
        if (q->to)
            BSON_APPEND_INT64(&r, "$lte", q->to);
        bson_append_document_end(f, &r);
    }
    append_vis(f, &q->vis);
}

static err_code rd_message_list(smongo_ctx *c, void *arg, err_t *e)
{
    msg_list_ctx *x = arg;
    const store_msg_query *q = x->q;
    store_messages_free(x->out);
    bson_t f;
    msg_filter(q, &f);
    int64_t total = -1;
    err_code rc = ERR_OK;
    if (x->total) {
        rc = smongo_count(c, SMONGO_MESSAGES, &f, &total, e);
        *x->total = total;
    }
    if (rc == ERR_OK)
        rc = find_messages(c, &f, q->newest_first, q->offset, q->limit, x->out, e);
    bson_destroy(&f);
    if (rc == ERR_OK && x->out->n == 0 && total <= 0) {
        bool exists = false;
        if ((rc = smongo_session_exists(c, q->session_id, &exists, e)) == ERR_OK && !exists)
            rc = store_err_no_session(e, q->session_id);
    }
    return rc;
}

static err_code mg_message_list(store_t *st, const store_msg_query *q, store_messages *out,
                                int64_t *total, err_t *e)
{
    ERR_LOCAL(e);
    msg_list_ctx x = {q, out, total};
    return smongo_read(M(st), rd_message_list, &x, e);
}

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

typedef struct {
    const store_search_query *q;
    const char *regex;
    store_messages *out;
} msg_search_ctx;

static err_code rd_message_search(smongo_ctx *c, void *arg, err_t *e)
{
    msg_search_ctx *x = arg;
    store_messages_free(x->out);
    store_msg_query mq = {.session_id = x->q->session_id,
                          .vis = x->q->vis,
                          .since_id = x->q->since_id,
                          .limit = x->q->limit};
    bson_t f, and, wrap, or, a, b, rx;
    msg_filter(&mq, &f);
    /* $and: [{$or: [{search_text: null}, {search_text: {$regex: terms}}]}] (the
     * visibility clauses already use the filter's own $or) */
    BSON_APPEND_ARRAY_BEGIN(&f, "$and", &and);
    BSON_APPEND_DOCUMENT_BEGIN(&and, "0", &wrap);
    BSON_APPEND_ARRAY_BEGIN(&wrap, "$or", & or);
    BSON_APPEND_DOCUMENT_BEGIN(& or, "0", &a);
    BSON_APPEND_NULL(&a, "search_text");
    bson_append_document_end(& or, &a);
    BSON_APPEND_DOCUMENT_BEGIN(& or, "1", &b);
    BSON_APPEND_DOCUMENT_BEGIN(&b, "search_text", &rx);
    BSON_APPEND_UTF8(&rx, "$regex", x->regex);
    bson_append_document_end(&b, &rx);
    bson_append_document_end(& or, &b);
    bson_append_array_end(&wrap, & or);
    bson_append_document_end(&and, &wrap);
    bson_append_array_end(&f, &and);
    err_code rc = find_messages(c, &f, false, 0, x->q->limit, x->out, e);
    bson_destroy(&f);
    if (rc == ERR_OK && x->out->n == 0) {
        bool exists = false;
        if ((rc = smongo_session_exists(c, x->q->session_id, &exists, e)) == ERR_OK && !exists)
            rc = store_err_no_session(e, x->q->session_id);
    }
    return rc;
}

/* Candidates: messages whose search_text holds a term (a server-side regular
 * expression over the session's messages), and messages without search_text. */
static err_code mg_message_search(store_t *st, const store_search_query *q, store_messages *out,
                                  err_t *e)
{
    ERR_LOCAL(e); /* arguments checked, out zeroed by store_message_search (store.h) */
    char *regex = terms_regex(q->terms, q->nterms);
    msg_search_ctx x = {q, regex, out};
    err_code rc = smongo_read(M(st), rd_message_search, &x, e);
    free(regex);
    return rc;
}

typedef struct {
    smongo *s;
    int limit;
    int64_t done;
} reindex_ctx;

/* Gives search_text to up to `limit` messages marked {unindexed: true} (written
 * without an index function, or imported), oldest first. */
static err_code tx_message_reindex(smongo_ctx *c, void *arg, err_t *e)
{
    reindex_ctx *x = arg;
    x->done = 0;
    bson_t f = BSON_INITIALIZER;
    BSON_APPEND_BOOL(&f, "unindexed", true);
    store_messages ms = {0};
    err_code rc = find_messages(c, &f, false, 0, x->limit, &ms, e);
    bson_destroy(&f);
    mongoc_collection_t *col = smongo_coll(c, SMONGO_MESSAGES);
    for (size_t i = 0; i < ms.n && rc == ERR_OK; i++) {
        store_message *m = &ms.v[i];
        char *text = x->s->base.index_fn(m->sender, m->content, strlen(m->content), m->metadata);
        bson_t q = BSON_INITIALIZER, upd = BSON_INITIALIZER, set, unset, opts, reply;
        BSON_APPEND_INT64(&q, "id", m->id);
        BSON_APPEND_DOCUMENT_BEGIN(&upd, "$set", &set);
        BSON_APPEND_UTF8(&set, "search_text", text ? text : "");
        bson_append_document_end(&upd, &set);
        BSON_APPEND_DOCUMENT_BEGIN(&upd, "$unset", &unset);
        BSON_APPEND_UTF8(&unset, "unindexed", "");
        bson_append_document_end(&upd, &unset);
        smongo_opts(c, &opts);
        bson_error_t be;
        if (!mongoc_collection_update_one(col, &q, &upd, &opts, &reply, &be))
            rc = smongo_err(&be, &reply, "message search text", e);
        bson_destroy(&reply);
        bson_destroy(&opts);
        bson_destroy(&upd);
        bson_destroy(&q);
        free(text);
    }
    mongoc_collection_destroy(col);
    if (rc == ERR_OK)
        x->done = (int64_t)ms.n;
    store_messages_free(&ms);
    return rc;
}

static err_code mg_message_reindex(store_t *st, int limit, int64_t *done, err_t *e)
{
    ERR_LOCAL(e); /* arguments checked, *done zeroed by store_message_reindex (store.h) */
    reindex_ctx x = {M(st), limit, 0};
    err_code rc = smongo_write(M(st), tx_message_reindex, &x, e);
    if (rc == ERR_OK)
        *done = x.done;
    return rc;
}

typedef struct {
    int64_t id;
    const store_vis *vis;
    store_message *one;
    store_messages *many;
} msg_get_ctx;

static err_code rd_message_get(smongo_ctx *c, void *arg, err_t *e)
{
    msg_get_ctx *x = arg;
    store_message_clear(x->one);
    bson_t f = BSON_INITIALIZER, d;
    BSON_APPEND_INT64(&f, "id", x->id);
    append_vis(&f, x->vis);
    bool found = false;
    err_code rc = smongo_find_one(c, SMONGO_MESSAGES, &f, &d, &found, e);
    bson_destroy(&f);
    if (rc != ERR_OK)
        return rc;
    if (!found)
        return store_err_no_message(e, x->id);
    read_message(&d, x->one);
    bson_destroy(&d);
    return ERR_OK;
}

static err_code mg_message_get(store_t *st, int64_t id, const store_vis *vis, store_message *out,
                               err_t *e)
{
    ERR_LOCAL(e);
    msg_get_ctx x = {id, vis, out, NULL};
    return smongo_read(M(st), rd_message_get, &x, e);
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

static err_code rd_message_thread(smongo_ctx *c, void *arg, err_t *e)
{
    msg_get_ctx *x = arg;
    store_messages_free(x->many);
    /* every descendant id, level by level (replies are newer than their parent) */
    int64_t *all = xmalloc(sizeof *all);
    size_t n = 1, cap = 1, level_start = 0;
    all[0] = x->id;
    err_code rc = ERR_OK;
    while (rc == ERR_OK && level_start < n) {
        size_t level_end = n;
        bson_t f = BSON_INITIALIZER, in;
        BSON_APPEND_DOCUMENT_BEGIN(&f, "parent_message_id", &in);
        append_int_array(&in, "$in", all + level_start, level_end - level_start);
        bson_append_document_end(&f, &in);
        mongoc_collection_t *col = smongo_coll(c, SMONGO_MESSAGES);
        bson_t opts = BSON_INITIALIZER, proj;
        BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
        BSON_APPEND_INT32(&proj, "id", 1);
        bson_append_document_end(&opts, &proj);
        mongoc_cursor_t *cur = mongoc_collection_find_with_opts(col, &f, &opts, NULL);
        const bson_t *doc;
        while (mongoc_cursor_next(cur, &doc)) {
            if (n == cap)
                all = xrealloc(all, (cap *= 2) * sizeof *all);
            all[n++] = smongo_get_int(doc, "id");
        }
        bson_error_t be;
        const bson_t *reply = NULL;
        if (mongoc_cursor_error_document(cur, &be, &reply))
            rc = smongo_err(&be, reply, SMONGO_MESSAGES, e);
        mongoc_cursor_destroy(cur);
        mongoc_collection_destroy(col);
        bson_destroy(&opts);
        bson_destroy(&f);
        level_start = level_end;
    }
    if (rc == ERR_OK) {
        bson_t f = BSON_INITIALIZER, in;
        BSON_APPEND_DOCUMENT_BEGIN(&f, "id", &in);
        append_int_array(&in, "$in", all, n);
        bson_append_document_end(&f, &in);
        append_vis(&f, x->vis);
        rc = find_messages(c, &f, false, 0, 0, x->many, e);
        bson_destroy(&f);
    }
    free(all);
    if (rc == ERR_OK && (x->many->n == 0 || x->many->v[0].id != x->id))
        rc = store_err_no_message(e, x->id);
    return rc;
}

static err_code mg_message_thread(store_t *st, int64_t root_id, const store_vis *vis,
                                  store_messages *out, err_t *e)
{
    ERR_LOCAL(e);
    msg_get_ctx x = {root_id, vis, NULL, out};
    return smongo_read(M(st), rd_message_thread, &x, e);
}

/* ---- lifetime ----------------------------------------------------------------------- */

static void mg_close(store_t *st)
{
    smongo *s = M(st);
    if (s->pool)
        mongoc_client_pool_destroy(s->pool);
    if (s->uri)
        mongoc_uri_destroy(s->uri);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->dbname);
    free(s->url_masked);
    free(s);
}

static const store_vt mongo_vt = {
    .close = mg_close,
    .session_create = mg_session_create,
    .session_get = mg_session_get,
    .session_list = mg_session_list,
    .message_add = mg_message_add,
    .message_list = mg_message_list,
    .message_get = mg_message_get,
    .message_thread = mg_message_thread,
    .message_search = mg_message_search,
    .message_reindex = mg_message_reindex,
    .memory_set = smongo_memory_set,
    .memory_get = smongo_memory_get,
    .memory_list = smongo_memory_list,
    .memory_delete = smongo_memory_delete,
    .memory_sweep = smongo_memory_sweep,
    .audit_append = smongo_audit_append,
    .audit_list = smongo_audit_list,
    .audit_purge = smongo_audit_purge,
    .token_put = smongo_token_put,
    .token_get = smongo_token_get,
    .token_delete = smongo_token_delete,
    .token_purge = smongo_token_purge,
    .jti_revoke = smongo_jti_revoke,
    .jti_is_revoked = smongo_jti_is_revoked,
    .iterate = smongo_iterate,
    .import_rows = smongo_import_rows,
    .import_finish = smongo_import_finish,
    .count_rows = smongo_count_rows,
    .ping = smongo_ping,
    .server_version = smongo_server_version,
    .stats = smongo_stats,
    .schema_status = smongo_schema_status,
    .migrate_to = smongo_migrate_to,
    .schema_check = smongo_schema_check,
    .drop = smongo_drop,
};

static pthread_once_t mongoc_once = PTHREAD_ONCE_INIT;

static void mongoc_log_to_ours(mongoc_log_level_t level, const char *domain, const char *msg,
                               void *ud)
{
    (void)ud;
    if (level <= MONGOC_LOG_LEVEL_WARNING)
        log_msg(LOG_WARN, "mongodb", "%s: %s", domain, msg);
}

static void mongoc_setup(void)
{
    mongoc_init();
    mongoc_log_set_handler(mongoc_log_to_ours, NULL);
}

/* ctxd's own URL options (pool settings, transactions), which libmongoc must not see. */
static bool ctxd_option(const char *key)
{
    static const char *const ours[] = {
        "pool_size",    "max_overflow",  "pool_timeout", "pool_recycle", "pool_pre_ping_idle_ms",
        "busy_timeout", "slow_query_ms", "max_retries",  "transactions", NULL};
    for (size_t i = 0; ours[i]; i++)
        if (strcmp(key, ours[i]) == 0)
            return true;
    return false;
}

/* The URL without ctxd's options (query string kept otherwise, as written). */
static char *mongoc_url_text(const char *url)
{
    const char *q = strchr(url, '?');
    if (!q)
        return xstrdup(url);
    sbuf_t b = SBUF_INIT;
    sbuf_append(&b, url, (size_t)(q - url));
    char sep = '?';
    const char *p = q + 1;
    while (*p) {
        size_t len = strcspn(p, "&");
        size_t klen = strcspn(p, "=&");
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)(klen < sizeof key ? klen : sizeof key - 1), p);
        if (!ctxd_option(key)) {
            sbuf_putc(&b, sep);
            sbuf_append(&b, p, len);
            sep = '&';
        }
        p += len;
        if (*p == '&')
            p++;
    }
    return sbuf_detach(&b);
}

/* Runs {name: 1} on the admin database with a pooled client; *reply is always
 * initialised (bson_destroy it), *rtt_us (may be NULL) = the command's time. */
static err_code admin_command(smongo *s, const char *name, const char *what, bson_t *reply,
                              int64_t *rtt_us, err_t *e)
{
    mongoc_client_t *cl;
    err_code rc = smongo_acquire(s, &cl, e);
    if (rc != ERR_OK) {
        bson_init(reply);
        return rc;
    }
    bson_t cmd = BSON_INITIALIZER;
    BSON_APPEND_INT32(&cmd, name, 1);
    bson_error_t be;
    int64_t t0 = utc_mono_us();
    if (!mongoc_client_command_simple(cl, "admin", &cmd, NULL, reply, &be))
        rc = smongo_err(&be, reply, what, e);
    if (rtt_us)
        *rtt_us = utc_mono_us() - t0;
    bson_destroy(&cmd);
    smongo_release(s, cl);
    return rc;
}

err_code smongo_ping(store_t *st, int64_t *rtt_us, err_t *e)
{
    ERR_LOCAL(e);
    bson_t reply;
    err_code rc = admin_command(M(st), "ping", "ping", &reply, rtt_us, e);
    bson_destroy(&reply);
    return rc;
}

err_code smongo_server_version(store_t *st, char *buf, size_t n, err_t *e)
{
    ERR_LOCAL(e);
    bson_t reply;
    err_code rc = admin_command(M(st), "buildInfo", "buildInfo", &reply, NULL, e);
    if (rc == ERR_OK) {
        char *v = smongo_get_str(&reply, "version");
        snprintf(buf, n, "MongoDB %s", v ? v : "?");
        free(v);
    }
    bson_destroy(&reply);
    return rc;
}

bool store_mongo_uses_transactions(store_t *st)
{
    return st && st->backend == &store_mongo_backend && M(st)->use_tx;
}

/* hello: a replica set member (setName) or mongos (msg isdbgrid) has transactions. */
static err_code probe_topology(smongo *s, err_t *e)
{
    bson_t reply;
    err_code rc = admin_command(s, "hello", "connecting to the server", &reply, NULL, e);
    if (rc == ERR_OK) {
        char *msg = smongo_get_str(&reply, "msg");
        s->use_tx = smongo_has(&reply, "setName") || (msg && strcmp(msg, "isdbgrid") == 0);
        free(msg);
    }
    bson_destroy(&reply);
    return rc;
}

/* The URL option transactions=auto|on|off (see the top of this file). */
typedef enum {
    TX_AUTO,
    TX_ON,
    TX_OFF
} tx_mode;

static err_code parse_tx_mode(const db_url *u, tx_mode *out, err_t *e)
{
    const char *v = db_url_opt_get(u, "transactions");
    *out = TX_AUTO;
    if (!v || strcmp(v, "auto") == 0)
        return ERR_OK;
    if (strcmp(v, "on") == 0)
        *out = TX_ON;
    else if (strcmp(v, "off") == 0)
        *out = TX_OFF;
    else
        return err_set(e, ERR_INVALID,
                       "database URL option transactions=%.32s: expected auto, "
                       "on or off",
                       v);
    return ERR_OK;
}

/* transactions=on on a server whose hello says standalone: one transaction with
 * a read in it, then abort. A real standalone mongod refuses the read
 * (IllegalOperation, code 20: "Transaction numbers are only allowed on a replica
 * set member or mongos"). */
static err_code probe_tx(smongo *s, err_t *e)
{
    mongoc_client_t *cl;
    err_code rc = smongo_acquire(s, &cl, e);
    if (rc != ERR_OK)
        return rc;
    bson_error_t be;
    memset(&be, 0, sizeof be);
    bool ok = false;
    mongoc_client_session_t *cs = mongoc_client_start_session(cl, NULL, &be);
    if (cs && mongoc_client_session_start_transaction(cs, NULL, &be)) {
        mongoc_collection_t *col = mongoc_client_get_collection(cl, s->dbname, SMONGO_MIGRATIONS);
        bson_t f = BSON_INITIALIZER, opts = BSON_INITIALIZER;
        BSON_APPEND_INT64(&opts, "limit", 1);
        ok = mongoc_client_session_append(cs, &opts, &be);
        if (ok) {
            mongoc_cursor_t *cur = mongoc_collection_find_with_opts(col, &f, &opts, NULL);
            const bson_t *doc;
            while (mongoc_cursor_next(cur, &doc)) {
            }
            ok = !mongoc_cursor_error(cur, &be);
            mongoc_cursor_destroy(cur);
        }
        bson_destroy(&opts);
        bson_destroy(&f);
        mongoc_collection_destroy(col);
        bson_error_t ignored;
        mongoc_client_session_abort_transaction(cs, &ignored);
    }
    if (cs)
        mongoc_client_session_destroy(cs);
    smongo_release(s, cl);
    if (ok)
        return ERR_OK;
    if (be.domain == MONGOC_ERROR_SERVER && be.code == 20) /* IllegalOperation */
        return err_set(e, ERR_INVALID,
                       "mongodb: transactions=on needs a replica set or mongos; "
                       "this server is standalone (%s); use transactions=auto or off",
                       be.message);
    return smongo_err(&be, NULL, "transactions=on: a test transaction failed", e);
}

/* The registry's open (store_mongo_backend): a client pool for `url` (u parsed),
 * the server pinged and its topology probed; the schema is not looked at. */
static err_code mongo_open(const char *url, const db_url *u, const conf_t *c, store_t **out,
                           err_t *e)
{
    *out = NULL;
    db_opts o;
    tx_mode txm = TX_AUTO;
    err_code rc = db_opts_from(c, u, &o, e);
    if (rc == ERR_OK)
        rc = parse_tx_mode(u, &txm, e);
    if (rc != ERR_OK)
        return rc;
    pthread_once(&mongoc_once, mongoc_setup);

    char *masked = db_url_masked(url);
    char *text = mongoc_url_text(url);
    bson_error_t be;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(text, &be);
    free(text);
    if (!uri) {
        /* libmongoc's reason, unless it may quote the URL's credentials */
        bool quotable = be.message[0] && !strstr(be.message, "@") && !strstr(be.message, "://") &&
                        !strstr(be.message, "assword") && !strstr(be.message, "secret");
        rc = err_set(e, ERR_INVALID, "DATABASE_URL %s is not a valid MongoDB URI%s%s", masked,
                     quotable ? ": " : "", quotable ? be.message : "");
        free(masked);
        return rc;
    }
    /* fail fast on an unreachable server unless the URL says otherwise */
    if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 5000);
    if (!mongoc_uri_has_option(uri, MONGOC_URI_CONNECTTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, 5000);
    if (!mongoc_uri_has_option(uri, MONGOC_URI_APPNAME))
        mongoc_uri_set_appname(uri, "ctxd");
    const char *dbname = mongoc_uri_get_database(uri);

    smongo *s = xcalloc(1, sizeof *s);
    s->base.vt = &mongo_vt;
    s->base.backend = &store_mongo_backend;
    s->base.name = "mongodb";
    s->uri = uri;
    s->dbname = xstrdup(dbname && *dbname ? dbname : "ctxd");
    s->url_masked = masked;
    s->base.url_masked = masked;
    s->size = o.pool_size > 0 ? o.pool_size : 1;
    s->max_overflow = o.max_overflow > 0 ? o.max_overflow : 0;
    s->cap = s->size + s->max_overflow;
    s->pool_timeout_ms = o.pool_timeout_ms > 0 ? o.pool_timeout_ms : 30000;
    s->max_retries = o.max_retries > 0 ? o.max_retries : 8;
    s->slow_query_ms = o.slow_query_ms;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->pool = mongoc_client_pool_new(uri);
    if (!s->pool) {
        mg_close(&s->base);
        return err_set(e, ERR_INVALID,
                       "mongodb: cannot create a client pool for %s "
                       "(TLS options need a libmongoc built with TLS)",
                       masked);
    }
    mongoc_client_pool_set_error_api(s->pool, MONGOC_ERROR_API_VERSION_2);
    mongoc_client_pool_max_size(s->pool, (uint32_t)s->cap);

    if ((rc = probe_topology(s, e)) != ERR_OK) {
        err_prefix(e, "%s", s->url_masked);
        mg_close(&s->base);
        return rc;
    }
    if (txm == TX_OFF) {
        s->use_tx = false;
    } else if (txm == TX_ON && !s->use_tx) {
        if ((rc = probe_tx(s, e)) != ERR_OK) {
            err_prefix(e, "%s", s->url_masked);
            mg_close(&s->base);
            return rc;
        }
        s->use_tx = true;
    }
    *out = &s->base;
    return ERR_OK;
}

const store_backend store_mongo_backend = {
    .name = "mongodb",
    .open = mongo_open,
    .exists = NULL, /* a server: nothing is created by opening */
};

err_code smongo_drop(store_t *st, err_t *e)
{
    smongo *s = M(st);
    mongoc_client_t *cl;
    err_code rc = smongo_acquire(s, &cl, e);
    if (rc != ERR_OK)
        return rc;
    mongoc_database_t *db = mongoc_client_get_database(cl, s->dbname);
    bson_error_t be;
    if (!mongoc_database_drop(db, &be))
        rc = smongo_err(&be, NULL, "drop database", e);
    mongoc_database_destroy(db);
    smongo_release(s, cl);
    return rc;
}
