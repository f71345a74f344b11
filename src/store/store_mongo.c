/* store/store_mongo.c — the MongoDB store (libmongoc 1.23): opening (URL ->
 * client pool, ping, topology check), the pool accounting, the read/write
 * runners and error classes, the vtable, and health (ping, server version,
 * figures, drop). The operations live in store_mongo_msg.c (sessions,
 * messages), store_mongo_mem.c (agent memory), store_mongo_auth.c (audit log,
 * tokens, revoked jtis, agent credentials), store_mongo_xfer.c (copy/import) and
 * store_mongo_migrate.c (schema); they run through the commands and executors
 * of store_mongo_cmd.c; value encodings are in store_mongo_conv.c.
 *
 * Data model: one collection per logical table, field names = column names,
 * times as int64 microseconds (utc_us), JSON columns as BSON values. _id is the
 * server's ObjectId (never data); the natural keys (sessions.id, messages.id,
 * secure_tokens.token_hash, revoked_jtis.jti, agent_credentials.agent_id and key_hash,
 * agent_memory (agent_id, scope, key) with scope = session id or "" for global) carry
 * unique indexes (migrations 1 and 3).
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
 * Must not: decide visibility or permissions, or print the URL's password. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store/store_mongo_int.h"
#include "store/store_backend.h"
#include "base/sbuf.h"
#include "base/log.h"
#include "db/url.h"

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
static void mg_stats(store_t *st, store_stats *out)
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

/* ---- opening and closing ------------------------------------------------------------- */

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

/* ---- health --------------------------------------------------------------------------- */

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

static err_code mg_ping(store_t *st, int64_t *rtt_us, err_t *e)
{
    bson_t reply;
    err_code rc = admin_command(M(st), "ping", "ping", &reply, rtt_us, e);
    bson_destroy(&reply);
    return rc;
}

static err_code mg_server_version(store_t *st, char *buf, size_t n, err_t *e)
{
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

/* store_drop: the whole database */
static err_code mg_drop(store_t *st, err_t *e)
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

/* ---- topology and transactions -------------------------------------------------------- */

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

/* ---- the vtable and the registry's open ----------------------------------------------- */

static const store_vt mongo_vt = {
    .close = mg_close,
    .session_create = smongo_session_create,
    .session_get = smongo_session_get,
    .session_head = smongo_session_head,
    .session_list = smongo_session_list,
    .message_add = smongo_message_add,
    .message_list = smongo_message_list,
    .message_get = smongo_message_get,
    .message_get_many = smongo_message_get_many,
    .message_thread = smongo_message_thread,
    .message_search = smongo_message_search,
    .message_reindex = smongo_message_reindex,
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
    .token_delete_agent = smongo_token_delete_agent,
    .token_purge = smongo_token_purge,
    .jti_revoke = smongo_jti_revoke,
    .jti_is_revoked = smongo_jti_is_revoked,
    .cred_add = smongo_cred_add,
    .cred_get = smongo_cred_get,
    .cred_list = smongo_cred_list,
    .cred_rekey = smongo_cred_rekey,
    .cred_revoke = smongo_cred_revoke,
    .iterate = smongo_iterate,
    .import_rows = smongo_import_rows,
    .import_finish = smongo_import_finish,
    .count_rows = smongo_count_rows,
    .load_put = smongo_load_put,
    .load_get = smongo_load_get,
    .ping = mg_ping,
    .server_version = mg_server_version,
    .stats = mg_stats,
    .schema_status = smongo_schema_status,
    .migrate_to = smongo_migrate_to,
    .schema_check = smongo_schema_check,
    .drop = mg_drop,
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
