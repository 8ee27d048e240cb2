#!/usr/bin/env bash
# install-py-deps.sh — Python packages the server tests use as clients (the official `openai`
# package) installed into the system python3; does nothing when they are already importable.
set -euo pipefail
PY="${PYTHON:-python3}"
if "$PY" -c 'import openai' 2>/dev/null; then
  exit 0
fi
"$PY" -m pip install --quiet --disable-pip-version-check openai \
  || "$PY" -m pip install --quiet --disable-pip-version-check --break-system-packages openai
"$PY" -c 'import openai; print("openai", openai.__version__)'
