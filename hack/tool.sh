#!/usr/bin/env bash
# Runs a Go tool pinned in a tools/ module, built once into the user's cache dir (keyed by the
# tool's version and the Go version), so every clone and CI run reuses the build.
# Usage: hack/tool.sh controller-gen|golangci-lint|helm ARGS...
# The tool runs in the repository root, or in $TOOL_DIR when set (controller-gen loads the Go
# packages of the module it runs in).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
name=${1:?usage: hack/tool.sh TOOL ARGS...}; shift
case "$name" in
  controller-gen) moddir=tools/controllergen; module=sigs.k8s.io/controller-tools; pkg=sigs.k8s.io/controller-tools/cmd/controller-gen ;;
  golangci-lint) moddir=tools/lint; module=github.com/golangci/golangci-lint/v2; pkg=github.com/golangci/golangci-lint/v2/cmd/golangci-lint ;;
  helm) moddir=tools/helm; module=helm.sh/helm/v3; pkg=helm.sh/helm/v3/cmd/helm ;;
  *) echo "hack/tool.sh: unknown tool $name" >&2; exit 2 ;;
esac
ver=$(awk -v m="$module" '$1 == m && $2 ~ /^v/ {print $2; exit}' "$root/$moddir/go.mod")
bin=${XDG_CACHE_HOME:-$HOME/.cache}/dynamo-infra/tools/$name-$ver-$(go env GOVERSION)
if [ ! -x "$bin" ]; then
  echo "building $name $ver into $(dirname "$bin") (once)" >&2
  mkdir -p "$(dirname "$bin")"
  (cd "$root/$moddir" && go build -o "$bin.tmp" "$pkg")
  mv "$bin.tmp" "$bin"
fi
cd "${TOOL_DIR:-$root}" && exec "$bin" "$@"
