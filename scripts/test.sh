#!/usr/bin/env bash
# Install what the tests need and run the whole suite (README's second command; CI runs it too).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
python3 -m pytest -q "$@"
