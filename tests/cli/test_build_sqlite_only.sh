#!/usr/bin/env bash
# tests/cli/test_build_sqlite_only.sh — a build with every backend but SQLite left
# out (-DCTXD_WITH_POSTGRESQL=OFF -DCTXD_WITH_MYSQL=OFF -DCTXD_WITH_MONGODB=OFF), as a
# user wanting a small server makes it: it configures and builds with only the `run`
# libraries, links no client library of the backends left out, serves SQLite, and
# refuses their URLs with an error naming the CMake option that would build them.
# It is also the portable build (-DCTXD_PORTABLE=ON: base/port.h's paths for macOS
# and the BSDs); tests/e2e runs the MCP SDK and the HTTP limits against it.
#   test_build_sqlite_only.sh SOURCE_DIR WORK_DIR C_COMPILER WERROR(ON|OFF)
# Must not: touch the build it was started from (it builds in WORK_DIR).
set -u
src=${1:?source dir}; work=${2:?work dir}; cc=${3:?c compiler}; werror=${4:-OFF}
mkdir -p "$work"
echo "building a SQLite-only ctxd in $work" >&2
if ! CC=$cc cmake -S "$src" -B "$work" -DCMAKE_BUILD_TYPE=Debug -DCTXD_WERROR="$werror" \
     -DCTXD_WITH_POSTGRESQL=OFF -DCTXD_WITH_MYSQL=OFF -DCTXD_WITH_MONGODB=OFF \
     -DCTXD_PORTABLE=ON -DCTXD_BUILD_TESTS=OFF -DCTXD_BUILD_BENCH=OFF >"$work/configure.log" 2>&1; then
  cat "$work/configure.log"; echo "not ok - the SQLite-only build configures"; exit 1
fi
if ! cmake --build "$work" -j 2 --target ctxd >"$work/build.log" 2>&1; then
  tail -40 "$work/build.log"; echo "not ok - the SQLite-only build compiles"; exit 1
fi
set -- "$work/ctxd"
source "$(dirname "$0")/lib.sh"

run nm "$CTXD"
check "the portable build uses neither eventfd, getrandom nor qsort_r" eval \
  'rc_is 0 && ! grep -Eq " U (eventfd|getrandom|qsort_r)(@|$)" <<<"$OUT" && grep -Eq " U getentropy(@|$)" <<<"$OUT"'
run readelf -d "$CTXD"
check "links no libpq, libmariadb, libmongoc/libbson or ICU" eval \
  'rc_is 0 && out_has "libsqlite3" && ! grep -Eq "libpq|libmariadb|libmysql|libmongoc|libbson|libicu" <<<"$OUT"'
run "$CTXD" --version
check "--version lists sqlite alone" eval 'rc_is 0 && out_has "(backends: sqlite)"'
run "$CTXD" --database-url "sqlite:///$T/small.db" migrate up
check "migrate up on SQLite works" eval 'rc_is 0 && out_has "applied $LATEST migration"'
run "$CTXD" --database-url "sqlite:///$T/small.db" db check
check "db check on SQLite is healthy" eval 'rc_is 0 && out_has "healthy"'
for u in "postgresql://u:secret@127.0.0.1:1/db:postgresql:CTXD_WITH_POSTGRESQL" \
         "mysql://u:secret@127.0.0.1:1/db:mysql:CTXD_WITH_MYSQL" \
         "mongodb://u:secret@127.0.0.1:1/db:mongodb:CTXD_WITH_MONGODB"; do
  opt=${u##*:}; rest=${u%:*}; name=${rest##*:}; url=${rest%:*}
  run "$CTXD" --database-url "$url" db check
  check "db check on $name:// fails naming the backend and -D$opt=ON, password masked" eval \
    'rc_not 0 && err_has "built without $name support" && err_has "-D$opt=ON" && err_lacks secret'
  run "$CTXD" --database-url "$url" serve --stdio </dev/null
  check "serve on $name:// refuses to start with the same error" eval \
    'rc_not 0 && err_has "built without $name support"'
done
run "$CTXD" copy --from "sqlite:///$T/small.db" --to "postgresql://u@127.0.0.1:1/db"
check "copy to a backend left out fails before reading the source" eval \
  'rc_not 0 && err_has "built without postgresql support"'
finish
