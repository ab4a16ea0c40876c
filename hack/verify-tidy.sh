#!/usr/bin/env bash
# Fails when go.mod/go.sum of the main module or a tools module are not tidy.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
for mod in "$root" "$root"/tools/*/; do
  [ -f "$mod/go.mod" ] || continue
  (cd "$mod" && go mod tidy -diff >/dev/null) || { echo "go.mod not tidy in $mod: run 'go mod tidy' there" >&2; exit 1; }
done
