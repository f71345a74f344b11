#!/usr/bin/env bash
# tests/cli/test_cli_files.sh — files ctxd creates hold credentials (protected
# tokens, the audit log, every message): the SQLite database, its -wal and -shm
# files, and `ctxd export` dumps are created readable by their owner only (0600),
# whatever the umask allows, and an existing file's mode is left as the operator set it.
source "$(dirname "$0")/lib.sh"

mode() { stat -c %a "$1"; }
umask 022

run "$CTXD" --database-url "sqlite:///$T/new.db" migrate up
check "migrate up creates the database" eval 'rc_is 0 && [[ -f $T/new.db ]]'
check "a new SQLite file is 0600" eval '[[ $(mode "$T/new.db") == 600 ]]'
# While a server has the database open, its -wal and -shm files exist: they must
# be 0600 too. (A stdio server on a FIFO stays up until the FIFO is closed.)
mkfifo "$T/in"
JWT_SECRET_KEY=cli-files-test-secret-0123456789abcdefghijkl API_KEY=cli-files-test-key-0123456789 \
  "$CTXD" --database-url "sqlite:///$T/new.db" serve --stdio <"$T/in" >/dev/null 2>&1 &
SRV=$!
exec 9>"$T/in"
for _ in $(seq 1 200); do [[ -e $T/new.db-wal && -e $T/new.db-shm ]] && break; sleep 0.05; done
for f in "$T/new.db-wal" "$T/new.db-shm"; do
  check "$(basename "$f") exists while serving, and is 0600" eval '[[ -e $f && $(mode "$f") == 600 ]]'
done
exec 9>&-
wait "$SRV"

run "$CTXD" --database-url "sqlite:///$T/new.db" export --out "$T/dump.jsonl"
check "export writes the dump" eval 'rc_is 0 && [[ -s $T/dump.jsonl ]]'
check "an export dump is 0600" eval '[[ $(mode "$T/dump.jsonl") == 600 ]]'

# the operator's choice on an existing file is kept
: > "$T/shared.db"; chmod 0640 "$T/shared.db"
run "$CTXD" --database-url "sqlite:///$T/shared.db" migrate up
check "an existing (empty) file keeps its mode" eval 'rc_is 0 && [[ $(mode "$T/shared.db") == 640 ]]'

finish
