#!/usr/bin/env python3
"""tests/e2e/sqlite_lock.py — holds the write lock of a SQLite database from another
process, as a long writer elsewhere would: BEGIN IMMEDIATE, print "locked", then wait
until a line (or end of input) arrives on stdin or MAX_SECONDS pass, COMMIT, print
"released". Usage: sqlite_lock.py DB_FILE MAX_SECONDS
Must not: change the database (the transaction writes nothing)."""
import select
import sqlite3
import sys

con = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
con.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
select.select([sys.stdin], [], [], float(sys.argv[2]))
con.execute("COMMIT")
con.close()
try:
    print("released", flush=True)
except BrokenPipeError:  # the reader went away first
    pass
