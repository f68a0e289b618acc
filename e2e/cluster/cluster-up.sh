#!/usr/bin/env bash
# Start a local Kubernetes 1.33 control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler) as background host processes. Development and CI tool, not a production
# cluster: one etcd member over plain HTTP on loopback, certificates valid for 10 years, no
# kubelet (a separate local node agent registers Nodes and runs their Pods).
#
#   e2e/cluster/cluster-up.sh     # builds missing binaries first, then starts what is not running
#
# State, certificates, logs and pid files live in $ECHONET_CLUSTER_DIR (default <repo>/.cluster);
# the admin kubeconfig is $ECHONET_CLUSTER_DIR/kubeconfig. Running it again when the cluster is
# up only re-checks health. See lib.sh for the ports and their override variables.
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

timeout_s="${ECHONET_UP_TIMEOUT:-180}"

# Debian packages (openssl, curl, setsid) are installed when missing; kubectl must be there.
"$cluster_here/../../scripts/ensure-debs.sh" || die "missing Debian packages (see above)"
for tool in openssl curl kubectl setsid; do
  command -v "$tool" >/dev/null || die "$tool is required"
done

# ---------------------------------------------------------------- binaries
if [[ "${ECHONET_SKIP_BUILD:-0}" != 1 ]]; then
  ECHONET_CACHE="$ECHONET_CACHE" ECHONET_BIN_DIR="$ECHONET_BIN_DIR" \
    "$cluster_here/build-binaries.sh" etcd kube-apiserver kube-controller-manager kube-scheduler
fi
for c in "${components[@]}"; do
  [[ -x "$ECHONET_BIN_DIR/$c" ]] || die "$ECHONET_BIN_DIR/$c missing; run build-binaries.sh"
done

mkdir -p "$pki_dir" "$run_dir" "$log_dir" "$etcd_data_dir"
chmod 700 "$ECHONET_CLUSTER_DIR" "$pki_dir" "$etcd_data_dir"
# Marker that lets cluster-down --purge check it deletes a cluster dir and nothing else.
touch "$ECHONET_CLUSTER_DIR/.echonet-cluster"

all_running=1
for c in "${components[@]}"; do
  running_pid "$c" >/dev/null || all_running=0
done

# ---------------------------------------------------------------- certificates
# Generated once and kept: regenerating would invalidate ServiceAccount tokens in etcd.
openssl_quiet() { openssl "$@" 2>/dev/null; }

