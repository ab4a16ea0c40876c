#!/usr/bin/env bash
# Writes the Gateway API Inference Extension's InferencePool CRD (inference.networking.k8s.io,
# the stable v1 API upstream Dynamo renders) into DIR, taken from the module pinned in
# tools/gaiecrds: the dev cluster installs it, and a graph's Endpoint Picker renders a pool.
# Usage: hack/gaie-crds.sh DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:?usage: hack/gaie-crds.sh DIR}" && cd "$1" && pwd)
dir=$(cd "$root/tools/gaiecrds" && go mod download -json sigs.k8s.io/gateway-api-inference-extension | awk -F'"' '$2 == "Dir" {print $4}')
crd=inference.networking.k8s.io_inferencepools.yaml
cp "$dir/config/crd/bases/$crd" "$out/$crd"
chmod 0644 "$out/$crd"
grep -q '^  name: inferencepools.inference.networking.k8s.io$' "$out/$crd"
