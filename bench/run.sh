#!/usr/bin/env bash
# bench/run.sh — what `make bench` runs: starts throw-away PostgreSQL and MariaDB
# servers with tests/servers/server.sh in a temp state dir, runs bench_store of
# BUILD_DIR against SQLite and both servers, and stops the servers again (also on
# failure or Ctrl-C). CTXD_BENCH_PG_URL / CTXD_BENCH_MYSQL_URL, when set, are used
# instead of starting that server. Extra arguments go to bench_store. At the end it runs
# bench/run_http.sh (ctxd serve on SQLite under HTTP load; CTXD_BENCH_HTTP_ARGS are its
# bench_http arguments, CTXD_BENCH_HTTP=0 skips it).
#   bench/run.sh BUILD_DIR [bench_store arguments...]
# Must not: touch servers it did not start, or be run as a test.
set -euo pipefail
build=${1:?usage: bench/run.sh BUILD_DIR [bench_store arguments...]}
shift
here=$(cd "$(dirname "$0")" && pwd)
bin="$build/bench/bench_store"
[[ -x "$bin" ]] || { echo "bench/run.sh: $bin not found (build first)" >&2; exit 1; }
servers="$here/../tests/servers/server.sh"
state=$(mktemp -d /tmp/ctxd-bench-servers.XXXXXX)
started=()
cleanup() {
  for s in "${started[@]}"; do "$servers" stop "$s" "$state" || true; done
  rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The fixtures reuse CTXD_TEST_* URLs when set; the benchmark wants its own servers.
unset CTXD_TEST_PG_URL CTXD_TEST_PG_ADMIN_URL CTXD_TEST_MYSQL_URL
if [[ -z "${CTXD_BENCH_PG_URL:-}" ]]; then
  started+=(pg)
  "$servers" start pg "$state"
  # shellcheck disable=SC1091
  CTXD_BENCH_PG_URL=$(. "$state/pg.env" && echo "$CTXD_TEST_PG_URL")
fi
if [[ -z "${CTXD_BENCH_MYSQL_URL:-}" ]]; then
  started+=(mariadb)
  "$servers" start mariadb "$state"
  # shellcheck disable=SC1091
  CTXD_BENCH_MYSQL_URL=$(. "$state/mariadb.env" && echo "$CTXD_TEST_MYSQL_URL")
fi
export CTXD_BENCH_PG_URL CTXD_BENCH_MYSQL_URL
"$bin" "$@"

if [[ "${CTXD_BENCH_HTTP:-1}" != 0 ]]; then
  if [[ -x "$build/bench/bench_http" ]]; then
    echo
    # shellcheck disable=SC2086
    "$here/run_http.sh" "$build" ${CTXD_BENCH_HTTP_ARGS:-}
  else
    echo "bench/run.sh: $build/bench/bench_http not built: HTTP benchmark skipped" >&2
  fi
fi
