# shellcheck shell=bash disable=SC2034 # variables are used by the scripts that source this
# Shared settings for cluster-up.sh, cluster-down.sh and smoke.sh (sourced, not run).
# Every path and port can be overridden by the environment so that two clusters (or a
# cluster and something else) can coexist on one machine.

cluster_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$cluster_here/../.." && pwd)"

ECHONET_CACHE="${ECHONET_CACHE:-$HOME/.cache/echonet}"
ECHONET_BIN_DIR="${ECHONET_BIN_DIR:-$ECHONET_CACHE/bin}"
ECHONET_CLUSTER_DIR="${ECHONET_CLUSTER_DIR:-$repo_root/.cluster}"

# Non-default etcd ports so a developer's own etcd on 2379/2380 does not clash.
ECHONET_ETCD_PORT="${ECHONET_ETCD_PORT:-23790}"
ECHONET_ETCD_PEER_PORT="${ECHONET_ETCD_PEER_PORT:-23800}"
ECHONET_APISERVER_PORT="${ECHONET_APISERVER_PORT:-6443}"
ECHONET_KCM_PORT="${ECHONET_KCM_PORT:-10257}"
ECHONET_SCHEDULER_PORT="${ECHONET_SCHEDULER_PORT:-10259}"
ECHONET_SERVICE_CIDR="${ECHONET_SERVICE_CIDR:-10.0.0.0/24}"
# First address of the service range: the ClusterIP of kubernetes.default.
ECHONET_SERVICE_IP="${ECHONET_SERVICE_IP:-10.0.0.1}"

# The host's address on the bridge of the local agent's pod network namespaces (--pod-network=netns,
# e2e/agent/pod-net.ts GATEWAY): pods reach the apiserver there (a forwarder of the agent), so the
# apiserver's certificate names it.
ECHONET_POD_GATEWAY=10.244.0.1

pki_dir="$ECHONET_CLUSTER_DIR/pki"
run_dir="$ECHONET_CLUSTER_DIR/run"
log_dir="$ECHONET_CLUSTER_DIR/logs"
etcd_data_dir="$ECHONET_CLUSTER_DIR/etcd"
kubeconfig="$ECHONET_CLUSTER_DIR/kubeconfig"
audit_log="$log_dir/audit.log"
apiserver_url="https://127.0.0.1:$ECHONET_APISERVER_PORT"

# Start order; cluster-down stops in reverse.
components=(etcd kube-apiserver kube-controller-manager kube-scheduler)

log() { printf '[%s %s] %s\n' "${0##*/}" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

pid_file() { echo "$run_dir/$1.pid"; }

# Prints the pid of a running component, or fails. The cmdline check guards against a
# stale pid file whose pid was reused by an unrelated process.
running_pid() {
  local f pid argv0
  f="$(pid_file "$1")"
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  IFS= read -r -d '' argv0 <"/proc/$pid/cmdline" || true
  [[ "$argv0" == */"$1" ]] || return 1
  echo "$pid"
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Waits for a condition like `kubectl wait`; when it gives up, prints why: the object's
# conditions and its last Events (issue 14: "timed out waiting for the condition" says nothing).
#   wait_explained <namespace> <kind/name> <condition> <timeout-seconds>
wait_explained() {
  local ns="$1" obj="$2" cond="$3" timeout_s="$4"
  if kubectl wait -n "$ns" --for="condition=$cond" "$obj" --timeout="${timeout_s}s"; then
    return 0
  fi
  log "gave up after ${timeout_s}s waiting for $obj to be $cond. Its conditions:"
  kubectl get -n "$ns" "$obj" \
    -o jsonpath='{range .status.conditions[*]}  {.type}={.status} ({.reason}): {.message}{"\n"}{end}' >&2 || true
  log "its last Events:"
  kubectl get events -n "$ns" --field-selector "involvedObject.name=${obj#*/}" \
    --sort-by=.lastTimestamp 2>/dev/null | tail -n 15 >&2 || true
  return 1
}
