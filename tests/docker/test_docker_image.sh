#!/usr/bin/env bash
# tests/docker/test_docker_image.sh — CTest docker_image: builds the image of ./Dockerfile
# with the container engine of this machine (docker, else podman) and runs it as a user
# would: without keys it stops naming JWT_SECRET_KEY; with keys from an env file (made
# by `ctxd setup --file`) its HEALTHCHECK turns healthy, /health answers on the published
# loopback port, MCP initialize and authenticate_agent (the shared API_KEY) work over
# HTTP, it runs as uid 10001 with its SQLite file on the /data volume and stops cleanly
# on SIGTERM; then the volume alone (keys written into it by `ctxd setup` in the image)
# serves again, with the data kept. Everything it made is removed at the end.
# Without an engine that answers (`docker info`, `podman info`) it exits 77 (skipped).
# Usage: test_docker_image.sh path/to/ctxd
# Must not: wait with fixed sleeps (every wait polls against a deadline), publish a port
# beyond 127.0.0.1, or leave a container, volume or image behind.
# shellcheck disable=SC2317 # functions run through trap and check() look unreachable
set -u
CTXD=$(realpath "${1:?usage: $0 path/to/ctxd}")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

engine=""
for e in docker podman; do
  if command -v "$e" >/dev/null 2>&1 && "$e" info >/dev/null 2>&1; then engine=$e; break; fi
done
if [[ -z $engine ]]; then
  echo "SKIP: no container engine answers here (docker info / podman info failed);"
  echo "      the Dockerfile and compose.yaml are checked statically by docker_static"
  exit 77
fi

id=$$-$RANDOM
tag=ctxd-test:$id name=ctxd-test-$id vol=ctxd-test-$id
T=$(mktemp -d "${TMPDIR:-/tmp}/ctxd-image.XXXXXX")
cleanup() {
  "$engine" rm -f "$name" "$name-2" >/dev/null 2>&1
  "$engine" volume rm -f "$vol" >/dev/null 2>&1
  "$engine" rmi -f "$tag" >/dev/null 2>&1
  rm -rf "$T"
}
trap cleanup EXIT
FAILS=0 N=0
check() { # check DESC CONDITION-COMMAND...
  N=$((N + 1))
  if "${@:2}"; then echo "ok $N - $1"; else echo "not ok $N - $1"; FAILS=$((FAILS + 1)); fi
}
finish() {
  echo "1..$N"
  echo "$((N - FAILS)) passed, $FAILS failed"
  ((FAILS == 0))
  exit $?
}
has() { grep -qF -- "$2" <<<"$1"; }

echo "# engine: $engine ($("$engine" --version))"
# podman's default OCI format would drop the HEALTHCHECK
build_opts=()
[[ $engine == podman ]] && build_opts=(--format docker)
if ! "$engine" build "${build_opts[@]}" -t "$tag" "$ROOT" >"$T/build.log" 2>&1; then
  tail -40 "$T/build.log"
  check "the image builds" false
  finish
fi
check "the image builds" true
check "the image runs as uid/gid 10001" \
  test "$("$engine" image inspect -f '{{.Config.User}}' "$tag")" = 10001:10001

# without keys: a clear error and a failing exit status
out=$("$engine" run --rm "$tag" 2>&1)
rc=$?
refused() { ((rc != 0)) && has "$out" "JWT_SECRET_KEY is not set"; }
check "without JWT_SECRET_KEY the container stops (rc=$rc) naming it" refused

