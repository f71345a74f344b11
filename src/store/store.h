/* store/store.h — the repository: everything ctxd keeps (sessions, messages,
 * agent memory, audit log, protected tokens, revoked JWT ids, agent credentials) and its schema
 * lifecycle, behind one public API on an opaque store_t, so the SQL backends
 * (over db/) and MongoDB are interchangeable and callers never know which one
 * they have. This is the store's only public header (backends implement
 * store_backend.h, private to src/store/). Every write that takes a
 * `store_audit_in` appends that audit record in the same transaction: a failed
 * write leaves no audit row, a successful one exactly one. A NULL audit pointer
 * means "no audit record" (for import/copy, which replay history); NULL fields
 * of a given audit record are filled from the write (agent_id from the author,
 * session_id from the record, resource "session:<id>", "message:<id>" or
 * "memory:<key>", event_type "session_created", "message_added", "memory_set",
 * "memory_deleted").
 * Times are utc_us, exact to the microsecond on every backend. Memory entries
 * are live while expires_at == 0 or expires_at > now (expires_at == now is
 * expired). A store_t is safe to use from several threads at once.
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
#include "db/db.h"

typedef struct store store_t;

/* ---- visibility: the four values, their names, and the reader's filter --------------
 * The names are the text the databases hold (the visibility column / field) and copy,
 * export and import rows carry; the value table is the only place they are spelt. */
typedef enum store_visibility {
    STORE_VIS_PUBLIC = 0, /* "public" (0: a zeroed record is public, the default) */
    STORE_VIS_PRIVATE,    /* "private" */
    STORE_VIS_AGENT_ONLY, /* "agent_only" */
    STORE_VIS_ADMIN_ONLY, /* "admin_only" */
    STORE_VIS_COUNT
} store_visibility;

/* The name of v ("public", ...); NULL for a value outside the enum. */
const char *store_visibility_name(store_visibility v);
/* The value named `name` (exactly, case-sensitively) into *out; false (and *out
 * unchanged) for any other text, NULL included. */
bool store_visibility_parse(const char *name, store_visibility *out);

/* The bit of a visibility in store_vis.any; every visibility (no filtering). */
#define STORE_VIS_BIT(v) (1u << (unsigned)(v))
#define STORE_VIS_EVERY ((1u << STORE_VIS_COUNT) - 1u)

/* Which messages a reader may see: a message is visible when ANY clause matches.
 *   any            a bit per visibility (STORE_VIS_BIT) matched whoever sent the
 *                  message; STORE_VIS_EVERY = every message (no filtering)
 *   private_of     visibility private    AND sender      = private_of    (NULL: off)
 *   agent_only_of  visibility agent_only AND sender_type = agent_only_of (NULL: off)
 * and, on top of that, its session admits the reader:
 *   member_id, member_type  (both or neither) the reader's agent id and type: a message
 *                  of a restricted session (store_session.access) is visible only when
 *                  the session was created by member_id or its access lists member_id
 *                  or member_type; so are sessions themselves in session_list. NULL:
 *                  every session admits the reader.
 * A zeroed store_vis matches nothing. One way to say each filter: a bit outside
 * STORE_VIS_EVERY, or a sender-bound clause of a visibility `any` already matches,
 * is ERR_INVALID. Built by app/ (the policy), applied by the store: each clause is
 * one predicate on the session's messages in id order. */
typedef struct store_vis {
    unsigned any;
    const char *private_of;
    const char *agent_only_of;
    const char *member_id;
    const char *member_type;
} store_vis;

/* ---- records (all strings owned by the record; JSON fields are JSON text) --- */

typedef struct store_session {
    char *id; /* "session_" + 16 hex */
    char *purpose;
    char *created_by;
    char *metadata; /* JSON object text or NULL */
    /* Who the session admits besides its creator, as JSON object text
     * {"agents": [agent ids], "types": [agent types]} (both arrays of strings), or NULL:
     * an open session (everyone). See store_vis.member_id. */
    char *access;
    bool is_active;
    utc_us created_at, updated_at;
    /* filled by session_get / session_list: */
    int64_t message_count; /* session_get: all messages; session_list: the visible ones */
    utc_us last_activity;  /* newest message time, or created_at */
    char **participants;   /* distinct senders of the visible messages, sorted;
                              session_list only */
    size_t nparticipants;
} store_session;

