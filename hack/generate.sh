#!/usr/bin/env bash
# make generate: deepcopy functions and CRDs from the API types' markers.
# Usage: hack/generate.sh [CRD_DIR]   (default config/crd/bases)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
crd_dir=${1:-config/crd/bases}
cd "$root"
hack/tool.sh controller-gen object:headerFile=hack/boilerplate.go.txt paths=./api/...
hack/tool.sh controller-gen crd:allowDangerousTypes=false paths=./api/... output:crd:artifacts:config="$crd_dir"
hack/tool.sh controller-gen rbac:roleName=dynamo-operator paths=./internal/controller/... output:rbac:artifacts:config=config/rbac
