/* store/store.h — the repository: everything ctxd keeps (sessions, messages,
 * agent memory, audit log, protected tokens, revoked JWT ids) behind one
 * interface (a vtable), so SQL backends (store_sql over db/) and MongoDB
 * (store_mongo, later) are interchangeable. Every write that takes a
 * `store_audit_in` appends that audit record in the same transaction.
 * Must not: know about MCP, permissions or visibility *policy*: the caller (app/)
 * decides which visibility clauses apply and passes them as a store_vis. */
#ifndef CTXD_STORE_STORE_H
#define CTXD_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "base/err.h"
#include "base/conf.h"
#include "base/utc.h"

typedef struct store store_t;

/* ---- records (all strings owned by the record; JSON fields are JSON text) --- */

typedef struct store_session {
    char *id;               /* "session_" + 16 hex */
    char *purpose;
    char *created_by;
    char *metadata;         /* JSON object text or NULL */
    bool is_active;
    utc_us created_at, updated_at;
    /* filled by session_get / session_list: */
    int64_t message_count;  /* all messages of the session */
    utc_us last_activity;   /* newest message time, or created_at */
    char **participants;    /* distinct senders, sorted; session_list only */
    size_t nparticipants;
} store_session;

typedef struct store_message {
    int64_t id;             /* increasing integer, never reused */
    char *session_id;
    char *sender;           /* agent_id of the author */
    char *sender_type;      /* agent_type of the author */
    char *content;
    char *visibility;       /* public | private | agent_only | admin_only */
    char *message_type;     /* "agent_response" by default */
    char *metadata;         /* JSON object text or NULL */
    int64_t parent_id;      /* 0 = none */
    utc_us created_at;
} store_message;

typedef struct store_memory {
    char *agent_id;
    char *session_id;       /* NULL = global scope */
    char *key;
    char *value;            /* any JSON value, as text; type preserved */
    char *metadata;         /* JSON object text or NULL */
    utc_us created_at, updated_at;
    utc_us expires_at;      /* 0 = never */
} store_memory;

typedef struct store_token {
    char *token_id;         /* "sct_" + uuid4 */
    char *jwt;
    char *agent_id;
    char *agent_type;
    utc_us created_at, expires_at;
} store_token;

typedef struct store_audit {
    int64_t id;
    utc_us at;
    char *event_type;       /* "session_created", "message_added", ... */
    char *agent_id;
    char *session_id;       /* or NULL */
    char *resource;         /* e.g. "message:42", "memory:key" or NULL */
    char *metadata;         /* JSON object text or NULL */
} store_audit;

typedef struct store_audit_in {
    const char *event_type;
    const char *agent_id;
    const char *session_id;
    const char *resource;
    const char *metadata;
} store_audit_in;

typedef struct { store_session *v; size_t n; } store_sessions;
typedef struct { store_message *v; size_t n; } store_messages;
typedef struct { store_memory *v; size_t n; } store_memories;
typedef struct { store_audit *v; size_t n; } store_audits;

void store_session_clear(store_session *s);
void store_message_clear(store_message *m);
void store_memory_clear(store_memory *m);
void store_token_clear(store_token *t);
void store_audit_clear(store_audit *a);
void store_sessions_free(store_sessions *l);
void store_messages_free(store_messages *l);
void store_memories_free(store_memories *l);
void store_audits_free(store_audits *l);

/* ---- queries ----------------------------------------------------------------- */

/* Which messages the reader may see: a message is visible when ANY enabled
 * clause matches. `all` disables filtering. Built by app/, applied by the store. */
typedef struct store_vis {
    bool all;
    bool public_;              /* visibility = 'public' */
    const char *private_of;    /* visibility = 'private'    AND sender = private_of */
    const char *agent_only_of; /* visibility = 'agent_only' AND sender_type = agent_only_of */
    bool admin_only;           /* visibility = 'admin_only' */
} store_vis;

typedef struct store_msg_query {
    const char *session_id;    /* required */
    store_vis vis;
    int64_t since_id;          /* only ids > since_id; 0 = no bound */
    const char *sender;        /* exact sender, or NULL */
    utc_us from, to;           /* inclusive; 0 = unbounded */
    int limit;                 /* >= 1 */
    int offset;                /* >= 0 */
    bool newest_first;         /* order by id desc instead of asc */
    bool want_total;           /* fill *total with the count ignoring limit/offset */
} store_msg_query;