typedef struct store_message {
    int64_t id; /* increasing integer, never reused */
    char *session_id;
    char *sender;      /* agent_id of the author */
    char *sender_type; /* agent_type of the author */
    char *content;
    store_visibility visibility;
    char *message_type; /* "agent_response" by default */
    char *metadata;     /* JSON object text or NULL */
    int64_t parent_id;  /* 0 = none */
    utc_us created_at;
    /* store_message_add's input only (NULL in every record the store returns): the
     * poster's visibility filter, under which parent_id must be visible. Required
     * with a parent_id (see store_message_add). Not owned. */
    const store_vis *parent_vis;
} store_message;

typedef struct store_memory {
    char *agent_id;
    char *session_id; /* NULL = global scope */
    char *key;
    char *value;    /* any JSON value, as text; type preserved */
    char *metadata; /* JSON object text or NULL */
    utc_us created_at, updated_at;
    utc_us expires_at; /* 0 = never */
} store_memory;

/* A protected token: never the token itself, only the digest auth/ names it by and
 * the identity it stands for. */
typedef struct store_token {
    char *token_hash; /* 64 lowercase hex digits (auth/ computes it from the token) */
    char *agent_id;
    char *agent_type;
    char *permissions; /* "read,write,..." */
    char *jti;         /* the id its revocation is recorded under (revoked_jtis) */
    utc_us created_at, expires_at;
} store_token;

/* An agent's own credential (`ctxd agent`): the digest of its key and the identity the
 * key stands for. The key itself is never stored. */
typedef struct store_cred {
    char *agent_id;
    char *agent_type;
    char *permissions; /* "read,write,..." */
    char *key_hash;    /* 64 lowercase hex digits */
    utc_us created_at;
    utc_us updated_at; /* the last change: issued, rotated or revoked */
    utc_us revoked_at; /* 0 = active */
} store_cred;

typedef struct store_audit {
    int64_t id;
    utc_us at;
    char *event_type; /* "session_created", "message_added", ... */
    char *agent_id;
    char *session_id; /* or NULL */
    char *resource;   /* e.g. "message:42", "memory:key" or NULL */
    char *metadata;   /* JSON object text or NULL */
} store_audit;

/* An audit record to append with a write (see the top of this file). */
typedef struct store_audit_in {
    const char *event_type;
    const char *agent_id;
    const char *session_id;
    const char *resource;
    const char *metadata;
} store_audit_in;

typedef struct {
    store_session *v;
    size_t n;
} store_sessions;
typedef struct {
    store_message *v;
    size_t n;
} store_messages;
typedef struct {
    store_memory *v;
    size_t n;
} store_memories;
typedef struct {
    store_audit *v;
    size_t n;
} store_audits;
typedef struct {
    store_cred *v;
    size_t n;
} store_creds;

void store_session_clear(store_session *s);
void store_message_clear(store_message *m);
void store_memory_clear(store_memory *m);
void store_token_clear(store_token *t);
void store_cred_clear(store_cred *c);
void store_audit_clear(store_audit *a);
void store_sessions_free(store_sessions *l);
void store_messages_free(store_messages *l);
void store_memories_free(store_memories *l);
void store_audits_free(store_audits *l);
void store_creds_free(store_creds *l);

/* ---- queries ----------------------------------------------------------------- */

typedef struct store_msg_query {
    const char *session_id; /* required */
    store_vis vis;
    int64_t since_id;   /* only ids > since_id; 0 = no bound */
    const char *sender; /* exact sender, or NULL */
    utc_us from, to;    /* inclusive; 0 = unbounded */
    int limit;          /* >= 1 */
    int offset;         /* >= 0 */
    bool newest_first;  /* order by id desc instead of asc */
} store_msg_query;

/* message_search: candidates for search_context. Every visible message of the
 * session with id > since_id whose index text (the text store_index_fn gave for it,
 * see store_set_index_fn) contains AT LEAST ONE of terms as a substring (byte-wise;
 * a backend may return more, e.g. FTS5 folds case), and every message that has no
 * index text yet (written without an index function, e.g. by copy/import or before
 * migration 0002, until message_reindex reaches it) or is not in the index yet;
 * ordered by id, at most limit. Never misses such a message: with terms = the
 * trigrams of a sound search_prefilter plan (search/prefilter.h), no message the
 * scorer ranks >= the plan's threshold is missed. */
