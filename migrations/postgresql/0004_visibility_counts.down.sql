-- 0004_visibility_counts (postgresql), down: back to the 0003 schema (counts are made by
-- counting messages again).
DROP INDEX IF EXISTS idx_messages_session_id;
CREATE INDEX idx_messages_session_id ON messages (session_id, id);
DROP TRIGGER IF EXISTS visibility_counts_update ON messages;
DROP TRIGGER IF EXISTS visibility_counts_insert ON messages;
DROP FUNCTION IF EXISTS visibility_counts_keep();
DROP TABLE IF EXISTS visibility_counts;
