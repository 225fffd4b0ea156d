#!/usr/bin/env bash
# The whole test suite: every Rust test (unit, the storage contract on SQLite and PostgreSQL,
# black-box HTTP suites, the kill -9 crash test), then the official-SDK suites against a live
# server. Installs what the SDK suites need (npm and pip packages) itself.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"

cargo build --locked -p nudge
cargo test --locked --workspace
scripts/sdk-tests.sh "$target/debug/nudge"
scripts/sdk-tests-python.sh "$target/debug/nudge"
