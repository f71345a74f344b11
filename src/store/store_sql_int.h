/* store/store_sql_int.h — what the files of the SQL store share: the store_sql
 * object, the query-shape masks, the visibility clauses, how a row becomes a
 * record (ssql_rec), the executors on a connection (ssql_get_one, ssql_get_list;
 * statements without rows go through db_exec_params / db_insert_params), the
 * runners that borrow a connection or run a transaction, and the vtable entries
 * each file defines (store_sql.c puts them in the vtable).
 * Files: store_sql.c (open/close, shapes, runners, executors, the vtable),
 * store_sql_msg.c (sessions, messages), store_sql_mem.c (agent memory),
 * store_sql_auth.c (audit log, tokens, revoked jtis, agent credentials), store_sql_xfer.c
 * (iterate, import, count), store_sql_search.c (search, reindex),
 * store_sql_life.c (open by URL, schema lifecycle), store_sql_write.c (add_message's
 * statements, the one-statement add), store_sql_dialect.c.
 * Must not: be included outside src/store/store_sql*.c. */
#ifndef CTXD_STORE_SQL_INT_H
#define CTXD_STORE_SQL_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include "base/sbuf.h"
#include "db/db.h"
#include "store/store.h"
#include "store/store_backend.h"
#include "store/store_sql_dialect.h"

/* ---- query shapes: bits of a mask, each one SQL fragment ------------------------ */

enum {
    /* visibility clauses (store_vis): store_vis.any's bits (STORE_VIS_BIT; all of
     * them = no filter) and the two sender-bound clauses; none = nothing visible */
    V_PRIVATE_OF = 1u << STORE_VIS_COUNT,
    V_AGENT_OF = 1u << (STORE_VIS_COUNT + 1),
    V_MEMBER = 1u << (STORE_VIS_COUNT + 2), /* the session clause (member_id, member_type) */
    V_N = 1u << (STORE_VIS_COUNT + 3),
    /* message_list */
    MQ_SINCE = V_N,
    MQ_SENDER = V_N << 1,
    MQ_FROM = V_N << 2,
    MQ_TO = V_N << 3,
    MQ_DESC = V_N << 4,
    MQ_COUNT = V_N << 5,
    MQ_N = V_N << 6,
    /* session_list: visibility bits (of the counts) + filters */
    SQ_CREATOR = V_N,
    SQ_ACTIVE = V_N << 1,
    SQ_COUNT = V_N << 2,
    SQ_N = V_N << 3,
    /* memory_list: scope in the low two bits (store_mem_scope) */
    ML_SCOPE = 3u,
    ML_FROM = 1u << 2,
    ML_RANGE = 1u << 3,
    ML_N = 1u << 4,
    /* message_search: visibility bits + since_id */
    MS_SINCE = V_N,
    MS_N = V_N << 1,
    /* audit_list */
    AQ_SESSION = 1u << 0,
    AQ_AGENT = 1u << 1,
    AQ_EVENT = 1u << 2,
    AQ_N = 1u << 3,
};

enum {
    IT_TABLES = 7
};

typedef struct store_sql {
    store_t base;
    db_t *db;
    bool own_db;
    const store_sql_dialect *d;
    pthread_mutex_t mu; /* guards building shapes (reads are lock-free) */
    _Atomic(char *) msg_list[MQ_N];
    _Atomic(char *) msg_get[V_N];
    _Atomic(char *) msg_get_many[V_N];
    _Atomic(char *) msg_thread[V_N];
    _Atomic(char *) msg_search[MS_N];
    _Atomic(char *) sess_list[SQ_N];
    _Atomic(char *) sess_parts[V_N];
    _Atomic(char *) mem_list[ML_N];
    _Atomic(char *) audit_list[AQ_N];
    _Atomic(char *) iter[IT_TABLES];
    _Atomic(char *) imp[IT_TABLES];
    _Atomic(char *) cnt[IT_TABLES];
} store_sql;

typedef void (*shape_build_fn)(const store_sql *s, unsigned mask, sbuf_t *b);

static inline store_sql *S(store_t *st)
{
    return (store_sql *)st;
}

