#!/usr/bin/env bash
# Set up (if needed) and run the test suite. The fast tier by default (under 3 minutes on 2 cores);
# --slow adds the tests marked slow (whole training runs, corpus synthesis, a real browser), as CI
# (.ci/run) does; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
MARK="not slow and not gpu"
if [ "${1:-}" = "--slow" ]; then MARK="not gpu"; shift; fi
exec .venv/bin/python -m pytest -m "$MARK" "$@"
