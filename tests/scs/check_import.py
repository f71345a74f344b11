#!/usr/bin/env python3
"""tests/scs/check_import.py — reads a `ctxd export` dump (stdin) of a database that
`ctxd import-scs` filled from make_scs_db.py's fixture and checks that every row arrived
converted: ids kept, times in UTC to the microsecond whatever their encoding, metadata that
was not JSON kept under "scs_metadata", memory values with their JSON type, expired,
orphaned and duplicate memory left out, no protected token. Prints each difference; exit 1
if any.
Must not: depend on anything but the Python standard library."""
import json
import sys

S1, S2, S3 = "session_aaaaaaaaaaaaaaaa", "session_bbbbbbbbbbbbbbbb", "session_cccccccccccccccc"

WANT = {
    "sessions": [
        {"id": S1, "purpose": "plan the release", "created_by": "alice", "is_active": True,
         "metadata": {"project": "x"}, "access": None,
         "created_at": "2025-12-06T12:43:32.483221Z", "updated_at": "2025-12-06T12:43:32.000000Z"},
        {"id": S2, "purpose": "review", "created_by": "bob", "is_active": False,
         "metadata": {"scs_metadata": "not json{"}, "access": None,
         "created_at": "2025-12-06T12:00:00.500000Z", "updated_at": "2025-12-06T13:00:00.250000Z"},
        {"id": S3, "purpose": "notes", "created_by": "carol", "is_active": True,
         "metadata": None, "access": None,
         "created_at": "2025-12-06T12:43:32.250000Z", "updated_at": "2025-12-06T12:43:32.250000Z"},
    ],
    "messages": [
        (1, S1, "alice", "claude", "hello world", "public", "agent_response", {"k": 1}, None,
         "2025-12-06T12:45:00.000001Z"),
        (2, S1, "bob", "gemini", "a private reply", "private", "agent_response", None, 1,
         "2025-12-06T12:45:00.123456Z"),
        (3, S1, "carol", "claude", "for claudes", "agent_only", "agent_response",
         {"scs_metadata": [1, 2]}, None, "2025-12-06T12:45:30.000000Z"),
        (4, S2, "admin", "admin", "admins only", "admin_only", "system", {"scs_metadata": "{bad"},
         None, "2025-12-06T12:46:00.000000Z"),
        (5, S1, "dave", "generic", "odd visibility", "private", "agent_response", None, None,
         "2025-12-06T12:46:40.500000Z"),
        (7, S1, "erin", "generic", "reply to the orphan", "public", "agent_response", None, None,
         "2025-12-06T12:50:00.000000Z"),
        (8, S3, "carol", "claude", "no time", "public", "agent_response", None, None,
         "2025-12-06T12:43:32.250000Z"),
        (9, S2, "bob", "generic", "caf\ufffd ok", "public", "agent_response", None, None,
         "2025-12-06T12:51:40.750000Z"),
    ],
    "agent_memory": [
        ("alice", None, "k1", "123", {}, "2025-12-06T12:43:32.500000Z",
         "2025-12-06T12:43:33.000001Z", None),
        ("alice", S1, "k2", {"a": [1, 2]}, {"tag": "t"}, "2025-12-06T12:43:33.000000Z",
         "2025-12-06T12:43:33.000000Z", "2100-01-01T00:00:00.750000Z"),
        ("bob", None, "k3", 42, None, "2025-12-06T12:43:34.000000Z",
         "2025-12-06T12:43:34.000000Z", "2099-01-01T00:00:00.000000Z"),
        ("carol", None, "bad", "not json", {}, "2025-12-06T12:43:35.000000Z",
         "2025-12-06T12:43:35.000000Z", None),
        ("carol", None, "dup", "second", {}, "2025-12-06T12:43:38.000000Z",
         "2025-12-06T12:43:38.000000Z", None),
    ],
    "audit_log": [
        (1, "2025-12-06T12:43:32.000000Z", "session_created", "alice", S1, "session",
         {"purpose": "plan the release", "action": "create"}),
        (2, "2025-12-06T12:43:32.483221Z", "jwt_token_generated", "alice", None, None, None),
        (3, "2025-12-06T12:50:00.000000Z", "authentication_failed", "mallory", None, None,
         {"scs_metadata": "garbage"}),
    ],
}
COLS = {
    "messages": ("id", "session_id", "sender", "sender_type", "content", "visibility",
                 "message_type", "metadata", "parent_message_id", "created_at"),
    "agent_memory": ("agent_id", "session_id", "key", "value", "metadata", "created_at",
                     "updated_at", "expires_at"),
    "audit_log": ("id", "created_at", "event_type", "agent_id", "session_id", "resource",
                  "metadata"),
}

got = {}
for line in sys.stdin:
    o = json.loads(line)
    if "table" in o:
        got.setdefault(o["table"], []).append(o["row"])
bad = 0
for table, rows in WANT.items():
    want = [r if isinstance(r, dict) else dict(zip(COLS[table], r)) for r in rows]
    have = got.get(table, [])
    if table == "agent_memory":  # the dump's order: by agent, session, key
        have = sorted(have, key=lambda r: (r["agent_id"], r["session_id"] or "", r["key"]))
        want = sorted(want, key=lambda r: (r["agent_id"], r["session_id"] or "", r["key"]))
    if len(have) != len(want):
        print("%s: %d row(s), want %d" % (table, len(have), len(want)))
        bad += 1
    for h, w in zip(have, want):
        if h != w:
            print("%s: got  %s\n%s  want %s" % (table, json.dumps(h, sort_keys=True), " " * len(table),
                                               json.dumps(w, sort_keys=True)))
            bad += 1
for table in ("secure_tokens", "revoked_jtis", "agent_credentials"):
    if got.get(table):
        print("%s: %d row(s), want none" % (table, len(got[table])))
        bad += 1
print("check_import: %s" % ("ok" if not bad else "%d difference(s)" % bad))
sys.exit(1 if bad else 0)