# wait_healthy NAME: polls (deadline 120 s) until the container's HEALTHCHECK reports
# healthy (podman without systemd may never run it: there /health is polled instead)
wait_healthy() {
  local c=$1 deadline=$((SECONDS + 120)) st port
  while ((SECONDS < deadline)); do
    st=$("$engine" inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$c" 2>/dev/null)
    [[ $st == running* ]] || { echo "# $c is '$st':"; "$engine" logs "$c" 2>&1 | tail -20; return 1; }
    [[ $st == "running healthy" ]] && return 0
    if [[ $engine == podman ]]; then
      port=$(host_port "$c")
      [[ -n $port ]] && HTTP_PORT=$port "$ROOT/scripts/ctxd-healthcheck.sh" 2>/dev/null && return 0
    fi
    sleep 1
  done
  echo "# $c not healthy after 120 s ($st):"
  "$engine" logs "$c" 2>&1 | tail -20
  return 1
}
host_port() { # the loopback port the engine published for the container's 23456
  "$engine" port "$1" 23456/tcp 2>/dev/null | sed -n 's/^127\.0\.0\.1:\([0-9]*\)$/\1/p' | head -1
}
# mcp_post PORT BODY [SESSION-ID]: the raw HTTP answer to one POST /mcp
mcp_post() {
  local hdr=""
  [[ -n ${3:-} ]] && hdr="Mcp-Session-Id: $3"$'\r\n'"MCP-Protocol-Version: 2025-06-18"$'\r\n'
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'POST /mcp HTTP/1.1\r\nHost: localhost:%s\r\nAccept: application/json, text/event-stream\r\nContent-Type: application/json\r\nX-API-Key: %s\r\n%sContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
    "$1" "$api_key" "$hdr" "${#2}" "$2" >&3
  timeout 20 cat <&3
  exec 3<&-
}

# with keys from an env file, on a named volume, published on loopback only
"$CTXD" setup --file "$T/keys.env" >/dev/null
api_key=$(sed -n 's/^API_KEY=//p' "$T/keys.env")
api_key=${api_key//\"/}
"$engine" volume create "$vol" >/dev/null
"$engine" run -d --name "$name" --env-file "$T/keys.env" -v "$vol:/data" \
  -p 127.0.0.1::23456 --health-interval 2s "$tag" >/dev/null
check "with keys the HEALTHCHECK turns healthy" wait_healthy "$name"
port=$(host_port "$name")
check "port 23456 is published on 127.0.0.1 (:${port:-none})" test -n "$port"
if [[ -n $port ]]; then
  check "GET /health answers 200 on the published port" env HTTP_PORT="$port" "$ROOT/scripts/ctxd-healthcheck.sh"
  init=$(mcp_post "$port" '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"docker-test","version":"1"}}}')
  sid=$(sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *\([^[:space:]]*\).*/\1/p' <<<"$init" | tr -d '\r')
  init_ok() { has "$init" '"serverInfo"' && has "$init" '"ctxd"' && [[ -n $sid ]]; }
  check "MCP initialize over HTTP answers serverInfo ctxd with a session" init_ok
  auth=$(mcp_post "$port" '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"authenticate_agent","arguments":{"agent_id":"docker-test","agent_type":"generic"}}}' "$sid")
  auth_ok() { has "$auth" "sct_" && ! has "$auth" '"isError":true'; }
  check "authenticate_agent with the API_KEY of the env file issues a token" auth_ok
  [[ $FAILS -eq 0 ]] || { echo "# initialize: ${init:0:600}"; echo "# authenticate_agent: ${auth:0:600}"; }
fi
check "the server runs as uid 10001" test "$("$engine" exec "$name" id -u)" = 10001
check "the SQLite file is on the /data volume" "$engine" exec "$name" test -s /data/ctxd.db
"$engine" stop -t 30 "$name" >/dev/null
check "SIGTERM (docker stop) ends it with status 0" \
  test "$("$engine" inspect -f '{{.State.ExitCode}}' "$name")" = 0

# the volume alone: `ctxd setup` in the image writes /data/.env, serve reads it
out=$("$engine" run --rm -v "$vol:/data" "$tag" setup 2>&1)
check "ctxd setup in the image writes its keys to the volume" has "$out" "wrote .env"
out=$("$engine" run --rm -v "$vol:/data" "$tag" db check 2>&1)
check "the data survived on the volume (ctxd db check: healthy)" has "$out" "healthy"
"$engine" run -d --name "$name-2" -v "$vol:/data" -p 127.0.0.1::23456 --health-interval 2s "$tag" >/dev/null
check "with the keys of /data/.env alone it serves and turns healthy" wait_healthy "$name-2"
finish
