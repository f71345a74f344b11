#!/usr/bin/env bash
# Installs, with apt, only the Debian 12 packages ctxd needs that are not installed
# yet, for one of two purposes:
#
#   scripts/deps.sh run    what building and running ctxd needs (`make run`): a compiler,
#                          CMake and the libraries of the backends built in
#   scripts/deps.sh test   the above, plus what the tests and benchmarks need: cmocka,
#                          real database servers, clang-format, the npm packages of the
#                          MCP SDK client and the benchmark peers (`make test`, .ci/run)
#
# With no argument: test. `--print` before the purpose lists what it would install
# (apt packages, then `npm ci DIR` lines) and installs nothing.
# CTXD_WITH_POSTGRESQL / CTXD_WITH_MYSQL / CTXD_WITH_MONGODB=OFF
# (as given to CMake) leave that backend's client library out of `run`.
# CTXD_DEPS_CLANG=1 adds clang and its sanitizer/libFuzzer runtime (the CI's second pass).
# Never installs nodejs/npm (Node 20 is preinstalled and Debian's packages conflict with it).
set -euo pipefail

print=0
if [[ ${1:-} == --print ]]; then print=1; shift; fi
purpose=${1:-test}
case $purpose in
  run|test) ;;
  -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "deps.sh: unknown purpose '$purpose' (run or test; see --help)" >&2; exit 2 ;;
esac

# Building and running: a SQLite-only build needs only the first line's libraries.
RUN_PKGS=(build-essential cmake pkg-config libsqlite3-dev libjansson-dev libssl-dev
          libutf8proc-dev libmicrohttpd-dev)
if [[ $purpose == test || ${CTXD_WITH_POSTGRESQL:-ON} != OFF ]]; then RUN_PKGS+=(libpq-dev); fi
if [[ $purpose == test || ${CTXD_WITH_MYSQL:-ON} != OFF ]]; then RUN_PKGS+=(libmariadb-dev); fi
if [[ $purpose == test || ${CTXD_WITH_MONGODB:-ON} != OFF ]]; then RUN_PKGS+=(libmongoc-dev libbson-dev); fi
# Testing: cmocka (the unit and contract tests), the sqlite3 shell, clang-format (the
# formatting check, CTest style_format), python3 (node-gyp, which builds the native
# module of a benchmark peer, below), groff-base, systemd and zsh (CTest install_files:
# the man page rendered, the unit verified, the zsh completion driven).
TEST_PKGS=(libcmocka-dev sqlite3 clang-format python3 groff-base systemd zsh)
# Real database servers the tests start on loopback (tests/servers/), openssl
# for the self-signed certificate of the TLS test, and prometheus for `promtool check
# metrics` on GET /metrics (tests/e2e; without it that check is reported as not run).
SERVER_PKGS=(postgresql mariadb-server mariadb-client pgbouncer openssl prometheus)
# Compilers the CI matrix uses: gcc (build-essential) and clang; sanitizer runtime, and
# libFuzzer for the fuzz harnesses (scripts/fuzz.sh, CTest fuzz_smoke in the clang pass).
EXTRA_PKGS=()
if [[ "${CTXD_DEPS_CLANG:-0}" == 1 ]]; then EXTRA_PKGS+=(clang libclang-rt-14-dev); fi
# npm packages (test only), each DIR:PACKAGE, pinned by DIR/package-lock.json (below).
NPM_DIRS=(tests/mcp/sdk:@modelcontextprotocol/sdk tests/http/conformance:@modelcontextprotocol/conformance
          tests/inspector:@modelcontextprotocol/inspector bench/peers:mcp-memory-keeper)
wanted=("${RUN_PKGS[@]}" "${EXTRA_PKGS[@]}")
if [[ $purpose == test ]]; then wanted+=("${TEST_PKGS[@]}" "${SERVER_PKGS[@]}"); fi

if ((print)); then
  printf '%s\n' "${wanted[@]}"
  if [[ $purpose == test ]]; then for d in "${NPM_DIRS[@]}"; do echo "npm ci ${d%%:*}"; done; fi
  exit 0
fi
missing=()
for p in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} > 0)); then
  echo "deps: installing ${missing[*]}" >&2
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# The official MCP TypeScript SDK client used by the end-to-end tests, pinned by
# tests/mcp/sdk/package-lock.json (npm registry; Node 20 is preinstalled). Without it
# those tests report "skipped", never "passed".
# The same for the official conformance suite (@modelcontextprotocol/conformance), the
# MCP Inspector (tests/inspector: its tool-schema portability check), and
# for the peers the benchmarks compare ctxd with (bench/peers: mcp-memory-keeper builds
# better-sqlite3 from source with node-gyp when no prebuilt binary can be fetched).
[[ $purpose == test ]] || exit 0
root="$(cd "$(dirname "$0")/.." && pwd)"
for d in "${NPM_DIRS[@]}"; do
  dir="$root/${d%%:*}"; pkg=${d#*:}
  if command -v npm >/dev/null 2>&1 && [[ -f "$dir/package-lock.json" && ! -d "$dir/node_modules/$pkg" ]]; then
    echo "deps: npm ci in ${d%%:*}" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2) \
      || echo "deps: npm ci failed in ${d%%:*}: its tests will be skipped" >&2
  fi
done

