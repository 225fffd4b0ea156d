#!/usr/bin/env bash
# Runs the official Python SDK suite (tests/sdk/python: the customerio package's APIClient
# against a live Nudge).
# Usage: scripts/sdk-tests-python.sh <path to the nudge binary>
# Needs python3 (>= 3.9) with venv; installs the pinned SDK (tests/sdk/python/requirements.txt)
# into a virtual environment under NUDGE_SDK_VENV (default: target/sdk-python-venv in the
# repository), reinstalling when the requirements change.
set -euo pipefail

if [[ $# -ne 1 || -z "$1" ]]; then
  echo "usage: $0 <path to the nudge binary>" >&2
  exit 2
fi
if [[ ! -x "$1" ]]; then
  echo "$0: '$1' is not an executable nudge binary" >&2
  exit 2
fi
nudge_bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
suite="$repo/tests/sdk/python"
venv="${NUDGE_SDK_VENV:-$repo/target/sdk-python-venv}"

if [[ ! -x "$venv/bin/python" || "$suite/requirements.txt" -nt "$venv/installed" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$suite/requirements.txt"
  touch "$venv/installed"
fi

cd "$suite"
NUDGE_BIN="$nudge_bin" PYTHONDONTWRITEBYTECODE=1 exec "$venv/bin/python" -m unittest discover -v -p 'test_*.py'
