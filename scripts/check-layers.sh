#!/usr/bin/env bash
# Checks the layering of src/: a module may include headers of the modules below
# it (and its own), never of one above it, and a module's private headers
# (*_int.h, *_internal.h, *_backend.h) only from inside that module. Prints each
# offending #include as file:line and exits 1 if there is any. Run by CTest
# (style_layers) and usable by hand: scripts/check-layers.sh [repo root].
# Must not: build or change anything.
set -uo pipefail
root=${1:-"$(cd "$(dirname "$0")/.." && pwd)"}
cd "$root/src" || exit 2

# module -> the modules it may include (itself included); keep in step with
# docs/architecture.md and the link dependencies in CMakeLists.txt.
declare -A allowed=(
  [base]="base"
  [db]="base db"
  [migrate]="base db migrate"
  [store]="base db migrate store"
  [xfer]="base db migrate store xfer"
  [search]="base search"
  [auth]="base store auth"
  [mcp]="base mcp"
  [http]="base mcp http"
  [app]="base db store search auth mcp app"
  [cli]="base db migrate store xfer search auth mcp http app cli"
)

bad=0
for dir in */; do
  mod=${dir%/}
  if [[ -z "${allowed[$mod]+x}" ]]; then
    echo "src/$mod: a module the layer check does not know (add it to scripts/check-layers.sh)"
    bad=1
    continue
  fi
  while IFS=: read -r file line text; do
    inc=$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]+"([^"]+)".*/\1/' <<<"$text")
    [[ "$inc" == */* ]] || continue
    target=${inc%%/*}
    base=${inc##*/}
    if [[ " ${allowed[$mod]} " != *" $target "* ]]; then
      echo "src/$file:$line: $mod/ includes $inc, a header of a higher layer ($target/)"
      bad=1
    elif [[ "$target" != "$mod" && "$base" =~ _(int|internal|backend)\.h$ ]]; then
      echo "src/$file:$line: $mod/ includes $inc, a header private to $target/"
      bad=1
    fi
  done < <(grep -Hn '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$mod"/*.c "$mod"/*.h 2>/dev/null)
done
if ((bad)); then
  echo "layer check: FAILED (see docs/architecture.md for the layers)"
  exit 1
fi
echo "layer check: every include in src/ points down or within its module"
