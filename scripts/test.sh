#!/usr/bin/env bash
# Runs every test of tenantvault: the Rust workspace (unit, property, failpoint, end-to-end and
# emulator tests) and the conformance suite that drives the emulator with Microsoft's own Python SDK.
# Needs: cargo (rustc 1.95), python3 with pip (the conformance script installs msgraph-sdk itself).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== S3 test server: moto_server (PyPI moto[server])"
# The S3 tests start it themselves; they fail (not skip) when it is missing, unless
# TENANTVAULT_S3_TESTS=skip (local runs without Python).
if [ "${TENANTVAULT_S3_TESTS:-}" != "skip" ] && [ -z "${TENANTVAULT_MOTO_SERVER:-}" ]; then
  TENANTVAULT_MOTO_SERVER="$(bash scripts/install-moto.sh)"
  export TENANTVAULT_MOTO_SERVER
fi

echo "== cargo test (workspace)"
cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked

echo "== repository engine failpoint tests"
cargo test -p tenantvault-repo --features failpoints --test failpoints --locked

if [ -x crates/emulator/conformance/run.sh ] || [ -f crates/emulator/conformance/run.sh ]; then
  echo "== Graph conformance: Microsoft's msgraph-sdk against the emulator"
  bash crates/emulator/conformance/run.sh
fi
