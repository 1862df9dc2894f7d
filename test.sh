#!/usr/bin/env bash
# Runs every test of skynet-rs: the Rust unit and integration tests of the
# whole workspace, which include booting real nodes on the Lua test
# services under test/ (see tests/).
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --bin skynet
cargo test --workspace --release
