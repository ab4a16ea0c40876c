#!/usr/bin/env bash
# Runs golangci-lint pinned in tools/lint, built once into the user's cache dir.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ver=$(awk '$1 == "github.com/golangci/golangci-lint/v2" && $2 ~ /^v/ {print $2; exit}' "$root/tools/lint/go.mod")
bin=${XDG_CACHE_HOME:-$HOME/.cache}/dynamo-infra/tools/golangci-lint-$ver-$(go env GOVERSION)
if [ ! -x "$bin" ]; then
  echo "lint: building golangci-lint $ver (a few minutes, once)" >&2
  mkdir -p "$(dirname "$bin")"
  (cd "$root/tools/lint" && go build -o "$bin.tmp" github.com/golangci/golangci-lint/v2/cmd/golangci-lint)
  mv "$bin.tmp" "$bin"
fi
cd "$root" && "$bin" run ./...
