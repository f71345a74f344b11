-- 0002_search (sqlite), down: drops the search index, its watermark and the derived column.
DROP TABLE IF EXISTS search_state;
DROP TABLE IF EXISTS messages_fts;
DROP INDEX IF EXISTS idx_messages_unindexed;
ALTER TABLE messages DROP COLUMN search_text;
