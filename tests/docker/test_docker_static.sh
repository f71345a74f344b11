#!/usr/bin/env bash
# tests/docker/test_docker_static.sh — CTest docker_static: scripts/check-docker.sh passes
# on the repository's Dockerfile, .dockerignore and compose.yaml (with the built ctxd for
# the library rule, with PyYAML and with its own small YAML reader), and FAILS on broken
# copies of them, one rule at a time, so every rule is shown able to fail. Then the
# image's HEALTHCHECK probe (scripts/ctxd-healthcheck.sh) against a real `ctxd serve`.
# Usage: test_docker_static.sh path/to/ctxd
# Must not: need a container engine or the network, or change a file of the repository.
set -u
CTXD=$(realpath "${1:?usage: $0 path/to/ctxd}")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CHECK=$ROOT/scripts/check-docker.sh
T=$(mktemp -d "${TMPDIR:-/tmp}/ctxd-docker.XXXXXX")
SERVER_PID=""
cleanup() {
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
FAILS=0 N=0
ok() { N=$((N + 1)); echo "ok $N - $1"; }
not_ok() {
  N=$((N + 1)) FAILS=$((FAILS + 1))
  echo "not ok $N - $1"
  [[ -z ${2:-} ]] || echo "   ${2//$'\n'/$'\n'   }"
}

# ---- the real files pass ---------------------------------------------------------
for mode in "" --no-yaml; do
  out=$("$CHECK" --ctxd "$CTXD" $mode 2>&1)
  rc=$?
  if [[ $rc -eq 0 ]] && ! grep -q '^FAIL' <<<"$out"; then ok "check-docker.sh passes on the repository's files ${mode:-(PyYAML if present)}"
  else not_ok "check-docker.sh passes on the repository's files ${mode:-(PyYAML if present)} (rc=$rc)" "$out"; fi
done
sed -n 's/^SKIP/   SKIP/p' <<<"$out"

# ---- broken copies fail, naming the rule -------------------------------------------
# broken FILE PERL-SUBSTITUTION EXPECTED-FAIL-TEXT [check options]: applies the
# substitution to a copy of FILE (Dockerfile, .dockerignore or compose.yaml), runs the
# check on the copies and wants exit 1 with a FAIL line containing the text.
broken() {
  local file=$1 subst=$2 want=$3
  shift 3
  local d=$T/case$N
  mkdir -p "$d"
  cp "$ROOT/Dockerfile" "$ROOT/.dockerignore" "$ROOT/compose.yaml" "$d/"
  perl -0pi -e "$subst" "$d/$file"
  if cmp -s "$d/$file" "$ROOT/$file"; then
    not_ok "broken $file ($subst): the substitution changed nothing (the test is stale)"
    return
  fi
  local out rc
  out=$("$CHECK" --dockerfile "$d/Dockerfile" --compose "$d/compose.yaml" --context "$ROOT" "$@" 2>&1)
  rc=$?
  local hit
  hit=$(grep -F -- "$want" <<<"$out" | grep -m1 '^FAIL')
  if [[ $rc -eq 1 && -n $hit ]]; then
    ok "broken $file ($subst) -> $hit"
  else
    not_ok "broken $file ($subst) should fail with '$want' (rc=$rc)" "$(grep -v '^PASS' <<<"$out")"
  fi
}

broken Dockerfile 's/FROM debian:12-slim AS build/FROM debian AS build/' "FROM debian has no tag"
broken Dockerfile 's/^FROM debian:12-slim$/FROM debian:latest/m' "moving tag latest"
broken Dockerfile 's/^USER .*$/USER root/m' "is root"
broken Dockerfile 's/^USER .*\n//m' "no USER"
broken Dockerfile 's/^HEALTHCHECK[^\n]*\\\n[^\n]*\n/HEALTHCHECK NONE\n/m' "turns the check off"
broken Dockerfile 's/^HEALTHCHECK[^\n]*\\\n[^\n]*\n//m' "no HEALTHCHECK"
# shellcheck disable=SC2016 # $1 is perl's
broken Dockerfile 's/^HEALTHCHECK([^\n]*\\\n\s*)CMD [^\n]*/HEALTHCHECK$1CMD ctxd-healthcheck/m' "HEALTHCHECK CMD ctxd-healthcheck is in shell form"
broken Dockerfile 's/^VOLUME .*\n//m' "declares no VOLUME"
broken Dockerfile 's|sqlite:////data/ctxd.db|sqlite:////var/lib/ctxd.db|' "lies on no VOLUME"
broken Dockerfile 's/^EXPOSE 23456/EXPOSE 8080/m' "does not include ctxd's default port 23456"
broken Dockerfile 's/install -y --no-install-recommends/install -y/' "without --no-install-recommends"
broken Dockerfile 's/install -y --no-install-recommends/install --no-install-recommends/' "apt-get install without -y"
broken Dockerfile 's|\s*&& rm -rf /var/lib/apt/lists/\*||' "does not rm -rf /var/lib/apt/lists"
broken Dockerfile 's/RUN apt-get update \\\n &&/RUN apt-get update\nRUN/' "apt-get update without an install"
broken Dockerfile 's/apt-get install -y/apt install -y/' "use apt-get"
broken Dockerfile 's/^COPY CMakeLists.txt/ADD CMakeLists.txt/m' "ADD CMakeLists.txt"
broken Dockerfile 's/RUN apt-get update/RUN sudo apt-get update/' "uses sudo"
broken Dockerfile 's/^ENTRYPOINT .*$/ENTRYPOINT ctxd/m' "ENTRYPOINT ctxd is in shell form"
broken Dockerfile 's/^CMD .*$/CMD serve/m' "CMD serve is in shell form"
broken Dockerfile 's/CTXD_VERSION=[0-9.]+/CTXD_VERSION=9.9.9/' "is not the project version"
broken Dockerfile 's/org.opencontainers.image.title=/org.example.title=/' "no LABEL org.opencontainers.image.title"
broken Dockerfile 's/libmicrohttpd12/libmicrohttpd99/' "package libmicrohttpd99 is not in Debian 12" --ctxd "$CTXD"
broken Dockerfile 's/ libmicrohttpd12//' "libmicrohttpd.so.12 comes from libmicrohttpd12" --ctxd "$CTXD"
broken Dockerfile 's/^COPY src\/ src\//COPY srcx\/ src\//m' "COPY source srcx does not exist"
broken .dockerignore 's/^!src\/\n//m' ".dockerignore leaves out src/"
broken .dockerignore 's/^\*\n//m' ".dockerignore lets .git in"
for y in "" --no-yaml; do
  broken compose.yaml 's/"127.0.0.1:\$/"\$/' "is published on every address" $y
  broken compose.yaml 's/POSTGRES_PASSWORD: \$\{[^}]*\}/POSTGRES_PASSWORD: hunter2/' "POSTGRES_PASSWORD is written in the file" $y
  broken compose.yaml 's/ctxd:\$\{POSTGRES_PASSWORD[^}]*\}\@/ctxd:hunter2@/' "DATABASE_URL holds a literal password" $y
  broken compose.yaml 's/"pg_isready", //' "does not run pg_isready" $y
  broken compose.yaml 's/condition: service_healthy/condition: service_started/' "not service_healthy" $y
  broken compose.yaml 's/\@postgres:5432/\@db.example:5432/' "DATABASE_URL is" $y
  broken compose.yaml 's/^  postgres:/  pg:/m' "no service postgres" $y
  broken compose.yaml 's/image: postgres:16-bookworm/image: postgres/' "is not pinned to a tag" $y
  broken compose.yaml 's/^    env_file: .env\n//m' "ctxd has no env_file" $y
  broken compose.yaml 's/^    healthcheck:\n      test: \["CMD", "ctxd-healthcheck"\]\n(      \w+: \w+\n)*//m' "ctxd has no healthcheck" $y
done
broken compose.yaml 's/^services:/services: &s/m' "unsupported YAML" --no-yaml

# a bad command line is exit 2, not a pass
"$CHECK" --bogus >/dev/null 2>&1
rc=$?
if [[ $rc -eq 2 ]]; then ok "an unknown option is exit 2"; else not_ok "an unknown option is exit 2 (rc=$rc)"; fi

# ---- the HEALTHCHECK probe against a real server -----------------------------------
probe=$ROOT/scripts/ctxd-healthcheck.sh
(cd "$T" && exec env -u API_KEY -u DATABASE_URL JWT_SECRET_KEY=0123456789abcdef0123456789abcdef \
  "$CTXD" --database-url "sqlite:///$T/health.db" serve --host 0.0.0.0 --port 0 2>"$T/serve.log") &
SERVER_PID=$!
port=""
deadline=$((SECONDS + 30))
while ((SECONDS < deadline)) && kill -0 "$SERVER_PID" 2>/dev/null; do
  port=$(sed -n 's|.*ctxd ready: http://0\.0\.0\.0:\([0-9]*\)/mcp.*|\1|p' "$T/serve.log")
  [[ -n $port ]] && break
  sleep 0.1
done
if [[ -z $port ]]; then
  not_ok "ctxd serve --host 0.0.0.0 started" "$(cat "$T/serve.log")"
else
  if out=$(HTTP_PORT=$port "$probe" 2>&1); then ok "ctxd-healthcheck exits 0 against a serving ctxd on 0.0.0.0"
  else not_ok "ctxd-healthcheck exits 0 against a serving ctxd" "$out"; fi
  kill "$SERVER_PID"
  wait "$SERVER_PID"
  SERVER_PID=""
  if out=$(HTTP_PORT=$port "$probe" 2>&1); then not_ok "ctxd-healthcheck fails once ctxd stopped"
  else ok "ctxd-healthcheck fails once ctxd stopped: $out"; fi
fi
if out=$(HTTP_PORT=notaport "$probe" 2>&1); then not_ok "ctxd-healthcheck refuses a bad HTTP_PORT"
else ok "ctxd-healthcheck refuses a bad HTTP_PORT: $out"; fi

echo "1..$N"
echo "$((N - FAILS)) passed, $FAILS failed"
((FAILS == 0))