typedef struct store_search_query {
    const char *session_id; /* required */
    store_vis vis;
    const char *const *terms; /* nterms >= 1 trigrams: valid UTF-8 strings of exactly
                                * 3 code points, none of them '\n' */
    size_t nterms;
    int64_t since_id; /* only ids > since_id; 0 = no bound */
    int limit;        /* >= 1 */
} store_search_query;

/* session_list: newest activity first (updated_at desc, then id). Each session's
 * message_count and participants are over the messages vis matches (the reader's filter,
 * required as for every read of messages); last_activity stays the newest of all. */
typedef struct store_session_query {
    int limit, offset;      /* limit >= 1, offset >= 0 */
    const char *created_by; /* or NULL */
    bool active_only;
    store_vis vis;
} store_session_query;

typedef enum store_mem_scope {
    STORE_MEM_GLOBAL = 0, /* session_id IS NULL */
    STORE_MEM_SESSION,    /* session_id = query.session_id */
    STORE_MEM_ALL         /* both (global + every session of the agent) */
} store_mem_scope;

typedef struct store_mem_query {
    const char *agent_id; /* required: memory is private to its agent */
    store_mem_scope scope;
    const char *session_id; /* for STORE_MEM_SESSION */
    const char *prefix;     /* literal, case-sensitive prefix (valid UTF-8; '%' and '_'
                                  are not wildcards) or NULL/"" for none */
    int limit;              /* >= 1; ordered by key, global before session scope */
    utc_us now;             /* expired entries are not listed; 0 = utc_now() */
} store_mem_query;

typedef struct store_mem_set {
    const char *agent_id, *session_id, *key;
    const char *value;    /* JSON text, required */
    const char *metadata; /* JSON text or NULL */
    utc_us expires_at;    /* 0 = never */
    bool overwrite;       /* false: ERR_EXISTS if a live entry exists */
    utc_us now;           /* the write's time (expiry test, created/updated_at);
                                  0 = utc_now() */
} store_mem_set;

typedef struct store_audit_query {
    const char *session_id; /* or NULL */
    const char *agent_id;   /* or NULL */
    const char *event_type; /* or NULL */
    int limit;              /* >= 1; newest first */
} store_audit_query;

/* Every table in foreign-key order, one JSON object per row with native JSON
 * types (integers, strings, ISO-8601 UTC times, embedded JSON values, booleans),
 * keys = column names. The row is borrowed: it is released after the callback
 * returns (json_incref it to keep it). A non-OK return stops the iteration and
 * is returned by iterate. The rows come from one consistent snapshot. */
typedef err_code (*store_row_cb)(void *ud, const char *table, json_t *row, err_t *e);

/* ---- the logical tables (copy / export / import) -------------------------------------
 * The same description for every backend: column names and types as `iterate`
 * produces them and `import_rows` takes them. */
typedef enum store_col_type {
    STORE_COL_INT,  /* JSON integer */
    STORE_COL_TEXT, /* JSON string (UTF-8) */
    STORE_COL_TIME, /* JSON string, ISO-8601 UTC "YYYY-MM-DDTHH:MM:SS.ffffffZ" */
    STORE_COL_JSON, /* any JSON value (object, array, string, number, bool, null) */
    STORE_COL_BOOL  /* JSON true / false */
} store_col_type;

typedef struct store_column {
    const char *name;
    store_col_type type;
    bool nullable; /* JSON null = SQL NULL (for a nullable JSON column too) */
    /* What the value may be, beyond its type (every backend refuses the rest,
     * as the SQL schemas' CHECK constraints do): */
    const char *const *values; /* TEXT: one of these (NULL-terminated), or NULL = any */
    bool object;               /* JSON: an object (or null when nullable) */
    /* JSON: what else a non-null value must be (NULL: nothing), and that in words */
    bool (*shape)(const json_t *v);
    const char *shape_says;
} store_column;

