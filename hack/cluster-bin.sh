#!/usr/bin/env bash
# Builds the simulated cluster's control-plane binaries — and the LeaderWorkerSet controller
# (tools/lws) with its CRD, taken from the same module — from source (through the Go module proxy)
# into a versioned cache folder under the user's cache dir, then links them into bin/k8s/.
# A binary already built at the pinned versions is skipped, so a warm run takes about a second.
#
# Usage: hack/cluster-bin.sh [OUT_DIR]   (default: bin/k8s)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/tools/cluster"
lws_tools="$root/tools/lws"
out=${1:-"$root/bin/k8s"}

modver() { awk -v m="$1" '$1 == m && $2 ~ /^v/ {print $2; exit}' "$tools/go.mod"; }
k8s_version=$(modver k8s.io/kubernetes)
etcd_version=$(modver go.etcd.io/etcd/server/v3)
kwok_version=$(modver sigs.k8s.io/kwok)
lws_version=$(awk '$1 == "sigs.k8s.io/lws" && $2 ~ /^v/ {print $2; exit}' "$lws_tools/go.mod")
go_version=$(go env GOVERSION)

# The cache key names every pin and the toolchain, plus a hash of go.sum so a changed dependency
# graph rebuilds; nothing is trusted across versions.
sum=$(cat "$tools/go.mod" "$tools/go.sum" "$lws_tools/go.mod" "$lws_tools/go.sum" | sha256sum | cut -c1-12)
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/dynamo-infra/cluster-bin
cache="$cache_root/k8s-$k8s_version-etcd-$etcd_version-kwok-$kwok_version-lws-$lws_version-$go_version-$sum"
mkdir -p "$cache" "$out"

build_date=$(date -u -d "@${SOURCE_DATE_EPOCH:-0}" +%Y-%m-%dT%H:%M:%SZ)
minor=${k8s_version#v1.}; minor=${minor%%.*}
k8s_ldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=$k8s_version \
 -X k8s.io/component-base/version.gitMajor=1 \
 -X k8s.io/component-base/version.gitMinor=$minor \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/component-base/version.buildDate=$build_date"
kwok_ldflags="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$kwok_version"
lws_ldflags="-s -w -X sigs.k8s.io/lws/pkg/version.GitVersion=$lws_version -X sigs.k8s.io/lws/pkg/version.BuildDate=$build_date"

# name|module dir|package|ldflags
targets=(
  "kube-apiserver|$tools|k8s.io/kubernetes/cmd/kube-apiserver|$k8s_ldflags"
  "kube-controller-manager|$tools|k8s.io/kubernetes/cmd/kube-controller-manager|$k8s_ldflags"
  "kube-scheduler|$tools|k8s.io/kubernetes/cmd/kube-scheduler|$k8s_ldflags"
  "etcd|$tools|go.etcd.io/etcd/server/v3|-s -w"
  "kwok|$tools|sigs.k8s.io/kwok/cmd/kwok|$kwok_ldflags"
  "lws|$lws_tools|sigs.k8s.io/lws/cmd|$lws_ldflags"
)

missing=()
for t in "${targets[@]}"; do
  name=${t%%|*}
  [ -x "$cache/$name" ] || missing+=("$name")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "cluster-bin: building ${missing[*]} (Kubernetes $k8s_version, etcd $etcd_version, kwok $kwok_version, LeaderWorkerSet $lws_version)" >&2
  echo "cluster-bin: a cold build takes about 10 minutes on 2 cores; later runs reuse $cache" >&2
fi

for t in "${targets[@]}"; do
  IFS='|' read -r name dir pkg ldflags <<<"$t"
  if [ ! -x "$cache/$name" ]; then
    start=$(date +%s)
    echo "cluster-bin: go build $pkg ..." >&2
    # No -trimpath: the Go build cache is shared with the tests. CGO off: static binaries.
    (cd "$dir" && CGO_ENABLED=0 go build -ldflags "$ldflags" -o "$cache/$name.tmp" "$pkg")
    mv "$cache/$name.tmp" "$cache/$name"
    echo "cluster-bin: built $name in $(( $(date +%s) - start ))s" >&2
  fi
  ln -sfn "$cache/$name" "$out/$name"
done
# The LeaderWorkerSet CRD, from the module the controller is built from.
lws_crd=leaderworkerset.x-k8s.io_leaderworkersets.yaml
if [ ! -s "$cache/$lws_crd" ]; then
  lws_dir=$(cd "$lws_tools" && go mod download -json sigs.k8s.io/lws | awk -F'"' '$2 == "Dir" {print $4}')
  cp "$lws_dir/config/crd/bases/$lws_crd" "$cache/$lws_crd.tmp"
  chmod 0644 "$cache/$lws_crd.tmp"
  mv "$cache/$lws_crd.tmp" "$cache/$lws_crd"
fi
ln -sfn "$cache/$lws_crd" "$out/$lws_crd"
printf '%s\n' "$k8s_version" >"$out/VERSION"
echo "cluster-bin: ready in $out" >&2
