#!/usr/bin/env bash
# Builds the native Reed-Solomon kernel (Rust behind Node-API, node-image/native/erasure) to
# node-image/native/erasure/echonet_erasure.node. Crates come from crates.io, pinned by Cargo.lock.
# Without it the codec runs on its WebAssembly SIMD kernel (same bytes, slower);
# ECHONET_SKIP_NATIVE=1 skips the build on purpose, as for the Ed25519 addon.
set -euo pipefail
cd "$(dirname "$0")"
if [ "${ECHONET_SKIP_NATIVE:-0}" = 1 ]; then
  echo "build-native-erasure: skipped (ECHONET_SKIP_NATIVE=1): the codec uses its wasm kernel" >&2
  exit 0
fi
cargo=$(command -v cargo || true)
if [ -z "$cargo" ] && [ -x "$HOME/.cargo/bin/cargo" ]; then cargo=$HOME/.cargo/bin/cargo; fi
if [ -z "$cargo" ]; then
  echo "build-native-erasure: cargo not found. Install Rust (rustup), or set ECHONET_SKIP_NATIVE=1 to run on the wasm kernel." >&2
  exit 1
fi
"$cargo" build --release --locked --quiet
cp target/release/libechonet_erasure.so echonet_erasure.node.tmp
mv echonet_erasure.node.tmp echonet_erasure.node
echo "build-native-erasure: node-image/native/erasure/echonet_erasure.node"
