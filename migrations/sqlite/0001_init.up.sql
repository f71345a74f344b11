-- 0001_init (sqlite): the ctxd schema. Times are TEXT in one fixed UTC form,
-- 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (27 chars), so they sort and compare as text and
-- keep microseconds exactly. JSON columns are TEXT checked with json_valid().
-- schema_migrations is created by the migrate/ engine itself, not here.

CREATE TABLE sessions (
    id          TEXT PRIMARY KEY NOT NULL,
    purpose     TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    metadata    TEXT CHECK (metadata IS NULL OR (json_valid(metadata) AND json_type(metadata) = 'object')),
    is_active   INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
-- list_sessions: by creator, and active sessions by recent activity
CREATE INDEX idx_sessions_created_by ON sessions (created_by, created_at);
CREATE INDEX idx_sessions_active_updated ON sessions (is_active, updated_at);
CREATE INDEX idx_sessions_updated ON sessions (updated_at);

CREATE TABLE messages (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: since_id cursors stay valid
    session_id        TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    sender            TEXT NOT NULL,
    sender_type       TEXT NOT NULL DEFAULT 'generic',
    content           TEXT NOT NULL,
    visibility        TEXT NOT NULL DEFAULT 'public'
                      CHECK (visibility IN ('public', 'private', 'agent_only', 'admin_only')),
    message_type      TEXT NOT NULL DEFAULT 'agent_response',
    metadata          TEXT CHECK (metadata IS NULL OR (json_valid(metadata) AND json_type(metadata) = 'object')),
    parent_message_id INTEGER REFERENCES messages (id) ON DELETE SET NULL,
    created_at        TEXT NOT NULL
);
-- pages, since_id cursors and counts per session
CREATE INDEX idx_messages_session_id ON messages (session_id, id);
-- search_by_sender
CREATE INDEX idx_messages_session_sender ON messages (session_id, sender, id);
-- search_by_timerange
CREATE INDEX idx_messages_session_time ON messages (session_id, created_at);
-- get_thread
CREATE INDEX idx_messages_parent ON messages (parent_message_id);

CREATE TABLE agent_memory (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id    TEXT NOT NULL,
    session_id  TEXT REFERENCES sessions (id) ON DELETE CASCADE,  -- NULL = global scope
    key         TEXT NOT NULL,
    value       TEXT NOT NULL CHECK (json_valid(value)),
    metadata    TEXT CHECK (metadata IS NULL OR (json_valid(metadata) AND json_type(metadata) = 'object')),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    expires_at  TEXT                                              -- NULL = never
);
-- one key per agent in the global scope (NULLs are distinct in a plain UNIQUE)
CREATE UNIQUE INDEX uq_memory_global ON agent_memory (agent_id, key) WHERE session_id IS NULL;
-- one key per agent per session
CREATE UNIQUE INDEX uq_memory_session ON agent_memory (agent_id, session_id, key)
    WHERE session_id IS NOT NULL;
-- list_memory over both scopes, prefix ranges
CREATE INDEX idx_memory_agent_key ON agent_memory (agent_id, key);
-- TTL sweep
CREATE INDEX idx_memory_expires ON agent_memory (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at  TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    agent_id    TEXT NOT NULL,
    session_id  TEXT,                 -- no foreign key: the audit trail outlives sessions
    resource    TEXT,
    metadata    TEXT CHECK (metadata IS NULL OR json_valid(metadata))
);
CREATE INDEX idx_audit_created ON audit_log (created_at);
CREATE INDEX idx_audit_session ON audit_log (session_id, id);
CREATE INDEX idx_audit_agent ON audit_log (agent_id, id);
CREATE INDEX idx_audit_event ON audit_log (event_type, id);

CREATE TABLE secure_tokens (
    token_id    TEXT PRIMARY KEY NOT NULL,   -- "sct_" + uuid4
    jwt         TEXT NOT NULL,
    agent_id    TEXT NOT NULL,
    agent_type  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX idx_tokens_expires ON secure_tokens (expires_at);
CREATE INDEX idx_tokens_agent ON secure_tokens (agent_id);

CREATE TABLE revoked_jtis (
    jti         TEXT PRIMARY KEY NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX idx_revoked_expires ON revoked_jtis (expires_at);
