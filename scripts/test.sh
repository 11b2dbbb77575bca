#!/usr/bin/env bash
# Install what the tests need and run the whole suite (README's second command; CI runs it too).
set -euo pipefail
cd "$(dirname "$0")/.."
# OS packages the tests drive for real: redis-server (the distributed tests start their own on a
# free port) and Debian's chromium (the web tests; no browser download is needed or possible here)
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    if command -v apt-get >/dev/null 2>&1; then
        $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
    else
        echo "the tests need ${need[*]}: install them with your system's package manager" >&2
        exit 1
    fi
fi
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
python3 -m pytest -q "$@"
