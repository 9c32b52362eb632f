#!/usr/bin/env bash
# Set up (if needed) and run the test suite. Fast tests by default (< 10 min on 2 cores);
# pass --slow to include tests marked slow; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
MARK="not slow and not gpu"
if [ "${1:-}" = "--slow" ]; then MARK="not gpu"; shift; fi
exec .venv/bin/python -m pytest -m "$MARK" "$@"
