-- 0002_search (postgresql), down: drops the indexes, the derived column and pg_trgm
-- (installed by 0002; nothing else in the schema uses it).
DROP INDEX IF EXISTS idx_messages_unindexed;
DROP INDEX IF EXISTS idx_messages_search_trgm;
ALTER TABLE messages DROP COLUMN IF EXISTS search_text;
DROP EXTENSION IF EXISTS pg_trgm;
