-- 0002_search (sqlite): the search_context index. messages.search_text holds the
-- normalised index text (sender, content, scalar metadata values; computed in C by
-- the store's index function at insert/import, never by SQL); messages_fts is an
-- external-content FTS5 table with the trigram tokenizer over it. It is filled in
-- batches by message_reindex (ctxd serve runs it in the background), not by
-- triggers, so adding a message never tokenises: search_state.upto is the last
-- message id in messages_fts, and message_search treats every newer message, and
-- every message without index text (copied/imported without one, or older than
-- 0002), as a candidate. Messages are never deleted or edited, so the FTS5 table
-- needs no delete/update upkeep.
-- Must not: be read by copy/export (search_text is derived data, not a logical column).
ALTER TABLE messages ADD COLUMN search_text TEXT;
CREATE INDEX idx_messages_unindexed ON messages (id) WHERE search_text IS NULL;
CREATE VIRTUAL TABLE messages_fts USING fts5(search_text, content = 'messages',
    content_rowid = 'id', tokenize = 'trigram');
CREATE TABLE search_state (
    upto INTEGER NOT NULL
);
INSERT INTO search_state (upto) VALUES (0);
