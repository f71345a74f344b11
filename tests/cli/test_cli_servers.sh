#!/usr/bin/env bash
# tests/cli/test_cli_servers.sh — the ctxd command against real PostgreSQL and
# MariaDB servers (the test fixtures): migrate and db check work; a wrong
# password, an unknown database and a server that is down each give one clear
# line naming the URL with the password masked, and a non-zero exit.
source "$(dirname "$0")/lib.sh"
: "${CTXD_TEST_SERVERS:?run through ctest (needs the pg and mariadb fixtures)}"
# shellcheck disable=SC1091
source "$CTXD_TEST_SERVERS/pg.env"; source "$CTXD_TEST_SERVERS/mariadb.env"

PG_HOSTPORT=${CTXD_TEST_PG_URL#*@}; PG_HOSTPORT=${PG_HOSTPORT%%/*}
MY_HOSTPORT=${CTXD_TEST_MYSQL_URL#*@}; MY_HOSTPORT=${MY_HOSTPORT%%/*}
# a fresh database of our own on each server, so the fixture's stays untouched
DBN="ctxd_cli_$$_$RANDOM"
PGURL="postgresql://ctxd:ctxd@$PG_HOSTPORT/$DBN"
MYURL="mysql://ctxd:ctxd@$MY_HOSTPORT/$DBN"
PGPASSWORD=ctxd psql -q "postgresql://ctxd@$PG_HOSTPORT/ctxd_test" -c "CREATE DATABASE $DBN" >/dev/null
mariadb --no-defaults -h "${MY_HOSTPORT%:*}" -P "${MY_HOSTPORT#*:}" -uctxd -pctxd -e "CREATE DATABASE $DBN"
cleanup_dbs() {
  PGPASSWORD=ctxd psql -q "postgresql://ctxd@$PG_HOSTPORT/ctxd_test" -c "DROP DATABASE IF EXISTS $DBN WITH (FORCE)" >/dev/null 2>&1
  mariadb --no-defaults -h "${MY_HOSTPORT%:*}" -P "${MY_HOSTPORT#*:}" -uctxd -pctxd -e "DROP DATABASE IF EXISTS $DBN" >/dev/null 2>&1
}
trap 'cleanup_dbs; chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT

for kind in pg my; do
  if [[ $kind == pg ]]; then URL=$PGURL; NAME=PostgreSQL; HP=$PG_HOSTPORT; SCHEME=postgresql
  else URL=$MYURL; NAME=MariaDB; HP=$MY_HOSTPORT; SCHEME=mysql; fi

  run "$CTXD" --database-url "$URL" db check
  check "$NAME: db check before migrating is unhealthy (1) and says to migrate" eval 'rc_is 1 && out_has "migrate up"'
  run "$CTXD" --database-url "$URL" migrate up
  check "$NAME: migrate up" eval 'rc_is 0 && out_has "applied $LATEST migration"'
  run "$CTXD" --database-url "$URL" db check
  check "$NAME: db check healthy, server version shown" eval 'rc_is 0 && out_has "healthy" && out_has "server version:  $NAME"'
  run "$CTXD" --database-url "$URL" migrate status
  check "$NAME: migrate status" eval 'rc_is 0 && out_has "applied"'

  BAD="$SCHEME://ctxd:wrong-pw-123@$HP/$DBN"
  run "$CTXD" --database-url "$BAD" migrate up
  check "$NAME: wrong password: non-zero, one line, URL masked, no password" \
    eval 'rc_not 0 && one_line_err && err_has "***@$HP" && err_lacks "wrong-pw-123"'
  run "$CTXD" --database-url "$SCHEME://ctxd:ctxd@$HP/no_such_db_xyz" migrate up
  check "$NAME: unknown database: non-zero, one line, names it" \
    eval 'rc_not 0 && one_line_err && err_has "no_such_db_xyz" && err_lacks ":ctxd@"'
  # a port nobody listens on: the server is down
  DOWN=$SCHEME://ctxd:ctxd@127.0.0.1:1/$DBN
  run "$CTXD" --database-url "$DOWN?connect_timeout=2" migrate up
  check "$NAME: server down: non-zero, one line, URL masked" \
    eval 'rc_not 0 && one_line_err && err_has "127.0.0.1:1" && err_lacks ":ctxd@"'
  run "$CTXD" --database-url "$DOWN?connect_timeout=2" db check
  check "$NAME: db check on a server that is down exits 1" eval 'rc_is 1 && out_has "unhealthy"'
done

# serve on PostgreSQL: starts, reports ready, stops on SIGTERM
JWT_SECRET_KEY=cli-test-secret-0123456789abcdef0123 "$CTXD" --database-url "$PGURL" serve --port 0 >"$T/serve.out" 2>"$T/serve.err" & SPID=$!
for _ in $(seq 200); do grep -q "ready" "$T/serve.err" 2>/dev/null && break; sleep 0.05; done
CMDLINE=$(tr '\0' ' ' <"/proc/$SPID/cmdline")
kill -TERM $SPID; wait $SPID; RC=$?; OUT=$(cat "$T/serve.out"); ERR=$(cat "$T/serve.err")
check "serve on PostgreSQL: ready, exits 0 on SIGTERM, no password logged" \
  eval 'rc_is 0 && err_has "ready" && err_lacks ":ctxd@"'
OUT=$CMDLINE
check "serve on PostgreSQL: the password is not in /proc/PID/cmdline (what ps shows)" \
  eval 'out_lacks "ctxd:ctxd@" && out_has "postgresql://ctxd:***@$PG_HOSTPORT/$DBN"'

finish
