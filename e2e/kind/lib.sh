# shellcheck shell=bash disable=SC2034 # sourced by kind-up.sh, kind-down.sh, drill.sh
kind_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$kind_here/../.." && pwd)"
ECHONET_KIND_CLUSTER="${ECHONET_KIND_CLUSTER:-echonet}"
ECHONET_KIND_OPERATOR_NS="${ECHONET_KIND_OPERATOR_NS:-echonet-system}"
ECHONET_KIND_NETWORK_NS="${ECHONET_KIND_NETWORK_NS:-echonet-demo}"
ECHONET_IMAGES_OUT="${ECHONET_IMAGES_OUT:-$repo_root/dist/images}"
export ECHONET_IMAGES_OUT
log() { printf '[%s %s] %s\n' "${0##*/}" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
need() { command -v "$1" >/dev/null || die "$1 is not on PATH ($2)"; }
