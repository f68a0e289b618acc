#!/usr/bin/env bash
# Smoke test of a running local cluster (start it with cluster-up.sh first): namespaces,
# create/delete, helm, a server-side apply, and that the audit log recorded the write.
# Exits non-zero on the first failure.
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export KUBECONFIG="$kubeconfig"
[[ -f "$KUBECONFIG" ]] || die "no kubeconfig at $KUBECONFIG; run cluster-up.sh"
helm="$ECHONET_BIN_DIR/helm"
[[ -x "$helm" ]] || die "$helm missing; run build-binaries.sh helm"
# Keep helm's cache/config out of the developer's home.
export HELM_CACHE_HOME="$ECHONET_CLUSTER_DIR/helm/cache"
export HELM_CONFIG_HOME="$ECHONET_CLUSTER_DIR/helm/config"
export HELM_DATA_HOME="$ECHONET_CLUSTER_DIR/helm/data"

step() { log "--- $*"; }

step "kubectl version / get --raw /readyz"
kubectl version
kubectl get --raw /readyz
echo

step "kubectl get ns"
kubectl get ns

step "create and delete namespace smoke"
# A leftover from an interrupted run would make `create` fail; start clean.
kubectl delete ns smoke --ignore-not-found --wait=true
kubectl create ns smoke
# --wait: the namespace controller in kube-controller-manager must finalize it.
kubectl delete ns smoke --wait=true --timeout=120s
if kubectl get ns smoke >/dev/null 2>&1; then die "namespace smoke still exists"; fi

step "helm version"
"$helm" version
"$helm" list --all-namespaces

step "server-side apply of a ConfigMap"
name="smoke-$(date +%s)-$$"
kubectl apply --server-side --field-manager=echonet-smoke -f - <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: $name
  namespace: default
data:
  hello: world
EOF
[[ "$(kubectl get configmap "$name" -o jsonpath='{.data.hello}')" == world ]] ||
  die "ConfigMap $name does not hold the applied data"

step "audit log records the apply"
# Server-side apply is a PATCH (application/apply-patch+yaml) and shows up as verb "patch".
found=0
for _ in $(seq 1 20); do
  if grep -F "\"name\":\"$name\"" "$audit_log" | grep -F '"verb":"patch"' | grep -q '"stage":"ResponseComplete"'; then
    found=1
    break
  fi
  sleep 0.5
done
[[ $found == 1 ]] || die "audit log $audit_log has no ResponseComplete patch entry for ConfigMap $name"
grep -F "\"name\":\"$name\"" "$audit_log" | tail -n 1
echo

kubectl delete configmap "$name"

log "smoke test passed"
