#!/usr/bin/env bash
# `make kind-down`: deletes the kind cluster that `make kind-up` created.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need kind "https://kind.sigs.k8s.io"
kind delete cluster --name "$ECHONET_KIND_CLUSTER"
