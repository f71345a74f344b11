#!/usr/bin/env bash
# Installs, with apt, only the Debian 12 packages ctxd needs that are not installed
# yet. Used by `make run`, `make test` and .ci/run. Never installs nodejs/npm
# (Node 20 is preinstalled and Debian's packages conflict with it).
set -euo pipefail

BUILD_PKGS=(build-essential cmake pkg-config libsqlite3-dev libjansson-dev libcmocka-dev libssl-dev
            libmongoc-dev libbson-dev
            libpq-dev libmariadb-dev libutf8proc-dev libmicrohttpd-dev sqlite3
            clang-format python3)
# clang-format: the formatting check (scripts/check-format.sh, CTest style_format).
# python3: node-gyp, which builds the native module of a benchmark peer (below).
# Real database servers the tests start on loopback (tests/servers/), openssl
# for the self-signed certificate of the TLS test, and prometheus for `promtool check
# metrics` on GET /metrics (tests/e2e; without it that check is reported as not run).
SERVER_PKGS=(postgresql mariadb-server mariadb-client pgbouncer openssl prometheus)
# Compilers the CI matrix uses: gcc (build-essential) and clang; sanitizer runtime, and
# libFuzzer for the fuzz harnesses (scripts/fuzz.sh, CTest fuzz_smoke in the clang pass).
EXTRA_PKGS=()
if [[ "${CTXD_DEPS_CLANG:-0}" == 1 ]]; then EXTRA_PKGS+=(clang libclang-rt-14-dev); fi

missing=()
for p in "${BUILD_PKGS[@]}" "${SERVER_PKGS[@]}" "${EXTRA_PKGS[@]}"; do
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
# The same for the official conformance suite (@modelcontextprotocol/conformance), and
# for the peers the benchmarks compare ctxd with (bench/peers: mcp-memory-keeper builds
# better-sqlite3 from source with node-gyp when no prebuilt binary can be fetched).
root="$(cd "$(dirname "$0")/.." && pwd)"
for d in tests/mcp/sdk:@modelcontextprotocol/sdk tests/http/conformance:@modelcontextprotocol/conformance \
         bench/peers:mcp-memory-keeper; do
  dir="$root/${d%%:*}"; pkg=${d#*:}
  if command -v npm >/dev/null 2>&1 && [[ -f "$dir/package-lock.json" && ! -d "$dir/node_modules/$pkg" ]]; then
    echo "deps: npm ci in ${d%%:*}" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2) \
      || echo "deps: npm ci failed in ${d%%:*}: its tests will be skipped" >&2
  fi
done

