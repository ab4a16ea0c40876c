#!/usr/bin/env bash
# Runs a Go tool pinned in a tools/ module, built once into the user's cache dir (keyed by the
# tool's version and the Go version), so every clone and CI run reuses the build.
# Usage: hack/tool.sh controller-gen|golangci-lint|helm|promtool ARGS...
# The tool runs in the repository root, or in $TOOL_DIR when set (controller-gen loads the Go
# packages of the module it runs in).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
name=${1:?usage: hack/tool.sh TOOL ARGS...}; shift
case "$name" in
  controller-gen) moddir=tools/controllergen; module=sigs.k8s.io/controller-tools; pkg=sigs.k8s.io/controller-tools/cmd/controller-gen ;;
  golangci-lint) moddir=tools/lint; module=github.com/golangci/golangci-lint/v2; pkg=github.com/golangci/golangci-lint/v2/cmd/golangci-lint ;;
  helm) moddir=tools/helm; module=helm.sh/helm/v3; pkg=helm.sh/helm/v3/cmd/helm ;;
  promtool) moddir=tools/promtool; module=github.com/prometheus/prometheus; pkg=github.com/prometheus/prometheus/cmd/promtool ;;
  *) echo "hack/tool.sh: unknown tool $name" >&2; exit 2 ;;
esac
ver=$(awk -v m="$module" '$1 == m && $2 ~ /^v/ {print $2; exit}' "$root/$moddir/go.mod")
ldflags=""
stamp=""
if [ "$name" = helm ]; then
  # Stamp helm as its release builds are: its version, and the Kubernetes version of its
  # client-go as the default for offline commands (helm template, lint). Unstamped, helm
  # assumes Kubernetes v1.20 and refuses the chart's kubeVersion.
  kube=$(awk '$1 == "k8s.io/client-go" {print $2; exit}' "$root/$moddir/go.mod")   # v0.MINOR.PATCH
  kminor=$(echo "$kube" | cut -d. -f2)
  ldflags="-X helm.sh/helm/v3/internal/version.version=$ver"
  for p in pkg/chartutil pkg/lint/rules; do
    ldflags="$ldflags -X helm.sh/helm/v3/$p.k8sVersionMajor=1 -X helm.sh/helm/v3/$p.k8sVersionMinor=$kminor"
  done
  stamp=-k1.$kminor
fi
if [ "$name" = promtool ]; then
  # Prometheus 3.x is tagged v0.3MM.P as a Go module: v0.316.0 is 3.16.0.
  ldflags="-X github.com/prometheus/common/version.Version=3.${ver#v0.3}"
fi
bin=${XDG_CACHE_HOME:-$HOME/.cache}/dynamo-infra/tools/$name-$ver$stamp-$(go env GOVERSION)
if [ ! -x "$bin" ]; then
  echo "building $name $ver into $(dirname "$bin") (once)" >&2
  mkdir -p "$(dirname "$bin")"
  # A temporary name of its own: two test packages may build the same tool at once.
  tmp=$(mktemp "$bin.XXXXXX")
  trap 'rm -f "$tmp"' EXIT
  (cd "$root/$moddir" && go build -ldflags "$ldflags" -o "$tmp" "$pkg")
  mv "$tmp" "$bin"
fi
cd "${TOOL_DIR:-$root}" && exec "$bin" "$@"
