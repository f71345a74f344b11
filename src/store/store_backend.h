/* store/store_backend.h — the store's backend interface, private to src/store/:
 * code outside store/ uses only store.h and must not include this file.
 * What a backend (store_sql*.c, store_mongo*.c) implements and is given: its
 * const vtable (store_vt), the common head of every store instance (struct
 * store), its entry in the registry of backends by URL scheme (store_backend,
 * store_backend_find), the macro ERR_LOCAL (for store.c's public functions: a
 * vtable function is always given a non-NULL `e`), and the backend-neutral helpers of
 * store_backend.c: the audit record of a write with its defaults, the entry a
 * memory_set stored, growing result lists, and the errors every backend reports
 * in the same words.
 * store.c calls the vtable only after checking the arguments, zeroing the
 * outputs and making `e` non-NULL; a vtable function may return an error with
 * outputs partly filled (store.c frees them). The contract of each entry is the
 * comment of its store.h function.
 * Must not: be included outside src/store/ (scripts/check-layers.sh refuses it),
 * or hold anything a backend does not need. */
#ifndef CTXD_STORE_BACKEND_H
#define CTXD_STORE_BACKEND_H

#include <stdint.h>
#include "base/err.h"
#include "base/conf.h"
#include "db/url.h"
#include "store/store.h"

/* e may be NULL: then a local err_t takes the details */
#define ERR_LOCAL(e) \
    err_t e##_local_; \
    if (!(e)) \
        (e) = &e##_local_; \
    err_clear(e)

/* ---- the vtable: one const table per backend (see store.h for each contract) ------- */
typedef struct store_vt {
    void (*close)(store_t *st);

    err_code (*session_create)(store_t *st, const store_session *in, const store_audit_in *audit,
                               err_t *e);
    err_code (*session_get)(store_t *st, const char *id, store_session *out, err_t *e);
    err_code (*session_head)(store_t *st, const char *id, store_session *out, err_t *e);
    err_code (*session_list)(store_t *st, const store_session_query *q, store_sessions *out,
                             int64_t *total, err_t *e);
    err_code (*message_add)(store_t *st, store_message *m, const store_audit_in *audit, err_t *e);
    err_code (*message_list)(store_t *st, const store_msg_query *q, store_messages *out,
                             int64_t *total, err_t *e);
    err_code (*message_get)(store_t *st, int64_t id, const store_vis *vis, store_message *out,
                            err_t *e);
    err_code (*message_get_many)(store_t *st, const int64_t *ids, size_t n, const store_vis *vis,
                                 store_messages *out, err_t *e);
    err_code (*message_thread)(store_t *st, const store_thread_query *q, store_messages *out,
                               err_t *e);
    err_code (*message_search)(store_t *st, const store_search_query *q, store_messages *out,
                               err_t *e);
    err_code (*message_reindex)(store_t *st, int limit, int64_t *done, err_t *e);
    err_code (*memory_set)(store_t *st, const store_mem_set *in, const store_audit_in *audit,
                           store_memory *out /* may be NULL */, err_t *e);
    err_code (*memory_get)(store_t *st, const char *agent_id, const char *session_id,
                           const char *key, utc_us now, store_memory *out, err_t *e);
    err_code (*memory_list)(store_t *st, const store_mem_query *q, store_memories *out, err_t *e);
    err_code (*memory_delete)(store_t *st, const char *agent_id, const char *session_id,
                              const char *key, const store_audit_in *audit, bool *deleted,
                              err_t *e);
    err_code (*memory_sweep)(store_t *st, utc_us now, int64_t *removed, err_t *e);
    err_code (*audit_append)(store_t *st, const store_audit_in *a, err_t *e);
    err_code (*audit_list)(store_t *st, const store_audit_query *q, store_audits *out, err_t *e);
    err_code (*audit_purge)(store_t *st, utc_us older_than, int64_t *removed, err_t *e);
    err_code (*token_put)(store_t *st, const store_token *t, err_t *e);
    err_code (*token_get)(store_t *st, const char *token_hash, store_token *out, err_t *e);
    err_code (*token_delete)(store_t *st, const char *token_hash, bool *deleted, err_t *e);
    err_code (*token_delete_agent)(store_t *st, const char *agent_id, int64_t *removed, err_t *e);
    err_code (*token_purge)(store_t *st, utc_us now, int64_t *removed, err_t *e);
    err_code (*jti_revoke)(store_t *st, const char *jti, utc_us expires_at, err_t *e);
    err_code (*jti_is_revoked)(store_t *st, const char *jti, bool *revoked, err_t *e);
    err_code (*cred_add)(store_t *st, const store_cred *c, const store_audit_in *audit, err_t *e);
    /* by: "agent_id" or "key_hash" (the column to look up) */
    err_code (*cred_get)(store_t *st, const char *by, const char *value, store_cred *out, err_t *e);
    err_code (*cred_list)(store_t *st, store_creds *out, err_t *e);
    err_code (*cred_rekey)(store_t *st, const char *agent_id, const char *key_hash, utc_us now,
                           const store_audit_in *audit, err_t *e);
    err_code (*cred_revoke)(store_t *st, const char *agent_id, utc_us now,
                            const store_audit_in *audit, bool *changed, err_t *e);
    err_code (*iterate)(store_t *st, store_row_cb cb, void *ud, err_t *e);
    err_code (*import_rows)(store_t *st, const char *table, json_t *const *rows, size_t n,
                            int64_t *inserted, err_t *e);
    err_code (*import_finish)(store_t *st, err_t *e);
    err_code (*count_rows)(store_t *st, const char *table, int64_t *n, err_t *e);
    /* the record of an unfinished load as text (store.c encodes store_load):
     * load_put NULL removes it; load_get *text NULL: none */
    err_code (*load_put)(store_t *st, const char *text, err_t *e);
    err_code (*load_get)(store_t *st, char **text, err_t *e);
    err_code (*ping)(store_t *st, int64_t *rtt_us, err_t *e);
    err_code (*server_version)(store_t *st, char *buf, size_t n, err_t *e);
    void (*stats)(store_t *st, store_stats *out);

    /* schema lifecycle; migrate_to: target -1 = latest; a backend whose
     * migrations only go up refuses a target below the current version
     * (store_schema.up_only). */
    err_code (*schema_status)(store_t *st, store_schema *out, err_t *e);
    err_code (*migrate_to)(store_t *st, int target, int *changed, err_t *e);
    err_code (*schema_check)(store_t *st, err_t *e);
    err_code (*drop)(store_t *st, err_t *e);
} store_vt;

