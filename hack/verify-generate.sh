#!/usr/bin/env bash
# Fails when the generated deepcopy functions, CRDs, RBAC or the chart's copies of them (and of
# the graph-author policy) are stale.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$root"
for pkg in v1alpha1 v1beta1; do
  hack/tool.sh controller-gen object:headerFile=hack/boilerplate.go.txt paths=./api/$pkg output:object:stdout > "$tmp/deepcopy.go"
  diff -u api/$pkg/zz_generated.deepcopy.go "$tmp/deepcopy.go" || { echo "api/$pkg deepcopy is stale: run 'make generate'" >&2; exit 1; }
done
hack/tool.sh controller-gen crd:allowDangerousTypes=true,generateEmbeddedObjectMeta=true paths=./api/... output:crd:artifacts:config="$tmp/crd"
go run ./hack/crdpatch "$tmp/crd/nvidia.com_dynamographdeployments.yaml"
diff -ru config/crd/bases "$tmp/crd" || { echo "CRDs are stale: run 'make generate'" >&2; exit 1; }
hack/tool.sh controller-gen rbac:roleName=dynamo-operator paths=./internal/controller/... output:rbac:artifacts:config="$tmp/rbac"
diff -ru config/rbac "$tmp/rbac" || { echo "RBAC is stale: run 'make generate'" >&2; exit 1; }
hack/chart-crds.sh config/crd/bases "$tmp/chart-crds"
diff -ru charts/dynamo-operator/templates/crds "$tmp/chart-crds" || { echo "the chart's CRDs are stale: run 'make generate'" >&2; exit 1; }
diff -u config/rbac/role.yaml charts/dynamo-operator/files/operator-role.yaml || { echo "the chart's operator role is stale: run 'make generate'" >&2; exit 1; }
diff -u config/admission/graph-author-policy.yaml charts/dynamo-operator/files/graph-author-policy.yaml || { echo "the chart's graph-author policy is stale: run 'make generate'" >&2; exit 1; }
hack/monitoring-crds.sh "$tmp/mon"
for f in config/thirdparty/prometheus-operator/*.yaml; do
  diff -u "$f" "$tmp/mon/$(basename "$f")" || { echo "$f is stale: run 'make generate'" >&2; exit 1; }
done
[ "$(ls config/thirdparty/prometheus-operator | wc -l)" = 2 ] || { echo "config/thirdparty/prometheus-operator: want the ServiceMonitor and PodMonitor CRDs only" >&2; exit 1; }
hack/istio-crds.sh "$tmp/istio"
diff -ru config/thirdparty/istio "$tmp/istio" || { echo "config/thirdparty/istio is stale: run 'make generate'" >&2; exit 1; }
hack/gaie-crds.sh "$tmp/gaie"
diff -ru config/thirdparty/gaie "$tmp/gaie" || { echo "config/thirdparty/gaie is stale: run 'make generate'" >&2; exit 1; }
