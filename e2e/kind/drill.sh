#!/usr/bin/env bash
# `make drill`: a pod-loss drill against the current kubectl context (kind after `make kind-up`,
# or any cluster running the example network): deletes one active witness pod without grace, as a
# crashed machine would lose it, and measures how long until the operator has replaced it and
# the network is Ready again with its finalized height moving.
#   e2e/kind/drill.sh [namespace] [network]
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need kubectl "the Kubernetes CLI"
ns="${1:-$ECHONET_KIND_NETWORK_NS}"
net="${2:-testnet}"
height() { kubectl get -n "$ns" "echonetnetwork/$net" -o jsonpath='{.status.finalizedHeight}'; }
kubectl wait -n "$ns" "echonetnetwork/$net" --for=condition=Ready --timeout=5m >/dev/null
victim="$(kubectl get pods -n "$ns" -l "echonet.io/network=$net,echonet.io/role=witness" -o jsonpath='{.items[0].metadata.name}')"
[[ -n "$victim" ]] || die "no witness pod of $net in $ns"
h0="$(height)"
log "network $ns/$net Ready at finalized height $h0; deleting witness pod $victim (grace 0)"
start=$SECONDS
kubectl delete pod -n "$ns" "$victim" --grace-period=0 --force --wait=false >/dev/null 2>&1
sleep 2
kubectl wait -n "$ns" "pod/$victim" --for=condition=Ready --timeout=5m >/dev/null
kubectl wait -n "$ns" "echonetnetwork/$net" --for=condition=Ready --timeout=5m >/dev/null
while (($(height) <= h0)); do
  ((SECONDS - start < 300)) || die "finalized height stuck at $(height)"
  sleep 1
done
log "recovered in $((SECONDS - start)) s: $victim Ready again, network Ready, finalized height $(height) (was $h0)"
