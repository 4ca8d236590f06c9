#!/usr/bin/env bash
# S3 benchmark: requests per GB backed up and 1/2/4 concurrent writers, S3 (moto_server) next
# to the local backend in the same run. Prints a Markdown table (docs/BENCHMARKS.md, S3).
# Env: MIB_PER_WRITER (default 64), PACK_MIB (default 32), TENANTVAULT_MOTO_SERVER.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TENANTVAULT_MOTO_SERVER:-}" ]; then
  TENANTVAULT_MOTO_SERVER="$(bash scripts/install-moto.sh)"
  export TENANTVAULT_MOTO_SERVER
fi
cargo run --quiet --release -p tenantvault-s3 --example bench
