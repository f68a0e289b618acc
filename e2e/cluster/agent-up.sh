#!/usr/bin/env bash
# Start the local node agent (e2e/agent: a development/CI stand-in for the kubelet, not for
# production) in the background against the cluster started by cluster-up.sh. Idempotent.
#
#   e2e/cluster/agent-up.sh                      # Node local-agent-0, pods on 127.1.0.0/16
#   ECHONET_AGENT_NODE=local-agent-1 e2e/cluster/agent-up.sh --pod-cidr 127.2.0.0/16
#
# Extra arguments go to the agent (node e2e/agent/main.ts --help). Log: logs/agent.log (or
# logs/agent-<node>.log for another node name), pid file: run/agent[-<node>].pid, state:
# agent/ in $ECHONET_CLUSTER_DIR. The agent authenticates with its own client certificate
# (CN=echonet-local-agent, group system:masters), so its writes are told apart from the admin's
# in the audit log. Waits until the Node is Ready. Stop with agent-down.sh.
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=SCRIPTDIR/agent-lib.sh
source "$cluster_here/agent-lib.sh"

timeout_s="${ECHONET_UP_TIMEOUT:-60}"
[[ -f "$kubeconfig" ]] || die "no cluster at $ECHONET_CLUSTER_DIR; run cluster-up.sh first"
node_bin="$(agent_node_bin)" || die "Node.js >= 24 not found (expected $repo_root/.tools/node-v24*/bin/node or node on PATH)"

if pid="$(agent_running_pid)"; then
  log "agent for node $agent_node already running (pid $pid)"
  exit 0
fi

# Own identity: a client certificate signed by the cluster CA (generated once).
agent_kubeconfig="$ECHONET_CLUSTER_DIR/agent.kubeconfig"
if [[ ! -f "$pki_dir/local-agent.crt" || ! -f "$pki_dir/local-agent.key" ]]; then
  log "generating client certificate for the local agent"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki_dir/local-agent.key" 2>/dev/null
  chmod 600 "$pki_dir/local-agent.key"
  ext="$pki_dir/local-agent.ext"
  printf '%s\n' "basicConstraints = critical,CA:FALSE" "keyUsage = critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage = clientAuth" >"$ext"
  openssl req -new -key "$pki_dir/local-agent.key" -subj "/O=system:masters/CN=echonet-local-agent" \
    -out "$pki_dir/local-agent.csr" 2>/dev/null
  openssl x509 -req -in "$pki_dir/local-agent.csr" -CA "$pki_dir/ca.crt" -CAkey "$pki_dir/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 3650 -extfile "$ext" -out "$pki_dir/local-agent.crt" 2>/dev/null
  rm -f "$pki_dir/local-agent.csr" "$ext"
fi
tmp="$agent_kubeconfig.tmp.$$"
cat >"$tmp" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: echonet-local
    cluster:
      server: $apiserver_url
      certificate-authority-data: $(base64 -w0 <"$pki_dir/ca.crt")
users:
  - name: echonet-local-agent
    user:
      client-certificate-data: $(base64 -w0 <"$pki_dir/local-agent.crt")
      client-key-data: $(base64 -w0 <"$pki_dir/local-agent.key")
contexts:
  - name: echonet-local
    context: {cluster: echonet-local, user: echonet-local-agent}
current-context: echonet-local
KUBECONFIG
chmod 600 "$tmp"
mv -f "$tmp" "$agent_kubeconfig"

mkdir -p "$run_dir" "$log_dir"
log_offset=$(($(stat -c %s "$agent_log" 2>/dev/null || echo 0) + 1))
{
  echo
  echo "=== $(date -u +%FT%TZ) starting local agent for node $agent_node"
} >>"$agent_log"
# PATH first entry: the Node.js that runs the agent, so pods' `node` commands find the same one.
PATH="$(dirname "$node_bin"):$PATH" setsid "$node_bin" "$repo_root/e2e/agent/main.ts" \
  --node-name "$agent_node" \
  --kubeconfig "$agent_kubeconfig" \
  --state-dir "$ECHONET_CLUSTER_DIR/agent" \
  "$@" >>"$agent_log" 2>&1 </dev/null &
echo "$!" >"$agent_pid_file"
log "started local agent (pid $!, node $agent_node), log $agent_log"

# Ready as written by this agent (the Node may still show Ready from an earlier one).
deadline=$((SECONDS + timeout_s))
until tail -c "+$log_offset" "$agent_log" | grep -q ' agent started ' &&
  [[ "$(kubectl --kubeconfig "$kubeconfig" get node "$agent_node" \
  -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]; do
  if ! agent_running_pid >/dev/null; then
    log "the agent exited; last lines of $agent_log:"
    tail -n 30 "$agent_log" >&2 || true
    exit 1
  fi
  if ((SECONDS >= deadline)); then
    log "timed out after ${timeout_s}s waiting for node $agent_node to be Ready; last lines of $agent_log:"
    tail -n 30 "$agent_log" >&2 || true
    exit 1
  fi
  sleep 0.5
done
log "node $agent_node is Ready"
