#!/usr/bin/env bash
# Runs every test of skynet-rs: the Rust unit and integration tests of the
# whole workspace, which include booting real nodes on the Lua test
# services under test/ (see tests/).
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --bin skynet
# --no-fail-fast: one failing test binary must not hide the results of the others.
cargo test --workspace --release --no-fail-fast
