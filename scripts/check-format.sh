#!/usr/bin/env bash
# Checks that every C file git tracks (src/, tests/, bench/) is formatted as
# .clang-format says; prints the files that are not and exits 1 if any. Run by
# CTest (style_format) and usable by hand. To fix: scripts/check-format.sh --fix
# (runs clang-format -i on them). Must not: change files unless --fix is given.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root" || exit 2
if ! command -v clang-format >/dev/null 2>&1; then
  echo "format check: clang-format is not installed (scripts/deps.sh installs it)"
  exit 1
fi
mapfile -t files < <(git ls-files -co --exclude-standard -- '*.c' '*.h' 2>/dev/null | grep -v '/node_modules/')
if ((${#files[@]} == 0)); then
  mapfile -t files < <(find src tests bench -name '*.[ch]' -not -path '*/node_modules/*')
fi
if [[ "${1:-}" == "--fix" ]]; then
  clang-format -i "${files[@]}"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  [[ -f "$f" ]] || continue
  if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
done
if ((${#bad[@]})); then
  printf 'not formatted: %s\n' "${bad[@]}"
  echo "format check: FAILED, ${#bad[@]} file(s); run scripts/check-format.sh --fix ($(clang-format --version))"
  exit 1
fi
echo "format check: ${#files[@]} files formatted as .clang-format says"
