-- 0003_credentials (postgresql): credentials that a reader of the database cannot use;
-- the same logical schema as migrations/sqlite/0003_credentials.up.sql (see there).
-- Existing protected tokens are not hashed here although PostgreSQL has sha256(): the
-- digest is keyed with JWT_SECRET_KEY, which the database never sees; they stop working
-- (they live an hour; agents authenticate again).
DROP TABLE secure_tokens;
CREATE TABLE secure_tokens (
    token_hash  TEXT PRIMARY KEY,         -- 64 hex digits
    agent_id    TEXT NOT NULL,
    agent_type  TEXT NOT NULL,
    permissions TEXT NOT NULL,            -- "read,write,..."
    jti         TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX idx_tokens_expires ON secure_tokens (expires_at);
CREATE INDEX idx_tokens_agent ON secure_tokens (agent_id);

ALTER TABLE sessions ADD COLUMN access JSONB
    CHECK (access IS NULL OR jsonb_typeof(access) = 'object');
CREATE INDEX idx_sessions_restricted ON sessions (id) WHERE access IS NOT NULL;

CREATE TABLE agent_credentials (
    agent_id    TEXT PRIMARY KEY,
    agent_type  TEXT NOT NULL,
    permissions TEXT NOT NULL,            -- "read,write,..."
    key_hash    TEXT NOT NULL,            -- 64 hex digits
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ               -- NULL = active
);
CREATE UNIQUE INDEX uq_credentials_key ON agent_credentials (key_hash);
