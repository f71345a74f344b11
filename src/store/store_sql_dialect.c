/* store/store_sql_dialect.c — the per-dialect statement catalogue of store_sql
 * (see store_sql_dialect.h): plain static strings, expanded from one template per
 * statement with the dialect's spelling. Must not: contain statements that are
 * the same for every dialect (those live in the store_sql*.c file of their
 * operation) or any logic beyond finding the catalogue of a backend. */
#include "store/store_sql_dialect.h"
#include "db/url.h"

#define MSG_INSERT_SQL \
    "INSERT INTO messages (session_id, sender, sender_type, content, visibility," \
    " message_type, metadata, parent_message_id, created_at, search_text)" \
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
#define MSG_INSERT_GRAMS_SQL_TOUCHED \
    "INSERT INTO messages (session_id, sender, sender_type, content, visibility," \
    " message_type, metadata, parent_message_id, created_at, search_text, search_grams)" \
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, COALESCE(@ctxd_touch, ?), ?, ?) RETURNING id, created_at"

/* add_message on PostgreSQL in one statement (store_sql_dialect.h: msg_add_one). The
 * parameters are typed (CAST): an INSERT ... SELECT does not infer them. */
#define PG_MSG_ADD_ONE \
    "WITH v (session_id, sender, sender_type, content, visibility, message_type, metadata," \
    " parent_message_id, now, search_text) AS (VALUES (CAST(? AS TEXT), CAST(? AS TEXT)," \
    " CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS JSONB)," \
    " CAST(? AS BIGINT), CAST(? AS TIMESTAMPTZ), CAST(? AS TEXT)))," \
    " s AS (UPDATE sessions SET updated_at = GREATEST(sessions.updated_at, v.now) FROM v" \
    " WHERE sessions.id = v.session_id RETURNING sessions.id, sessions.updated_at)," \
    " m AS (INSERT INTO messages (session_id, sender, sender_type, content, visibility," \
    " message_type, metadata, parent_message_id, created_at, search_text)" \
    " SELECT s.id, v.sender, v.sender_type, v.content, v.visibility, v.message_type," \
    " v.metadata, v.parent_message_id, s.updated_at, v.search_text FROM s, v" \
    " RETURNING id, created_at)," \
    " a AS (INSERT INTO audit_log (created_at, event_type, agent_id, session_id, resource," \
    " metadata) SELECT v.now, CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT)," \
    " COALESCE(CAST(? AS TEXT), 'message:' || m.id), CAST(? AS JSONB) FROM m, v" \
    " WHERE CAST(? AS BOOLEAN))" \
    " SELECT id, created_at FROM m"

/* clang-format off: statement text laid out as SQL */
/* K = the key column as written in the dialect; KC = the same compared byte-wise. */
#define MEM_COLS(K) \
    "agent_id, session_id, " K ", value, metadata, created_at, updated_at, expires_at"
#define MEM_LIVE " AND (expires_at IS NULL OR expires_at > ?)"

#define MEM_STATEMENTS(K, KC) \
    .key_col = K, .key_cmp = KC, .key_range = " AND " KC " >= ? AND " KC " < ?", \
    .key_from = " AND " KC " >= ?", \
    .mem_find_global = "SELECT id, expires_at, created_at FROM agent_memory" \
                       " WHERE agent_id = ? AND session_id IS NULL AND " K " = ?", \
    .mem_find_session = "SELECT id, expires_at, created_at FROM agent_memory" \
                        " WHERE agent_id = ? AND session_id = ? AND " K " = ?", \
    .mem_insert = "INSERT INTO agent_memory (agent_id, session_id, " K ", value, metadata," \
                  " created_at, updated_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", \
    .mem_update = "UPDATE agent_memory SET value = ?, metadata = ?, created_at = ?," \
                  " updated_at = ?, expires_at = ? WHERE id = ?", \
    .mem_get_global = \
        "SELECT " MEM_COLS(K) " FROM agent_memory" \
                              " WHERE agent_id = ? AND session_id IS NULL AND " K " = ?" MEM_LIVE, \
    .mem_get_session = \
        "SELECT " MEM_COLS(K) " FROM agent_memory" \
                              " WHERE agent_id = ? AND session_id = ? AND " K " = ?" MEM_LIVE, \
    .mem_delete_global = "DELETE FROM agent_memory" \
                         " WHERE agent_id = ? AND session_id IS NULL AND " K " = ?", \
    .mem_delete_session = "DELETE FROM agent_memory" \
                          " WHERE agent_id = ? AND session_id = ? AND " K " = ?", \
    .mem_cols = MEM_COLS(K)
/* clang-format on */

/* PostgreSQL: the sequence behind T.C continues after max(C) or where it was,
 * whichever is later (pg_sequence_last_value is NULL before the first use). */
#define PG_SEQ_SYNC(T, C) \
    "SELECT setval(pg_get_serial_sequence('" T "', '" C "'), GREATEST(COALESCE(MAX(" C "), 0)," \
    " COALESCE(pg_sequence_last_value(pg_get_serial_sequence('" T "', '" C "')::regclass), 0))" \
    " + 1, false) FROM " T

/* revoked_jtis: insert, or keep the later expiry (LATER: the dialect's max of two). */
#define JTI_UPSERT(LATER) \
    "INSERT INTO revoked_jtis (jti, expires_at) VALUES (?, ?) ON CONFLICT (jti) DO UPDATE" \
    " SET expires_at = " LATER "(revoked_jtis.expires_at, excluded.expires_at)"

/* Fields left out are NULL / false: seq_sync_* NULL where the database moves the
 * sequence past explicit ids by itself (SQLite AUTOINCREMENT, InnoDB AUTO_INCREMENT). */
