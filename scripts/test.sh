#!/usr/bin/env bash
# Runs every test of tenantvault: the Rust workspace (unit, property, failpoint, end-to-end and
# emulator tests) and the conformance suite that drives the emulator with Microsoft's own Python SDK.
# Needs: cargo (rustc 1.95), python3 with pip (the conformance script installs msgraph-sdk itself).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test (workspace)"
cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked

echo "== repository engine failpoint tests"
cargo test -p tenantvault-repo --features failpoints --test failpoints --locked

if [ -x crates/emulator/conformance/run.sh ] || [ -f crates/emulator/conformance/run.sh ]; then
  echo "== Graph conformance: Microsoft's msgraph-sdk against the emulator"
  bash crates/emulator/conformance/run.sh
fi
