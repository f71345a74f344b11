#!/usr/bin/env bash
# tests/cli/test_cli.sh — the commands a user runs: --help everywhere, migrate
# status/up/down/to, db check (exit 0 healthy / 1 not), db url (masked, sources),
# configuration precedence (.env < environment < flag), ctxd agent.
source "$(dirname "$0")/lib.sh"

run "$CTXD" --help;            check "--help exits 0 and lists commands" eval 'rc_is 0 && out_has "migrate" && out_has "serve"'
run "$CTXD" migrate --help;    check "migrate --help" eval 'rc_is 0 && out_has "to N"'
run "$CTXD" db --help;         check "db --help" eval 'rc_is 0 && out_has "check"'
run "$CTXD" serve --help;      check "serve --help" eval 'rc_is 0 && out_has "--no-migrate"'
run "$CTXD" --version;         check "--version names the version and the four backends built in" eval 'rc_is 0 && out_has "ctxd " && out_has "backends: sqlite postgresql mysql mongodb)"'
run "$CTXD";                   check "no command is a usage error (2)" rc_is 2
run "$CTXD" frobnicate;        check "unknown command exits 2 and names it" eval 'rc_is 2 && err_has "frobnicate"'
run "$CTXD" --bogus db url;    check "unknown option exits 2 and names it" eval 'rc_is 2 && err_has "--bogus"'
run "$CTXD" --set A=1 --pool-size; check "an option missing its value exits 2 and names it" eval 'rc_is 2 && err_has "--pool-size"'
run "$CTXD" migrate sideways;  check "unknown migrate subcommand exits 2" eval 'rc_is 2 && err_has "sideways"'
run "$CTXD" migrate to abc;    check "migrate to needs a number" eval 'rc_is 2 && err_has "version"'
# command options: one table-driven reader (cli_args.c) for every command
run "$CTXD" setup --file;      check "a command option missing its value exits 2 and names it" eval 'rc_is 2 && err_has "--file needs a value"'
run "$CTXD" serve --port 99999; check "serve --port out of range exits 2 with the range" eval 'rc_is 2 && err_has "--port" && err_has "0..65535"'
run "$CTXD" serve --host;      check "serve --host without a value exits 2" eval 'rc_is 2 && err_has "--host needs a value"'
run "$CTXD" db url --bogus;    check "db: unknown option exits 2 and names it" eval 'rc_is 2 && err_has "--bogus"'
run "$CTXD" client-config cursor extra; check "client-config: one client only" eval 'rc_is 2 && err_has "unexpected argument '"'"'extra'"'"'"'
run "$CTXD" import --batch=0 x.jsonl; check "import --batch=0 exits 2 with the range" eval 'rc_is 2 && err_has "1..1000000"'

# default database: ./chat_history.db in the working directory
run "$CTXD" db url;            check "db url defaults to ./chat_history.db" eval 'rc_is 0 && out_has "chat_history.db" && out_has "sqlite"'
run "$CTXD" db check;          check "db check on a missing default file is unhealthy (1) and creates nothing" eval 'rc_is 1 && [[ ! -e chat_history.db ]]'
run "$CTXD" migrate status;    check "migrate status on a new database shows pending 0001" eval 'rc_is 0 && out_has "pending" && out_has "init"'
run "$CTXD" migrate up;        check "migrate up applies" eval 'rc_is 0 && out_has "applied $LATEST migration"'
run "$CTXD" migrate up;        check "migrate up again is a no-op" eval 'rc_is 0 && out_has "applied 0"'
run "$CTXD" db check;          check "db check healthy after migrate" eval 'rc_is 0 && out_has "healthy" && out_has "schema version:  $LATEST (this ctxd expects $LATEST)" && out_has "round trip"'
run "$CTXD" db check --json;   check "db check --json" eval 'rc_is 0 && out_has "\"status\": \"healthy\"" && out_has "\"pool\""'
run "$CTXD" migrate status;    check "status shows applied" eval 'rc_is 0 && out_has "applied"'
run "$CTXD" migrate down;      check "migrate down reverts one" eval 'rc_is 0 && out_has "reverted 1"'
run "$CTXD" db check;          check "db check unhealthy when schema is behind, says what to run" eval 'rc_is 1 && out_has "migrate up"'
run "$CTXD" migrate to 1;      check "migrate to 1" eval 'rc_is 0'
run "$CTXD" migrate to 0;      check "migrate to 0" eval 'rc_is 0'
run "$CTXD" migrate to 7;      check "migrate to an unknown version fails clearly" eval 'rc_not 0 && err_has "7"'

