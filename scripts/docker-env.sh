#!/usr/bin/env bash
# The Docker engine (Debian's docker.io) and what the container image is
# built with (the musl target, Debian's musl-tools), for `cargo xtask image`
# and tests/interop/test_image.py. Starts dockerd when it is not running.
# Idempotent. Where it cannot (not root, no apt-get, a machine where dockerd
# does not start), it says why and the image test skips with the reason.
set -euo pipefail
say() { echo "docker env: $*"; }
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  say "needs root and apt-get to install and start the Docker engine; the image test will skip"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
install() {
  if ! apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    apt-get install -y --no-install-recommends "$@" >/dev/null
  fi
}
command -v dockerd >/dev/null 2>&1 || { say "apt-get install docker.io"; install docker.io; }
command -v musl-gcc >/dev/null 2>&1 || { say "apt-get install musl-tools"; install musl-tools; }
target="$(uname -m)-unknown-linux-musl"
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx "$target"; then
  say "rustup target add $target"
  rustup target add "$target" >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  say "starting dockerd (log in /tmp/box-chunked-dockerd.log)"
  (setsid dockerd >/tmp/box-chunked-dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
fi
if docker info >/dev/null 2>&1; then
  say "Docker engine $(docker info --format '{{.ServerVersion}}') is running"
else
  say "dockerd did not start here (see /tmp/box-chunked-dockerd.log); the image test will skip"
fi
