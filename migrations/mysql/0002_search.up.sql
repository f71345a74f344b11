-- 0002_search (mysql/mariadb): the search_context index. messages.search_text holds
-- the normalised index text (computed in C by the store's index function at
-- insert/import); MariaDB has no n-gram FULLTEXT parser, so search_grams holds every
-- distinct trigram of it as one alphanumeric word ("t" + hex of its UTF-8 bytes, see
-- src/store/store_sql_search.c) under an InnoDB FULLTEXT index, and the candidate
-- query is MATCH (search_grams) AGAINST ('<trigram words>' IN BOOLEAN MODE).
-- Messages without index text (copied/imported without one, or older than 0002) are
-- always candidates until message_reindex fills them.
-- Must not: be read by copy/export (both columns are derived data).
ALTER TABLE messages ADD COLUMN search_text LONGTEXT CHARACTER SET utf8mb4
    COLLATE utf8mb4_nopad_bin NULL,
    ADD COLUMN search_grams LONGTEXT CHARACTER SET ascii COLLATE ascii_general_ci NULL;
CREATE FULLTEXT INDEX idx_messages_search_grams ON messages (search_grams);
-- message_reindex finds messages without index text through this (NULLs are indexed)
CREATE INDEX idx_messages_unindexed ON messages (search_text(1));
