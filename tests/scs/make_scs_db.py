#!/usr/bin/env python3
"""tests/scs/make_scs_db.py — builds a database shaped as shared-context-server's SQLite
chat_history.db (its tables, views and triggers, schema_version 3, WAL mode), holding every
kind of row `ctxd import-scs` converts, in the encodings that server really stores: float
epoch seconds, ISO-8601 text with and without an offset, CURRENT_TIMESTAMP text and epoch
seconds as text; metadata that is not JSON or not an object; memory already expired (float
and text expiry), duplicated and orphaned; a message in a missing session and one whose
text is not UTF-8; an unknown visibility; protected tokens.
Usage: make_scs_db.py OUT.db [--other]   (--other: a second, different session set)
Must not: depend on anything but the Python standard library."""
import sqlite3
import sys

SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    description TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    is_active BOOLEAN DEFAULT TRUE,
    created_by TEXT NOT NULL,
    metadata TEXT
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    sender_type TEXT DEFAULT 'generic',
    content TEXT NOT NULL,
    visibility TEXT DEFAULT 'public',
    message_type TEXT DEFAULT 'agent_response',
    metadata TEXT,
    timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    parent_message_id INTEGER,
    FOREIGN KEY (session_id) REFERENCES sessions(id) ON DELETE CASCADE,
    FOREIGN KEY (parent_message_id) REFERENCES messages(id) ON DELETE SET NULL
);
CREATE TABLE IF NOT EXISTS agent_memory (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id TEXT NOT NULL,
    session_id TEXT,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    metadata TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    expires_at TIMESTAMP,
    FOREIGN KEY (session_id) REFERENCES sessions(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    event_type TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    session_id TEXT,
    resource TEXT,
    action TEXT,
    result TEXT,
    metadata TEXT
);
CREATE TABLE IF NOT EXISTS secure_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_id TEXT UNIQUE NOT NULL,
    encrypted_jwt BLOB NOT NULL,
    agent_id TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_messages_session_time ON messages(session_id, timestamp);
CREATE INDEX IF NOT EXISTS idx_agent_memory_lookup ON agent_memory(agent_id, session_id, key);
CREATE INDEX IF NOT EXISTS idx_audit_log_timestamp ON audit_log(timestamp);
CREATE VIEW IF NOT EXISTS active_sessions_with_activity AS
    SELECT s.*, COUNT(m.id) AS message_count, MAX(m.timestamp) AS last_activity
    FROM sessions s LEFT JOIN messages m ON s.id = m.session_id
    WHERE s.is_active = TRUE GROUP BY s.id;
CREATE VIEW IF NOT EXISTS agent_memory_summary AS
    SELECT agent_id, COUNT(*) AS total_entries FROM agent_memory GROUP BY agent_id;
CREATE VIEW IF NOT EXISTS audit_activity_summary AS
    SELECT event_type, COUNT(*) AS n FROM audit_log GROUP BY event_type;
CREATE TRIGGER IF NOT EXISTS sessions_updated_at_trigger AFTER UPDATE ON sessions
    BEGIN UPDATE sessions SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id; END;
CREATE TRIGGER IF NOT EXISTS agent_memory_updated_at_trigger AFTER UPDATE ON agent_memory
    BEGIN UPDATE agent_memory SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id; END;
"""

S1, S2, S3 = "session_aaaaaaaaaaaaaaaa", "session_bbbbbbbbbbbbbbbb", "session_cccccccccccccccc"
GONE = "session_dddddddddddddddd"  # deleted while foreign keys were off: its rows are orphans


def build(path, other):
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(SCHEMA)
    db.execute("INSERT INTO schema_version (version, description) VALUES (3, 'scs schema')")
    if other:
        db.execute("INSERT INTO sessions (id, purpose, created_at, updated_at, created_by) "
                   "VALUES ('session_eeeeeeeeeeeeeeee', 'other', 1765000000.5, 1765000000.5, 'zed')")
        db.commit()
        db.close()
        return
    q = db.execute
    # sessions: float epoch + trigger text; ISO with offset + float, JSON that is not JSON,
    # inactive; text epoch + NULL updated_at
    q("INSERT INTO sessions (id, purpose, created_at, updated_at, is_active, created_by, metadata) "
      "VALUES (?, 'plan the release', 1765025012.483221, '2025-12-06 12:43:32', TRUE, 'alice', "
      "'{\"project\": \"x\"}')", (S1,))
    q("INSERT INTO sessions VALUES (?, 'review', '2025-12-06T13:00:00.5+01:00', 1765026000.25, "
      "FALSE, 'bob', 'not json{')", (S2,))
    q("INSERT INTO sessions VALUES (?, 'notes', '1765025012.25', NULL, 1, 'carol', NULL)", (S3,))
    # messages
    ins = ("INSERT INTO messages (id, session_id, sender, sender_type, content, visibility, "
           "message_type, metadata, timestamp, parent_message_id) VALUES (?,?,?,?,?,?,?,?,?,?)")
    q(ins, (1, S1, "alice", "claude", "hello world", "public", "agent_response",
            '{"k": 1}', 1765025100.000001, None))
    q(ins, (2, S1, "bob", "gemini", "a private reply", "private", "agent_response",
            None, "2025-12-06T12:45:00.123456", 1))
    q(ins, (3, S1, "carol", "claude", "for claudes", "agent_only", "agent_response",
            "[1, 2]", "2025-12-06T12:45:30+00:00", None))
    q(ins, (4, S2, "admin", "admin", "admins only", "admin_only", "system",
            "{bad", "2025-12-06 12:46:00", None))
    q(ins, (5, S1, "dave", "generic", "odd visibility", "weird", "agent_response",
            None, 1765025200.5, None))
    q(ins, (6, GONE, "erin", "generic", "orphan", "public", "agent_response",
            None, 1765025300.0, None))
    q(ins, (7, S1, "erin", "generic", "reply to the orphan", "public", "agent_response",
            None, 1765025400.0, 6))
    q(ins, (8, S3, "carol", "claude", "no time", "public", "agent_response", None, None, None))
    q("INSERT INTO messages (id, session_id, sender, content, timestamp) "
      "VALUES (9, ?, 'bob', CAST(? AS TEXT), 1765025500.75)", (S2, b"caf\xe9 ok"))
    # agent memory: value is the JSON text of the stored value
    mem = ("INSERT INTO agent_memory (id, agent_id, session_id, key, value, metadata, "
           "created_at, updated_at, expires_at) VALUES (?,?,?,?,?,?,?,?,?)")
    q(mem, (1, "alice", None, "k1", '"123"', "{}", 1765025012.5,
            "2025-12-06T12:43:33.000001+00:00", None))
    q(mem, (2, "alice", S1, "k2", '{"a": [1, 2]}', '{"tag": "t"}', 1765025013.0,
            "2025-12-06 12:43:33", 4102444800.75))
    q(mem, (3, "bob", None, "k3", "42", None, 1765025014.0, 1765025014.0,
            "2099-01-01T00:00:00+00:00"))
    q(mem, (4, "bob", None, "old", "1", "{}", 999999000.0, 999999000.0, 1000000000.0))
    q(mem, (5, "bob", None, "old2", "2", "{}", 999999000.0, 999999000.0, "2001-09-09 01:46:40"))
    q(mem, (6, "carol", None, "bad", "not json", "{}", 1765025015.0, 1765025015.0, None))
    q(mem, (7, "carol", GONE, "lost", "1", "{}", 1765025016.0, 1765025016.0, None))
    q(mem, (8, "carol", None, "dup", '"first"', "{}", 1765025017.0, 1765025017.0, None))
    q(mem, (9, "carol", None, "dup", '"second"', "{}", 1765025018.0, 1765025018.0, None))
    # audit log: CURRENT_TIMESTAMP text, float, metadata that is not JSON
    aud = ("INSERT INTO audit_log (id, timestamp, event_type, agent_id, session_id, resource, "
           "action, result, metadata) VALUES (?,?,?,?,?,?,?,?,?)")
    q(aud, (1, "2025-12-06 12:43:32", "session_created", "alice", S1, "session", "create",
            None, '{"purpose": "plan the release"}'))
    q(aud, (2, 1765025012.483221, "jwt_token_generated", "alice", None, None, None, None, None))
    q(aud, (3, "2025-12-06 12:50:00", "authentication_failed", "mallory", None, None, None,
            None, "garbage"))
    # protected tokens: Fernet ciphertext under the server's key (never imported)
    for i in (1, 2):
        q("INSERT INTO secure_tokens (token_id, encrypted_jwt, agent_id, expires_at) "
          "VALUES (?, ?, 'alice', '2025-12-06T13:43:32.483221+00:00')",
          ("sct_00000000-0000-4000-8000-00000000000%d" % i, b"gAAAAAB-ciphertext"))
    db.commit()
    db.close()


if __name__ == "__main__":
    build(sys.argv[1], "--other" in sys.argv[2:])
