#!/usr/bin/env bash
# Creates (or refreshes) the Python virtual environment used by the interop
# tests with Box's official Python SDKs: `box_sdk_gen` and the older `boxsdk`,
# both from `boxsdk>=4,<5`, plus pytest. Idempotent: quick when up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${BOX_CHUNKED_VENV:-.venv}"
REQS="boxsdk>=4,<5 cryptography pyjwt pytest"
STAMP="$VENV/.box-chunked-reqs"
PY="${PYTHON:-python3}"
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$REQS" ]; then
  echo "python env: $VENV is up to date"
  exit 0
fi
command -v "$PY" >/dev/null 2>&1 || { echo "python env: $PY not found" >&2; exit 1; }
echo "python env: creating $VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
# shellcheck disable=SC2086
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $REQS
"$VENV/bin/python" -c "import box_sdk_gen, boxsdk; print('python env: box_sdk_gen and boxsdk import')"
echo "$REQS" > "$STAMP"
