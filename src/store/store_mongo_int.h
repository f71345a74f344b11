/* store/store_mongo_int.h — what the store_mongo_*.c files share: the store
 * struct (client pool, its statistics, whether transactions are used), the
 * collection names, the unit of work (a borrowed client and, inside a
 * transaction, its session) and its runners with retry, how a document
 * becomes a record (smongo_rec), the commands inside a unit of work, the
 * executors that run a whole operation of one command, error mapping, the
 * BSON <-> JSON / time helpers of store_mongo_conv.c, and the operations (the
 * vtable entries) each file defines.
 * Files: store_mongo.c (open/close, pool, runners, error classes, the vtable,
 * health), store_mongo_cmd.c (commands and executors), store_mongo_msg.c
 * (sessions, messages, search), store_mongo_mem.c (agent memory),
 * store_mongo_auth.c (audit log, tokens, revoked jtis, agent credentials), store_mongo_xfer.c
 * (iterate, import, count), store_mongo_migrate.c (schema lifecycle),
 * store_mongo_conv.c (encodings and records).
 * Must not: be included outside src/store/store_mongo*.c (and the unit test of
 * its error classes, tests/unit/test_mongo_errclass.c). */
#ifndef CTXD_STORE_STORE_MONGO_INT_H
#define CTXD_STORE_STORE_MONGO_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <mongoc/mongoc.h>
#include <jansson.h>
#include "store/store.h"
#include "store/store_mongo.h"
#include "store/store_backend.h"
#include "db/db.h"

/* collections (= the logical table names, plus two of our own) */
#define SMONGO_SESSIONS "sessions"
#define SMONGO_MESSAGES "messages"
#define SMONGO_MEMORY "agent_memory"
#define SMONGO_AUDIT "audit_log"
#define SMONGO_TOKENS "secure_tokens"
#define SMONGO_JTIS "revoked_jtis"
#define SMONGO_CREDS "agent_credentials"
#define SMONGO_COUNTERS "counters" /* {name, seq}: message and audit ids */
#define SMONGO_MIGRATIONS "schema_migrations"

typedef struct smongo {
    store_t base;
    mongoc_client_pool_t *pool;
    mongoc_uri_t *uri;
    char *dbname;
    char *url_masked;
    bool use_tx; /* replica set / sharded cluster: multi-document transactions */
    int max_retries;
    int pool_timeout_ms;
    /* our accounting of the pool (libmongoc's pool has no statistics) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int cap, size, max_overflow, in_use, created;
    uint64_t acquired, waits, timeouts;
    /* operations run by smongo_read/smongo_write (store_stats.queries), under mu */
    int slow_query_ms; /* 0 = no slow-operation log */
    db_query_stats ops;
} smongo;

static inline smongo *M(store_t *st)
{
    return (smongo *)st;
}

/* ---- the unit of work and its runners (store_mongo.c) ---------------------------------- */

/* One unit of work: a borrowed client, and the session while in a transaction. */
typedef struct smongo_ctx {
    smongo *s;
    mongoc_client_t *client;
    mongoc_client_session_t *cs; /* NULL outside a transaction */
} smongo_ctx;

/* A unit of work; re-run on retry, so it resets its outputs. */
typedef err_code (*smongo_fn)(smongo_ctx *c, void *arg, err_t *e);

/* Borrows a client (waits up to pool_timeout: ERR_TIMEOUT), gives it back. */
err_code smongo_acquire(smongo *s, mongoc_client_t **out, err_t *e);
void smongo_release(smongo *s, mongoc_client_t *c);
/* Reads on a borrowed client (commands that need no snapshot); connection and
 * busy errors are retried a few times. */
err_code smongo_read(smongo *s, smongo_fn fn, void *arg, err_t *e);
/* In a transaction when the server supports them, else ordered writes; retried
 * as a whole on transient classes. */
err_code smongo_write(smongo *s, smongo_fn fn, void *arg, err_t *e);
mongoc_collection_t *smongo_coll(smongo_ctx *c, const char *name); /* destroy after use */
/* opts initialised with the transaction's session (if any); bson_destroy after use */
void smongo_opts(smongo_ctx *c, bson_t *opts);
/* Maps a libmongoc error (and the reply's labels) to an err_code with a message. */
err_code smongo_err(const bson_error_t *be, const bson_t *reply, const char *what, err_t *e);

