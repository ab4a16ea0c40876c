#!/usr/bin/env bash
# Fails when docs/cli is stale against the command tree.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$root" && go run ./hack/gendocs "$tmp")
diff -ru "$root/docs/cli" "$tmp" || { echo "docs/cli is stale: run 'make docs'" >&2; exit 1; }
