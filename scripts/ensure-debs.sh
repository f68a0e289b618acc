#!/usr/bin/env bash
# Installs the Debian packages the local cluster needs when their commands are missing (a fresh
# machine): openssl (certificates), curl (health checks), util-linux (setsid); iproute2 (ip) and
# util-linux (nsenter) for the agent's pod network namespaces. Uses apt-get as
# root (or through sudo); elsewhere it names what to install and fails.
#   scripts/ensure-debs.sh                      the local cluster's commands
#   scripts/ensure-debs.sh containerd ctr runc  these commands instead (the image tests, ADR 0012)
set -euo pipefail
declare -A pkg_of=([openssl]=openssl [curl]=curl [setsid]=util-linux [unshare]=util-linux [nsenter]=util-linux
  [ip]=iproute2 [dpkg-deb]=dpkg [containerd]=containerd [ctr]=containerd [runc]=runc)
wanted=("$@")
((${#wanted[@]} > 0)) || wanted=(openssl curl setsid)
missing=()
for cmd in "${wanted[@]}"; do
  [[ -n "${pkg_of[$cmd]:-}" ]] || { echo "[ensure-debs] error: no package known for $cmd" >&2; exit 1; }
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${pkg_of[$cmd]}")
done
((${#missing[@]} == 0)) && exit 0
echo "[ensure-debs] installing Debian packages: ${missing[*]}" >&2
if ! command -v apt-get >/dev/null 2>&1; then
  echo "[ensure-debs] error: no apt-get; install ${missing[*]} yourself" >&2
  exit 1
fi
as_root=()
if [[ "$(id -u)" != 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "[ensure-debs] error: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  as_root=(sudo)
fi
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