# precedence: .env < environment < flag, and db url says where each came from
mkdir -p sub && cd sub
printf 'DATABASE_PATH=%s\nDB_POOL_SIZE=3\n' "$T/from-dotenv.db" > .env
run "$CTXD" db url;            check ".env is read" eval 'rc_is 0 && out_has "from-dotenv.db" && out_has ".env"'
DB_POOL_SIZE=4 run "$CTXD" db url
check "environment beats .env" eval 'out_has "4" && out_has "environment"'
DB_POOL_SIZE=4 run "$CTXD" --pool-size 6 db url
check "flag beats environment" eval 'grep -E "DB_POOL_SIZE +6 " <<<"$OUT" >/dev/null'
run "$CTXD" --env-file "$T/nonexistent.env" db url
check "an explicit --env-file that does not exist is an error" rc_not 0
cd "$T"

# passwords never printed
run "$CTXD" --database-url 'postgresql://bob:s3cretpw@db.example.com:5432/app?sslmode=require' db url
check "db url masks the password" eval 'rc_is 0 && out_lacks "s3cretpw" && out_has "***" && out_has "postgresql"'
run "$CTXD" --database-url 'postgresql://bob:s3cretpw@db.example.com:5432/app' db url --json
check "db url --json masks the password" eval 'rc_is 0 && out_lacks "s3cretpw" && out_has "\"backend\": \"postgresql\""'

# an on-disk file and the in-memory form
run "$CTXD" --database-url "sqlite:///$T/x.db" migrate up
check "explicit sqlite URL (relative form with absolute path)" eval 'rc_is 0 && [[ -s $T/x.db ]]'
run "$CTXD" --database-url "sqlite:///:memory:" migrate up
check "in-memory database migrates" eval 'rc_is 0 && out_has "applied $LATEST migration"'

# serve: starts, migrates, stops cleanly on SIGTERM
JWT_SECRET_KEY=cli-test-secret-0123456789abcdef0123 "$CTXD" --database-url "sqlite:///$T/serve.db" serve --port 0 >"$T/serve.out" 2>"$T/serve.err" & SPID=$!
for _ in $(seq 200); do grep -q "ready" "$T/serve.err" 2>/dev/null && break; sleep 0.05; done
kill -TERM $SPID; wait $SPID; RC=$?; OUT=$(cat "$T/serve.out"); ERR=$(cat "$T/serve.err")
check "serve migrates, reports ready, exits 0 on SIGTERM" eval 'rc_is 0 && err_has "ready" && err_has "shutting down"'
run "$CTXD" --database-url "sqlite:///$T/serve.db" db check
check "database prepared by serve is healthy" rc_is 0

# secrets given on the command line do not stay visible to other users (ps reads
# /proc/PID/cmdline): values of secret variables are hidden, passwords in URLs masked
: >"$T/serve.err" # the wait below must not find the first serve's "ready"
"$CTXD" --database-url "sqlite:///$T/serve.db" --set "JWT_SECRET_KEY=argv-jwt-secret-0123456789abcdef0123" \
  --set API_KEY=argv-api-key-s3cret --set "DATABASE_URL=postgresql://u:argv-db-pw@127.0.0.1:1/x" \
  --database-url="sqlite:///$T/serve.db" serve --port 0 >"$T/serve.out" 2>"$T/serve.err" & SPID=$!
