#!/usr/bin/env bash
# bench/run_http.sh — the HTTP part of `make bench`: starts `ctxd serve` of BUILD_DIR on a
# temp SQLite file (or, with CTXD_BENCH_HTTP_DB=pg|mariadb, on a throw-away PostgreSQL or
# MariaDB server started with tests/servers/server.sh in the temp dir and stopped again;
# CTXD_BENCH_PG_URL / CTXD_BENCH_MYSQL_URL, when set, are used instead of starting one)
# and a free loopback port with a generated API_KEY and JWT_SECRET_KEY,
# waits for GET /health, runs bench/bench_http against it (passing the server's pid so the
# table shows the server's CPU share) and stops the server with SIGTERM (also on failure
# or Ctrl-C). When this build's `ctxd serve` has no HTTP transport yet, it falls back to
# `bench_http --inproc` (the same app and transport hosted inside the generator).
# Without arguments: the closed-loop table (1/16/64/256 clients x 3 tools), then an
# open-loop check of the goal (10,000 add_message/s offered by 64 clients). Arguments
# replace both and go to bench_http (e.g. --clients 64 --seconds 10 --tools add_message).
# CTXD_BENCH_SERVE_ENV: extra NAME=VALUE words for the server's environment (e.g.
# "DB_POOL_SIZE=20 DB_MAX_OVERFLOW=10"); nothing else of the caller's environment leaks in.
#   bench/run_http.sh BUILD_DIR [bench_http arguments...]
# Must not: listen anywhere but 127.0.0.1, touch a server or database it did not
# start, leave the server or the temp dir behind, or be run as a test.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: bench/run_http.sh BUILD_DIR [bench_http arguments...]}
shift
bin="$build/bench/bench_http"
ctxd="$build/ctxd"
[[ -x "$bin" ]] || { echo "bench/run_http.sh: $bin not found (build first)" >&2; exit 1; }
[[ -x "$ctxd" ]] || { echo "bench/run_http.sh: $ctxd not found (build first)" >&2; exit 1; }

if ! "$ctxd" serve --help 2>&1 | grep -q 'HTTP_PORT' ||
   "$ctxd" serve --help 2>&1 | grep -q 'not built in yet'; then
  echo "bench/run_http.sh: this ctxd serve has no HTTP transport: using bench_http --inproc" >&2
  exec "$bin" --inproc "$@"
fi

state=$(mktemp -d /tmp/ctxd-bench-http.XXXXXX)
pid=
dbserver=
servers="$here/../tests/servers/server.sh"
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { echo "bench/run_http.sh: server ignored SIGTERM, killing" >&2; kill -KILL "$pid" || true; }
    wait "$pid" 2>/dev/null || true
  fi
  [[ -z "$dbserver" ]] || "$servers" stop "$dbserver" "$state/servers" || true
  rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free port: ask the kernel for an ephemeral one (bound and released at once).
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null ||
       echo $((20000 + RANDOM % 20000)))
api_key=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
jwt_key=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

# The database: a temp SQLite file, or a server of our own (the fixtures reuse CTXD_TEST_*
# URLs when set; the benchmark wants its own servers, as bench/run.sh does).
unset CTXD_TEST_PG_URL CTXD_TEST_PG_ADMIN_URL CTXD_TEST_MYSQL_URL
# server_db NAME URL_VAR GIVEN_URL: GIVEN_URL, else a server of our own (stopped by cleanup)
server_db() {
  if [[ -n "$3" ]]; then db_url=$3; return; fi
  dbserver=$1
  "$servers" start "$1" "$state/servers" >&2
  # shellcheck disable=SC1090
  db_url=$(. "$state/servers/$1.env" && echo "${!2}")
}
case "${CTXD_BENCH_HTTP_DB:-sqlite}" in
  sqlite) db_url="sqlite:///$state/ctxd.db" ;;
  pg) server_db pg CTXD_TEST_PG_URL "${CTXD_BENCH_PG_URL:-}" ;;
  mariadb) server_db mariadb CTXD_TEST_MYSQL_URL "${CTXD_BENCH_MYSQL_URL:-}" ;;
  *) echo "bench/run_http.sh: CTXD_BENCH_HTTP_DB=${CTXD_BENCH_HTTP_DB}: expected sqlite, pg or mariadb" >&2
     exit 2 ;;
esac
read -r -a serve_env <<<"${CTXD_BENCH_SERVE_ENV:-}"

# Only what the benchmark needs; nothing of the caller's ctxd configuration leaks in.
# The rate limiter stays in the request path with a limit the benchmark cannot reach.
env -i PATH="$PATH" HOME="$state" \
  DATABASE_URL="$db_url" HTTP_HOST=127.0.0.1 HTTP_PORT="$port" \
  API_KEY="$api_key" JWT_SECRET_KEY="$jwt_key" LOG_LEVEL="${CTXD_BENCH_LOG_LEVEL:-warning}" \
  RATE_LIMIT_PER_MINUTE=60000000 RATE_LIMIT_BURST=1000000 ${serve_env[@]+"${serve_env[@]}"} \
  "$ctxd" serve >"$state/server.log" 2>&1 &
pid=$!

ready=
for _ in $(seq 1 200); do   # up to 20 s
  kill -0 "$pid" 2>/dev/null || break
  # shellcheck disable=SC2016  # $1 expands in the inner shell
  if timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" &&
        printf "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" >&3 &&
        head -n1 <&3 | grep -q " 200"' _ "$port" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.1
done
if [[ -z "$ready" ]]; then
  echo "bench/run_http.sh: ctxd serve did not become ready on 127.0.0.1:$port; its log:" >&2
  cat "$state/server.log" >&2
  exit 1
fi

echo "# ctxd serve (pid $pid) on 127.0.0.1:$port, database ${db_url//:ctxd@/:***@}${CTXD_BENCH_SERVE_ENV:+, $CTXD_BENCH_SERVE_ENV}"
rc=0
export CTXD_BENCH_API_KEY="$api_key"
if [[ $# -gt 0 ]]; then
  "$bin" --port "$port" --server-pid "$pid" "$@" || rc=$?
else
  # the table (closed loop), then the goal of issue 4 as an open-loop check: 10,000
  # add_message/s offered by 64 clients (p99 should stay under 5 ms)
  "$bin" --port "$port" --server-pid "$pid" || rc=$?
  echo
  [[ $rc -ne 0 ]] || "$bin" --port "$port" --server-pid "$pid" --clients 64 --tools add_message \
    --rate 10000 --seconds 3 --seed 0 || rc=$?
fi
if [[ $rc -ne 0 ]]; then
  echo "bench/run_http.sh: bench_http failed ($rc); server log tail:" >&2
  tail -n 20 "$state/server.log" >&2
fi
exit $rc