/* ---- documents into records ------------------------------------------------------------ */

/* How a document becomes a record of `size` bytes: read fills a zeroed record
 * from d (d is valid during the call only); clear (NULL: nothing to free) frees
 * what read allocated. */
typedef struct smongo_rec {
    size_t size;
    void (*read)(const bson_t *d, void *rec);
    void (*clear)(void *rec);
} smongo_rec;

/* the records of store.h (store_mongo_conv.c) */
extern const smongo_rec smongo_session_rec; /* store_session without its figures */
extern const smongo_rec smongo_message_rec;
extern const smongo_rec smongo_memory_rec;
extern const smongo_rec smongo_audit_rec;
extern const smongo_rec smongo_token_rec;
extern const smongo_rec smongo_cred_rec;

/* The list of a store result (store_messages, ...): its array and count. */
#define SMONGO_LIST(l) (void **)&(l)->v, &(l)->n

/* How a find returns its documents; a NULL smongo_find is none of these. */
typedef struct smongo_find {
    const char *sort[2]; /* "field" ascending, "-field" descending; NULL: no more */
    int64_t skip, limit; /* 0: none */
    const char *only;    /* projection: this field (and _id) only; NULL: all */
} smongo_find;

/* ---- commands inside a unit of work (store_mongo_cmd.c) ------------------------------
 * In the transaction's session, if any; a failed command is mapped by smongo_err
 * naming its collection. */

/* Calls fn for each document of coll matching filter, until fn fails. */
typedef err_code (*smongo_each_fn)(const bson_t *doc, void *arg, err_t *e);
err_code smongo_each(smongo_ctx *c, const char *coll, const bson_t *filter, const smongo_find *o,
                     smongo_each_fn fn, void *arg, err_t *e);
/* The first matching document copied to *out (out NULL: only *found; else
 * bson_destroy it when *found). */
err_code smongo_find_one(smongo_ctx *c, const char *coll, const bson_t *filter,
                         const smongo_find *o, bson_t *out, bool *found, err_t *e);
/* The first matching document into *rec through k (cleared first); *found says
 * whether there was one. */
err_code smongo_get_one(smongo_ctx *c, const char *coll, const bson_t *filter, const smongo_find *o,
                        const smongo_rec *k, void *rec, bool *found, err_t *e);
/* Every matching document into the list (*v, *n) of k records, emptied first
 * (so a re-run unit of work starts over). */
err_code smongo_get_list(smongo_ctx *c, const char *coll, const bson_t *filter,
                         const smongo_find *o, const smongo_rec *k, void **v, size_t *n, err_t *e);
/* *max = the largest value of field in coll (0: no document). */
err_code smongo_max(smongo_ctx *c, const char *coll, const char *field, int64_t *max, err_t *e);
err_code smongo_count(smongo_ctx *c, const char *coll, const bson_t *filter, int64_t *n, err_t *e);
err_code smongo_insert(smongo_ctx *c, const char *coll, const bson_t *doc, err_t *e);
err_code smongo_delete(smongo_ctx *c, const char *coll, const bson_t *filter, bool many,
                       int64_t *deleted, err_t *e);
/* update: with $ operators an update, else a replacement of the first match; a
 * duplicate key is ERR_UNIQUE (for an upsert: another writer inserted it first).
 * *matched / *upserted (may be NULL) = the reply's counts. */
err_code smongo_update(smongo_ctx *c, const char *coll, const bson_t *filter, const bson_t *update,
                       bool upsert, int64_t *matched, int64_t *upserted, err_t *e);
/* The next value of counter `name` (outside any transaction: ids are never reused). */
err_code smongo_next_id(smongo_ctx *c, const char *name, int64_t *out, err_t *e);
/* Appends the audit record a (created_at = now; store_backend.h fills defaults). */
err_code smongo_audit_insert(smongo_ctx *c, const store_audit_in *a, err_t *e);
/* ERR_OK when session id exists, else store_err_no_session (store_mongo_msg.c). */
err_code smongo_need_session(smongo_ctx *c, const char *id, err_t *e);

