#!/usr/bin/env bash
# Set up .venv with everything (the local model included) and run the linters and the whole
# test suite. Arguments go to pytest, e.g. `bash scripts/test.sh -k parse`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh dev local examples bench
bash scripts/postgres.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
