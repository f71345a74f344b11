#!/usr/bin/env bash
# tests/cli/test_cli_mongo.sh — the ctxd command against the mongo fixture (the
# MongoDB emulator, or the real server named by CTXD_TEST_MONGODB_URL): db check
# before and after `migrate up` (schema, server version, round trip, pool figures,
# --json), migrate status and the refusal of down/to (MongoDB migrations only go up), db url, credentials (an authentication error, masked), TLS (the
# fixture's TLS front), and a server that is down giving exit 1 with the password masked.
source "$(dirname "$0")/lib.sh"
: "${CTXD_TEST_SERVERS:?run through ctest (needs the mongo fixture)}"
# shellcheck disable=SC1091
source "$CTXD_TEST_SERVERS/mongo.env"
# a database of our own on the fixture's server (the emulator keeps it in memory only)
BASE=${CTXD_TEST_MONGO_URL%%\?*}
URL="${BASE%/*}/ctxd_cli_$$_$RANDOM"
EXPECT=$("$CTXD" --database-url "$URL" migrate status 2>/dev/null | sed -n 's/.*this ctxd knows \([0-9]*\).*/\1/p')

run "$CTXD" --database-url "$URL" db check
check "MongoDB: db check before migrating is unhealthy (1) and says to migrate" \
  eval 'rc_is 1 && out_has "unhealthy" && out_has "migrate up" && out_has "schema version:  0"'
run "$CTXD" --database-url "$URL" migrate up
check "MongoDB: migrate up" eval 'rc_is 0 && out_has "schema is at version $EXPECT"'
run "$CTXD" --database-url "$URL" migrate status
check "MongoDB: migrate status lists the migrations, applied, up to date" \
  eval 'rc_is 0 && out_has "0001  init" && out_has "applied" && out_has "up to date"'
run "$CTXD" --database-url "$URL" migrate down
check "MongoDB: migrate down is a usage error (2): migrations only go up" \
  eval 'rc_is 2 && err_has "MongoDB migrations only go up"'
run "$CTXD" --database-url "$URL" migrate to "$EXPECT"
check "MongoDB: migrate to N is a usage error (2) too" eval 'rc_is 2 && err_has "only go up"'
run "$CTXD" --database-url "$URL" db check
check "MongoDB: db check healthy: backend, server version, schema, round trip, pool" \
  eval 'rc_is 0 && out_has "backend:         mongodb" && out_has "server version:  MongoDB " &&
        out_has "schema version:  $EXPECT (this ctxd expects $EXPECT)" && out_has "round trip:" &&
        out_has "status:          healthy" && out_has "pool:            size "'
run "$CTXD" --database-url "$URL?pool_size=3&max_overflow=2" db check --json
check "MongoDB: db check --json carries the pool settings of the URL" \
  eval 'rc_is 0 && out_has "\"status\": \"healthy\"" && out_has "\"size\": 3" && out_has "\"max_overflow\": 2" &&
        out_has "\"backend\": \"mongodb\""'
run "$CTXD" --database-url "$URL" db url
check "MongoDB: db url names the backend" eval 'rc_is 0 && out_has "backend:  mongodb"'

# a port nobody listens on: the server is down; the password never shows
DOWN="mongodb://ctxd:sekrit-pw-42@127.0.0.1:1/ctxd_cli?serverSelectionTimeoutMS=500"
run "$CTXD" --database-url "$DOWN" db check
check "MongoDB: db check on a server that is down exits 1, URL masked" \
  eval 'rc_is 1 && out_has "unhealthy" && out_has "cannot open" && out_has "127.0.0.1:1" &&
        out_lacks "sekrit-pw-42" && err_lacks "sekrit-pw-42"'
run "$CTXD" --database-url "$DOWN" migrate status
check "MongoDB: migrate on a server that is down: non-zero, one line, masked" \
  eval 'rc_not 0 && one_line_err && err_has "127.0.0.1:1" && err_lacks "sekrit-pw-42"'
# credentials and auth options go to libmongoc: it authenticates (SCRAM) before any
# command; the emulator's answer to SCRAM is not valid, so this must fail as an
# authentication error, password masked (against a real server: a wrong password)
HP=${BASE#mongodb://}; HP=${HP%%/*}
run "$CTXD" --database-url "mongodb://bob:sekrit-pw-43@$HP/ctxd_cli_auth?authSource=admin&authMechanism=SCRAM-SHA-256" migrate status
check "MongoDB: credentials are used (SCRAM): authentication failed, password masked" \
  eval 'rc_not 0 && err_has "authentication failed" && err_has "bob:***@" && err_lacks "sekrit-pw-43"'

# TLS options go to libmongoc as written: the emulator's TLS front with its CA works,
# the same port trusting only the system CAs fails, TLS to a plain port fails
if [[ -n "${CTXD_TEST_MONGO_TLS_URL:-}" ]]; then
  TLS_HP=${CTXD_TEST_MONGO_TLS_URL#mongodb://}; TLS_HP=${TLS_HP%%/*}
  TURL="mongodb://$TLS_HP/ctxd_cli_tls_$$?tls=true&tlsCAFile=$CTXD_TEST_MONGO_TLS_CA"
  run "$CTXD" --database-url "$TURL" migrate up
  check "MongoDB over TLS (tlsCAFile): migrate up" eval 'rc_is 0'
  run "$CTXD" --database-url "$TURL" db check
  check "MongoDB over TLS (tlsCAFile): db check healthy" eval 'rc_is 0 && out_has "status:          healthy"'
  run "$CTXD" --database-url "mongodb://$TLS_HP/ctxd_cli_tls_$$?tls=true&serverSelectionTimeoutMS=1000" db check
  check "MongoDB over TLS, certificate not trusted: unhealthy, exit 1" \
    eval 'rc_is 1 && out_has "unhealthy" && out_has "cannot open"'
  PLAIN_HP=${CTXD_TEST_MONGO_URL#mongodb://}; PLAIN_HP=${PLAIN_HP%%/*}
  run "$CTXD" --database-url "mongodb://$PLAIN_HP/ctxd_cli_tls_$$?tls=true&tlsCAFile=$CTXD_TEST_MONGO_TLS_CA&serverSelectionTimeoutMS=1000" migrate status
  check "MongoDB: tls=true against a server without TLS fails" eval 'rc_not 0 && out_lacks "schema version"'
fi
finish