/* The SQL text of one shape, built on first use and kept until store_close. */
const char *ssql_shape(store_sql *s, _Atomic(char *) *slot, shape_build_fn build, unsigned mask);

/* A fragment of a shape: its SQL, part of the shape of mask m when
 * (m & bits) == when ({0, 0, ...}: always). */
typedef struct ssql_frag {
    unsigned bits, when;
    const char *sql;
} ssql_frag;
/* Appends the SQL of each of the n fragments f that are part of mask m, in order. */
void ssql_put_frags(sbuf_t *b, unsigned m, const ssql_frag *f, size_t n);
#define SSQL_PUT_FRAGS(b, m, f) ssql_put_frags((b), (m), (f), sizeof(f) / sizeof(f)[0])

/* The mask bits of a store_vis; " AND (clause OR ...)" for them on messages, plus, with
 * V_MEMBER, " AND session_id NOT IN (<sessions that do not admit the reader>)"; their
 * parameters appended at p (at most 5); returns how many. */
#define SSQL_VIS_PARAMS 5
unsigned ssql_vis_mask(const store_vis *v);
void ssql_put_vis(const store_sql *s, sbuf_t *b, unsigned vm);
size_t ssql_vis_params(db_param *p, const store_vis *v, unsigned vm);
/* session_list: " AND NOT (<session s does not admit the reader>)" and its parameters
 * (3, at p). */
void ssql_put_member(const store_sql *s, sbuf_t *b);
size_t ssql_member_params(db_param *p, const store_vis *v);

/* ---- rows into records ---------------------------------------------------------------- */

/* How a row of a SELECT becomes a record of `size` bytes: column i into the
 * field f[i] (at its offset, of its type), or through read (when not NULL: it
 * fills a zeroed record from the current row; columns are valid during the call
 * only); clear frees what was read (NULL: the TEXT and JSON fields of f). */
typedef enum ssql_ftype {
    SSQL_INT,     /* int64_t of a NOT NULL column */
    SSQL_INT_OPT, /* int64_t; NULL -> 0 */
    SSQL_BOOL,    /* bool */
    SSQL_TIME,    /* utc_us; NULL -> 0 */
    SSQL_TEXT,    /* char *, owned; NULL -> NULL */
    SSQL_JSON,    /* char * JSON text, owned; NULL -> NULL */
    SSQL_VIS      /* store_visibility from its stored name */
} ssql_ftype;

typedef struct ssql_field {
    size_t off;
    ssql_ftype type;
} ssql_field;

#define SSQL_FIELD(T, f, type) \
    { \
        offsetof(T, f), SSQL_##type \
    }

/* The kind of record T read by the field table `fields` (clear as in ssql_rec). */
#define SSQL_REC(T, fields, clear) \
    { \
        sizeof(T), fields, sizeof fields / sizeof fields[0], NULL, clear \
    }

typedef struct ssql_rec {
    size_t size;
    const ssql_field *f;
    size_t nf;
    void (*read)(db_stmt *st, void *rec);
    void (*clear)(void *rec);
} ssql_rec;

extern const ssql_rec ssql_message_rec; /* store_message from MSG_COLS */
extern const ssql_rec ssql_int_rec;     /* int64_t, column 0 (NULL -> 0) */

/* Column i as an owned string (NULL for SQL NULL): text, JSON text. */
char *ssql_col_text(db_stmt *st, int i);
char *ssql_col_json(db_stmt *st, int i);

/* Frees the n records of the list *v (clear each, then the array): NULL, 0. */
void ssql_list_free(const ssql_rec *k, void **v, size_t *n);

/* ---- executors on a connection ------------------------------------------------------
 * Parameters as db_exec_params takes them (db.h). Statements that return no rows
 * run with db_exec_params (rows a statement does return, SELECT setval(...), are
 * read and dropped: one rule for every write) or db_insert_params. */

/* The first row of sql into *rec through k (k NULL: nothing is read). found
 * (may be NULL: then no row is ERR_NOTFOUND) says whether there was a row. */
err_code ssql_get_one(db_conn *c, const char *sql, const db_param *p, size_t n, const ssql_rec *k,
                      void *rec, bool *found, err_t *e);
