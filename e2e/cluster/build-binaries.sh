#!/usr/bin/env bash
# Build the local-cluster binaries (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, helm) from the wrapper Go modules in build/, into a cache outside the repo.
#
#   e2e/cluster/build-binaries.sh            # build whatever is missing or stale
#   e2e/cluster/build-binaries.sh --force    # rebuild everything
#   e2e/cluster/build-binaries.sh etcd helm  # only these
#
# A binary is rebuilt only when its key changes: sha256 of its wrapper go.mod + go.sum, the
# Go version, GOOS/GOARCH and the build flags. The first full build takes a long while on
# 2 cores, so the builds run one after another under `nice -n 19` and print a heartbeat.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${ECHONET_CACHE:-$HOME/.cache/echonet}"
bin_dir="${ECHONET_BIN_DIR:-$cache/bin}"
stamp_dir="$cache/stamps"
# Bump when the recipe below changes in a way the key would not notice.
recipe=1

k8s_version=v1.33.13
etcd_version=v3.5.35
helm_version=v3.22.0

# Static binaries (no cgo) like the upstream release builds; no C toolchain needed.
export CGO_ENABLED=0

log() { printf '[build-binaries %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

force=0
wanted=()
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h | --help) sed -n '2,11p' "$0"; exit 0 ;;
    etcd | kube-apiserver | kube-controller-manager | kube-scheduler | helm) wanted+=("$arg") ;;
    *) die "unknown argument: $arg" ;;
  esac
done
if [[ ${#wanted[@]} -eq 0 ]]; then
  wanted=(etcd kube-apiserver kube-controller-manager kube-scheduler helm)
fi

command -v go >/dev/null || die "go is not on PATH"
mkdir -p "$bin_dir" "$stamp_dir"

# One build at a time per cache (two concurrent cluster-ups must not race on the same file).
exec 9>"$cache/.build.lock"
if ! flock -n 9; then
  log "another build holds $cache/.build.lock; waiting"
  flock 9
fi

# The k8s release build stamps these; without gitVersion the apiserver reports v0.0.0-master
# and the compatibility-version logic has no sane binary version.
k8s_ldflags() {
  local v="${k8s_version#v}" pkg=k8s.io/component-base/version
  printf '%s ' -s -w \
    "-X $pkg.gitVersion=$k8s_version" \
    "-X $pkg.gitMajor=${v%%.*}" \
    "-X $pkg.gitMinor=$(cut -d. -f2 <<<"$v")" \
    "-X $pkg.gitTreeState=clean" \
    "-X $pkg.gitCommit=unknown" \
    "-X $pkg.buildDate=1970-01-01T00:00:00Z"
}

# name -> "module-dir|package|ldflags"
recipe_for() {
  case "$1" in
    etcd) echo "etcd|go.etcd.io/etcd/server/v3|-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$etcd_version" ;;
    kube-apiserver | kube-controller-manager | kube-scheduler)
      echo "k8s|k8s.io/kubernetes/cmd/$1|$(k8s_ldflags)" ;;
    helm) echo "helm|helm.sh/helm/v3/cmd/helm|-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version -X helm.sh/helm/v3/internal/version.gitTreeState=clean" ;;
  esac
}

go_id="$(go env GOVERSION GOOS GOARCH | tr '\n' ' ')"

key_for() {
  local mod_dir="$1" pkg="$2" ldflags="$3"
  {
    # Comment lines do not change the build, so they do not change the key.
    grep -v '^[[:space:]]*//' "$here/build/$mod_dir/go.mod" || true
    cat "$here/build/$mod_dir/go.sum"
    printf '%s\n' "recipe=$recipe" "$go_id" "CGO_ENABLED=$CGO_ENABLED" "$pkg" "$ldflags"
  } | sha256sum | cut -d' ' -f1
}

fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

total_start=$SECONDS
built=0
for name in "${wanted[@]}"; do
  IFS='|' read -r mod_dir pkg ldflags <<<"$(recipe_for "$name")"
  key="$(key_for "$mod_dir" "$pkg" "$ldflags")"
  out="$bin_dir/$name"
  stamp="$stamp_dir/$name.sha256"
  if [[ $force -eq 0 && -x "$out" && -f "$stamp" && "$(cat "$stamp")" == "$key" ]]; then
    log "$name is up to date ($out)"
    continue
  fi

  log "building $name from $pkg (module build/$mod_dir) ..."
  start=$SECONDS
  # Heartbeat so a CI log does not look hung during a multi-minute compile and link.
  # The trap kills its sleep too, so no orphan holds our stderr open (a caller piping our
  # output would otherwise wait for it).
  (
    trap 'kill "$nap" 2>/dev/null; exit 0' TERM
    while true; do
      sleep 60 &
      nap=$!
      wait "$nap"
      log "  still building $name ($(fmt_secs $((SECONDS - start))))"
    done
  ) &
  heartbeat=$!
  tmp="$out.tmp.$$"
  status=0
  # -C: build inside the wrapper module so its go.mod/go.sum (and replaces) apply.
  # -mod=readonly: fail instead of silently editing the committed go.mod/go.sum.
  # -buildvcs=false: the repo's git state says nothing about these dependency builds.
  nice -n 19 go -C "$here/build/$mod_dir" build -mod=readonly -trimpath -buildvcs=false \
    -ldflags "$ldflags" -o "$tmp" "$pkg" || status=$?
  kill "$heartbeat" 2>/dev/null || true
  wait "$heartbeat" 2>/dev/null || true
  if [[ $status -ne 0 ]]; then
    rm -f "$tmp"
    die "building $name failed (exit $status)"
  fi
  mv -f "$tmp" "$out"
  printf '%s\n' "$key" >"$stamp"
  elapsed=$((SECONDS - start))
  built=$((built + 1))
  printf '%s %s %ss %s\n' "$(date -u +%FT%TZ)" "$name" "$elapsed" "$go_id" >>"$cache/build-times.log"
  log "built $name in $(fmt_secs "$elapsed") -> $out ($(du -h "$out" | cut -f1))"
done

if [[ $built -gt 0 ]]; then
  log "built $built binaries in $(fmt_secs $((SECONDS - total_start))); build times in $cache/build-times.log"
fi
log "binaries in $bin_dir"
