-- 0004_visibility_counts (mysql): counts and pages without visiting every message.
-- visibility_counts holds, per session, how many messages each (visibility, sender,
-- sender_type) has; a reader's total_count is the sum of the rows its visibility clauses
-- match (the same clauses as on messages), and a session's participants are its rows'
-- senders. Triggers keep it in the same transaction as every insert, delete and change
-- of a message, whoever writes it (the store, import, copy); it is filled from the
-- messages already stored. (Rows of messages deleted by the cascade from sessions fire
-- no trigger in InnoDB; the counts go with their session by their own cascade.)
-- idx_messages_session_id (session_id, id) is made anew with the columns of the
-- visibility clauses after id, so a page at an offset skips index entries, never rows.
CREATE TABLE visibility_counts (
    session_id  VARCHAR(100) NOT NULL,
    visibility  VARCHAR(20) NOT NULL,
    sender      VARCHAR(100) NOT NULL,
    sender_type VARCHAR(50) NOT NULL,
    n           BIGINT NOT NULL,
    PRIMARY KEY (session_id, visibility, sender, sender_type),
    CONSTRAINT fk_visibility_counts_session FOREIGN KEY (session_id) REFERENCES sessions (id)
        ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;
INSERT INTO visibility_counts (session_id, visibility, sender, sender_type, n)
    SELECT session_id, visibility, sender, sender_type, COUNT(*) FROM messages
    GROUP BY session_id, visibility, sender, sender_type;
CREATE TRIGGER visibility_counts_insert AFTER INSERT ON messages FOR EACH ROW
    INSERT INTO visibility_counts (session_id, visibility, sender, sender_type, n)
        VALUES (NEW.session_id, NEW.visibility, NEW.sender, NEW.sender_type, 1)
        ON DUPLICATE KEY UPDATE n = n + 1;
CREATE TRIGGER visibility_counts_delete AFTER DELETE ON messages FOR EACH ROW
    UPDATE visibility_counts SET n = n - 1
        WHERE session_id = OLD.session_id AND visibility = OLD.visibility
        AND sender = OLD.sender AND sender_type = OLD.sender_type;
-- (MySQL has no UPDATE OF columns: both statements do nothing unless a counted column
-- changed)
CREATE TRIGGER visibility_counts_update AFTER UPDATE ON messages FOR EACH ROW
BEGIN
    UPDATE visibility_counts SET n = n - 1
        WHERE session_id = OLD.session_id AND visibility = OLD.visibility
        AND sender = OLD.sender AND sender_type = OLD.sender_type
        AND NOT (NEW.session_id <=> OLD.session_id AND NEW.visibility <=> OLD.visibility
                 AND NEW.sender <=> OLD.sender AND NEW.sender_type <=> OLD.sender_type);
    INSERT INTO visibility_counts (session_id, visibility, sender, sender_type, n)
        SELECT NEW.session_id, NEW.visibility, NEW.sender, NEW.sender_type, 1 FROM DUAL
        WHERE NOT (NEW.session_id <=> OLD.session_id AND NEW.visibility <=> OLD.visibility
                   AND NEW.sender <=> OLD.sender AND NEW.sender_type <=> OLD.sender_type)
        ON DUPLICATE KEY UPDATE n = n + 1;
END;
DROP INDEX idx_messages_session_id ON messages;
CREATE INDEX idx_messages_session_id ON messages (session_id, id, visibility, sender, sender_type);
