-- 0003_credentials (mysql/mariadb), down: back to the 0002 schema (see the sqlite
-- script); secure_tokens gets its 0001 shape back, empty.
DROP TABLE IF EXISTS agent_credentials;
DROP INDEX idx_sessions_restricted ON sessions;
ALTER TABLE sessions DROP COLUMN access;
DROP TABLE IF EXISTS secure_tokens;
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
