#!/usr/bin/env bash
# Make sure PostgreSQL's server programs are installed: the tests that share a storage start a
# throwaway server of their own (tests/postgres.py). Installs Debian's package when missing.
set -euo pipefail

if compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null || command -v initdb > /dev/null; then
    exit 0
fi
if ! command -v apt-get > /dev/null; then
    echo "PostgreSQL is not installed and apt-get is not available: install PostgreSQL" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    sudo="sudo"
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql > /dev/null
