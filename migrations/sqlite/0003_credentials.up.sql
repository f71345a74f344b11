-- 0003_credentials (sqlite): credentials that a reader of the database cannot use.
-- secure_tokens keeps, for each protected token, only its digest (HMAC-SHA256 of the
-- token under JWT_SECRET_KEY, made by auth/: SQL cannot make it) and the identity it
-- stands for (agent, type, permissions, jti, times). The 0001 table held the token
-- itself beside a JWT that was accepted on its own; it is replaced, not converted:
-- protected tokens issued before this migration stop working (they live an hour; agents
-- call authenticate_agent again).
-- sessions.access restricts a session to listed agents and agent types (a JSON object
-- {"agents": [...], "types": [...]}; NULL = open to everyone); idx_sessions_restricted
-- serves "the restricted sessions" every non-admin read of messages consults.
-- agent_credentials holds each agent's own credential (`ctxd agent`): the SHA-256 digest
-- of its key, never the key, and the identity the key stands for.
DROP TABLE secure_tokens;
CREATE TABLE secure_tokens (
    token_hash  TEXT PRIMARY KEY NOT NULL,   -- 64 hex digits
    agent_id    TEXT NOT NULL,
    agent_type  TEXT NOT NULL,
    permissions TEXT NOT NULL,               -- "read,write,..."
    jti         TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX idx_tokens_expires ON secure_tokens (expires_at);
CREATE INDEX idx_tokens_agent ON secure_tokens (agent_id);

ALTER TABLE sessions ADD COLUMN access TEXT
    CHECK (access IS NULL OR (json_valid(access) AND json_type(access) = 'object'));
CREATE INDEX idx_sessions_restricted ON sessions (id) WHERE access IS NOT NULL;

CREATE TABLE agent_credentials (
    agent_id    TEXT PRIMARY KEY NOT NULL,
    agent_type  TEXT NOT NULL,
    permissions TEXT NOT NULL,               -- "read,write,..."
    key_hash    TEXT NOT NULL,               -- 64 hex digits
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    revoked_at  TEXT                         -- NULL = active
);
CREATE UNIQUE INDEX uq_credentials_key ON agent_credentials (key_hash);