static const store_sql_dialect dialects[] = {
    [DB_BACKEND_SQLITE] =
        {
            .vt_name = "sql:sqlite",
            .msg_touch = "UPDATE sessions SET updated_at = ? WHERE id = ?",
            /* last_insert_rowid() is cheaper than RETURNING (no materialisation). */
            .msg_insert = MSG_INSERT_SQL,
            .jti_revoke = JTI_UPSERT("MAX"),
            /* TEXT compares with the BINARY collation: byte-wise, case-sensitive. */
            MEM_STATEMENTS("key", "key"),
            .bin_post = "",
            .ins_keep_id = "",
            .ins_skip = " ON CONFLICT DO NOTHING",
            .member_in = "EXISTS (SELECT 1 FROM json_each(s.access, '$.%s') WHERE value = ?)",
            /* external-content FTS5 trigram table (0002), rowid = messages.id, filled
             * by message_reindex up to search_state.upto */
            .search_match =
                " AND (search_text IS NULL OR id > (SELECT upto FROM search_state)"
                " OR id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?))",
            .search_param = STORE_SEARCH_FTS5,
            .msg_set_search = "UPDATE messages SET search_text = ? WHERE id = ?",
            .search_fts_async = true,
            .load_exists =
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ctxd_load'",
        },
    [DB_BACKEND_POSTGRES] =
        {
            .vt_name = "sql:postgresql",
            .msg_add_one = PG_MSG_ADD_ONE,
            .jti_revoke = JTI_UPSERT("GREATEST"),
            /* Byte-wise comparison whatever the database collation; the schema
             * declares agent_memory.key COLLATE "C", so its indexes serve it. */
            MEM_STATEMENTS("key", "key COLLATE \"C\""),
            .bin_post = " COLLATE \"C\"",
            /* allowed for GENERATED BY DEFAULT / ALWAYS identity and serial columns */
            .ins_keep_id = " OVERRIDING SYSTEM VALUE",
            .ins_skip = " ON CONFLICT DO NOTHING",
            .seq_sync_messages = PG_SEQ_SYNC("messages", "id"),
            .seq_sync_audit = PG_SEQ_SYNC("audit_log", "id"),
            /* autovacuum analyses a loaded table only later: until then a page of a big
             * session was planned as a bitmap scan of every visible row (41-49 ms at
             * 100,000 messages instead of 0.3) */
            .analyze = "ANALYZE sessions, messages, visibility_counts, agent_memory, audit_log,"
                       " secure_tokens, agent_credentials, revoked_jtis",
            /* jsonb containment of a string element */
            .member_in = "COALESCE((s.access -> '%s') @> to_jsonb(CAST(? AS TEXT)), FALSE)",
            /* pg_trgm GIN index (0002): a BitmapOr of index scans, LIKE rechecked */
            .search_match =
                " AND (search_text IS NULL OR search_text LIKE ANY (CAST(? AS text[])))",
            .search_param = STORE_SEARCH_LIKE_ANY,
            .msg_set_search = "UPDATE messages SET search_text = ? WHERE id = ?",
            .load_exists = "SELECT 1 FROM information_schema.tables"
                           " WHERE table_schema = current_schema() AND table_name = 'ctxd_load'",
        },
    [DB_BACKEND_MYSQL] =
        {
            .vt_name = "sql:mysql",
            /* no data-modifying CTE: the touch keeps its value for the INSERT */
            .msg_touch = "UPDATE sessions SET updated_at = (@ctxd_touch :="
                         " GREATEST(updated_at, ?)) WHERE id = ?",
            .msg_insert = MSG_INSERT_GRAMS_SQL_TOUCHED,
            .jti_revoke = "INSERT INTO revoked_jtis (jti, expires_at) VALUES (?, ?)"
                          " ON DUPLICATE KEY UPDATE expires_at ="
                          " GREATEST(expires_at, VALUES(expires_at))",
            /* `key` is reserved (quoted); the schema declares every text column
             * utf8mb4_nopad_bin: byte-wise, case- and trailing-space-sensitive. */
            MEM_STATEMENTS("`key`", "`key`"),
            /* every table is utf8mb4_nopad_bin: plain ORDER BY is already byte-wise
             * (code point order = UTF-8 byte order) and can use the keys' indexes */
            .bin_post = "",
            .ins_keep_id = "",
            .ins_skip = " ON DUPLICATE KEY UPDATE ",
            .ins_skip_self = true,
            .member_in = "COALESCE(JSON_CONTAINS(s.access, JSON_QUOTE(?), '$.%s'), 0) = 1",
            /* InnoDB FULLTEXT over the trigram words of search_grams (0002). Under the OR
             * the plan is the session's range with MATCH as a filter: InnoDB runs the
             * FULLTEXT search once and checks each row's document id against it (a
             * materialised "id IN (SELECT ... MATCH ...)" measured 2-10x slower: it is
             * re-run for every page of the cursor) */
            .search_match = " AND (search_text IS NULL OR"
                            " MATCH (search_grams) AGAINST (? IN BOOLEAN MODE))",
            .search_param = STORE_SEARCH_GRAMS,
            .search_grams = true,
            .msg_set_search = "UPDATE messages SET search_text = ?, search_grams = ? WHERE id = ?",
            .load_exists = "SELECT 1 FROM information_schema.tables"
                           " WHERE table_schema = DATABASE() AND table_name = 'ctxd_load'",
        },
};

const store_sql_dialect *store_sql_dialect_of(db_backend b)
{
    size_t i = (size_t)b;
    return i < sizeof dialects / sizeof dialects[0] && dialects[i].vt_name ? &dialects[i] : NULL;
}
