/* store/store_mongo_int.h — what the store_mongo_*.c files share: the store
 * struct (client pool, its statistics, whether transactions are used), the
 * collection names, the per-call context (a borrowed client and, inside a
 * transaction, its session), read/write runners with retry, error mapping and
 * the BSON <-> JSON / time helpers of store_mongo_conv.c.
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

/* One call's context: a borrowed client, and the session while in a transaction. */
typedef struct smongo_ctx {
    smongo *s;
    mongoc_client_t *client;
    mongoc_client_session_t *cs; /* NULL outside a transaction */
} smongo_ctx;

typedef err_code (*smongo_fn)(smongo_ctx *c, void *arg, err_t *e);

/* store_mongo.c */
/* Borrows a client (waits up to pool_timeout: ERR_TIMEOUT), gives it back. */
err_code smongo_acquire(smongo *s, mongoc_client_t **out, err_t *e);
void smongo_release(smongo *s, mongoc_client_t *c);
err_code smongo_read(smongo *s, smongo_fn fn, void *arg, err_t *e);
/* In a transaction when the server supports them, else ordered writes; retried
 * on transient classes. */
err_code smongo_write(smongo *s, smongo_fn fn, void *arg, err_t *e);
/* The health calls of the vtable (store_ping, store_server_version, store_get_stats). */
err_code smongo_ping(store_t *st, int64_t *rtt_us, err_t *e);
err_code smongo_server_version(store_t *st, char *buf, size_t n, err_t *e);
void smongo_stats(store_t *st, store_stats *out);
mongoc_collection_t *smongo_coll(smongo_ctx *c, const char *name); /* destroy after use */
/* opts initialised with the transaction's session (if any); bson_destroy after use */
void smongo_opts(smongo_ctx *c, bson_t *opts);
/* Maps a libmongoc error (and the reply's labels) to an err_code with a message. */
err_code smongo_err(const bson_error_t *be, const bson_t *reply, const char *what, err_t *e);
/* The next value of counter `name` (outside any transaction: ids are never reused). */
err_code smongo_next_id(smongo_ctx *c, const char *name, int64_t *out, err_t *e);
err_code smongo_find_one(smongo_ctx *c, const char *coll, const bson_t *filter, bson_t *out,
                         bool *found, err_t *e);
err_code smongo_count(smongo_ctx *c, const char *coll, const bson_t *filter, int64_t *n, err_t *e);
err_code smongo_insert(smongo_ctx *c, const char *coll, const bson_t *doc, err_t *e);
err_code smongo_delete(smongo_ctx *c, const char *coll, const bson_t *filter, bool many,
                       int64_t *deleted, err_t *e);
/* Appends the audit record r (defaults filled, store_backend.h) and frees it. */
err_code smongo_audit_insert(smongo_ctx *c, store_audit_rec *r, err_t *e);
err_code smongo_session_exists(smongo_ctx *c, const char *id, bool *exists, err_t *e);

/* store_mongo_mem.c: memory, audit, tokens (vtable entries) */
err_code smongo_memory_set(store_t *st, const store_mem_set *in, const store_audit_in *audit,
                           store_memory *out, err_t *e);
err_code smongo_memory_get(store_t *st, const char *agent_id, const char *session_id,
                           const char *key, utc_us now, store_memory *out, err_t *e);
err_code smongo_memory_list(store_t *st, const store_mem_query *q, store_memories *out, err_t *e);
err_code smongo_memory_delete(store_t *st, const char *agent_id, const char *session_id,
                              const char *key, const store_audit_in *audit, bool *deleted,
                              err_t *e);
err_code smongo_memory_sweep(store_t *st, utc_us now, int64_t *removed, err_t *e);
err_code smongo_audit_append(store_t *st, const store_audit_in *a, err_t *e);
err_code smongo_audit_list(store_t *st, const store_audit_query *q, store_audits *out, err_t *e);
err_code smongo_audit_purge(store_t *st, utc_us older_than, int64_t *removed, err_t *e);
err_code smongo_token_put(store_t *st, const store_token *t, err_t *e);
err_code smongo_token_get(store_t *st, const char *token_id, store_token *out, err_t *e);
err_code smongo_token_delete(store_t *st, const char *token_id, bool *deleted, err_t *e);
err_code smongo_token_purge(store_t *st, utc_us now, int64_t *removed, err_t *e);
err_code smongo_jti_revoke(store_t *st, const char *jti, utc_us expires_at, err_t *e);
err_code smongo_jti_is_revoked(store_t *st, const char *jti, bool *revoked, err_t *e);

/* store_mongo_xfer.c: iterate, import_rows, import_finish, count_rows */
err_code smongo_iterate(store_t *st, store_row_cb cb, void *ud, err_t *e);
err_code smongo_import_rows(store_t *st, const char *table, json_t *const *rows, size_t n,
                            int64_t *inserted, err_t *e);
err_code smongo_import_finish(store_t *st, err_t *e);
err_code smongo_count_rows(store_t *st, const char *table, int64_t *n, err_t *e);

/* store_mongo_migrate.c: the schema lifecycle (vtable entries) */
err_code smongo_schema_status(store_t *st, store_schema *out, err_t *e);
err_code smongo_migrate_to(store_t *st, int target, int *changed, err_t *e);
err_code smongo_schema_check(store_t *st, err_t *e);
/* store_mongo.c: drops the whole database (store_drop) */
err_code smongo_drop(store_t *st, err_t *e);

/* store_mongo_conv.c — JSON <-> BSON and fields */
/* Appends JSON text as a BSON value under key; NULL text -> BSON null.
 * Invalid JSON: ERR_INVALID naming `what`. */
err_code smongo_append_json_text(bson_t *doc, const char *key, const char *json, const char *what,
                                 err_t *e);
void smongo_append_json(bson_t *doc, const char *key, const json_t *v);
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

#endif
