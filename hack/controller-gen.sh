#!/usr/bin/env bash
# Runs controller-gen pinned in tools/controllergen, built once into the user's cache dir.
# Usage: hack/controller-gen.sh ARGS...
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ver=$(awk '$1 == "sigs.k8s.io/controller-tools" && $2 ~ /^v/ {print $2; exit}' "$root/tools/controllergen/go.mod")
bin=${XDG_CACHE_HOME:-$HOME/.cache}/dynamo-infra/tools/controller-gen-$ver-$(go env GOVERSION)
if [ ! -x "$bin" ]; then
  echo "generate: building controller-gen $ver (once)" >&2
  mkdir -p "$(dirname "$bin")"
  (cd "$root/tools/controllergen" && go build -o "$bin.tmp" sigs.k8s.io/controller-tools/cmd/controller-gen)
  mv "$bin.tmp" "$bin"
fi
cd "$root" && exec "$bin" "$@"
