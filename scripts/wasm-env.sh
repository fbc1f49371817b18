#!/usr/bin/env bash
# Installs what the WebAssembly builds need: rustup's wasm32-unknown-unknown
# target (the sans-IO crates and the browser uploader, crates/box-chunked-wasm)
# and the wasm-bindgen command at exactly the version of the wasm-bindgen
# crate in Cargo.lock (the two must match). Idempotent: quick when both are
# there. `cargo xtask ci` fails under CI without them and skips elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  echo "wasm env: rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
if [ -z "${want}" ]; then
  echo "wasm env: Cargo.lock names no wasm-bindgen version" >&2
  exit 1
fi
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
if [ "${have}" = "${want}" ]; then
  echo "wasm env: wasm-bindgen ${have} is installed"
  exit 0
fi
echo "wasm env: cargo install wasm-bindgen-cli --version ${want} (a few minutes, once)"
# Not --locked: the tool's own lock file may name a dependency version that a
# registry mirror does not carry yet; the version of the tool itself is exact.
cargo install --quiet wasm-bindgen-cli --version "=${want}"
echo "wasm env: $(wasm-bindgen --version)"
