#!/usr/bin/env bash
# Stop the local control plane started by cluster-up.sh (by its pid files: SIGTERM, then
# SIGKILL after $ECHONET_STOP_TIMEOUT seconds). Idempotent.
#
#   e2e/cluster/cluster-down.sh           # stop; keep etcd data, certificates and logs
#   e2e/cluster/cluster-down.sh --purge   # stop and delete $ECHONET_CLUSTER_DIR
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

purge=0
for arg in "$@"; do
  case "$arg" in
    --purge) purge=1 ;;
    -h | --help) sed -n '2,7p' "$0"; exit 0 ;;
    *) die "unknown argument: $arg" ;;
  esac
done

stop_timeout="${ECHONET_STOP_TIMEOUT:-20}"

stop() {
  local name="$1" pid deadline
  if ! pid="$(running_pid "$name")"; then
    rm -f "$(pid_file "$name")"
    log "$name is not running"
    return
  fi
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + stop_timeout))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "$name did not exit within ${stop_timeout}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$(pid_file "$name")"
}

# Reverse start order: clients first, etcd last, so nothing logs storage errors on the way down.
for ((i = ${#components[@]} - 1; i >= 0; i--)); do
  stop "${components[i]}"
done

if [[ $purge == 1 && -d "$ECHONET_CLUSTER_DIR" ]]; then
  # Only delete a directory cluster-up.sh created.
  [[ -f "$ECHONET_CLUSTER_DIR/.echonet-cluster" ]] ||
    die "$ECHONET_CLUSTER_DIR has no .echonet-cluster marker; not deleting it"
  rm -rf -- "$ECHONET_CLUSTER_DIR"
  log "removed $ECHONET_CLUSTER_DIR"
fi
log "cluster is down"
