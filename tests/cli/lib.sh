# tests/cli/lib.sh — tiny assertion helpers for the CLI test scripts: run a
# command capturing exit status, stdout and stderr, then check them. Each check
# prints "ok - ..." or "not ok - ..."; the script exits non-zero if any failed.
set -u
CTXD=$(realpath "${1:?usage: $0 path/to/ctxd}")
# the newest schema version this source tree ships (every dialect is numbered alike)
LATEST=$(find "$(dirname "${BASH_SOURCE[0]}")/../../migrations/sqlite" -name '*.up.sql' | wc -l)
T=$(mktemp -d "${TMPDIR:-/tmp}/ctxd-cli.XXXXXX")
trap 'chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
cd "$T"
# a clean environment: no DATABASE_* or DB_* from the caller
for v in $(env | sed -n 's/^\(DATABASE_[A-Z_]*\|DB_[A-Z_]*\|SUPABASE_[A-Z_]*\|LOG_LEVEL\)=.*/\1/p'); do unset "$v"; done
FAILS=0; N=0
run() { # run CMD...: sets RC, OUT, ERR
  "$@" >"$T/.out" 2>"$T/.err"; RC=$?
  OUT=$(cat "$T/.out"); ERR=$(cat "$T/.err")
}
check() { # check DESC CONDITION-COMMAND...
  local desc=$1; shift
  N=$((N + 1))
  if "$@"; then echo "ok $N - $desc"; else
    echo "not ok $N - $desc"; echo "   rc=$RC"; echo "   stdout: ${OUT:0:800}"; echo "   stderr: ${ERR:0:800}"
    FAILS=$((FAILS + 1)); fi
}
rc_is() { [[ $RC -eq $1 ]]; }
rc_not() { [[ $RC -ne $1 ]]; }
out_has() { grep -qF -- "$1" <<<"$OUT"; }
err_has() { grep -qF -- "$1" <<<"$ERR"; }
err_lacks() { ! grep -qF -- "$1" <<<"$ERR"; }
out_lacks() { ! grep -qF -- "$1" <<<"$OUT"; }
one_line_err() { [[ $(grep -c . <<<"$ERR") -eq 1 ]]; }
finish() { echo "1..$N"; echo "$((N - FAILS)) passed, $FAILS failed"; [[ $FAILS -eq 0 ]]; exit $?; }
