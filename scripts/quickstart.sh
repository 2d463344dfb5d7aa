#!/usr/bin/env bash
# Install datavc with its server extra (if needed) and run the end-to-end quickstart on the embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
ensure_venv '.[server]'
exec python scripts/quickstart.py "$@"
