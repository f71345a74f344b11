#!/usr/bin/env bash
# tests/cli/test_cli_bad_input.sh — bad input from the command line, the
# environment and files: unknown scheme, malformed URL, missing directory,
# read-only file, a file that is not a database, bad variables. Each must give
# a clear error naming the problem, a non-zero exit, no secret in the output,
# and leave every existing file exactly as it was.
source "$(dirname "$0")/lib.sh"

run "$CTXD" --database-url 'oracle://scott:tiger@db/x' db check
check "unknown scheme: non-zero, names the scheme, masks the password" \
  eval 'rc_not 0 && err_has "oracle" && err_lacks "tiger"'

run "$CTXD" --database-url 'postgresql://bob:hunter22@[::1:5432/app' migrate up
check "malformed URL (unterminated IPv6): non-zero, one line, password masked" \
  eval 'rc_not 0 && one_line_err && err_lacks "hunter22"'

run "$CTXD" --database-url 'postgresql://bob:hunter22@db:99999/app' db url
check "port out of range is refused" eval 'rc_not 0 && err_has "port" && err_lacks "hunter22"'

run "$CTXD" --database-url 'not a url' db url
check "text that is not a URL" eval 'rc_not 0 && one_line_err'

DATABASE_URL='ftp://x' run "$CTXD" db url
check "bad DATABASE_URL in the environment names the variable" eval 'rc_not 0 && err_has "DATABASE_URL"'

run "$CTXD" --database-url "sqlite:///$T/no/such/dir/ctx.db" migrate up
check "missing directory: non-zero, names the path, creates nothing" \
  eval 'rc_not 0 && err_has "$T/no/such/dir" && [[ ! -e $T/no ]]'

# a file that is not a database must be refused and left byte-for-byte intact
head -c 8192 /dev/urandom > "$T/garbage.db"; cp "$T/garbage.db" "$T/garbage.orig"
run "$CTXD" --database-url "sqlite:///$T/garbage.db" migrate up
check "not a database: non-zero and says so" eval 'rc_not 0 && err_has "not an SQLite database"'
check "not a database: file unchanged" cmp -s "$T/garbage.db" "$T/garbage.orig"
check "not a database: no -wal/-journal left behind" eval '[[ ! -e $T/garbage.db-wal && ! -e $T/garbage.db-journal ]]'
run "$CTXD" --database-url "sqlite:///$T/garbage.db" db check
check "db check on a non-database is unhealthy (1)" eval 'rc_is 1 && out_has "not an SQLite database"'
check "db check left it unchanged" cmp -s "$T/garbage.db" "$T/garbage.orig"

# a text file (e.g. someone pointed DATABASE_PATH at their notes)
printf 'my notes\nline two\n' > "$T/notes.txt"; cp "$T/notes.txt" "$T/notes.orig"
DATABASE_PATH="$T/notes.txt" run "$CTXD" migrate up
check "text file as database refused, unchanged" eval 'rc_not 0 && cmp -s "$T/notes.txt" "$T/notes.orig"'

# the path is a directory
mkdir -p "$T/adir"
run "$CTXD" --database-url "sqlite:///$T/adir" migrate up
check "a directory as database file is refused" eval 'rc_not 0 && err_has "$T/adir"'

# read-only database file: writes refused clearly, contents intact. Root ignores
# file modes, so the write attempt runs as an unprivileged user when we are root.
"$CTXD" --database-url "sqlite:///$T/ro.db" migrate up >/dev/null 2>&1
"$CTXD" --database-url "sqlite:///$T/ro.db" migrate down >/dev/null 2>&1
chmod 0444 "$T/ro.db"; cp "$T/ro.db" "$T/ro.orig"
AS=()
if [[ $(id -u) -eq 0 ]]; then
  chmod 0755 "$T"; cp "$CTXD" "$T/ctxd-bin"; chmod 0755 "$T/ctxd-bin"
  AS=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
  BIN="$T/ctxd-bin"
else
  BIN="$CTXD"
