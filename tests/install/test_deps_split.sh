#!/usr/bin/env bash
# tests/install/test_deps_split.sh — `make run` needs only what building and running
# ctxd need: scripts/deps.sh run lists no test library, database server or npm package
# (and leaves out the client library of a backend turned off), `make run` asks for
# `deps.sh run` and builds the ctxd target alone, `make test` asks for everything.
#   test_deps_split.sh SOURCE_DIR
# Must not: install anything (deps.sh --print only lists; make -n only prints).
# shellcheck disable=SC2016,SC2034 # the checks are eval'd strings over these lists
set -u
src=${1:?source dir}
cd "$src" || exit 1
FAILS=0 N=0
check() { N=$((N + 1)); if eval "$2"; then echo "ok $N - $1"; else echo "not ok $N - $1"; FAILS=$((FAILS + 1)); fi; }
run=$(bash scripts/deps.sh --print run)
test=$(bash scripts/deps.sh --print test)
nomongo=$(CTXD_WITH_MONGODB=OFF CTXD_WITH_MYSQL=OFF bash scripts/deps.sh --print run)
has() { grep -qx -- "$2" <<<"$1"; }
for p in libcmocka-dev postgresql mariadb-server pgbouncer prometheus clang-format sqlite3 zsh; do
  check "run leaves out $p" '! has "$run" "$p"'
  check "test installs $p" 'has "$test" "$p"'
done
check "run lists no npm package" '! grep -q "^npm" <<<"$run"'
check "test runs npm ci for the MCP SDK client" 'has "$test" "npm ci tests/mcp/sdk"'
for p in build-essential cmake libsqlite3-dev libjansson-dev libmicrohttpd-dev libpq-dev libmariadb-dev libmongoc-dev; do
  check "run installs $p" 'has "$run" "$p"'
done
check "run without MongoDB and MySQL leaves out their libraries" \
  '! has "$nomongo" libmongoc-dev && ! has "$nomongo" libmariadb-dev && has "$nomongo" libpq-dev'
plan=$(make -n run BUILD=/nonexistent-build 2>/dev/null)
check "make run calls deps.sh run and builds the ctxd target only" \
  'grep -q "scripts/deps.sh run" <<<"$plan" && grep -q -- "--target ctxd" <<<"$plan" && ! grep -q "deps.sh test\|ctest" <<<"$plan"'
check "make run configures without the tests and benchmarks" \
  'grep -q -- "-DCTXD_BUILD_TESTS=OFF" <<<"$plan" && grep -q -- "-DCTXD_BUILD_BENCH=OFF" <<<"$plan"'
plan=$(make -n test BUILD=/nonexistent-build 2>/dev/null)
check "make test calls deps.sh test and ctest" 'grep -q "scripts/deps.sh test" <<<"$plan" && grep -q ctest <<<"$plan"'
echo "1..$N"
echo "$((N - FAILS)) passed, $FAILS failed"
[[ $FAILS -eq 0 ]]
