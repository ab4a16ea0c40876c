#!/usr/bin/env bash
# make demo: bring the simulated GPU cluster and the dev services (NATS, etcd) up, show the
# nodes, schedule GPU workloads onto them with the real kube-scheduler, run preflight, let the
# operator reconcile the example graph with the dev services' addresses, print the result, and
# bring everything down (also on error or Ctrl-C).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dynamoctl="$root/bin/dynamoctl"
dir="$root/.demo/cluster"
services_dir="$root/.demo/services"
profile=${DEMO_PROFILE:-h100=2,a100-mig=1,l4=1,cpu=1}

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
operator_pid=
cleanup() {
  if [ -n "$operator_pid" ]; then
    say "Stopping the operator"
    kill "$operator_pid" 2>/dev/null || true
    wait "$operator_pid" 2>/dev/null || true
  fi
  say "Stopping the cluster and the dev services"
  "$dynamoctl" dev cluster down --dir "$dir" || true
  "$dynamoctl" dev services down --dir "$services_dir" || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v kubectl >/dev/null || { echo "demo: kubectl is needed to show the cluster (install it, e.g. apt-get install kubectl)" >&2; exit 1; }

say "Starting a simulated GPU cluster ($profile)"
"$dynamoctl" dev cluster down --dir "$dir" >/dev/null 2>&1 || true
eval "$("$dynamoctl" dev cluster up --dir "$dir" --profile "$profile")"
echo "KUBECONFIG=$KUBECONFIG"

say "Starting NATS (JetStream) and etcd: dynamoctl dev services up"
"$dynamoctl" dev services down --dir "$services_dir" >/dev/null 2>&1 || true
eval "$("$dynamoctl" dev services up --dir "$services_dir" --data-dir "$services_dir/data")"
echo "NATS_SERVER=$NATS_SERVER ETCD_ENDPOINTS=$ETCD_ENDPOINTS"

say "Cluster status"
"$dynamoctl" dev cluster status --dir "$dir"

say "kubectl get nodes (GFD labels)"
kubectl version 2>/dev/null | grep -i server || true
kubectl get nodes -L nvidia.com/gpu.product,nvidia.com/gpu.count,nvidia.com/mig.strategy,topology.kubernetes.io/zone

say "Scheduling 3 x 8-GPU replicas and one MIG 1g.10gb pod"
kubectl apply -f deploy/examples/gpu-demo.yaml
# kubectl wait cannot wait for "2 of 3"; poll with a deadline instead.
deadline=$((SECONDS + 60))
until [ "$(kubectl get pods -l app.kubernetes.io/name=gpu-demo --field-selector=status.phase=Running --no-headers 2>/dev/null | wc -l)" -ge 2 ] \
   && kubectl get events --field-selector reason=FailedScheduling --no-headers 2>/dev/null | grep -q 'Insufficient nvidia.com/gpu' \
   && [ "$(kubectl get pod mig-demo -o jsonpath='{.status.phase}' 2>/dev/null)" = Running ]; do
  [ $SECONDS -lt $deadline ] || { echo "demo: pods did not settle in 60s" >&2; kubectl get pods -o wide; exit 1; }
  sleep 1
done
kubectl get pods -o wide

say "Why the third replica is Pending"
kubectl get events --field-selector reason=FailedScheduling -o custom-columns=POD:.involvedObject.name,MESSAGE:.message --no-headers | head -1

say "Preflight: dynamoctl preflight -f deploy/discovery/dgd.yaml --nats \$NATS_SERVER --etcd \$ETCD_ENDPOINTS"
# The simulated cluster has no storage provisioner and no GPU Operator: those two checks fail
# there (exit 1), and the demo goes on. dgd-fits places the graph on the GPUs still free; nats
# and etcd talk to the dev services.
"$dynamoctl" preflight -f deploy/discovery/dgd.yaml --nats "$NATS_SERVER" --etcd "$ETCD_ENDPOINTS" \
  || echo "(preflight exit $?: expected on the simulated cluster)"

say "A DynamoGraphDeployment: CRD, operator, deploy/discovery/dgd.yaml"
kubectl apply --server-side -f config/crd/bases/
for _ in $(seq 100); do
  [ "$(kubectl get crd dynamographdeployments.nvidia.com -o jsonpath='{.status.conditions[?(@.type=="Established")].status}' 2>/dev/null)" = True ] && break
  sleep 0.2
done
# The simulated pods run nowhere, so 127.0.0.1 is fine here; on a real cluster give addresses
# that pods can reach (a Service in front of NATS and etcd).
# Graphs are stored as nvidia.com/v1beta1 and converted to and from v1alpha1 by the operator's
# webhook, served here on 127.0.0.1 (the API server runs on this machine): the operator makes
# its certificate and points the CRD's conversion at itself.
webhook_port=$((20000 + RANDOM % 20000))
"$root/bin/dynamo-operator" --metrics-bind-address=0 --health-probe-bind-address=0 \
  --nats-address="$NATS_SERVER" --etcd-address="$ETCD_ENDPOINTS" \
  --webhook-port="$webhook_port" --webhook-url="https://127.0.0.1:$webhook_port" --webhook-cert-secret=default/dynamo-operator-webhook-cert \
  >"$dir/operator.log" 2>&1 &
operator_pid=$!
for _ in $(seq 150); do
  [ "$(kubectl get crd dynamographdeployments.nvidia.com -o jsonpath='{.spec.conversion.webhook.clientConfig.url}' 2>/dev/null)" = "https://127.0.0.1:$webhook_port/convert" ] && break
  sleep 0.2
done
kubectl apply -f deploy/discovery/dgd.yaml
deadline=$((SECONDS + 90))
until [ "$(kubectl get dgd qwen-disagg -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; do
  [ $SECONDS -lt $deadline ] || { echo "demo: the graph did not become Ready in 90s" >&2; kubectl get dgd qwen-disagg -o yaml; tail -20 "$dir/operator.log"; exit 1; }
  sleep 1
done
kubectl get dgd
kubectl get deployments,services -l nvidia.com/dynamo-graph-deployment-name=qwen-disagg
echo "Injected into every component (from the dev services):"
kubectl get deployments -l nvidia.com/dynamo-graph-deployment-name=qwen-disagg \
  -o jsonpath='{range .items[*]}{"  "}{.metadata.name}{": "}{range .spec.template.spec.containers[0].env[?(@.name=="NATS_SERVER")]}NATS_SERVER={.value}{end}{" "}{range .spec.template.spec.containers[0].env[?(@.name=="ETCD_ENDPOINTS")]}ETCD_ENDPOINTS={.value}{end}{"\n"}{end}'

say "Dev services: dynamoctl dev services status"
"$dynamoctl" dev services status --dir "$services_dir"

say "GPU inventory: dynamoctl gpus --aggregate"
"$dynamoctl" gpus --aggregate

say "Result"
running=$(kubectl get pods -l app.kubernetes.io/name=gpu-demo --field-selector=status.phase=Running -o jsonpath='{range .items[*]}{.spec.nodeName}{" "}{end}')
echo "8-GPU replicas Running on: $running(one per H100 node); 1 Pending: Insufficient nvidia.com/gpu"
echo "MIG pod Running on: $(kubectl get pod mig-demo -o jsonpath='{.spec.nodeName}')"
echo "Graph qwen-disagg: $(kubectl get dgd qwen-disagg -o jsonpath='{.status.state}'), $(kubectl get dgd qwen-disagg -o jsonpath='{.status.conditions[0].message}')"
echo "Components point at the dev services: NATS $NATS_SERVER, etcd $ETCD_ENDPOINTS"
