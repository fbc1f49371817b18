#!/usr/bin/env bash
# Installs rclone (Debian's `rclone`, 1.60) for tests/interop/test_rclone.py,
# which drives rclone's real Box backend against the server. Idempotent.
# Where it cannot be installed (not root, no apt-get), it says why and the
# rclone tests skip with the same reason.
set -euo pipefail
if command -v rclone >/dev/null 2>&1; then
  echo "rclone env: $(rclone version 2>/dev/null | head -1) is installed"
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "rclone env: rclone is missing and cannot be installed here (needs root and apt-get); the rclone tests will skip"
  exit 0
fi
echo "rclone env: apt-get install rclone"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends rclone >/dev/null 2>&1; then
  apt-get update -qq >/dev/null
  apt-get install -y --no-install-recommends rclone >/dev/null
fi
echo "rclone env: $(rclone version 2>/dev/null | head -1)"