/* Every row of sql into the list (*v, *nv) of k records, emptied first (so a
 * retried read starts over). */
err_code ssql_get_list(db_conn *c, const char *sql, const db_param *p, size_t n, const ssql_rec *k,
                       void **v, size_t *nv, err_t *e);
/* Appends the audit record a (created_at = now). */
err_code ssql_audit(db_conn *c, const store_audit_in *a, err_t *e);

/* ---- runners: connection, transaction, retry, the store's error contract ----------- */

/* The store's error contract: argument-caused constraint failures
 * (ERR_CONSTRAINT) are invalid input (ERR_INVALID); other codes pass. */
err_code ssql_finish(err_code rc, err_t *e);
/* A unit of work on a connection; re-run on retry, so it resets its outputs. */
typedef err_code (*read_fn)(db_conn *c, void *arg, err_t *e);
/* On a borrowed read connection (one statement, or several where a snapshot is
 * not needed); transient classes are retried a few times on a fresh connection. */
err_code ssql_run_read(store_sql *s, read_fn fn, void *arg, err_t *e);
/* In a read transaction: several statements that must agree (a page and its total). */
err_code ssql_run_snapshot(store_sql *s, read_fn fn, void *arg, err_t *e);
/* In a write transaction (db_tx_run: group commit, retried on transient classes). */
err_code ssql_run_write(store_sql *s, db_tx_fn fn, void *arg, err_t *e);

/* A read of one statement (ssql_run_read): ssql_get_one / ssql_get_list. */
err_code ssql_read_one(store_sql *s, const char *sql, const db_param *p, size_t n,
                       const ssql_rec *k, void *rec, bool *found, err_t *e);
err_code ssql_read_list(store_sql *s, const char *sql, const db_param *p, size_t n,
                        const ssql_rec *k, void **v, size_t *nv, err_t *e);
/* A write of up to two statements (sql2 may be NULL) with the same parameters in
 * one transaction, then the audit record a (NULL: none) unless the statements
 * changed no row; no statement at all (sql NULL) = just the audit record.
 * *changes (may be NULL) = the rows they changed. */
err_code ssql_write(store_sql *s, const char *sql, const char *sql2, const db_param *p, size_t n,
                    const store_audit_in *a, int64_t *changes, err_t *e);

/* ---- add_message's statements (store_sql_write.c) ------------------------------------ */

/* msg_insert's parameters for m, created_at = now (store_sql_dialect.h): 10, 11
 * with_grams (MySQL's search_grams: grams, may be NULL); returns how many. */
size_t ssql_msg_params(db_param p[11], const store_message *m, utc_us now, const char *search_text,
                       bool with_grams, const char *grams);
/* A db_row_fn: (id, created_at) of the row into the store_message ud. */
err_code ssql_read_id_time(db_stmt *st, void *ud, err_t *e);
/* add_message in the dialect's one statement (msg_add_one), its own transaction; the
 * parent, if any, already checked; search_text may be NULL. ERR_NOTFOUND: no session. */
err_code ssql_message_add_one(store_sql *s, store_message *m, const store_audit_in *audit,
                              const char *search_text, err_t *e);

/* ---- the operations (vtable entries), by file ---------------------------------------- */

/* store_sql_msg.c */
err_code ssql_session_create(store_t *st, const store_session *in, const store_audit_in *audit,
                             err_t *e);
err_code ssql_session_get(store_t *st, const char *id, store_session *out, err_t *e);
err_code ssql_session_head(store_t *st, const char *id, store_session *out, err_t *e);
err_code ssql_session_list(store_t *st, const store_session_query *q, store_sessions *out,
                           int64_t *total, err_t *e);
err_code ssql_message_add(store_t *st, store_message *m, const store_audit_in *audit, err_t *e);
err_code ssql_message_list(store_t *st, const store_msg_query *q, store_messages *out,
                           int64_t *total, err_t *e);
err_code ssql_message_get_many(store_t *st, const int64_t *ids, size_t n, const store_vis *vis,
                               store_messages *out, err_t *e);
err_code ssql_message_get(store_t *st, int64_t id, const store_vis *vis, store_message *out,
                          err_t *e);
