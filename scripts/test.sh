#!/usr/bin/env bash
# Install (if needed) and run every check: lint, types, import contracts, tests.
# Extra arguments go to pytest, e.g. ./scripts/test.sh -k s3 -x (tests run on every core;
# DATAVC_TEST_WORKERS=N sets how many worker processes, 0 for none)
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
# Every core, at most 4 (pytest-xdist); a module's tests stay on one worker, so module-scoped
# servers start once. DATAVC_TEST_WORKERS=0 runs in one process (or pass -n 0).
cores=$(nproc 2>/dev/null || echo 2)
exec pytest -q -n "${DATAVC_TEST_WORKERS:-$(( cores < 4 ? cores : 4 ))}" --dist loadfile "$@"
