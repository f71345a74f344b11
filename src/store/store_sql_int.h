/* store/store_sql_int.h — what the files of the SQL store share: the store_sql
 * object, the query-shape masks, and the helpers for shapes, visibility clauses,
 * rows and transactions (defined in store_sql.c). Private to src/store/store_sql*.c.
 * Must not: be included outside the SQL store. */
#ifndef CTXD_STORE_SQL_INT_H
#define CTXD_STORE_SQL_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
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
    V_N = 1u << (STORE_VIS_COUNT + 2),
    /* message_list */
    MQ_SINCE = V_N,
    MQ_SENDER = V_N << 1,
    MQ_FROM = V_N << 2,
    MQ_TO = V_N << 3,
    MQ_DESC = V_N << 4,
    MQ_COUNT = V_N << 5,
    MQ_N = V_N << 6,
    /* session_list */
    SQ_CREATOR = 1u << 0,
    SQ_ACTIVE = 1u << 1,
    SQ_COUNT = 1u << 2,
    SQ_N = 1u << 3,
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
    IT_TABLES = 6
};

typedef struct store_sql {
    store_t base;
    db_t *db;
    bool own_db;
    const store_sql_dialect *d;
    pthread_mutex_t mu; /* guards building shapes (reads are lock-free) */
    _Atomic(char *) msg_list[MQ_N];
    _Atomic(char *) msg_get[V_N];
    _Atomic(char *) msg_thread[V_N];
    _Atomic(char *) msg_search[MS_N];
    _Atomic(char *) sess_list[SQ_N];
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
/* The mask bits of a store_vis; " AND (clause OR ...)" for them; binds their
 * parameters from index i and returns the next index. */
unsigned ssql_vis_mask(const store_vis *v);
void ssql_put_vis(sbuf_t *b, unsigned vm);
int ssql_bind_vis(db_stmt *st, int i, const store_vis *v, unsigned vm);
/* Steps a statement that returns no rows; *changes (may be NULL) = rows changed. */
err_code ssql_exec_changes(db_stmt *st, int64_t *changes, err_t *e);
/* A row of "SELECT " MSG_COLS into *m (strings owned by m). */
void ssql_read_message(db_stmt *st, store_message *m);
/* Reads on a borrowed connection (one statement, or several where a snapshot
 * is not needed). Transient classes are retried a few times on a fresh
 * connection; fn must reset its outputs on entry. */
typedef err_code (*read_fn)(db_conn *c, void *arg, err_t *e);
err_code ssql_run_read(store_sql *s, read_fn fn, void *arg, err_t *e);
/* A write transaction (db_tx_run, retried on transient classes). */
err_code ssql_run_write(store_sql *s, db_tx_fn fn, void *arg, err_t *e);
err_code ssql_session_exists(db_conn *c, const char *id, bool *exists, err_t *e);

/* message_search / message_reindex (store_sql_search.c) */
err_code ssql_message_search(store_t *st, const store_search_query *q, store_messages *out,
                             err_t *e);
err_code ssql_message_reindex(store_t *st, int limit, int64_t *done, err_t *e);
/* The index text of a message (st->index_fn), or NULL without an index function. */
char *ssql_index_text(store_t *st, const char *sender, const char *content, size_t content_len,
                      const char *metadata_json);
/* MySQL/MariaDB: the FULLTEXT words of an index text (see store_sql_search.c). */
char *ssql_grams(const char *text);

/* the schema lifecycle over migrate/ (store_sql_life.c), vtable entries */
err_code ssql_schema_status(store_t *st, store_schema *out, err_t *e);
err_code ssql_migrate_to(store_t *st, int target, int *changed, err_t *e);
err_code ssql_schema_check(store_t *st, err_t *e);
err_code ssql_drop(store_t *st, err_t *e);

#define MSG_COLS \
    "id, session_id, sender, sender_type, content, visibility, message_type," \
    " metadata, parent_message_id, created_at"

#endif