err_code ssql_message_thread(store_t *st, const store_thread_query *q, store_messages *out,
                             err_t *e);
/* ERR_OK when session id exists, else store_err_no_session: on c, or (c NULL)
 * in a read of its own. */
err_code ssql_need_session(store_sql *s, db_conn *c, const char *id, err_t *e);

/* store_sql_mem.c */
err_code ssql_memory_set(store_t *st, const store_mem_set *in, const store_audit_in *audit,
                         store_memory *out, err_t *e);
err_code ssql_memory_get(store_t *st, const char *agent_id, const char *session_id, const char *key,
                         utc_us now, store_memory *out, err_t *e);
err_code ssql_memory_list(store_t *st, const store_mem_query *q, store_memories *out, err_t *e);
err_code ssql_memory_delete(store_t *st, const char *agent_id, const char *session_id,
                            const char *key, const store_audit_in *audit, bool *deleted, err_t *e);
err_code ssql_memory_sweep(store_t *st, utc_us now, int64_t *removed, err_t *e);

/* store_sql_auth.c */
err_code ssql_audit_append(store_t *st, const store_audit_in *a, err_t *e);
err_code ssql_audit_list(store_t *st, const store_audit_query *q, store_audits *out, err_t *e);
err_code ssql_audit_purge(store_t *st, utc_us older_than, int64_t *removed, err_t *e);
err_code ssql_token_put(store_t *st, const store_token *t, err_t *e);
err_code ssql_token_get(store_t *st, const char *token_hash, store_token *out, err_t *e);
err_code ssql_token_delete(store_t *st, const char *token_hash, bool *deleted, err_t *e);
err_code ssql_token_delete_agent(store_t *st, const char *agent_id, int64_t *removed, err_t *e);
err_code ssql_token_purge(store_t *st, utc_us now, int64_t *removed, err_t *e);
err_code ssql_jti_revoke(store_t *st, const char *jti, utc_us expires_at, err_t *e);
err_code ssql_jti_is_revoked(store_t *st, const char *jti, bool *revoked, err_t *e);
err_code ssql_cred_add(store_t *st, const store_cred *c, const store_audit_in *audit, err_t *e);
err_code ssql_cred_get(store_t *st, const char *by, const char *value, store_cred *out, err_t *e);
err_code ssql_cred_list(store_t *st, store_creds *out, err_t *e);
err_code ssql_cred_rekey(store_t *st, const char *agent_id, const char *key_hash, utc_us now,
                         const store_audit_in *audit, err_t *e);
err_code ssql_cred_revoke(store_t *st, const char *agent_id, utc_us now,
                          const store_audit_in *audit, bool *changed, err_t *e);

/* store_sql_xfer.c */
err_code ssql_iterate(store_t *st, store_row_cb cb, void *ud, err_t *e);
err_code ssql_import_rows(store_t *st, const char *table, json_t *const *rows, size_t n,
                          int64_t *inserted, err_t *e);
err_code ssql_import_finish(store_t *st, err_t *e);
err_code ssql_count_rows(store_t *st, const char *table, int64_t *n, err_t *e);
err_code ssql_load_put(store_t *st, const char *text, err_t *e);
err_code ssql_load_get(store_t *st, char **text, err_t *e);

/* store_sql_search.c */
err_code ssql_message_search(store_t *st, const store_search_query *q, store_messages *out,
                             err_t *e);
err_code ssql_message_reindex(store_t *st, int limit, int64_t *done, err_t *e);
/* MySQL/MariaDB: the FULLTEXT words of an index text (see store_sql_search.c). */
char *ssql_grams(const char *text);

/* store_sql_life.c: the schema lifecycle over migrate/ */
err_code ssql_schema_status(store_t *st, store_schema *out, err_t *e);
err_code ssql_migrate_to(store_t *st, int target, int *changed, err_t *e);
err_code ssql_schema_check(store_t *st, err_t *e);
err_code ssql_drop(store_t *st, err_t *e);

#define MSG_COLS \
    "id, session_id, sender, sender_type, content, visibility, message_type," \
    " metadata, parent_message_id, created_at"

#endif
