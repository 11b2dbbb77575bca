#!/usr/bin/env bash
# Install what the tests need and run the whole suite (README's second command; CI runs it too).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null 2>&1; then
    # the distributed tests start their own redis-server on a free port
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    if command -v apt-get >/dev/null 2>&1; then
        $sudo apt-get update -qq && $sudo apt-get install -y -qq redis-server >/dev/null
    else
        echo "redis-server is needed by the tests: install it with your system's package manager" >&2
        exit 1
    fi
fi
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
python3 -m pytest -q "$@"
