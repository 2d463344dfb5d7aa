#!/usr/bin/env bash
# Install datavc (if needed) and run the end-to-end quickstart on the embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
ensure_venv '.'
exec python scripts/quickstart.py "$@"
