#!/usr/bin/env bash
# Builds the native Ed25519 verifier (Rust: ed25519-zebra behind Node-API, node-image/native/ed25519)
# to node-image/native/ed25519/echonet_ed25519.node. Crates come from crates.io, pinned by Cargo.lock.
# Rust itself (rustup's cargo) is a prerequisite, like Go; without the addon nodes still run, on
# the ~10x slower @noble/ed25519 verifier, so ECHONET_SKIP_NATIVE=1 skips this on purpose.
set -euo pipefail
cd "$(dirname "$0")/../node-image/native/ed25519"
if [ "${ECHONET_SKIP_NATIVE:-0}" = 1 ]; then
  echo "build-native: skipped (ECHONET_SKIP_NATIVE=1): nodes verify with @noble/ed25519" >&2
  exit 0
fi
cargo=$(command -v cargo || true)
if [ -z "$cargo" ] && [ -x "$HOME/.cargo/bin/cargo" ]; then cargo=$HOME/.cargo/bin/cargo; fi
if [ -z "$cargo" ]; then
  echo "build-native: cargo not found. Install Rust (rustup), or set ECHONET_SKIP_NATIVE=1 to run on the slower verifier." >&2
  exit 1
fi
"$cargo" build --release --locked --quiet
cp target/release/libechonet_ed25519.so echonet_ed25519.node.tmp
mv echonet_ed25519.node.tmp echonet_ed25519.node
echo "build-native: node-image/native/ed25519/echonet_ed25519.node"
