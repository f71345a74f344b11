#!/usr/bin/env bash
# bench/run.sh — the benchmark suite, what `make bench` (and, with --quick, `make
# bench-quick` and the CTest test bench_quick) runs against the programs of BUILD_DIR:
#   1. store   bench_store: the store against raw client code, SQLite, PostgreSQL, MariaDB
#   2. http    bench/run_http.sh on SQLite, PostgreSQL and MariaDB: 1/20/64/256 keep-alive
#              clients x add_message, get_messages, search_context, set_memory,
#              get_memory (ops/s, p50/p95/p99, server CPU); on SQLite also the open-loop
#              check of 10,000 add_message/s
#   3. pages   bench_pages: a page of 50 with its total on a 100,000-message session,
#              on each backend
#   4. search  bench_search_session (full scan against the trigram index) on 10,000
#              messages; bench_recall (recall@10 and latency of the term index at the
#              default threshold) on 1,000, 10,000 and 100,000
#   5. peers   bench/peers/peers.mjs: ctxd against @modelcontextprotocol/server-memory and
#              mcp-memory-keeper over stdio (10,000 notes, 200 searches); skipped with a
#              line saying so when `npm ci` has not been run in bench/peers
#   6. footprint  bench/footprint.mjs: start-up, idle RSS, 1,000 idle SSE clients, RSS
#              with a 1,000,000-message session
# --quick runs every part with tiny sizes (well under a minute on 2 cores): it checks
# that the suite works, its figures mean nothing. --only a,b runs those parts.
# Database servers: throw-away PostgreSQL and MariaDB started with tests/servers/server.sh
# in a temp dir (stopped at the end, also on failure or Ctrl-C), unless
# CTXD_BENCH_PG_URL / CTXD_BENCH_MYSQL_URL name servers (the user must be allowed to
# create databases), or CTXD_BENCH_SERVERS names a tests/servers state dir whose pg.env
# and mariadb.env say where running fixtures are (what CTest's bench_quick does).
# CTXD_BENCH_HTTP_ARGS replaces the HTTP part's bench_http arguments.
#   bench/run.sh BUILD_DIR [--quick] [--only PARTS] [bench_store arguments...]
# Must not: touch servers or databases it did not start or create, assert anything about
# timing, or leave a process or temp file behind.
set -euo pipefail
build=${1:?usage: bench/run.sh BUILD_DIR [--quick] [--only store,http,pages,search,peers,footprint] [bench_store arguments...]}
shift
quick=0; only=""; store_args=()
while (($#)); do
  case $1 in
    --quick) quick=1 ;;
    --only) only=$2; shift ;;
    --only=*) only=${1#*=} ;;
    *) store_args+=("$1") ;;
  esac
  shift
done
for p in ${only//,/ }; do
  case $p in store|http|pages|search|peers|footprint) ;;
    *) echo "bench/run.sh: --only: unknown part '$p' (store, http, pages, search, peers, footprint)" >&2; exit 2 ;;
  esac
done
want() { [[ -z "$only" || ",$only," == *",$1,"* ]]; }
here=$(cd "$(dirname "$0")" && pwd)
for b in bench_store bench_pages bench_search_session bench_recall bench_http; do
  [[ -x "$build/bench/$b" ]] || { echo "bench/run.sh: $build/bench/$b not found (build first)" >&2; exit 1; }
done
servers="$here/../tests/servers/server.sh"
state=$(mktemp -d /tmp/ctxd-bench-servers.XXXXXX)
started=()
created=()
cleanup() {
  for d in "${created[@]}"; do drop_db "$d" || true; done
  for s in "${started[@]}"; do "$servers" stop "$s" "$state" || true; done
  rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
section() { printf '\n## %s\n\n' "$*"; }

# The fixtures reuse CTXD_TEST_* URLs when set; the benchmark wants its own servers.
unset CTXD_TEST_PG_URL CTXD_TEST_PG_ADMIN_URL CTXD_TEST_MYSQL_URL
env_url() { # FILE VAR: VAR as FILE (a tests/servers env file) sets it
  # shellcheck disable=SC1090
  [[ -f "$1" ]] && (. "$1" && echo "${!2}")
}
if [[ -n "${CTXD_BENCH_SERVERS:-}" ]]; then
  : "${CTXD_BENCH_PG_URL:=$(env_url "$CTXD_BENCH_SERVERS/pg.env" CTXD_TEST_PG_URL || true)}"
  : "${CTXD_BENCH_MYSQL_URL:=$(env_url "$CTXD_BENCH_SERVERS/mariadb.env" CTXD_TEST_MYSQL_URL || true)}"
fi
need_servers=0
{ want store || want http || want pages; } && need_servers=1
if ((need_servers)) && [[ -z "${CTXD_BENCH_PG_URL:-}" ]]; then
  started+=(pg)
  "$servers" start pg "$state" >&2
  CTXD_BENCH_PG_URL=$(env_url "$state/pg.env" CTXD_TEST_PG_URL)
fi
if ((need_servers)) && [[ -z "${CTXD_BENCH_MYSQL_URL:-}" ]]; then
  started+=(mariadb)
  "$servers" start mariadb "$state" >&2
  CTXD_BENCH_MYSQL_URL=$(env_url "$state/mariadb.env" CTXD_TEST_MYSQL_URL)
fi
export CTXD_BENCH_PG_URL CTXD_BENCH_MYSQL_URL

# URL parts through node's URL parser (node is needed by the peers and footprint parts).
url_part() { node -e 'const u = new URL(process.argv[1]); console.log(decodeURIComponent(u[process.argv[2]]))' "$1" "$2"; }
with_db() { node -e 'const u = new URL(process.argv[1]); u.pathname = "/" + process.argv[2]; console.log(u.href)' "$1" "$2"; }
# server_sql URL SQL: runs SQL on URL's server, connected to no database of ours.
server_sql() {
  case $1 in
    postgres*) psql "$(with_db "$1" postgres)" -qAt -c "$2" >/dev/null ;;
    *) mariadb --no-defaults -h "$(url_part "$1" hostname)" -P "$(url_part "$1" port)" \
         -u "$(url_part "$1" username)" -p"$(url_part "$1" password)" -e "$2" ;;
  esac
}
# fresh_db URL: creates a database of its own beside URL's (dropped by cleanup) and sets
# fresh to its URL (not in a $(...) subshell: created must remember it).
fresh_db() {
  local name="ctxd_bench_$$_${#created[@]}" opts=""
  [[ $1 == postgres* ]] || opts=" CHARACTER SET utf8mb4"
  server_sql "$1" "CREATE DATABASE $name$opts"
  created+=("$1 $name")
  fresh=$(with_db "$1" "$name")
}
drop_db() { # "URL NAME"
  local force=""
  [[ $1 == postgres* ]] && force=" WITH (FORCE)"
  server_sql "${1% *}" "DROP DATABASE IF EXISTS ${1#* }$force"
}