typedef struct store_session_query {
    int limit, offset;
    const char *created_by;    /* or NULL */
    bool active_only;
} store_session_query;

typedef enum store_mem_scope {
    STORE_MEM_GLOBAL = 0,      /* session_id IS NULL */
    STORE_MEM_SESSION,         /* session_id = query.session_id */
    STORE_MEM_ALL              /* both (global + every session of the agent) */
} store_mem_scope;

typedef struct store_mem_query {
    const char *agent_id;      /* required: memory is private to its agent */
    store_mem_scope scope;
    const char *session_id;    /* for STORE_MEM_SESSION */
    const char *prefix;        /* literal prefix ('%' and '_' are not wildcards) or NULL */
    int limit;
    utc_us now;                /* expired entries are not listed */
} store_mem_query;

typedef struct store_mem_set {
    const char *agent_id, *session_id, *key;
    const char *value;         /* JSON text, required */
    const char *metadata;      /* JSON text or NULL */
    utc_us expires_at;         /* 0 = never */
    bool overwrite;            /* false: ERR_EXISTS if a live entry exists */
    utc_us now;
} store_mem_set;

typedef struct store_audit_query {
    const char *session_id;    /* or NULL */
    const char *agent_id;      /* or NULL */
    const char *event_type;    /* or NULL */
    int limit;                 /* newest first */
} store_audit_query;

/* Every table in foreign-key order, one JSON object per row with native JSON
 * types (integers, strings, ISO-8601 UTC times, embedded JSON values). */
typedef err_code (*store_row_cb)(void *ud, const char *table, json_t *row, err_t *e);

/* ---- the interface ---------------------------------------------------------------
 * Errors: ERR_NOTFOUND (session/message/memory/token absent), ERR_EXISTS
 * (memory overwrite=false), ERR_UNIQUE, ERR_INVALID (bad argument), ERR_BUSY /
 * ERR_CONN / ERR_TIMEOUT (transient: the store already retried), others fatal. */
typedef struct store_vt {
    const char *name;   /* "sql:sqlite", "sql:postgresql", "mongodb" */
    void (*close)(store_t *st);

    err_code (*session_create)(store_t *st, const store_session *in,
                               const store_audit_in *audit, err_t *e);
    err_code (*session_get)(store_t *st, const char *id, store_session *out, err_t *e);
    err_code (*session_list)(store_t *st, const store_session_query *q,
                             store_sessions *out, int64_t *total, err_t *e);

    err_code (*message_add)(store_t *st, store_message *m /* id, created_at filled */,
                            const store_audit_in *audit, err_t *e);
    err_code (*message_list)(store_t *st, const store_msg_query *q, store_messages *out,
                             int64_t *total, err_t *e);
    err_code (*message_get)(store_t *st, int64_t id, const store_vis *vis,
                            store_message *out, err_t *e);
    /* The root (if visible) and all its visible descendants, ordered by id. */
    err_code (*message_thread)(store_t *st, int64_t root_id, const store_vis *vis,
                               store_messages *out, err_t *e);

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
    /* Returns the token even when expired (the caller reports TOKEN_EXPIRED). */
    err_code (*token_get)(store_t *st, const char *token_id, store_token *out, err_t *e);
    err_code (*token_delete)(store_t *st, const char *token_id, bool *deleted, err_t *e);
    /* Removes expired tokens and expired revocations. */
    err_code (*token_purge)(store_t *st, utc_us now, int64_t *removed, err_t *e);
    err_code (*jti_revoke)(store_t *st, const char *jti, utc_us expires_at, err_t *e);
    err_code (*jti_is_revoked)(store_t *st, const char *jti, bool *revoked, err_t *e);

    err_code (*iterate)(store_t *st, store_row_cb cb, void *ud, err_t *e);
} store_vt;

struct store {
    const store_vt *vt;
};

/* Opens the store for a database URL (SQL backends via db/). The schema must be
 * at the version this binary knows (run migrations first, e.g. migrate_up);
 * otherwise ERR_SCHEMA with a message saying what to run. */
err_code store_open(const char *url, const conf_t *c, store_t **out, err_t *e);
void store_close(store_t *st);
/* The tables in foreign-key order (NULL-terminated), as used by iterate. */
const char *const *store_table_order(void);

#endif
