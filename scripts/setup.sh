#!/usr/bin/env bash
# Create .venv and install the package with the extras named as arguments, e.g. `dev local`.
# Building llama.cpp (the `local` extra) takes about 6 to 13 minutes the first time; pip reuses
# the built wheel afterwards on the same machine.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=$(IFS=,; echo "$*")
python3 -m venv .venv
# A portable llama.cpp build: it runs on any x86-64 machine with AVX2, not just this one.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[${extras}]"