typedef struct store_table {
    const char *name;
    const store_column *cols;
    size_t ncols;
    /* The row's identity: its primary key, or for agent_memory (whose surrogate
     * id is not data) the unique (agent_id, session_id, key). import_rows skips
     * a row whose identity already exists. */
    const char *const *key;
    size_t nkey;
    /* An integer column whose new values come from a sequence ("id"), kept as
     * given on import; import_finish moves the sequence past it. NULL if none. */
    const char *seq_col;
} store_table;

/* The tables in foreign-key order (as iterate produces them); *n = how many. */
const store_table *store_tables(size_t *n);
/* NULL when there is no such table. */
const store_table *store_table_find(const char *name);
/* Its position in store_tables(), or -1 when there is no such table. */
int store_table_index(const char *name);
/* Checks that `row` is an object with exactly t's columns, each of its type
 * (times parseable, NOT NULL columns not null, no string holding a NUL character, in
 * JSON values neither). ERR_INVALID naming the column. */
err_code store_row_check(const store_table *t, const json_t *row, err_t *e);
/* The canonical text of a valid row (store_row_check first): compact JSON,
 * keys sorted at every level, times as utc_format (UTC, 6 fraction digits, Z),
 * embedded JSON values canonical the same way, booleans true/false, SQL NULL as
 * null. Equal data gives byte-identical text on every backend. Caller frees. */
char *store_row_canonical(const store_table *t, const json_t *row, err_t *e);

/* ---- health and figures ---------------------------------------------------------------
 * What /health/database, /metrics, get_performance_metrics and `ctxd db check` show,
 * in the same terms on every backend. */
typedef struct store_stats {
    const char *backend;    /* "sqlite", "postgresql", "mysql" or "mongodb" */
    db_pool_stats pool;     /* SQL: connections of db/'s pool; MongoDB: clients of the
                                 * client pool (each holds its own server connections) */
    db_query_stats queries; /* SQL: statements; MongoDB: store operations (a read or a
                                 * write with its audit record; retries counted apart) */
} store_stats;

/* ---- opening and closing -----------------------------------------------------------
 * A backend is chosen by the URL's scheme (the forms db/url.h accepts):
 * sqlite, postgresql / postgres, mysql / mariadb (with a SQLAlchemy "+driver"
 * suffix) open the SQL store over db/; mongodb and mongodb+srv the MongoDB
 * store. Pool and driver options come from `c` (DB_* variables, NULL =
 * defaults) and the URL (see db_opts_from); MongoDB also takes
 * transactions=auto|on|off. An unknown scheme is ERR_INVALID naming it. */
typedef enum store_open_mode {
    STORE_OPEN_CHECK = 0, /* the schema must be at the version this ctxd knows:
                           * ERR_SCHEMA saying what to run otherwise (store_open) */
    STORE_OPEN_MIGRATE,   /* apply pending migrations first (store_migrate_up), then
                           * check as STORE_OPEN_CHECK (`ctxd serve`) */
    STORE_OPEN_ANY        /* no schema check (`ctxd migrate`, `ctxd db check`,
                           * copy and import targets) */
} store_open_mode;

/* store_open_with(url, c, STORE_OPEN_CHECK, out, e). */
err_code store_open(const char *url, const conf_t *c, store_t **out, err_t *e);
/* Opens the store for `url` and treats its schema as `mode` says. On error *out
 * is NULL and nothing stays open. */
err_code store_open_with(const char *url, const conf_t *c, store_open_mode mode, store_t **out,
                         err_t *e);
/* Whether the database `url` names exists where opening it would create it: a
 * SQLite file that does not exist is ERR_NOTFOUND naming the path; every other
 * URL (a server, :memory:) is ERR_OK without connecting. A bad URL: ERR_INVALID. */
err_code store_check_exists(const char *url, err_t *e);
void store_close(store_t *st); /* NULL is fine */
/* The backend and dialect: "sql:sqlite", "sql:postgresql", "sql:mysql", "mongodb". */
const char *store_name(const store_t *st);
/* The URL it was opened with, password masked (for logs and messages). */
const char *store_url_masked(const store_t *st);
/* The tables in foreign-key order (NULL-terminated), as used by iterate. */
const char *const *store_table_order(void);

