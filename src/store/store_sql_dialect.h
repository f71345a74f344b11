/* store/store_sql_dialect.h — internal to store_sql: the per-dialect catalogue of
 * the statements whose SQL differs between SQLite, PostgreSQL and MySQL (ids of
 * inserted rows, upsert, identifier quoting, byte-wise key comparison), one per
 * db_backend. Every other statement is written once, in the store_sql*.c file
 * of its operation. Must not: be included outside src/store/, or build SQL by
 * editing strings at run time. */
#ifndef CTXD_STORE_STORE_SQL_DIALECT_H
#define CTXD_STORE_STORE_SQL_DIALECT_H

#include <stdbool.h>
#include "db/url.h"

typedef struct store_sql_dialect {
    const char *vt_name; /* "sql:sqlite", ... */

    /* add_message keeps the messages of one session in one order: ids, created_at and
     * commits. The session's row lock is taken (the touch of its updated_at) before the
     * message gets its id and held to the commit, and created_at is the session's new
     * updated_at, which never goes down: GREATEST(updated_at, now), so a message is
     * never older than the one before it, whatever the clocks of the writers.
     *
     * PostgreSQL: all of it in ONE statement, its own transaction (db_tx_run_one): a
     * data-modifying CTE that touches the session, inserts the message with the new
     * updated_at as created_at and appends the audit record; the row lock is held for
     * that statement only, not across round trips. 16 parameters: msg_insert's 10
     * (created_at: now), then the audit record's event_type, agent_id, session_id,
     * resource (NULL: "message:<id>"), metadata and whether to append it (bool; its
     * created_at is now). One row (id, created_at); none when the session is missing.
     * NULL elsewhere: msg_touch, then msg_insert in a transaction (db_tx_run). */
    const char *msg_add_one;
    /* The touch (now, session_id). MySQL keeps the new updated_at in @ctxd_touch. */
    const char *msg_touch;
    /* INSERT INTO messages (10 parameters: session_id, sender, sender_type,
     * content, visibility, message_type, metadata, parent_message_id,
     * created_at, search_text[, search_grams]) after msg_touch. Either one row
     * (id, created_at: MySQL, created_at = @ctxd_touch) or none (SQLite: the last
     * insert id; the parameter is created_at: the write lock is held since BEGIN
     * IMMEDIATE, so now is taken under it). */
    const char *msg_insert;

    /* revoked_jtis: insert (jti, expires_at), or keep the later expires_at. */
    const char *jti_revoke;

    /* agent_memory.key as written in SQL (a reserved word in MySQL). */
    const char *key_col;
    const char *key_cmp; /* the key compared/ordered byte-wise */
    /* Literal prefix on agent_memory.key compared byte-wise (the index-friendly
     * range [prefix, successor)); appended by the list builder, 2 and 1 params. */
    const char *key_range; /* " AND key >= ? AND key < ?" */
    const char *key_from;  /* " AND key >= ?" (prefix without a successor) */

    /* agent_memory statements (they name the key column). */
    const char *mem_find_global;    /* agent_id, key -> id, expires_at, created_at */
    const char *mem_find_session;   /* agent_id, session_id, key -> same */
    const char *mem_insert;         /* agent_id, session_id, key, value, metadata,
                                     created_at, updated_at, expires_at */
    const char *mem_update;         /* value, metadata, created_at, updated_at,
                                     expires_at, id */
    const char *mem_get_global;     /* agent_id, key, now -> MEM_COLS */
    const char *mem_get_session;    /* agent_id, session_id, key, now -> MEM_COLS */
    const char *mem_delete_global;  /* agent_id, key */
    const char *mem_delete_session; /* agent_id, session_id, key */
    const char *mem_cols;           /* the MEM_COLS select list */

    /* Copy/export/import. A text column compared byte-wise in ORDER BY:
     * <column> bin_post (the same order on every backend). */
    const char *bin_post;
    /* Insert keeping the given id of a sequence-fed column: written between the
     * column list and VALUES ("" when plain inserts already keep it). */
    const char *ins_keep_id;
    /* Appended to an import INSERT so a row whose key exists is skipped (never
     * an error-hiding INSERT IGNORE). ins_skip_self: append "<c> = <c>" with
     * the table's first column (ON DUPLICATE KEY UPDATE c = c). */
    const char *ins_skip;
    bool ins_skip_self;
    /* After an import: move the messages.id / audit_log.id sequence past the
     * largest id, never backwards; NULL when the database does it by itself
     * (SQLite AUTOINCREMENT and InnoDB AUTO_INCREMENT follow explicit ids). */
    const char *seq_sync_messages;
    const char *seq_sync_audit;
    /* after an import (import_finish): fresh planner statistics of the tables a bulk
     * load changed, or NULL (the database keeps them by itself) */
    const char *analyze;

    /* message_search: the candidate condition appended to the WHERE clause, one
     * parameter whose encoding is search_param: every message whose index text
     * (messages.search_text) contains one of the trigram terms, every message
     * without index text (search_text IS NULL until message_reindex), and on SQLite
     * every message above the FTS5 watermark (search_state.upto, moved by
     * message_reindex: the FTS5 table is filled in batches, off the insert path). */
    const char *search_match;
    enum {
        STORE_SEARCH_FTS5,     /* FTS5 query: "t1" OR "t2" ... (quotes doubled) */
        STORE_SEARCH_LIKE_ANY, /* PostgreSQL text[] literal of LIKE patterns %t% */
        STORE_SEARCH_GRAMS     /* MySQL FULLTEXT boolean query: the terms as ssql_grams words */
    } search_param;
    /* MySQL/MariaDB: messages.search_grams (FULLTEXT) holds ssql_grams(search_text);
     * msg_insert then takes it as an 11th parameter. */
    bool search_grams;
    /* UPDATE giving one message its index text: (search_text[, search_grams], id). */
    const char *msg_set_search;
    /* SQLite: the FTS5 table is filled by message_reindex up to search_state.upto. */
    bool search_fts_async;

    /* Restricted sessions (sessions.access, a JSON object {"agents": [...], "types":
     * [...]}): does the list named where %s stands ("agents" or "types") of the session
     * aliased s hold the parameter? False (never NULL) for an open session. */
    const char *member_in;

    /* A row iff the table ctxd_load (the record of an unfinished load, store.h) exists. */
    const char *load_exists;
} store_sql_dialect;

/* The catalogue of a backend's dialect; NULL when there is none. */
const store_sql_dialect *store_sql_dialect_of(db_backend b);

#endif
