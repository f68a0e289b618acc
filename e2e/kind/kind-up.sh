#!/usr/bin/env bash
# `make kind-up` (for users with Docker and kind): builds the images without Docker (`make
# images`), creates the kind cluster (e2e/kind/cluster.yaml), loads both OCI archives into its
# nodes (kind load image-archive), installs the chart pinned to the built digests, applies the
# example network and waits until it is Ready. Then: `make drill`; `make kind-down` deletes it.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need docker "kind runs its nodes as Docker containers"
need kind "https://kind.sigs.k8s.io (or: go install sigs.k8s.io/kind@latest)"
need kubectl "the Kubernetes CLI"
need helm "Helm 3 (or e2e/cluster/build-binaries.sh helm, then put ~/.cache/echonet/bin on PATH)"
docker info >/dev/null 2>&1 || die "docker cannot reach its daemon"

"$repo_root/images/build.sh"
if kind get clusters 2>/dev/null | grep -qx "$ECHONET_KIND_CLUSTER"; then
  log "kind cluster $ECHONET_KIND_CLUSTER exists; reusing it"
else
  kind create cluster --name "$ECHONET_KIND_CLUSTER" --config "$kind_here/cluster.yaml" --wait 120s
fi
kubectl config use-context "kind-$ECHONET_KIND_CLUSTER" >/dev/null
for img in echonet-node echonet-operator; do
  kind load image-archive "$ECHONET_IMAGES_OUT/$img.oci.tar" --name "$ECHONET_KIND_CLUSTER"
done
kubectl create namespace "$ECHONET_KIND_NETWORK_NS" --dry-run=client -o yaml | kubectl apply -f -
helm upgrade --install echonet-operator "$repo_root/charts/echonet-operator" \
  --namespace "$ECHONET_KIND_OPERATOR_NS" --create-namespace \
  -f "$ECHONET_IMAGES_OUT/values.yaml" --wait --timeout 5m
kubectl apply -n "$ECHONET_KIND_NETWORK_NS" -f "$repo_root/charts/echonet-operator/examples/network.yaml"
log "waiting for the example network to become Ready"
kubectl wait -n "$ECHONET_KIND_NETWORK_NS" echonetnetwork/testnet --for=condition=Ready --timeout=10m
kubectl get -n "$ECHONET_KIND_NETWORK_NS" echonet,pods -o wide
cat <<MSG

kind cluster $ECHONET_KIND_CLUSTER is up (context kind-$ECHONET_KIND_CLUSTER), images:
$(cat "$ECHONET_IMAGES_OUT/images.json" | grep '"ref"')
Next: make drill (loses a witness pod and measures the recovery); make kind-down deletes the cluster.
MSG