/* ---- schema lifecycle ----------------------------------------------------------------
 * Every backend numbers its schema versions 1, 2, ... and records the applied ones
 * in the database (SQL: the schema_migrations table, see migrate/; MongoDB: the
 * schema_migrations collection). */
typedef struct store_migration {
    int version;
    char *name;             /* "init", ... (as recorded, for an unknown one) */
    bool known;             /* false: recorded by a newer ctxd, unknown to this one */
    bool applied;           /* recorded in the database */
    utc_us applied_at;      /* 0 if not applied */
    bool checksum_mismatch; /* applied, but its script was edited since (SQL) */
} store_migration;

typedef struct store_schema {
    int current;   /* highest applied version this ctxd knows (0 = empty database) */
    int latest;    /* highest version this ctxd knows: the one it needs */
    int db_newest; /* highest version recorded in the database, known or not */
    /* NULL when migrations can be reverted (store_migrate_to a lower version);
     * else why not, e.g. "MongoDB migrations only go up" (static text) */
    const char *up_only;
    store_migration *v; /* every known version plus unknown applied ones, by version */
    size_t n;
} store_schema;
void store_schema_clear(store_schema *s);

/* The schema's state; changes nothing. */
err_code store_schema_status(store_t *st, store_schema *out, err_t *e);
/* Applies every pending migration (each step on its own, serialised against
 * concurrent migrators, so two processes starting at once migrate once);
 * *applied (may be NULL) = how many ran. A database newer than this ctxd, or
 * with an edited or unknown applied migration, is refused (ERR_SCHEMA) before
 * anything changes. */
err_code store_migrate_up(store_t *st, int *applied, err_t *e);
/* Up or down to exactly `version` (0 = empty schema; down only where
 * store_schema.up_only is NULL, else ERR_INVALID with that text); *changed (may
 * be NULL) = migrations applied or reverted. Outside 0..latest: ERR_INVALID.
 * Refusals as store_migrate_up. */
err_code store_migrate_to(store_t *st, int version, int *changed, err_t *e);
/* ERR_OK when the schema is exactly at the version this ctxd knows (and intact);
 * otherwise ERR_SCHEMA with a message saying what to do (`ctxd migrate up`,
 * upgrade ctxd, repair the database). */
err_code store_schema_check(store_t *st, err_t *e);
/* Removes everything the store keeps (SQL: reverts every migration; MongoDB:
 * drops the database). For tests only. */
err_code store_drop(store_t *st, err_t *e);

/* ---- the operations ------------------------------------------------------------------
 * Errors: ERR_NOTFOUND (session/message/memory/token absent), ERR_EXISTS
 * (memory overwrite=false), ERR_UNIQUE, ERR_INVALID (bad argument), ERR_BUSY /
 * ERR_CONN / ERR_TIMEOUT (transient: the store already retried), others fatal.
 * Arguments are checked the same way on every backend: ERR_INVALID naming what
 * is wrong. Constraint failures caused by the arguments (a visibility outside the
 * enum, metadata or a memory value that is not valid JSON) are ERR_INVALID.
 * Output records, lists and counts are overwritten (not freed) on entry and hold
 * nothing the caller must free when an error is returned. `e` may be NULL
 * everywhere. */

/* Which of the answers of one class an error is, where an operation's contract
 * names several (see store_message_add): read with store_err_reason, never from the
 * message text. STORE_REASON_NONE for every other error and for ERR_OK. */
typedef enum store_reason {
    STORE_REASON_NONE = 0,
    STORE_REASON_PARENT_NOT_FOUND, /* message_add: parent absent or not visible */
    STORE_REASON_PARENT_ELSEWHERE  /* message_add: parent in another session */
} store_reason;
store_reason store_err_reason(const err_t *e);

/* The text a message is found under by message_search (malloc'ed, NUL-terminated,
 * never NULL; metadata_json: a JSON object's text or NULL). The store does not know
 * how it is made (that is search/, above the store): the caller installs it. */
typedef char *(*store_index_fn)(const char *sender, const char *content, size_t content_len,
                                const char *metadata_json);
/* Installs the index function message_add, import_rows and message_reindex use,
 * before the store is shared between threads. Without one (NULL, the default),
 * new messages get no index text and stay candidates of every message_search
 * until message_reindex runs with one. */
void store_set_index_fn(store_t *st, store_index_fn fn);