typedef struct store_backend store_backend;

/* The head of every store instance (a backend's struct starts with it). */
struct store {
    const store_vt *vt;
    const store_backend *backend;
    const char *name;       /* "sql:sqlite", "mongodb", ... (static) */
    const char *url_masked; /* owned by the backend, lives until close */
    /* set by store_set_index_fn before the store is shared between threads */
    store_index_fn index_fn;
};

/* ---- the registry of backends --------------------------------------------------------- */
struct store_backend {
    const char *name; /* "sql", "mongodb" */
    /* Opens a store for `url` (parsed: u) without looking at its schema. */
    err_code (*open)(const char *url, const db_url *u, const conf_t *c, store_t **out, err_t *e);
    /* store_check_exists for a URL of this backend; NULL: always ERR_OK. */
    err_code (*exists)(const db_url *u, err_t *e);
};

extern const store_backend store_sql_backend;   /* store_sql_life.c */
extern const store_backend store_mongo_backend; /* store_mongo.c */

/* The backend of a parsed URL; NULL if none serves its scheme. */
const store_backend *store_backend_of(const db_url *u);
/* The backend for `url` (parsed with db_url_parse: every scheme form db/url.h
 * accepts); a URL db/ cannot parse or no backend serves is ERR_INVALID naming
 * the scheme. *u (may be NULL) = the parsed URL, for the caller to db_url_free. */
err_code store_backend_find(const char *url, const store_backend **out, db_url **u, err_t *e);

/* ---- audit records of writes (store.h, top) ------------------------------------------ */

/* The audit record a write appends: the caller's record with each NULL field
 * taken from the write, and the default resource text it may point to. */
