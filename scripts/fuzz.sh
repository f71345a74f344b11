#!/usr/bin/env bash
# Builds the libFuzzer harnesses of fuzz/ with clang (CTXD_FUZZ=ON: ASan + UBSan +
# libFuzzer) in their own build directory and runs them (docs/testing.md, "Fuzzing").
#
#   scripts/fuzz.sh [--smoke] [--runs N] [--jobs J] [--build-dir DIR] [--werror] [name...]
#
#   names       harnesses to run (utc, db_url, jwt, ...: fuzz/fuzz_<name>.c); default all
#   --smoke     the CI check: each harness from its seed corpus for at most N executions
#               (default 20000) and at most SMOKE_SECONDS (default 5) seconds, in a
#               scratch corpus (the seeds and the corpus under DIR stay as they are);
#               built at -O1 in build-fuzz-smoke unless --build-dir says otherwise
#   --runs N    executions per harness (default 10000000: a campaign, under nice -n 19)
#   --jobs J    harnesses run at the same time (default 1)
#   --build-dir where to build (default build-fuzz at the repository root); a campaign
#               keeps its corpus in DIR/corpus/<name> and logs in DIR/logs; what libFuzzer
#               finds (crash-*, leak-*, timeout-*) goes to DIR/artifacts/<name>/
#   --werror    warnings are errors (as in CI)
#
# Each run reads fuzz/corpus/<name>/ (never writes it) and fuzz/<name>.dict if present,
# and prints one line: executions, seconds, exec/s, cov, ft, corpus size, result.
# Exits 1 if a harness found a crash, leak, timeout or broken property, or did not build.
# Must not: write into fuzz/, or run a harness without its sanitizers.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

smoke=0; runs=""; jobs=1; build=""; werror=OFF; names=()
while (($#)); do
  case $1 in
    --smoke) smoke=1 ;;
    --runs) runs=$2; shift ;;
    --runs=*) runs=${1#*=} ;;
    --jobs) jobs=$2; shift ;;
    --jobs=*) jobs=${1#*=} ;;
    --build-dir) build=$2; shift ;;
    --build-dir=*) build=${1#*=} ;;
    --werror) werror=ON ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) names+=("$1") ;;
  esac
  shift
done
if ((${#names[@]} == 0)); then
  for f in "$root"/fuzz/fuzz_*.c; do n=$(basename "$f" .c); names+=("${n#fuzz_}"); done
fi
for n in "${names[@]}"; do
  [[ -f "$root/fuzz/fuzz_$n.c" ]] || { echo "fuzz.sh: no harness fuzz/fuzz_$n.c" >&2; exit 2; }
done
[[ -n "$runs" ]] || runs=$((smoke ? 20000 : 10000000))
[[ -n "$build" ]] || build="$root/build-fuzz$( ((smoke)) && echo -smoke)"
if ! command -v clang >/dev/null 2>&1; then
  echo "fuzz.sh: clang is not installed (scripts/deps.sh with CTXD_DEPS_CLANG=1)" >&2
  exit 1
fi

mkdir -p "$build"
build=$(cd "$build" && pwd)
targets=()
for n in "${names[@]}"; do targets+=("fuzz_$n"); done
echo "fuzz: building ${targets[*]} in $build" >&2
# A campaign is built optimised (-O2 -g); the smoke, whose build is most of its time, at
# -O1 with line tables only (a third faster to build, a tenth slower to run).
btype=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
((smoke)) && btype=(-DCMAKE_BUILD_TYPE=FuzzSmoke "-DCMAKE_C_FLAGS_FUZZSMOKE=-O1 -gline-tables-only")
if ! CC=clang cmake -S "$root" -B "$build" -DCTXD_FUZZ=ON -DCTXD_WERROR="$werror" \
      -DCTXD_BUILD_TESTS=OFF -DCTXD_BUILD_BENCH=OFF "${btype[@]}" >/dev/null ||
   ! cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target "${targets[@]}" >"$build/fuzz-build.log" 2>&1; then
  tail -40 "$build/fuzz-build.log" >&2
  echo "fuzz: build FAILED" >&2
  exit 1
fi

scratch=""
if ((smoke)); then
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
fi

# run_one NAME: runs one harness; prints its summary line; returns libFuzzer's status.
run_one() {
  local n=$1 corpus log art
  if ((smoke)); then
    corpus="$scratch/corpus/$n"; log="$scratch/$n.log"; art="$build/artifacts/$n/"
  else
    corpus="$build/corpus/$n"; log="$build/logs/$n.log"; art="$build/artifacts/$n/"
  fi
  mkdir -p "$corpus" "$art" "$(dirname "$log")"
  local args=(-runs="$runs" -timeout=30 -print_final_stats=1 -artifact_prefix="$art")
  [[ -f "$root/fuzz/$n.dict" ]] && args+=(-dict="$root/fuzz/$n.dict")
  local cmd=("$build/fuzz/fuzz_$n" "${args[@]}")
  if ((smoke)); then
    cmd+=(-max_total_time="${SMOKE_SECONDS:-5}")
  else
    cmd=(nice -n 19 "${cmd[@]}")
  fi
  cmd+=("$corpus" "$root/fuzz/corpus/$n")
  echo "${cmd[*]}" >"$log"
  local t0 t1 rc
  t0=$(date +%s.%N)
  MONGOC_DISABLE_SHM=1 "${cmd[@]}" >>"$log" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  local stats execs secs rate cov ft corp
  stats=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -1)
  execs=$(sed -nE 's/^stat::number_of_executed_units: ([0-9]+)/\1/p' "$log" | tail -1)
  secs=$(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }")
  rate=$(awk "BEGIN { if ($secs > 0 && ${execs:-0} > 0) printf \"%d\", ${execs:-0} / $secs; else print \"?\" }")
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$stats")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$stats")
  corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[bkKM]*b?).*/\1/p' <<<"$stats")
  local verdict=ok
  if ((rc != 0)); then
    verdict="FAILED (exit $rc): $(grep -m1 -E 'property broken|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error' "$log")"
  fi
  printf '%-12s runs %-9s %7.1f s  %6s exec/s  cov %-5s ft %-6s corpus %-12s %s\n' "$n" \
    "${execs:-?}" "$secs" "$rate" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$verdict"
  if ((rc != 0)); then
    echo "  log: $log; input: $(ls "$art" 2>/dev/null | head -1)" >&2
    ((smoke)) && tail -30 "$log" >&2
  fi
  return $rc
}

failed=0
running=0
pids=()
for n in "${names[@]}"; do
  run_one "$n" &
  pids+=($!)
  running=$((running + 1))
  if ((running >= jobs)); then
    wait -n || failed=1
    running=$((running - 1))
  fi
done
while ((running > 0)); do
  wait -n || failed=1
  running=$((running - 1))
done
if ((failed)); then
  echo "fuzz: FAILED (see above)" >&2
  exit 1
fi
exit 0
