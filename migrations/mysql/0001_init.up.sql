-- 0001_init (mysql/mariadb): the ctxd schema, the same logical schema as
-- migrations/sqlite/0001_init.up.sql (tables, columns, nullability, indexes,
-- unique rules). InnoDB, utf8mb4. Text compares byte-wise (utf8mb4_nopad_bin:
-- case-sensitive, no normalisation, trailing spaces significant), as SQLite's
-- BINARY collation does. Times are DATETIME(6) holding UTC (the driver sets
-- time_zone='+00:00' and binds MYSQL_TIME with microseconds; DATETIME's range is
-- 1000-01-01 .. 9999-12-31). JSON columns are MariaDB JSON (LONGTEXT with a
-- json_valid() check, text kept as given). `key` is a reserved word: quoted here
-- and in the store's dialect catalogue. No partial indexes in MySQL: global
-- memory uniqueness uses the generated column global_key (the key for global
-- rows, NULL for session rows). Lengths of indexed columns keep every index
-- under InnoDB's 3072-byte limit (4 bytes per character).
-- schema_migrations is created by the migrate/ engine itself, not here.
-- Must not: change once released (its checksum is recorded; add a new numbered
-- migration instead), use backslash escapes in literals (the session runs with
-- NO_BACKSLASH_ESCAPES), or drift from the SQLite schema (test_mysql_migrate
-- compares them).

CREATE TABLE sessions (
    id          VARCHAR(100) NOT NULL PRIMARY KEY,
    purpose     TEXT NOT NULL,
    created_by  VARCHAR(100) NOT NULL,
    metadata    JSON NULL CHECK (metadata IS NULL OR JSON_TYPE(metadata) = 'OBJECT'),
    is_active   BOOLEAN NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at  DATETIME(6) NOT NULL,
    updated_at  DATETIME(6) NOT NULL,
    -- list_sessions: by creator, and active sessions by recent activity
    INDEX idx_sessions_created_by (created_by, created_at),
    INDEX idx_sessions_active_updated (is_active, updated_at),
    INDEX idx_sessions_updated (updated_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

CREATE TABLE messages (
    id                BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,  -- never reused
    session_id        VARCHAR(100) NOT NULL,
    sender            VARCHAR(100) NOT NULL,
    sender_type       VARCHAR(50) NOT NULL DEFAULT 'generic',
    content           MEDIUMTEXT NOT NULL,
    visibility        VARCHAR(20) NOT NULL DEFAULT 'public'
                      CHECK (visibility IN ('public', 'private', 'agent_only', 'admin_only')),
    message_type      VARCHAR(50) NOT NULL DEFAULT 'agent_response',
    metadata          JSON NULL CHECK (metadata IS NULL OR JSON_TYPE(metadata) = 'OBJECT'),
    parent_message_id BIGINT NULL,
    created_at        DATETIME(6) NOT NULL,
    CONSTRAINT fk_messages_session FOREIGN KEY (session_id) REFERENCES sessions (id) ON DELETE CASCADE,
    CONSTRAINT fk_messages_parent FOREIGN KEY (parent_message_id) REFERENCES messages (id) ON DELETE SET NULL,
    -- pages, since_id cursors and counts per session
    INDEX idx_messages_session_id (session_id, id),
    -- search_by_sender
    INDEX idx_messages_session_sender (session_id, sender, id),
    -- search_by_timerange
    INDEX idx_messages_session_time (session_id, created_at),
    -- get_thread
    INDEX idx_messages_parent (parent_message_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

CREATE TABLE agent_memory (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    agent_id    VARCHAR(100) NOT NULL,
    session_id  VARCHAR(100) NULL,                                -- NULL = global scope
    `key`       VARCHAR(255) NOT NULL,
    value       JSON NOT NULL,
    metadata    JSON NULL CHECK (metadata IS NULL OR JSON_TYPE(metadata) = 'OBJECT'),
    created_at  DATETIME(6) NOT NULL,
    updated_at  DATETIME(6) NOT NULL,
    expires_at  DATETIME(6) NULL,                                 -- NULL = never
    -- the key of a global row, NULL for a session row (NULLs are distinct in a
    -- UNIQUE index, so only global rows take part in uq_memory_global)
    global_key  VARCHAR(255) AS (IF(session_id IS NULL, `key`, NULL)) STORED,
    CONSTRAINT fk_memory_session FOREIGN KEY (session_id) REFERENCES sessions (id) ON DELETE CASCADE,
    -- one key per agent in the global scope
    UNIQUE INDEX uq_memory_global (agent_id, global_key),
    -- one key per agent per session
    UNIQUE INDEX uq_memory_session (agent_id, session_id, `key`),
    -- list_memory over both scopes, prefix ranges
    INDEX idx_memory_agent_key (agent_id, `key`),
    -- TTL sweep
    INDEX idx_memory_expires (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

CREATE TABLE audit_log (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    created_at  DATETIME(6) NOT NULL,
    event_type  VARCHAR(100) NOT NULL,
    agent_id    VARCHAR(100) NOT NULL,
    session_id  VARCHAR(100) NULL,    -- no foreign key: the audit trail outlives sessions
    resource    TEXT NULL,
    metadata    JSON NULL,
    INDEX idx_audit_created (created_at),
    INDEX idx_audit_session (session_id, id),
    INDEX idx_audit_agent (agent_id, id),
    INDEX idx_audit_event (event_type, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

CREATE TABLE secure_tokens (
    token_id    VARCHAR(100) NOT NULL PRIMARY KEY,   -- "sct_" + uuid4
    jwt         TEXT NOT NULL,
    agent_id    VARCHAR(100) NOT NULL,
    agent_type  VARCHAR(50) NOT NULL,
    created_at  DATETIME(6) NOT NULL,
    expires_at  DATETIME(6) NOT NULL,
    INDEX idx_tokens_expires (expires_at),
    INDEX idx_tokens_agent (agent_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

CREATE TABLE revoked_jtis (
    jti         VARCHAR(255) NOT NULL PRIMARY KEY,
    expires_at  DATETIME(6) NOT NULL,
    INDEX idx_revoked_expires (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;