typedef struct store_audit_rec {
    store_audit_in in;
    char *res; /* owned; NULL for a record taken as given */
} store_audit_rec;

/* Each fills *r from a (not NULL) and the write's defaults, and returns r; the
 * backend appends r->in and then calls store_audit_rec_free.
 *   session_create: "session_created", s->created_by, s->id, "session:<id>"
 *   message_add:    "message_added", m->sender, m->session_id, "message:<id>"
 *   memory_set / memory_delete: event ("memory_set" / "memory_deleted"),
 *                   agent_id, session_id, "memory:<key>" */
store_audit_rec *store_audit_session(store_audit_rec *r, const store_audit_in *a,
                                     const store_session *s);
store_audit_rec *store_audit_message(store_audit_rec *r, const store_audit_in *a,
                                     const store_message *m, int64_t id);
store_audit_rec *store_audit_memory(store_audit_rec *r, const store_audit_in *a, const char *event,
                                    const char *agent_id, const char *session_id, const char *key);
/*   cred_add / cred_rekey / cred_revoke: event, agent_id, no session, "agent:<id>" */
store_audit_rec *store_audit_cred(store_audit_rec *r, const store_audit_in *a, const char *event,
                                  const char *agent_id);
void store_audit_rec_free(store_audit_rec *r);

/* ---- results and errors both backends give -------------------------------------------- */

/* The visibility a stored text (n bytes) names; a text outside the name table (only
 * writes around ctxd can store one) reads as admin_only, the most restricted. */
store_visibility store_visibility_stored(const char *text, size_t n);

/* A valid store_session.access ({"agents": [strings], "types": [strings]}) in the one
 * form every backend stores (compact, UTF-8 as such: no \u escapes, which MariaDB's
 * JSON_CONTAINS would not see through); NULL when text is not one. Caller frees. */
char *store_access_canonical(const char *text);

/* Appends a zeroed element of size elt to the growing array *v (n used, cap
 * allocated) and returns it. */
void *store_list_push(void **v, size_t *n, size_t *cap, size_t elt);

/* *out = the entry memory_set stored from `in` (strings copied). */
void store_memory_from_set(store_memory *out, const store_mem_set *in, utc_us created_at,
                           utc_us updated_at);

/* The index text of a message (the store's index function, store_set_index_fn):
 * malloc'ed, "" when the function gives nothing; NULL without an index function. */
char *store_index_text(store_t *st, const char *sender, const char *content, size_t content_len,
                       const char *metadata_json);

err_code store_err_no_session(err_t *e, const char *id);     /* ERR_NOTFOUND */
err_code store_err_session_exists(err_t *e, const char *id); /* ERR_UNIQUE */
err_code store_err_no_message(err_t *e, int64_t id);         /* ERR_NOTFOUND */
/* A thread page read with its root first (message_thread, store_thread_query): rc, or
 * the root's ERR_NOTFOUND when the rows do not start with it; the root row is dropped
 * when the page starts past it (since_id >= root_id), so the backend reads limit + 1
 * rows then. */
err_code store_thread_page_done(const store_thread_query *q, store_messages *out, err_code rc,
                                err_t *e);
/* message_add's parent answers (store.h): ERR_INVALID with their store_reason */
err_code store_err_no_parent(err_t *e, int64_t parent_id);                          /* INVALID */
err_code store_err_bad_parent(err_t *e, int64_t parent_id, const char *session_id); /* INVALID */
err_code store_err_no_memory(err_t *e, const char *key);     /* ERR_NOTFOUND */
err_code store_err_memory_exists(err_t *e, const char *key); /* ERR_EXISTS */
/* Two writers inserted the same new key at once: ERR_BUSY (retried, then seen). */
err_code store_err_memory_race(err_t *e, const char *key);
err_code store_err_no_token(err_t *e);                          /* ERR_NOTFOUND */
err_code store_err_token_exists(err_t *e);                      /* ERR_UNIQUE */
err_code store_err_no_cred(err_t *e, const char *agent_id);     /* ERR_NOTFOUND */
err_code store_err_cred_exists(err_t *e, const char *agent_id); /* ERR_UNIQUE */

#endif