new_key() { openssl_quiet genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

# gen_ca NAME CN
gen_ca() {
  local name="$1" cn="$2"
  [[ -f "$pki_dir/$name.crt" && -f "$pki_dir/$name.key" ]] && return
  log "generating CA $name ($cn)"
  new_key "$pki_dir/$name.key"
  # Own config so the result does not depend on the system openssl.cnf.
  cat >"$pki_dir/$name.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = $cn
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
EOF
  openssl_quiet req -x509 -new -key "$pki_dir/$name.key" -config "$pki_dir/$name.cnf" \
    -extensions v3_ca -days 3650 -out "$pki_dir/$name.crt"
  rm -f "$pki_dir/$name.cnf"
}

# gen_cert NAME SUBJECT serverAuth|clientAuth [SAN] [CA-NAME]
gen_cert() {
  local name="$1" subject="$2" usage="$3" san="${4:-}" ca="${5:-ca}" ext
  [[ -f "$pki_dir/$name.crt" && -f "$pki_dir/$name.key" ]] && return
  log "generating certificate $name ($subject)"
  new_key "$pki_dir/$name.key"
  ext="$pki_dir/$name.ext"
  {
    echo "basicConstraints = critical,CA:FALSE"
    echo "keyUsage = critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage = $usage"
    echo "subjectKeyIdentifier = hash"
    echo "authorityKeyIdentifier = keyid,issuer"
    if [[ -n "$san" ]]; then echo "subjectAltName = $san"; fi
  } >"$ext"
  openssl_quiet req -new -key "$pki_dir/$name.key" -subj "$subject" -out "$pki_dir/$name.csr"
  openssl_quiet x509 -req -in "$pki_dir/$name.csr" -CA "$pki_dir/$ca.crt" -CAkey "$pki_dir/$ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 3650 -extfile "$ext" -out "$pki_dir/$name.crt"
  rm -f "$pki_dir/$name.csr" "$ext"
}

gen_ca ca echonet-local-ca
# Separate CA for the authenticating-proxy headers (as kubeadm does): a holder of an ordinary
# client cert must not be able to assert another user through X-Remote-User. Also lets
# kube-controller-manager/-scheduler delegated authn and aggregated API servers work.
gen_ca front-proxy-ca echonet-local-front-proxy-ca
gen_cert front-proxy-client "/CN=front-proxy-client" clientAuth "" front-proxy-ca
# A certificate from before the pod network (issue 12) lacks the bridge address: made again (the
# apiserver reloads its serving certificate from the file).
if [[ -f "$pki_dir/apiserver.crt" ]] &&
  ! openssl x509 -in "$pki_dir/apiserver.crt" -noout -ext subjectAltName 2>/dev/null | grep -q "IP Address:$ECHONET_POD_GATEWAY\b"; then
  rm -f "$pki_dir/apiserver.crt"
fi
gen_cert apiserver "/CN=kube-apiserver" serverAuth \
  "IP:127.0.0.1,IP:$ECHONET_SERVICE_IP,IP:$ECHONET_POD_GATEWAY,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
# Used by the apiserver to reach a kubelet API (logs/exec), should the node agent serve one.
gen_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
gen_cert admin "/O=system:masters/CN=echonet-admin" clientAuth
# Built-in RBAC already binds these user names to the right ClusterRoles.
gen_cert controller-manager "/CN=system:kube-controller-manager" clientAuth
gen_cert scheduler "/CN=system:kube-scheduler" clientAuth
if [[ ! -f "$pki_dir/sa.key" || ! -f "$pki_dir/sa.pub" ]]; then
  log "generating service-account signing key pair"
  openssl_quiet genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki_dir/sa.key"
  openssl_quiet pkey -in "$pki_dir/sa.key" -pubout -out "$pki_dir/sa.pub"
fi
chmod 600 "$pki_dir"/*.key

# ---------------------------------------------------------------- kubeconfigs
b64() { base64 -w0 <"$1"; }

# write_kubeconfig FILE CERT-NAME USER
write_kubeconfig() {
  local file="$1" cert="$2" user="$3" tmp
  tmp="$file.tmp.$$"
  cat >"$tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: echonet-local
    cluster:
      server: $apiserver_url
      certificate-authority-data: $(b64 "$pki_dir/ca.crt")
users:
  - name: $user
    user:
      client-certificate-data: $(b64 "$pki_dir/$cert.crt")
      client-key-data: $(b64 "$pki_dir/$cert.key")
contexts:
  - name: echonet-local
    context:
      cluster: echonet-local
      user: $user
      namespace: default
current-context: echonet-local
EOF
  chmod 600 "$tmp"
  mv -f "$tmp" "$file"
}

write_kubeconfig "$kubeconfig" admin echonet-admin
write_kubeconfig "$ECHONET_CLUSTER_DIR/controller-manager.kubeconfig" controller-manager system:kube-controller-manager
write_kubeconfig "$ECHONET_CLUSTER_DIR/scheduler.kubeconfig" scheduler system:kube-scheduler
cp "$cluster_here/audit-policy.yaml" "$ECHONET_CLUSTER_DIR/audit-policy.yaml"

# Sourceable summary for other tools (node agent, e2e tests).
cat >"$ECHONET_CLUSTER_DIR/env" <<EOF
export KUBECONFIG='$kubeconfig'
export ECHONET_APISERVER_URL='$apiserver_url'
export ECHONET_CLUSTER_DIR='$ECHONET_CLUSTER_DIR'
export ECHONET_AUDIT_LOG='$audit_log'
export ECHONET_SERVICE_CIDR='$ECHONET_SERVICE_CIDR'
EOF

# ---------------------------------------------------------------- processes
read -r ephemeral_lo ephemeral_hi </proc/sys/net/ipv4/ip_local_port_range

# start NAME PORT... -- ARGS...: start NAME unless it already runs; fail if a port is taken.
start() {
  local name="$1" pid p
  shift
  local ports=()
  while [[ "$1" != -- ]]; do ports+=("$1"); shift; done
  shift
  if pid="$(running_pid "$name")"; then
    log "$name already running (pid $pid)"
    return
  fi
  for p in "${ports[@]}"; do
    port_busy "$p" && die "port $p (for $name) is in use by another process; set the ECHONET_*_PORT overrides"
    # An outgoing connection may hold a port of the ephemeral range at any time (bind fails
    # with "address already in use" although nothing listens), so warn about such choices.
    if ((p >= ephemeral_lo && p <= ephemeral_hi)); then
      log "warning: port $p (for $name) is in the ephemeral range $ephemeral_lo-$ephemeral_hi; prefer a lower one"
    fi
  done
  {
    echo
    echo "=== $(date -u +%FT%TZ) starting $name"
  } >>"$log_dir/$name.log"
  # setsid: own session, so a Ctrl-C or hang-up of the calling terminal does not stop it.
  setsid "$ECHONET_BIN_DIR/$name" "$@" >>"$log_dir/$name.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$(pid_file "$name")"
  # Until setsid has exec'd the binary, /proc/<pid>/cmdline still names setsid and running_pid
  # would take the starting process for a dead one: wait for the exec (or the exit).
  local i
  for ((i = 0; i < 100; i++)); do
    running_pid "$name" >/dev/null && break
    [[ -d "/proc/$pid" ]] || break
    sleep 0.05
  done
  log "started $name (pid $pid), log $log_dir/$name.log"
}

# wait_for NAME DESCRIPTION COMMAND...: poll COMMAND until it succeeds; fail early if NAME died.
wait_for() {
  local name="$1" what="$2" deadline=$((SECONDS + timeout_s))
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ! running_pid "$name" >/dev/null; then
      log "$name exited; last lines of $log_dir/$name.log:"
      tail -n 30 "$log_dir/$name.log" >&2 || true
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      log "timed out after ${timeout_s}s waiting for $what; last lines of $log_dir/$name.log:"
      tail -n 30 "$log_dir/$name.log" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
}

curl_admin() {
  curl -fsS --max-time 5 --cacert "$pki_dir/ca.crt" \
    --cert "$pki_dir/admin.crt" --key "$pki_dir/admin.key" "$@"
}
# Secure ports of kcm/scheduler serve /healthz to anyone; their cert is self-signed.
curl_insecure() { curl -fsSk --max-time 5 "$@"; }

start etcd "$ECHONET_ETCD_PORT" "$ECHONET_ETCD_PEER_PORT" -- \
  --name=echonet-local \
  --data-dir="$etcd_data_dir" \
  --listen-client-urls="http://127.0.0.1:$ECHONET_ETCD_PORT" \
  --advertise-client-urls="http://127.0.0.1:$ECHONET_ETCD_PORT" \
  --listen-peer-urls="http://127.0.0.1:$ECHONET_ETCD_PEER_PORT" \
  --initial-advertise-peer-urls="http://127.0.0.1:$ECHONET_ETCD_PEER_PORT" \
  --initial-cluster="echonet-local=http://127.0.0.1:$ECHONET_ETCD_PEER_PORT" \
  --log-level=warn
wait_for etcd "etcd /health" curl -fsS --max-time 5 "http://127.0.0.1:$ECHONET_ETCD_PORT/health"

# --endpoint-reconciler-type=none: the reconciler would publish 127.0.0.1 as the endpoint of
# the "kubernetes" Service, which Endpoints/EndpointSlice validation rejects (no loopback IPs),
# and retry forever. Host-process pods reach the apiserver at 127.0.0.1 directly.
start kube-apiserver "$ECHONET_APISERVER_PORT" -- \
  --etcd-servers="http://127.0.0.1:$ECHONET_ETCD_PORT" \
  --bind-address=127.0.0.1 \
  --advertise-address=127.0.0.1 \
  --endpoint-reconciler-type=none \
  --secure-port="$ECHONET_APISERVER_PORT" \
  --tls-cert-file="$pki_dir/apiserver.crt" \
  --tls-private-key-file="$pki_dir/apiserver.key" \
  --client-ca-file="$pki_dir/ca.crt" \
  --requestheader-client-ca-file="$pki_dir/front-proxy-ca.crt" \
  --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User \
  --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="$pki_dir/front-proxy-client.crt" \
  --proxy-client-key-file="$pki_dir/front-proxy-client.key" \
  --kubelet-client-certificate="$pki_dir/apiserver-kubelet-client.crt" \
  --kubelet-client-key="$pki_dir/apiserver-kubelet-client.key" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$pki_dir/sa.pub" \
  --service-account-signing-key-file="$pki_dir/sa.key" \
  --service-cluster-ip-range="$ECHONET_SERVICE_CIDR" \
  --authorization-mode=Node,RBAC \
  --enable-admission-plugins=NodeRestriction \
  --allow-privileged=true \
  --audit-policy-file="$ECHONET_CLUSTER_DIR/audit-policy.yaml" \
  --audit-log-path="$audit_log" \
  --audit-log-format=json \
  --audit-log-maxsize=100 \
  --audit-log-maxbackup=3 \
  --v=1
wait_for kube-apiserver "kube-apiserver /readyz" curl_admin "$apiserver_url/readyz"
wait_for kube-apiserver "kubectl get --raw /readyz" kubectl --kubeconfig "$kubeconfig" get --raw /readyz

# No cloud provider here; the cloud controllers would only log warnings.
# Leader election off: single instance, restarts need not wait for a Lease, no Lease writes.
start kube-controller-manager "$ECHONET_KCM_PORT" -- \
  --kubeconfig="$ECHONET_CLUSTER_DIR/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$ECHONET_CLUSTER_DIR/controller-manager.kubeconfig" \
  --authorization-kubeconfig="$ECHONET_CLUSTER_DIR/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 \
  --secure-port="$ECHONET_KCM_PORT" \
  --controllers='*,-cloud-node-lifecycle-controller,-node-route-controller,-service-lb-controller' \
  --use-service-account-credentials=true \
  --service-account-private-key-file="$pki_dir/sa.key" \
  --root-ca-file="$pki_dir/ca.crt" \
  --cluster-signing-cert-file="$pki_dir/ca.crt" \
  --cluster-signing-key-file="$pki_dir/ca.key" \
  --cluster-name=echonet-local \
  --service-cluster-ip-range="$ECHONET_SERVICE_CIDR" \
  --leader-elect=false \
  --v=1

start kube-scheduler "$ECHONET_SCHEDULER_PORT" -- \
  --kubeconfig="$ECHONET_CLUSTER_DIR/scheduler.kubeconfig" \
  --authentication-kubeconfig="$ECHONET_CLUSTER_DIR/scheduler.kubeconfig" \
  --authorization-kubeconfig="$ECHONET_CLUSTER_DIR/scheduler.kubeconfig" \
  --bind-address=127.0.0.1 \
  --secure-port="$ECHONET_SCHEDULER_PORT" \
  --leader-elect=false \
  --v=1

wait_for kube-controller-manager "kube-controller-manager /healthz" \
  curl_insecure "https://127.0.0.1:$ECHONET_KCM_PORT/healthz"
wait_for kube-scheduler "kube-scheduler /healthz" \
  curl_insecure "https://127.0.0.1:$ECHONET_SCHEDULER_PORT/healthz"
# The ServiceAccount controller creates it; until then Pods in "default" are rejected.
wait_for kube-controller-manager "ServiceAccount default/default" \
  kubectl --kubeconfig "$kubeconfig" -n default get serviceaccount default

if [[ $all_running == 1 ]]; then
  log "cluster was already up; nothing started"
else
  log "cluster is up"
fi
cat >&2 <<EOF
  apiserver:  $apiserver_url (etcd http://127.0.0.1:$ECHONET_ETCD_PORT)
  kubeconfig: export KUBECONFIG=$kubeconfig   (or: source $ECHONET_CLUSTER_DIR/env)
  logs:       $log_dir/{etcd,kube-apiserver,kube-controller-manager,kube-scheduler}.log
  audit log:  $audit_log
  stop:       $cluster_here/cluster-down.sh [--purge]
EOF
