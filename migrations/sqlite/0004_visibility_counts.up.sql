-- 0004_visibility_counts (sqlite): counts and pages without visiting every message.
-- visibility_counts holds, per session, how many messages each (visibility, sender,
-- sender_type) has; a reader's total_count is the sum of the rows its visibility clauses
-- match (the same clauses as on messages), and a session's participants are its rows'
-- senders. Triggers keep it in the same transaction as every insert, delete and change
-- of a message, whoever writes it (the store, import, copy); it is filled from the
-- messages already stored.
-- idx_messages_session_id (session_id, id) is made anew with the columns of the
-- visibility clauses after id, so a page at an offset skips index entries, never rows.
CREATE TABLE visibility_counts (
    session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    visibility  TEXT NOT NULL,
    sender      TEXT NOT NULL,
    sender_type TEXT NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (session_id, visibility, sender, sender_type)
) WITHOUT ROWID;
INSERT INTO visibility_counts (session_id, visibility, sender, sender_type, n)
    SELECT session_id, visibility, sender, sender_type, COUNT(*) FROM messages
    GROUP BY session_id, visibility, sender, sender_type;
CREATE TRIGGER visibility_counts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO visibility_counts (session_id, visibility, sender, sender_type, n)
        VALUES (NEW.session_id, NEW.visibility, NEW.sender, NEW.sender_type, 1)
        ON CONFLICT (session_id, visibility, sender, sender_type) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER visibility_counts_delete AFTER DELETE ON messages BEGIN
    UPDATE visibility_counts SET n = n - 1
        WHERE session_id = OLD.session_id AND visibility = OLD.visibility
        AND sender = OLD.sender AND sender_type = OLD.sender_type;
END;
CREATE TRIGGER visibility_counts_update
AFTER UPDATE OF session_id, visibility, sender, sender_type ON messages BEGIN
    UPDATE visibility_counts SET n = n - 1
        WHERE session_id = OLD.session_id AND visibility = OLD.visibility
        AND sender = OLD.sender AND sender_type = OLD.sender_type;
    INSERT INTO visibility_counts (session_id, visibility, sender, sender_type, n)
        VALUES (NEW.session_id, NEW.visibility, NEW.sender, NEW.sender_type, 1)
        ON CONFLICT (session_id, visibility, sender, sender_type) DO UPDATE SET n = n + 1;
END;
DROP INDEX idx_messages_session_id;
CREATE INDEX idx_messages_session_id ON messages (session_id, id, visibility, sender, sender_type);