fi
run "${AS[@]}" "$BIN" --database-url "sqlite:///$T/ro.db" migrate up
check "read-only file: migrate up fails, non-zero, says read-only" \
  eval 'rc_not 0 && (err_has "read-only" || err_has "readonly" || err_has "permission")'
check "read-only file: contents unchanged" cmp -s "$T/ro.db" "$T/ro.orig"
run "$CTXD" --database-url "sqlite:///$T/ro.db?mode=ro" migrate up
check "?mode=ro: migrate up refused clearly" eval 'rc_not 0 && (err_has "read-only" || err_has "readonly")'
check "?mode=ro: contents unchanged" cmp -s "$T/ro.db" "$T/ro.orig"

# configuration variables are validated and named
DB_POOL_SIZE=abc run "$CTXD" db url
check "DB_POOL_SIZE=abc names the variable and the source" eval 'rc_not 0 && err_has "DB_POOL_SIZE" && err_has "environment"'
DB_POOL_TIMEOUT=-5 run "$CTXD" db url
check "DB_POOL_TIMEOUT out of range" eval 'rc_not 0 && err_has "DB_POOL_TIMEOUT"'
DATABASE_TYPE=oracle run "$CTXD" db url
check "DATABASE_TYPE unknown lists the choices" eval 'rc_not 0 && err_has "DATABASE_TYPE" && err_has "postgresql"'
DATABASE_TYPE=supabase run "$CTXD" db url
check "DATABASE_TYPE=supabase without SUPABASE_URL names it" eval 'rc_not 0 && err_has "SUPABASE_URL"'
DATABASE_TYPE=supabase SUPABASE_URL=https://abcd.supabase.co SUPABASE_DB_PASSWORD='pa ss@w0rd' run "$CTXD" db url
check "supabase URL built with sslmode=require, password hidden" \
  eval 'rc_is 0 && out_has "sslmode=require" && out_lacks "w0rd" && out_has "db.abcd.supabase.co"'
printf 'THIS IS NOT AN ASSIGNMENT\n' > "$T/bad.env"
run "$CTXD" --env-file "$T/bad.env" db url
check "malformed .env line is reported with its line number" eval 'rc_not 0 && err_has "line 1"'
printf 'API_KEY=topsecret-value\nDB_POOL_SIZE=zero\n' > "$T/secret.env"
run "$CTXD" --env-file "$T/secret.env" db url
check "errors never echo secrets from .env" eval 'rc_not 0 && err_lacks "topsecret-value" && err_has "DB_POOL_SIZE"'
run "$CTXD" --database-url "sqlite:///$T/x.db?pool_size=lots" db url
check "bad URL option names the option" eval 'rc_not 0 && err_has "pool_size"'
run "$CTXD" --database-url "sqlite:///$T/x.db?pool_size=lots" migrate status
check "bad URL option refused when opening" eval 'rc_not 0 && err_has "pool_size"'

run "$CTXD" --database-url "sqlite:///$T/opt.db?jornal_mode=wal" migrate up
check "unknown SQLite URL option named, as on PostgreSQL and MySQL; no file made" \
  eval 'rc_not 0 && one_line_err && err_has "jornal_mode" && [[ ! -e $T/opt.db ]]'

# MongoDB URLs libmongoc refuses: its reason, the password masked, nothing contacted
run "$CTXD" --database-url "mongodb://u:pw-sekrit-5@h/x?tls=maybe" migrate status
check "MongoDB URL with a bad option value: the reason, password masked" \
  eval 'rc_not 0 && one_line_err && err_has "not a valid MongoDB URI" && err_has "tls" && err_lacks "pw-sekrit-5"'
run "$CTXD" --database-url "mongodb+srv://u:pw-sekrit-5@localhost/x" migrate status
check "mongodb+srv URL with a host that cannot name a service: the reason, password masked" \
  eval 'rc_not 0 && one_line_err && err_has "service name" && err_lacks "pw-sekrit-5"'
run "$CTXD" --database-url "mongodb://h/x?transactions=maybe" migrate status
check "MongoDB transactions= option names the allowed values" \
  eval 'rc_not 0 && one_line_err && err_has "transactions=maybe" && err_has "auto, on or off"'

finish
