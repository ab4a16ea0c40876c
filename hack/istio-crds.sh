#!/usr/bin/env bash
# Writes Istio's VirtualService CRD into DIR, taken from the CRD manifest of the istio.io/api
# module pinned in tools/istiocrds (the tests apply a graph's VirtualService against its schema).
# Usage: hack/istio-crds.sh DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:?usage: hack/istio-crds.sh DIR}" && cd "$1" && pwd)
dir=$(cd "$root/tools/istiocrds" && go mod download -json istio.io/api | awk -F'"' '$2 == "Dir" {print $4}')
# One document of the manifest: the one that names virtualservices.networking.istio.io.
awk -v RS='\n---\n' '/\n  name: virtualservices\.networking\.istio\.io\n/ {print "---"; print}' \
  "$dir/kubernetes/customresourcedefinitions.gen.yaml" > "$out/networking.istio.io_virtualservices.yaml"
grep -q '^  name: virtualservices.networking.istio.io$' "$out/networking.istio.io_virtualservices.yaml"
