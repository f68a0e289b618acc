#!/usr/bin/env bash
# `make up`: the local cluster (built on first use), a node agent, the operator from the Helm
# chart, the example network (plus funded drill accounts) — then the drill on it.
# Leaves everything running; `make down` stops it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"
ns="${ECHONET_DEMO_NAMESPACE:-echonet-demo}"
export KUBECONFIG="$repo/.cluster/kubeconfig"

"$here/build-binaries.sh" helm
"$here/cluster-up.sh"
"$here/agent-up.sh"
helm="$ECHONET_BIN_DIR/helm"
export HELM_CACHE_HOME="$repo/.cluster/helm/cache" HELM_CONFIG_HOME="$repo/.cluster/helm/config" HELM_DATA_HOME="$repo/.cluster/helm/data"
log "installing the operator (helm upgrade --install echonet charts/echonet-operator -n echonet-system)"
"$helm" upgrade --install echonet "$repo/charts/echonet-operator" -n echonet-system --create-namespace --wait --timeout 180s
kubectl get namespace "$ns" >/dev/null 2>&1 || kubectl create namespace "$ns"
log "applying the example network to namespace $ns"
node "$here/demo-network.ts" 16 | kubectl apply -n "$ns" -f -
log "waiting for the network to be Ready (first start: ~1 min)"
wait_explained "$ns" echonetnetwork/testnet Ready 300
kubectl get -n "$ns" echonet
node "$here/drill.ts" --namespace "$ns" --network testnet
cat <<MSG

The network keeps running:
  export KUBECONFIG=$KUBECONFIG
  kubectl get -n $ns echonet,pods
  kubectl describe -n $ns echonetnetwork testnet     # conditions and Events
  kubectl scale -n $ns witnesspool/standbys --replicas=3
Drill report: .cluster/drill-report.md. Stop everything: make down
MSG
