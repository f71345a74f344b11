#!/usr/bin/env bash
# scripts/ctxd-healthcheck.sh — the container image's HEALTHCHECK (installed as
# /usr/local/bin/ctxd-healthcheck): asks the ctxd running in the same container for
# GET /health on 127.0.0.1:${HTTP_PORT:-23456} and exits 0 on a 200 answer, 1 otherwise.
# It uses bash's /dev/tcp only, so the image needs no curl. Usable outside a container
# too: HTTP_PORT=PORT scripts/ctxd-healthcheck.sh.
# Must not: wait longer than a few seconds, print on success, or need any other program.
set -u
port=${HTTP_PORT:-23456}
[[ $port =~ ^[0-9]+$ ]] || { echo "ctxd-healthcheck: HTTP_PORT=$port is not a port" >&2; exit 1; }
if ! { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
  echo "ctxd-healthcheck: nothing listens on 127.0.0.1:$port" >&2
  exit 1
fi
printf 'GET /health HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$port" >&3
status=""
IFS= read -r -t 4 status <&3
exec 3<&-
status=${status%$'\r'}
if [[ $status =~ ^HTTP/1\.[01]\ 200 ]]; then
  exit 0
fi
echo "ctxd-healthcheck: GET /health on 127.0.0.1:$port answered '${status:-nothing}'" >&2
exit 1
