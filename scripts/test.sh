#!/usr/bin/env bash
# Set up .venv with everything (the local model included) and run the linters, the docs build
# and the whole test suite. Arguments go to pytest, e.g. `bash scripts/test.sh -k parse`.
set -euo pipefail
cd "$(dirname "$0")/.."

# gp brings torch for GPSampler, so the guided default's GP half is tested too.
PIP_CONSTRAINT="$PWD/scripts/test-constraints.txt" \
    bash scripts/setup.sh dev local examples bench docs gp
bash scripts/postgres.sh
bash scripts/chromium.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
# The documentation site: a broken link or anchor, or a missing docstring, fails the build.
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet --site-dir "$(mktemp -d)"
.venv/bin/python -m pytest "$@"
