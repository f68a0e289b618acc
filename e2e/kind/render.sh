#!/usr/bin/env bash
# Prints what `make kind-up` installs with helm, with the images `make images` built (pinned by
# digest from dist/images/values.yaml): the namespaces and the chart rendered by `helm template`
# (CRDs included). kind-up.sh then applies charts/echonet-operator/examples/network.yaml; the
# kind test (e2e/kind/kind.cluster.test.ts) checks both with a server-side dry run.
#   e2e/kind/render.sh [helm binary]
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
helm="${1:-helm}"
values="$ECHONET_IMAGES_OUT/values.yaml"
[[ -f "$values" ]] || die "$values is missing: run make images first"
cat <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: $ECHONET_KIND_OPERATOR_NS
---
apiVersion: v1
kind: Namespace
metadata:
  name: $ECHONET_KIND_NETWORK_NS
---
YAML
"$helm" template echonet-operator "$repo_root/charts/echonet-operator" --namespace "$ECHONET_KIND_OPERATOR_NS" \
  --include-crds -f "$values"
