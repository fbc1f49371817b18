#!/usr/bin/env bash
# Installs Box's Node SDKs (box-node-sdk 10, and 3 as box-node-sdk-v3, pinned by tests/interop/node's
# package-lock.json) for the interop tests, with `npm ci`. Idempotent: quick
# when node_modules already matches the lock file.
set -euo pipefail
cd "$(dirname "$0")/../tests/interop/node"
command -v node >/dev/null 2>&1 || { echo "node env: node not found" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "node env: npm not found" >&2; exit 1; }
STAMP="node_modules/.box-chunked-lock"
WANT="$(sha1sum package-lock.json | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  echo "node env: box-node-sdk is up to date"
  exit 0
fi
echo "node env: npm ci (box-node-sdk)"
npm ci --no-audit --no-fund --loglevel=error
node -e "require('box-node-sdk'); require('box-node-sdk-v3'); const fs = require('fs'); const v = (d) => JSON.parse(fs.readFileSync('node_modules/' + d + '/package.json')).version; console.log('node env: box-node-sdk ' + v('box-node-sdk') + ' and ' + v('box-node-sdk-v3') + ' load')"
echo "$WANT" > "$STAMP"
