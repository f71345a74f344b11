-- 0002_search (postgresql): the search_context index. messages.search_text holds the
-- normalised index text (computed in C by the store's index function at insert/import,
-- never by SQL), indexed with pg_trgm (GIN, gin_trgm_ops) so the candidate query
-- "search_text LIKE ANY (trigram patterns)" is served by a bitmap index scan (LIKE is
-- rechecked on the rows, so it is exact whatever pg_trgm extracts). Messages without
-- index text (copied/imported without one, or older than 0002) are always candidates
-- until message_reindex fills them; idx_messages_unindexed finds them.
-- Needs the right to CREATE EXTENSION (database owner on PostgreSQL >= 13).
-- Must not: be read by copy/export (search_text is derived data).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
ALTER TABLE messages ADD COLUMN search_text TEXT;
CREATE INDEX idx_messages_search_trgm ON messages USING gin (search_text gin_trgm_ops);
CREATE INDEX idx_messages_unindexed ON messages (id) WHERE search_text IS NULL;
