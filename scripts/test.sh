#!/usr/bin/env bash
# Install (if needed) and run every check: lint, types, import contracts, tests.
# Extra arguments go to pytest, e.g. ./scripts/test.sh -k s3 -x
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_debian.sh
ensure_debian_packages
source scripts/_venv.sh
ensure_venv '.[test]'

echo "== ruff"
ruff check .
echo "== mypy"
mypy storage datavc
echo "== import contracts"
lint-imports
echo "== pytest"
exec pytest -q "$@"