/* in->id, purpose, created_by required; is_active as given (true for a new
 * session); metadata and access JSON object text or NULL (access: {"agents": [...],
 * "types": [...]}, arrays of strings, else ERR_INVALID); created_at/updated_at 0 = now.
 * Duplicate id: ERR_UNIQUE. */
err_code store_session_create(store_t *st, const store_session *in, const store_audit_in *audit,
                              err_t *e);
err_code store_session_get(store_t *st, const char *id, store_session *out, err_t *e);
/* The session's own row only (message_count and last_activity 0): one key lookup, for
 * checks made on every call. ERR_NOTFOUND as session_get. */
err_code store_session_head(store_t *st, const char *id, store_session *out, err_t *e);
/* total may be NULL (not counted). */
err_code store_session_list(store_t *st, const store_session_query *q, store_sessions *out,
                            int64_t *total, err_t *e);

/* Fills m->id and m->created_at, both 0 when it fails, and sets the session's updated_at
 * to that created_at: utc_now(), or on PostgreSQL and MariaDB the session's updated_at
 * when that is later (clock skew, imported data), so created_at never goes down in id
 * order within a session. Required: session_id, sender, content. NULL sender_type / message_type are
 * stored as "generic" / "agent_response"; m->visibility must be one of the enum.
 * A reply (parent_id != 0) needs m->parent_vis, the poster's filter: inside the
 * write transaction the parent must exist, be visible under *parent_vis and belong
 * to the same session. Answers, checked in this order:
 *   ERR_NOTFOUND  no such session
 *   ERR_INVALID   with store_err_reason STORE_REASON_PARENT_NOT_FOUND: the parent
 *                 does not exist or is not visible under *parent_vis (the same
 *                 answer, so ids of hidden messages cannot be probed)
 *   ERR_INVALID   with STORE_REASON_PARENT_ELSEWHERE: the parent is visible but a
 *                 message of another session
 *   ERR_INVALID   a bad argument (visibility, parent_vis, metadata ...) */
err_code store_message_add(store_t *st, store_message *m /* id, created_at filled */,
                           const store_audit_in *audit, err_t *e);
/* ERR_NOTFOUND when the session does not exist (an existing session with no
 * matching message is an empty list). total (may be NULL) = the count of
 * matching messages ignoring limit/offset. */
err_code store_message_list(store_t *st, const store_msg_query *q, store_messages *out,
                            int64_t *total, err_t *e);
/* ERR_NOTFOUND when absent or not visible under *vis (vis is required). */
err_code store_message_get(store_t *st, int64_t id, const store_vis *vis, store_message *out,
                           err_t *e);
/* The messages among ids[0..n) that exist and are visible under *vis, ordered by id, in
 * one read (a search's candidates): absent and hidden ids are left out alike, so hidden
 * ids cannot be probed; an id given twice comes once. 0 <= n <= STORE_GET_MANY_MAX
 * (ERR_INVALID above). */
#define STORE_GET_MANY_MAX 64 /* the message of store_message_get_many says 64 too */
err_code store_message_get_many(store_t *st, const int64_t *ids, size_t n, const store_vis *vis,
                                store_messages *out, err_t *e);
/* The root and all its visible descendants (also those below an invisible
 * reply), ordered by id. ERR_NOTFOUND when the root is absent or not visible
 * (as message_get, so ids of hidden messages cannot be probed). */
err_code store_message_thread(store_t *st, int64_t root_id, const store_vis *vis,
                              store_messages *out, err_t *e);
/* A page of a thread: the root (when since_id < root_id) and its visible descendants
 * (also those below an invisible reply) with id > since_id, ordered by id, at most
 * limit (>= 1) of them. ERR_NOTFOUND when the root is absent or not visible, on every
 * page (as message_get). Reads the thread's ids, and only the rows it returns. */
typedef struct store_thread_query {
    int64_t root_id;      /* required */
    const store_vis *vis; /* required */
    int64_t since_id;     /* 0 = from the root */
    int limit;            /* >= 1 */
} store_thread_query;
err_code store_message_thread_page(store_t *st, const store_thread_query *q, store_messages *out,
                                   err_t *e);
