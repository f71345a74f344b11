#!/usr/bin/env bash
# tests/scs/test_import_scs.sh — `ctxd import-scs` as a user runs it, on real files: a
# database shaped as shared-context-server's (make_scs_db.py, every kind of row in every
# encoding it stores) is imported into a fresh ctxd database, SQLite (`sqlite`) or a
# database of its own on the PostgreSQL fixture (`pg`), and the target's `ctxd export` is
# checked row by row (check_import.py). Also: the source file is byte-identical afterwards
# and nothing is left beside it; a dry run writes nothing; anything that is not
# shared-context-server's database is refused naming what was expected; the source itself
# as target is refused; a target holding other data is refused unless --allow-nonempty; a
# second run writes nothing; a run after an interruption (the target holding only part of
# the rows) completes it.
# Usage: test_import_scs.sh path/to/ctxd sqlite|pg
# Must not: touch a database it did not create.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../cli/lib.sh"
MODE=${2:-sqlite}
py() { python3 "$@"; }

if [[ $MODE == pg ]]; then
  : "${CTXD_TEST_SERVERS:?run through ctest (needs the pg fixture)}"
  # shellcheck disable=SC1091
  source "$CTXD_TEST_SERVERS/pg.env"
  PG_HOSTPORT=${CTXD_TEST_PG_URL#*@}; PG_HOSTPORT=${PG_HOSTPORT%%/*}
  DBN="ctxd_scs_$$_$RANDOM"
  new_target() { # new_target NAME: a fresh empty database; sets TARGET
    PGPASSWORD=ctxd psql -q "postgresql://ctxd@$PG_HOSTPORT/ctxd_test" -c "CREATE DATABASE ${DBN}_$1" >/dev/null
    DBS+=("${DBN}_$1"); TARGET="postgresql://ctxd:ctxd@$PG_HOSTPORT/${DBN}_$1"; }
  tsql() { PGPASSWORD=ctxd psql -q "${TARGET/ctxd:ctxd@/ctxd@}" -c "$1" >/dev/null; }
  DBS=()
  trap 'for d in "${DBS[@]}"; do PGPASSWORD=ctxd psql -q "postgresql://ctxd@$PG_HOSTPORT/ctxd_test" -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1; done; rm -rf "$T"' EXIT
else
  new_target() { TARGET="sqlite:///$T/$1.db"; }
  tsql() { py -c 'import sqlite3,sys; d=sqlite3.connect(sys.argv[1]); d.executescript(sys.argv[2]); d.commit()' "${TARGET#sqlite:///}" "$1"; }
fi

py "$HERE/make_scs_db.py" scs.db
SUM=$(sha256sum scs.db)
imp() { run "$CTXD" --database-url "$TARGET" import-scs "$@"; }
exported() { "$CTXD" --database-url "$TARGET" export 2>/dev/null | py "$HERE/check_import.py"; }

# ---- what is not shared-context-server's database ----
new_target refused
run "$CTXD" --database-url sqlite:///./ctxd.db migrate up
imp ./ctxd.db
check "a ctxd database is refused, named as such" eval 'rc_is 1 && err_has "is a ctxd database" && err_has "ctxd copy"'
py -c 'import sqlite3; d=sqlite3.connect("other.db"); d.execute("CREATE TABLE notes (id INTEGER)"); d.commit()'
imp ./other.db
check "another SQLite file is refused, saying what was expected" eval 'rc_is 1 && err_has "not a shared-context-server database: it has no table sessions" && err_has "chat_history.db"'
py -c 'import sqlite3; d=sqlite3.connect("old.db"); d.executescript("CREATE TABLE sessions (id TEXT, purpose TEXT, created_by TEXT, created_at TIMESTAMP); CREATE TABLE messages (id INTEGER, session_id TEXT, sender TEXT, content TEXT)"); d.commit()'
imp ./old.db
check "a table without its columns is refused, naming them" eval 'rc_is 1 && err_has "table messages has no column timestamp"'
echo "not a database at all, just some text that is long enough to be a header" >text.db
imp ./text.db
check "a file that is not a database is refused" eval 'rc_is 1 && err_has "not an SQLite database"'
imp ./missing.db
check "a missing file is refused, not created" eval 'rc_is 1 && err_has "missing.db" && [[ ! -e missing.db ]]'
imp "postgresql://u:secret@127.0.0.1:1/x"
check "a server source is refused (only the SQLite file is read), password masked" eval 'rc_is 1 && err_has "not supported" && err_lacks secret'
imp
check "no SOURCE: usage error" eval 'rc_is 2 && err_has "import-scs needs SOURCE"'
run "$CTXD" import-scs --help
check "--help describes the command" eval 'rc_is 0 && out_has "Usage: ctxd import-scs SOURCE" && out_has "--dry-run"'
run "$CTXD" --database-url "sqlite:///$T/scs.db" import-scs ./scs.db
check "the source itself as target is refused" eval 'rc_is 1 && err_has "shared-context-server file itself"'

# ---- dry run, import, the rows ----
new_target main
imp ./scs.db --dry-run
check "dry run: reports every kind and writes nothing" eval 'rc_is 0 && out_has "dry run: would import" && out_has "messages       9 read, 8 to import (6 with a warning), 1 skipped" && out_has "19 row(s) would be written, 0 already present; nothing written"'
imp ./scs.db
check "import: counts per kind, skipped, dropped, converted with a warning" eval 'rc_is 0 && out_has "sessions       3 read, 3 imported (2 with a warning)" && out_has "agent_memory   9 read, 5 imported (1 with a warning), 4 skipped" && out_has "secure_tokens  2 read, 2 dropped" && out_has "2 expired memory" && out_has "19 row(s) written, 0 already present"'
check "import: verified table by table" eval 'out_has "verify: messages       ok      8 row(s)" && out_lacks DIFFERS'
check "import: warnings name the row and what was done" eval 'err_has "warning: messages id 4: metadata is not valid JSON; its text kept under \"scs_metadata\"" && err_has "warning: agent_memory id 6 (agent carol, key bad): value is not valid JSON; kept as a string"'
run exported
check "every row arrived converted (ctxd export)" eval 'rc_is 0'
[[ $RC -eq 0 ]] || echo "$OUT"
check "the source is byte-identical" eval '[[ "$(sha256sum scs.db)" == "$SUM" ]]'
check "nothing is left beside the source (no -wal, -shm)" eval '[[ ! -e scs.db-wal && ! -e scs.db-shm ]]'
imp ./scs.db
check "a second run writes nothing and verifies" eval 'rc_is 0 && out_has "0 row(s) written, 19 already present" && out_lacks DIFFERS'

# ---- interrupted, then run again ----
new_target resumed
imp ./scs.db --batch 2
# what an interrupted import leaves: the batches committed before it stopped
tsql "DELETE FROM audit_log; DELETE FROM agent_memory; DELETE FROM messages WHERE id > 3;"
imp ./scs.db
check "after an interruption the same command completes the import" eval 'rc_is 0 && out_has "13 row(s) written, 6 already present" && out_lacks DIFFERS'
run exported
check "... with every row converted" eval 'rc_is 0'

# ---- a target holding other data ----
tsql "UPDATE sessions SET purpose = 'changed here' WHERE id = 'session_aaaaaaaaaaaaaaaa';"
imp ./scs.db
check "a target holding other data is refused" eval 'rc_is 1 && err_has "is not empty" && err_has "--allow-nonempty"'
new_target second
py "$HERE/make_scs_db.py" other_scs.db --other
imp ./other_scs.db
check "another import into a fresh target" eval 'rc_is 0'
imp ./scs.db
check "... then this one is refused there" eval 'rc_is 1 && err_has "is not empty"'
imp ./scs.db --allow-nonempty
check "... and merged with --allow-nonempty" eval 'rc_is 0 && out_has "19 row(s) written" && out_has "held other data"'
check "the source is still byte-identical" eval '[[ "$(sha256sum scs.db)" == "$SUM" ]]'
finish
