#!/usr/bin/env bash
# Make sure a Chromium is installed for the browser tests of the dashboard's LLM features
# (Playwright drives it). Installs Debian's package when none is found.
set -euo pipefail

if [ -n "${OPTUNA_LLM_CHROMIUM:-}" ] || command -v chromium > /dev/null \
    || command -v chromium-browser > /dev/null || command -v google-chrome > /dev/null; then
    exit 0
fi
if ! command -v apt-get > /dev/null; then
    echo "no Chromium and apt-get is not available: install Chromium or set OPTUNA_LLM_CHROMIUM" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    sudo="sudo"
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium > /dev/null
