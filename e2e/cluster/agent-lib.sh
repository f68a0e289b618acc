# shellcheck shell=bash disable=SC2034,SC2154 # set here for, and from, the scripts that source this (after lib.sh)
# Shared by agent-up.sh and agent-down.sh (sourced after lib.sh).

agent_node="${ECHONET_AGENT_NODE:-local-agent-0}"
if [[ "$agent_node" == local-agent-0 ]]; then
  agent_pid_file="$run_dir/agent.pid"
  agent_log="$log_dir/agent.log"
else
  agent_pid_file="$run_dir/agent-$agent_node.pid"
  agent_log="$log_dir/agent-$agent_node.log"
fi

# Prints the pid of the running agent, or fails (guards against a recycled pid).
agent_running_pid() {
  local pid
  [[ -f "$agent_pid_file" ]] || return 1
  pid="$(cat "$agent_pid_file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'e2e/agent/main\.ts' || return 1
  echo "$pid"
}

# Prints a Node.js >= 24 binary: the repo's bootstrap one, else `node` on PATH.
agent_node_bin() {
  local candidate major
  for candidate in "$repo_root"/.tools/node-v24*/bin/node "$(command -v node 2>/dev/null || true)"; do
    [[ -n "$candidate" && -x "$candidate" ]] || continue
    major="$("$candidate" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
    if ((major >= 24)); then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

# After agents stopped: removes the pod network namespaces (--pod-network=netns) no process uses
# any more — what a killed agent left — and the bridge once no pod is on it. Live pods of agents
# still running keep theirs (a running agent also re-creates a missing one before a start).
sweep_pod_networks() {
  local ns
  command -v ip >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]] || return 0
  while read -r ns _; do
    [[ "$ns" == echonet-* ]] || continue
    [[ -z "$(ip netns pids "$ns" 2>/dev/null)" ]] || continue
    # Its veth pair goes with it.
    if ip netns del "$ns" 2>/dev/null; then log "removed pod network namespace $ns"; fi
  done < <(ip netns list 2>/dev/null)
  if [[ -e /sys/class/net/echonet0 ]] && [[ -z "$(ip -o link show master echonet0 2>/dev/null)" ]]; then
    if ip link del echonet0 2>/dev/null; then log "removed the pod bridge echonet0"; fi
    if command -v iptables >/dev/null 2>&1; then
      iptables -D FORWARD -i echonet0 -o echonet0 -j ACCEPT 2>/dev/null || true
    fi
  fi
}
