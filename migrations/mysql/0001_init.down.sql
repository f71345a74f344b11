-- 0001_init (mysql/mariadb), down: drops every table 0001 created, children first.
-- Must not: drop anything 0001 did not create (schema_migrations belongs to migrate/).
DROP TABLE IF EXISTS revoked_jtis;
DROP TABLE IF EXISTS secure_tokens;
DROP TABLE IF EXISTS audit_log;
DROP TABLE IF EXISTS agent_memory;
DROP TABLE IF EXISTS messages;
DROP TABLE IF EXISTS sessions;
