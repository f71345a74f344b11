-- 0003_credentials (sqlite), down: back to the 0002 schema. Agent credentials and session
-- restrictions are dropped; secure_tokens gets its 0001 shape back, empty (a digest
-- cannot be turned back into a token: agents authenticate again).
DROP TABLE IF EXISTS agent_credentials;
DROP INDEX IF EXISTS idx_sessions_restricted;
ALTER TABLE sessions DROP COLUMN access;
DROP TABLE IF EXISTS secure_tokens;
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
