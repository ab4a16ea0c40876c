#!/usr/bin/env bash
# Generates the Prometheus Operator's monitoring.coreos.com/v1 CRDs into DIR with controller-gen,
# from the API types pinned in tools/monitoringcrds (descriptions dropped: tests need the schema).
# Usage: hack/monitoring-crds.sh DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:?usage: hack/monitoring-crds.sh DIR}" && cd "$1" && pwd)
TOOL_DIR="$root/tools/monitoringcrds" "$root/hack/tool.sh" controller-gen crd:crdVersions=v1,maxDescLen=0 \
  paths=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1 output:crd:dir="$out"