echo "# ctxd benchmarks ($( ((quick)) && echo quick || echo full ) run), $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

if want store; then
  section "store against raw client code (bench_store)"
  ((${#store_args[@]})) || { ((quick)) && store_args=(200 20 1); }
  "$build/bench/bench_store" ${store_args[@]+"${store_args[@]}"}
fi

if want http; then
  section "MCP over HTTP (bench_http)"
  if [[ -n "${CTXD_BENCH_HTTP_ARGS:-}" ]]; then
    read -r -a http_args <<<"$CTXD_BENCH_HTTP_ARGS"
  elif ((quick)); then
    http_args=(--clients 1,4 --seconds 0.3 --seed 50)
  else
    http_args=(--clients 1,20,64,256 --seconds 5)
  fi
  for db in sqlite pg mariadb; do
    # a database of its own on each server (never the fixture's)
    case $db in
      pg) fresh_db "$CTXD_BENCH_PG_URL"
          CTXD_BENCH_PG_URL=$fresh CTXD_BENCH_HTTP_DB=pg "$here/run_http.sh" "$build" "${http_args[@]}" ;;
      mariadb) fresh_db "$CTXD_BENCH_MYSQL_URL"
          CTXD_BENCH_MYSQL_URL=$fresh CTXD_BENCH_HTTP_DB=mariadb "$here/run_http.sh" "$build" "${http_args[@]}" ;;
      *) CTXD_BENCH_HTTP_DB=sqlite "$here/run_http.sh" "$build" "${http_args[@]}" ;;
    esac
    if [[ $db == sqlite && -z "${CTXD_BENCH_HTTP_ARGS:-}" ]]; then
      # the goal as an open-loop check: 10,000 add_message/s offered by 64 clients
      CTXD_BENCH_HTTP_DB=sqlite "$here/run_http.sh" "$build" --clients 64 --tools add_message \
        --rate $( ((quick)) && echo 500 || echo 10000) --seconds $( ((quick)) && echo 0.3 || echo 3) --seed 0
    fi
  done
fi

if want pages; then
  section "pages and counts on a big session (bench_pages)"
  n=100000; r=100
  ((quick)) && { n=2000; r=5; }
  echo "### SQLite file"
  "$build/bench/bench_pages" "" "$n" "$r"
  echo "### PostgreSQL"
  fresh_db "$CTXD_BENCH_PG_URL"
  "$build/bench/bench_pages" "$fresh" "$n" "$r"
  echo "### MariaDB"
  fresh_db "$CTXD_BENCH_MYSQL_URL"
  "$build/bench/bench_pages" "$fresh" "$n" "$r"
fi

if want search; then
  section "search_context: full scan against the trigram index (bench_search_session)"
  if ((quick)); then "$build/bench/bench_search_session" "" 300 small
  else "$build/bench/bench_search_session" "" 10000; fi
  section "search_context at the default threshold: recall@10 and latency (bench_recall)"
  if ((quick)); then "$build/bench/bench_recall" --sizes 2500 --queries 1
  else "$build/bench/bench_recall" --sizes 1000,10000,100000 --queries 15; fi
fi

if want peers; then
  section "against peer MCP servers over stdio (bench/peers)"
  if [[ -d "$here/peers/node_modules/@modelcontextprotocol/sdk" ]]; then
    if ((quick)); then node "$here/peers/peers.mjs" "$build/ctxd" --notes 100 --searches 12
    else node "$here/peers/peers.mjs" "$build/ctxd"; fi
  else
    echo "skipped: the peers are not installed (run \`npm ci\` in bench/peers)"
  fi
fi

if want footprint; then
  section "footprint (bench/footprint.mjs)"
  fp=(--sse 50 --messages 500 --starts 1)
  ((quick)) || fp=()
  rc=0
  node "$here/footprint.mjs" "$build/ctxd" ${fp[@]+"${fp[@]}"} || rc=$?
  # 77: the SDK client of tests/mcp/sdk is not installed (it said so)
  ((rc == 0 || rc == 77)) || exit "$rc"
fi