/* See store_search_query. ERR_NOTFOUND when the session does not exist. */
err_code store_message_search(store_t *st, const store_search_query *q, store_messages *out,
                              err_t *e);
/* Search-index upkeep, in one short write transaction: gives index text (the
 * store's index function) to up to `limit` messages that have none, and brings
 * up to `limit` newer messages into the backend's search index where that is
 * filled asynchronously (SQLite's FTS5 table). *done = messages handled; 0 means
 * the index is complete. Without an index function: ERR_INVALID. */
err_code store_message_reindex(store_t *st, int limit, int64_t *done, err_t *e);

/* Inserts, or replaces the entry of the same (agent, scope, key): an expired
 * entry is always replaced (as new: created_at = now); a live one only with
 * overwrite (created_at kept), else ERR_EXISTS. session_id != NULL needs
 * the session: ERR_NOTFOUND otherwise. *out (if given) = the stored entry. */
err_code store_memory_set(store_t *st, const store_mem_set *in, const store_audit_in *audit,
                          store_memory *out /* may be NULL */, err_t *e);
/* session_id NULL = global scope. Absent or expired at `now` (0 = utc_now()):
 * ERR_NOTFOUND. */
err_code store_memory_get(store_t *st, const char *agent_id, const char *session_id,
                          const char *key, utc_us now, store_memory *out, err_t *e);
err_code store_memory_list(store_t *st, const store_mem_query *q, store_memories *out, err_t *e);
/* Removes the entry (expired or not); *deleted = whether one existed (may be
 * NULL). The audit record is written only when an entry was removed. */
err_code store_memory_delete(store_t *st, const char *agent_id, const char *session_id,
                             const char *key, const store_audit_in *audit, bool *deleted, err_t *e);
/* Removes entries expired at `now`; removed may be NULL. No audit record. */
err_code store_memory_sweep(store_t *st, utc_us now, int64_t *removed, err_t *e);

/* Standalone audit record (event_type and agent_id required), at = now. */
err_code store_audit_append(store_t *st, const store_audit_in *a, err_t *e);
err_code store_audit_list(store_t *st, const store_audit_query *q, store_audits *out, err_t *e);
/* Removes records with at < older_than; removed may be NULL. */
err_code store_audit_purge(store_t *st, utc_us older_than, int64_t *removed, err_t *e);

/* Duplicate token_hash: ERR_UNIQUE. created_at 0 = now. */
err_code store_token_put(store_t *st, const store_token *t, err_t *e);
/* Returns the token even when expired (the caller decides what an expired token means). */
err_code store_token_get(store_t *st, const char *token_hash, store_token *out, err_t *e);
/* *deleted = whether it existed (may be NULL). */
err_code store_token_delete(store_t *st, const char *token_hash, bool *deleted, err_t *e);
/* Deletes every protected token of agent_id; *removed (may be NULL) = how many. */
err_code store_token_delete_agent(store_t *st, const char *agent_id, int64_t *removed, err_t *e);
/* Removes tokens and revocations with expires_at <= now; *removed = both
 * counts added (may be NULL). */
err_code store_token_purge(store_t *st, utc_us now, int64_t *removed, err_t *e);
/* Idempotent; revoking again keeps the later expires_at. */
err_code store_jti_revoke(store_t *st, const char *jti, utc_us expires_at, err_t *e);
err_code store_jti_is_revoked(store_t *st, const char *jti, bool *revoked, err_t *e);

/* Agent credentials. Every field but revoked_at (0) is required; created_at and
 * updated_at 0 = now. An agent that has a credential already, or a key_hash in use:
 * ERR_UNIQUE. The audit record (NULL fields: event "credential_added", agent_id the
 * credential's, resource "agent:<id>") is written in the same transaction. */
err_code store_cred_add(store_t *st, const store_cred *c, const store_audit_in *audit, err_t *e);
/* The credential of agent_id, active or revoked; ERR_NOTFOUND when it has none. */
err_code store_cred_get(store_t *st, const char *agent_id, store_cred *out, err_t *e);
/* The credential whose key_hash it is, active or revoked; ERR_NOTFOUND otherwise. */
err_code store_cred_find_key(store_t *st, const char *key_hash, store_cred *out, err_t *e);
/* Every credential, by agent_id (byte-wise). */
err_code store_cred_list(store_t *st, store_creds *out, err_t *e);
/* A new key_hash for agent_id, active again (revoked_at 0), updated_at = now (0:
 * utc_now()); ERR_NOTFOUND when it has no credential. Audit defaults: event
 * "credential_rotated". */
