#!/usr/bin/env bash
# `make up`: the local cluster (built on first use), then scenario A as a drill: four local
# machines (node agents), the operator from the Helm chart, a network of 7 active witnesses (5 of
# them on machine a) and 4 standbys with a council-signed standing recovery policy; machine a is
# lost for good and the operator recovers by itself. Leaves everything running; `make down` stops it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"
export KUBECONFIG="$repo/.cluster/kubeconfig"

"$here/build-binaries.sh" helm
"$here/cluster-up.sh"
log "scenario A drill: machines, operator (helm), network, standing policy, then machine a is lost for good"
node "$here/scenario-a-drill.ts"
cat <<MSG

The network keeps running (namespace scenario-a-demo; the operator in scenario-a-op-demo):
  export KUBECONFIG=$KUBECONFIG
  node operator/bin/kubectl-echonet.js -n scenario-a-demo status         # or: kubectl echonet ... with the plugin on PATH
  kubectl get -n scenario-a-demo echonet,disasterdeclarations,pods -o wide
  node operator/bin/kubectl-echonet.js -n scenario-a-demo report \$(kubectl get -n scenario-a-demo dd -l echonet.io/automatic=true -o name | cut -d/ -f2)
Drill report: .cluster/drill-report.md. Stop everything: make down
MSG
