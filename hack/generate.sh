#!/usr/bin/env bash
# make generate: deepcopy functions and CRDs from the API types' markers, RBAC from the
# reconciler's markers, the Helm chart's copies of both (templates/crds/ and files/) and of the
# graph-author admission policy (config/admission), and the
# Prometheus Operator's ServiceMonitor/PodMonitor CRDs from its API types (tools/monitoringcrds),
# which tests install before dry-running the chart's monitors, and Istio's VirtualService CRD
# from its API module (tools/istiocrds), which tests install to apply a graph's VirtualService,
# and the Gateway API Inference Extension's InferencePool CRD (tools/gaiecrds), which the dev
# cluster installs for a graph's Endpoint Picker.
# Usage: hack/generate.sh [CRD_DIR]   (default config/crd/bases)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
crd_dir=${1:-config/crd/bases}
cd "$root"
hack/tool.sh controller-gen object:headerFile=hack/boilerplate.go.txt paths=./api/...
hack/tool.sh controller-gen crd:allowDangerousTypes=true,generateEmbeddedObjectMeta=true paths=./api/... output:crd:artifacts:config="$crd_dir"
go run ./hack/crdpatch "$crd_dir/nvidia.com_dynamographdeployments.yaml"
hack/tool.sh controller-gen rbac:roleName=dynamo-operator paths=./internal/controller/... output:rbac:artifacts:config=config/rbac
# The chart ships the same CRDs as templates (so helm upgrade upgrades them) and the operator's
# rules (templates read files/operator-role.yaml).
rm -rf charts/dynamo-operator/templates/crds
hack/chart-crds.sh config/crd/bases charts/dynamo-operator/templates/crds
cp config/rbac/role.yaml charts/dynamo-operator/files/operator-role.yaml
# The graph-author admission policy: one source (config/admission), the chart names and binds it.
cp config/admission/graph-author-policy.yaml charts/dynamo-operator/files/graph-author-policy.yaml
# ServiceMonitor and PodMonitor only: the chart renders no other Prometheus Operator kind.
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
hack/monitoring-crds.sh "$tmp"
rm -rf config/thirdparty/prometheus-operator && mkdir -p config/thirdparty/prometheus-operator
cp "$tmp"/monitoring.coreos.com_{servicemonitors,podmonitors}.yaml config/thirdparty/prometheus-operator/
# Istio's VirtualService CRD (a graph's ingress with useVirtualService renders one).
rm -rf config/thirdparty/istio && mkdir -p config/thirdparty/istio
hack/istio-crds.sh config/thirdparty/istio
# The InferencePool CRD (a graph's Endpoint Picker renders one; the dev cluster installs it).
rm -rf config/thirdparty/gaie && mkdir -p config/thirdparty/gaie
hack/gaie-crds.sh config/thirdparty/gaie
