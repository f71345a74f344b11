-- 0002_search (mysql/mariadb), down: drops the FULLTEXT index and the derived columns.
DROP INDEX idx_messages_unindexed ON messages;
DROP INDEX idx_messages_search_grams ON messages;
ALTER TABLE messages DROP COLUMN search_grams, DROP COLUMN search_text;
