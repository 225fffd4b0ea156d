#!/usr/bin/env bash
# Runs the official-SDK test suite (tests/sdk/node: customerio-node, @customerio/cdp-analytics-node
# and @segment/analytics-node against a live Nudge).
# Usage: scripts/sdk-tests.sh <path to the nudge binary>
# Needs only node (>= 20) and npm; installs the pinned SDK from package-lock.json when missing
# or stale.
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
suite="$repo/tests/sdk/node"

# npm ci wipes and reinstalls node_modules; only do it when the lock file is newer.
if [[ ! -d "$suite/node_modules" || "$suite/package-lock.json" -nt "$suite/node_modules" ]]; then
  (cd "$suite" && npm ci --no-audit --no-fund)
  touch "$suite/node_modules"
fi

# From inside the suite, `node --test` finds the *.test.mjs files and never looks in
# node_modules, on every Node version since 20.
cd "$suite"
NUDGE_BIN="$nudge_bin" exec node --test