/* ---- executors: a whole operation of one command (store_mongo_cmd.c) ---------------- */

/* A read (smongo_read) of smongo_get_one / smongo_get_list / smongo_count. */
err_code smongo_read_one(smongo *s, const char *coll, const bson_t *filter, const smongo_find *o,
                         const smongo_rec *k, void *rec, bool *found, err_t *e);
err_code smongo_read_list(smongo *s, const char *coll, const bson_t *filter, const smongo_find *o,
                          const smongo_rec *k, void **v, size_t *n, err_t *e);
err_code smongo_read_count(smongo *s, const char *coll, const bson_t *filter, int64_t *n, err_t *e);
/* A write (smongo_write) of doc into coll unless a document matches key (then, or
 * when the unique index refuses doc, ERR_UNIQUE and *exists), then the audit
 * record a (NULL: none). */
err_code smongo_write_new(smongo *s, const char *coll, const bson_t *key, const bson_t *doc,
                          const store_audit_in *a, bool *exists, err_t *e);
/* A write that deletes what filter matches (many: all, else the first) in coll
 * and, if coll2, in coll2 too, then the audit record a (NULL: none) unless
 * nothing was deleted. *n (may be NULL) = the documents deleted. */
err_code smongo_write_delete(smongo *s, const char *coll, const char *coll2, const bson_t *filter,
                             bool many, const store_audit_in *a, int64_t *n, err_t *e);
/* smongo_write_delete of every document with {field: {op: t}} (no audit record). */
err_code smongo_purge(smongo *s, const char *coll, const char *coll2, const char *field,
                      const char *op, utc_us t, int64_t *removed, err_t *e);
/* A write of one upsert; a duplicate key (a concurrent first insert) is ERR_BUSY,
 * so the retry updates the winner's document. */
err_code smongo_write_upsert(smongo *s, const char *coll, const bson_t *filter,
                             const bson_t *update, err_t *e);

/* ---- the operations: the vtable entries each file defines (store_mongo.c's vtable) ---- */

/* store_mongo_msg.c */
err_code smongo_session_create(store_t *st, const store_session *in, const store_audit_in *audit,
                               err_t *e);
err_code smongo_session_get(store_t *st, const char *id, store_session *out, err_t *e);
err_code smongo_session_head(store_t *st, const char *id, store_session *out, err_t *e);
err_code smongo_session_list(store_t *st, const store_session_query *q, store_sessions *out,
                             int64_t *total, err_t *e);
err_code smongo_message_add(store_t *st, store_message *m, const store_audit_in *audit, err_t *e);
err_code smongo_message_list(store_t *st, const store_msg_query *q, store_messages *out,
                             int64_t *total, err_t *e);
err_code smongo_message_get_many(store_t *st, const int64_t *ids, size_t n, const store_vis *vis,
                                 store_messages *out, err_t *e);
err_code smongo_message_get(store_t *st, int64_t id, const store_vis *vis, store_message *out,
                            err_t *e);
err_code smongo_message_thread(store_t *st, const store_thread_query *q, store_messages *out,
                               err_t *e);
err_code smongo_message_search(store_t *st, const store_search_query *q, store_messages *out,
                               err_t *e);
err_code smongo_message_reindex(store_t *st, int limit, int64_t *done, err_t *e);
/* store_mongo_mem.c */
err_code smongo_memory_set(store_t *st, const store_mem_set *in, const store_audit_in *audit,
                           store_memory *out, err_t *e);
err_code smongo_memory_get(store_t *st, const char *agent_id, const char *session_id,
                           const char *key, utc_us now, store_memory *out, err_t *e);
err_code smongo_memory_list(store_t *st, const store_mem_query *q, store_memories *out, err_t *e);
err_code smongo_memory_delete(store_t *st, const char *agent_id, const char *session_id,
                              const char *key, const store_audit_in *audit, bool *deleted,
                              err_t *e);