for _ in $(seq 200); do grep -q "ready" "$T/serve.err" 2>/dev/null && break; sleep 0.05; done
CMDLINE=$(tr '\0' ' ' <"/proc/$SPID/cmdline")
kill -TERM $SPID; wait $SPID; RC=$?; OUT=$CMDLINE; ERR=$(cat "$T/serve.err")
check "serve with secrets in argv: ready, and /proc/PID/cmdline shows none of them" \
  eval 'rc_is 0 && err_has "ready" && out_lacks "argv-jwt-secret" && out_lacks "argv-api-key" &&
        out_lacks "argv-db-pw" && out_has "JWT_SECRET_KEY=" && out_has "DATABASE_URL=postgresql://u:" &&
        out_has "serve --port 0"'

# ctxd agent: the command line and its errors (the keys at work: tests/e2e/agent_keys.mjs)
A="sqlite:///$T/agents.db"
run "$CTXD" agent --help;      check "agent --help names every subcommand" eval 'rc_is 0 && out_has "add NAME --type T" && out_has "rotate NAME" && out_has "X-API-Key"'
run "$CTXD" agent;             check "agent without a subcommand is a usage error (2)" rc_is 2
run "$CTXD" agent frob;        check "agent: unknown subcommand exits 2 and names it" eval 'rc_is 2 && err_has "frob"'
run "$CTXD" agent add;         check "agent add needs the agent id" eval 'rc_is 2 && err_has "agent id"'
run "$CTXD" --database-url "$A" agent list; check "agent list on an unmigrated database says what to run" eval 'rc_is 1 && err_has "migrate up"'
run "$CTXD" --database-url "$A" migrate up
run "$CTXD" --database-url "$A" agent add alice; check "agent add needs --type" eval 'rc_is 2 && err_has "--type"'
run "$CTXD" --database-url "$A" agent add alice --type claude --permissions read,owner; check "agent add: an unknown permission exits 2 and names it" eval 'rc_is 2 && err_has "owner"'
run "$CTXD" --database-url "$A" agent add alice --type claude; KEY1=$OUT
check "agent add prints one key on stdout, and what it is for on stderr" eval 'rc_is 0 && [[ $OUT =~ ^ctxd_ak_[A-Za-z0-9_-]{43}$ ]] && err_has "read,write" && err_has "X-API-Key"'
run "$CTXD" --database-url "$A" agent add alice --type claude; check "agent add twice: exit 1, says to rotate" eval 'rc_is 1 && err_has "rotate"'
run "$CTXD" --database-url "$A" agent add root --type admin --permissions read,admin; check "agent add with permissions" eval 'rc_is 0 && err_has "read,admin"'
run "$CTXD" --database-url "$A" agent list; check "agent list shows the agents, never a key" eval 'rc_is 0 && out_has "alice" && out_has "root" && out_has "active" && out_lacks "ctxd_ak_"'
run "$CTXD" --database-url "$A" agent revoke nobody; check "agent revoke of an agent without a credential: exit 1, named" eval 'rc_is 1 && err_has "nobody"'
run "$CTXD" --database-url "$A" agent revoke alice; check "agent revoke" eval 'rc_is 0 && out_has "revoked"'
run "$CTXD" --database-url "$A" agent list --json; check "agent list --json shows the state" eval 'rc_is 0 && out_has "\"state\": \"revoked\""'
run "$CTXD" --database-url "$A" agent rotate alice; check "agent rotate prints a new key" eval 'rc_is 0 && [[ $OUT =~ ^ctxd_ak_ ]] && [[ $OUT != "$KEY1" ]]'
check "no key is stored in the database file" eval '! grep -qF "$KEY1" "$T/agents.db" && ! grep -qF "$OUT" "$T/agents.db"'

finish
