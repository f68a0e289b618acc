#!/usr/bin/env bash
# Stop the local node agent started by agent-up.sh. Idempotent.
#
#   e2e/cluster/agent-down.sh               # SIGTERM: the agent stops its pods' processes, then exits
#   e2e/cluster/agent-down.sh --keep-pods   # SIGUSR2: exit, leave the processes for the next agent
#   e2e/cluster/agent-down.sh --delete-node # also delete the Node object (its pods get evicted/GC'd)
#
# ECHONET_AGENT_NODE selects the agent (default local-agent-0). The Node stays registered
# (as with a stopped kubelet); the node lifecycle controller marks it NotReady after ~50 s.
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=SCRIPTDIR/agent-lib.sh
source "$cluster_here/agent-lib.sh"

signal=TERM
delete_node=0
for arg in "$@"; do
  case "$arg" in
    --keep-pods) signal=USR2 ;;
    --delete-node) delete_node=1 ;;
    -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
    *) die "unknown argument: $arg" ;;
  esac
done

# The agent gives each pod process up to 10 s after SIGTERM; allow for that.
stop_timeout="${ECHONET_STOP_TIMEOUT:-30}"

if pid="$(agent_running_pid)"; then
  log "stopping local agent for node $agent_node (pid $pid, SIG$signal)"
  kill "-$signal" "$pid" 2>/dev/null || true
  deadline=$((SECONDS + stop_timeout))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "agent did not exit within ${stop_timeout}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
else
  log "local agent for node $agent_node is not running"
fi
rm -f "$agent_pid_file"
sweep_pod_networks

if [[ $delete_node == 1 && -f "$kubeconfig" ]]; then
  kubectl --kubeconfig "$kubeconfig" delete node "$agent_node" --ignore-not-found --wait=false
fi
