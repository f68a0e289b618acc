#!/usr/bin/env bash
# Stops the local machines (node agents) a drill left running (`make up`): each agent stops its pods'
# processes, then exits. Idempotent.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=SCRIPTDIR/agent-lib.sh
source "$cluster_here/agent-lib.sh"
for pidfile in "$ECHONET_CLUSTER_DIR"/scenario-a/machine-*/agent.pid; do
  [[ -f "$pidfile" ]] || continue
  pid="$(cat "$pidfile")"
  if [[ "$pid" =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'e2e/agent/main\.ts'; then
    log "stopping machine $(basename "$(dirname "$pidfile")") (agent pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
done
sweep_pod_networks
