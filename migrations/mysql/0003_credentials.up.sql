-- 0003_credentials (mysql/mariadb): credentials that a reader of the database cannot
-- use; the same logical schema as migrations/sqlite/0003_credentials.up.sql (see there).
-- Existing protected tokens are not hashed here although MariaDB has SHA2(): the digest
-- is keyed with JWT_SECRET_KEY, which the database never sees; they stop working (they
-- live an hour; agents authenticate again). No partial indexes in MySQL:
-- idx_sessions_restricted is a one-byte prefix of access (NULLs are indexed), which
-- serves "access IS NOT NULL" as a range.
-- Must not: change once released, use backslash escapes, or drift from the SQLite schema.
DROP TABLE secure_tokens;
CREATE TABLE secure_tokens (
    token_hash  VARCHAR(64) NOT NULL PRIMARY KEY,
    agent_id    VARCHAR(100) NOT NULL,
    agent_type  VARCHAR(50) NOT NULL,
    permissions VARCHAR(100) NOT NULL,
    jti         VARCHAR(255) NOT NULL,
    created_at  DATETIME(6) NOT NULL,
    expires_at  DATETIME(6) NOT NULL,
    INDEX idx_tokens_expires (expires_at),
    INDEX idx_tokens_agent (agent_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

ALTER TABLE sessions ADD COLUMN access JSON NULL
    CHECK (access IS NULL OR JSON_TYPE(access) = 'OBJECT');
CREATE INDEX idx_sessions_restricted ON sessions (access(1));

CREATE TABLE agent_credentials (
    agent_id    VARCHAR(100) NOT NULL PRIMARY KEY,
    agent_type  VARCHAR(50) NOT NULL,
    permissions VARCHAR(100) NOT NULL,
    key_hash    VARCHAR(64) NOT NULL,
    created_at  DATETIME(6) NOT NULL,
    updated_at  DATETIME(6) NOT NULL,
    revoked_at  DATETIME(6) NULL,
    UNIQUE INDEX uq_credentials_key (key_hash)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;
