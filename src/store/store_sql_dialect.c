/* store/store_sql_dialect.c — the per-dialect statement catalogue of store_sql
 * (see store_sql_dialect.h): plain static strings, expanded from one template per
 * statement with the dialect's spelling. Must not: contain statements that are
 * the same for every dialect (those live in store_sql.c) or any logic. */
#include <string.h>
#include "store/store_sql_dialect.h"

#define MSG_INSERT_SQL \
    "INSERT INTO messages (session_id, sender, sender_type, content, visibility," \
    " message_type, metadata, parent_message_id, created_at)" \
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"

/* K = the key column as written in the dialect; KC = the same compared byte-wise. */
#define MEM_COLS(K) "agent_id, session_id, " K ", value, metadata, created_at, updated_at, expires_at"
#define MEM_LIVE " AND (expires_at IS NULL OR expires_at > ?)"

#define MEM_STATEMENTS(K, KC) \
    .key_col = K, \
    .key_cmp = KC, \
    .key_range = " AND " KC " >= ? AND " KC " < ?", \
    .key_from = " AND " KC " >= ?", \
    .mem_find_global = "SELECT id, expires_at, created_at FROM agent_memory" \
                       " WHERE agent_id = ? AND session_id IS NULL AND " K " = ?", \
    .mem_find_session = "SELECT id, expires_at, created_at FROM agent_memory" \
                        " WHERE agent_id = ? AND session_id = ? AND " K " = ?", \
    .mem_insert = "INSERT INTO agent_memory (agent_id, session_id, " K ", value, metadata," \
                  " created_at, updated_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", \
    .mem_update = "UPDATE agent_memory SET value = ?, metadata = ?, created_at = ?," \
                  " updated_at = ?, expires_at = ? WHERE id = ?", \
    .mem_get_global = "SELECT " MEM_COLS(K) " FROM agent_memory" \
                      " WHERE agent_id = ? AND session_id IS NULL AND " K " = ?" MEM_LIVE, \
    .mem_get_session = "SELECT " MEM_COLS(K) " FROM agent_memory" \
                       " WHERE agent_id = ? AND session_id = ? AND " K " = ?" MEM_LIVE, \
    .mem_delete_global = "DELETE FROM agent_memory" \
                         " WHERE agent_id = ? AND session_id IS NULL AND " K " = ?", \
    .mem_delete_session = "DELETE FROM agent_memory" \
                          " WHERE agent_id = ? AND session_id = ? AND " K " = ?", \
    .mem_cols = MEM_COLS(K)

static const store_sql_dialect dialects[] = {
    {
        .name = "sqlite",
        .vt_name = "sql:sqlite",
        /* last_insert_rowid() is cheaper than RETURNING (no materialisation). */
        .msg_insert = MSG_INSERT_SQL,
        .msg_insert_returns_id = false,
        .jti_revoke = "INSERT INTO revoked_jtis (jti, expires_at) VALUES (?, ?)"
                      " ON CONFLICT (jti) DO UPDATE SET expires_at ="
                      " MAX(revoked_jtis.expires_at, excluded.expires_at)",
        /* TEXT compares with the BINARY collation: byte-wise, case-sensitive. */
        MEM_STATEMENTS("key", "key"),
    },
    {
        .name = "postgresql",
        .vt_name = "sql:postgresql",
        .msg_insert = MSG_INSERT_SQL " RETURNING id",
        .msg_insert_returns_id = true,
        .jti_revoke = "INSERT INTO revoked_jtis (jti, expires_at) VALUES (?, ?)"
                      " ON CONFLICT (jti) DO UPDATE SET expires_at ="
                      " GREATEST(revoked_jtis.expires_at, excluded.expires_at)",
        /* Byte-wise comparison whatever the database collation; the schema
         * indexes key COLLATE "C" for it. */
        MEM_STATEMENTS("key", "key COLLATE \"C\""),
    },
    {
        .name = "mysql",
        .vt_name = "sql:mysql",
        .msg_insert = MSG_INSERT_SQL,
        .msg_insert_returns_id = false,
        .jti_revoke = "INSERT INTO revoked_jtis (jti, expires_at) VALUES (?, ?)"
                      " ON DUPLICATE KEY UPDATE expires_at ="
                      " GREATEST(expires_at, VALUES(expires_at))",
        /* `key` is reserved; the schema declares it utf8mb4_bin (byte-wise). */
        MEM_STATEMENTS("`key`", "`key`"),
    },
};

const store_sql_dialect *store_sql_dialect_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof dialects / sizeof dialects[0]; i++)
        if (strcmp(dialects[i].name, name) == 0)
            return &dialects[i];
    return NULL;
}
