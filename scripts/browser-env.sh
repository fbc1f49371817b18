#!/usr/bin/env bash
# Installs headless Chromium (Debian's `chromium`) for the browser interop
# tests (tests/interop/test_browser.py, driven by puppeteer-core, which
# scripts/node-env.sh installs). Idempotent. Where it cannot be installed
# (not root, no apt-get), it says why and the browser tests skip with the
# same reason.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  echo "browser env: $(chromium --version 2>/dev/null || echo chromium) is installed"
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "browser env: chromium is missing and cannot be installed here (needs root and apt-get); the browser tests will skip"
  exit 0
fi
echo "browser env: apt-get install chromium"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; then
  apt-get update -qq >/dev/null
  apt-get install -y --no-install-recommends chromium >/dev/null
fi
echo "browser env: $(chromium --version 2>/dev/null || echo 'chromium installed')"