err_code store_cred_rekey(store_t *st, const char *agent_id, const char *key_hash, utc_us now,
                          const store_audit_in *audit, err_t *e);
/* Revokes agent_id's credential at now (0: utc_now()); *changed (may be NULL) = it was
 * active (a revoked one keeps its revoked_at, and no audit record is written);
 * ERR_NOTFOUND when it has none. Audit defaults: event "credential_revoked". */
err_code store_cred_revoke(store_t *st, const char *agent_id, utc_us now,
                           const store_audit_in *audit, bool *changed, err_t *e);

/* Rows ordered by their identity (store_table.key) compared byte-wise for
 * text (a global memory entry before the session ones of the same agent),
 * numerically for integers: the same order on every backend. See store_row_cb. */
err_code store_iterate(store_t *st, store_row_cb cb, void *ud, err_t *e);

/* ---- bulk transfer (copy / import); no audit records ------------------------------- */
/* Inserts rows of one table as they are (ids, times, JSON, flags kept) in
 * one transaction; a row whose identity (store_table.key) already exists is
 * skipped, so re-running an interrupted import finishes it without
 * duplicates. Rows are checked with store_row_check first (ERR_INVALID names
 * the row index and column: "store: row N: ..."; nothing is written then). Rows
 * referencing others (messages.parent_message_id, sessions) must come after them.
 * *inserted (may be NULL) = rows inserted as the driver reports them: on
 * MySQL (CLIENT_FOUND_ROWS) a skipped duplicate counts too, so use
 * count_rows before and after for an exact figure. */
err_code store_import_rows(store_t *st, const char *table, json_t *const *rows, size_t n,
                           int64_t *inserted, err_t *e);
/* After an import: every sequence-fed column (store_table.seq_col) continues
 * after the largest value present, never going backwards (a backend may
 * leave gaps, e.g. InnoDB after a rolled-back batch; it never reuses); on
 * PostgreSQL the tables are analysed (planner statistics of what was loaded). */
err_code store_import_finish(store_t *st, err_t *e);
/* Rows in a table (one of store_tables()). */
err_code store_count_rows(store_t *st, const char *table, int64_t *n, err_t *e);

/* ---- an unfinished load (copy, import, import-scs into this database) -------------
 * A load records itself before it writes its first row and removes the record when it
 * has finished and verified, so one that was interrupted stays visible (ctxd db check,
 * ctxd serve). The record lives beside the logical tables, never in them: iterate,
 * count_rows, export and checksums do not see it (SQL: a table ctxd_load that exists
 * only while a load is unfinished, dropped by store_drop; MongoDB: a collection of that
 * name). */
typedef struct store_load {
    char *command;     /* "copy", "import", "import-scs" */
    char *source;      /* what is loaded from, as the user named it (URLs masked) */
    utc_us started_at; /* when the load began writing */
} store_load;

/* Records `l` (replacing any earlier record). */
err_code store_load_mark(store_t *st, const store_load *l, err_t *e);
/* The record into *out (*found false, *out empty: none; store_load_clear it). Works on a
 * database of any schema version (none recorded: not found). */
err_code store_load_get(store_t *st, store_load *out, bool *found, err_t *e);
/* Removes the record (none: nothing to do). */
err_code store_load_unmark(store_t *st, err_t *e);
void store_load_clear(store_load *l);

/* ---- health (see store_stats) ---------------------------------------------------- */
/* One round trip to the server (SQLite: a trivial statement); *rtt_us (may be
 * NULL) = its time in microseconds. Fails as any read would (ERR_CONN,
 * ERR_TIMEOUT, ...). */
err_code store_ping(store_t *st, int64_t *rtt_us, err_t *e);
/* The server's product and version, e.g. "PostgreSQL 16.4", "MongoDB 7.0.0". */
err_code store_server_version(store_t *st, char *buf, size_t n, err_t *e);
/* The figures so far (never fails, never talks to the server). */
void store_get_stats(store_t *st, store_stats *out);

#endif