err_code smongo_memory_sweep(store_t *st, utc_us now, int64_t *removed, err_t *e);
/* store_mongo_auth.c */
err_code smongo_audit_append(store_t *st, const store_audit_in *a, err_t *e);
err_code smongo_audit_list(store_t *st, const store_audit_query *q, store_audits *out, err_t *e);
err_code smongo_audit_purge(store_t *st, utc_us older_than, int64_t *removed, err_t *e);
err_code smongo_token_put(store_t *st, const store_token *t, err_t *e);
err_code smongo_token_get(store_t *st, const char *token_hash, store_token *out, err_t *e);
err_code smongo_token_delete(store_t *st, const char *token_hash, bool *deleted, err_t *e);
err_code smongo_token_delete_agent(store_t *st, const char *agent_id, int64_t *removed, err_t *e);
err_code smongo_token_purge(store_t *st, utc_us now, int64_t *removed, err_t *e);
err_code smongo_jti_revoke(store_t *st, const char *jti, utc_us expires_at, err_t *e);
err_code smongo_jti_is_revoked(store_t *st, const char *jti, bool *revoked, err_t *e);
err_code smongo_cred_add(store_t *st, const store_cred *c, const store_audit_in *audit, err_t *e);
err_code smongo_cred_get(store_t *st, const char *by, const char *value, store_cred *out, err_t *e);
err_code smongo_cred_list(store_t *st, store_creds *out, err_t *e);
err_code smongo_cred_rekey(store_t *st, const char *agent_id, const char *key_hash, utc_us now,
                           const store_audit_in *audit, err_t *e);
err_code smongo_cred_revoke(store_t *st, const char *agent_id, utc_us now,
                            const store_audit_in *audit, bool *changed, err_t *e);
/* store_mongo_xfer.c */
err_code smongo_iterate(store_t *st, store_row_cb cb, void *ud, err_t *e);
err_code smongo_import_rows(store_t *st, const char *table, json_t *const *rows, size_t n,
                            int64_t *inserted, err_t *e);
err_code smongo_import_finish(store_t *st, err_t *e);
err_code smongo_count_rows(store_t *st, const char *table, int64_t *n, err_t *e);
err_code smongo_load_put(store_t *st, const char *text, err_t *e);
err_code smongo_load_get(store_t *st, char **text, err_t *e);
/* store_mongo_migrate.c */
err_code smongo_schema_status(store_t *st, store_schema *out, err_t *e);
err_code smongo_migrate_to(store_t *st, int target, int *changed, err_t *e);
err_code smongo_schema_check(store_t *st, err_t *e);

/* ---- store_mongo_conv.c: JSON <-> BSON and fields ------------------------------------- */

/* *out = the JSON text parsed (NULL text -> NULL). Invalid JSON: ERR_INVALID
 * naming `what`. */
err_code smongo_parse_json(const char *json, const char *what, json_t **out, err_t *e);
/* Appends JSON text as a BSON value under key; NULL text -> BSON null.
 * Invalid JSON: ERR_INVALID naming `what`. */
err_code smongo_append_json_text(bson_t *doc, const char *key, const char *json, const char *what,
                                 err_t *e);
void smongo_append_json(bson_t *doc, const char *key, const json_t *v); /* NULL -> null */
json_t *smongo_iter_to_json(const bson_iter_t *it);
/* The field as compact JSON text; absent or BSON null -> NULL when null_is_null,
 * else "null". */
char *smongo_get_json_text(const bson_t *doc, const char *key, bool null_is_null);
char *smongo_get_str(const bson_t *doc, const char *key);   /* NULL if absent/null */
int64_t smongo_get_int(const bson_t *doc, const char *key); /* int32/int64/double; 0 if absent */
bool smongo_get_bool(const bson_t *doc, const char *key);
bool smongo_has(const bson_t *doc, const char *key); /* present and not null */
/* A time field: int64 microseconds since the epoch (utc_us). 0 if absent/null. */
#define smongo_get_time smongo_get_int
void smongo_append_time(bson_t *doc, const char *key, utc_us t);     /* 0 -> null */
void smongo_append_str(bson_t *doc, const char *key, const char *s); /* NULL -> null */
/* {field: 1 or -1, ...} for up to n fields ("field" ascending, "-field"
 * descending; a NULL field ends the list) as the document `key` of d. */
void smongo_append_keys(bson_t *d, const char *key, const char *const *fields, size_t n);
/* {field: {op: v}} in d */
void smongo_append_op(bson_t *d, const char *field, const char *op, int64_t v);

#endif
