#!/usr/bin/env bash
# Detection evaluation at a larger size than CI: the same scenarios as
# crates/workloads/tests/detect_eval.rs (fast and slow ransomware, SharePoint library wipe,
# mailbox purge; benign photo/zip uploads, reorganisation, clean-up of old files, bulk mail
# import) on bigger drives and mailboxes, in release mode. Prints one RESULT line per scenario
# (detected or not, on which backup, score, explanation) and the recovery figures.
#
# Usage: scripts/bench-detect.sh [--files N] [--messages N] [--photos N]
#   --files     files per OneDrive / library (default 400; CI uses 50)
#   --messages  messages per mailbox (default 600; CI uses 80)
#   --photos    photos and zips uploaded in the benign upload (default 2000; CI uses 200)
# Not a test: it takes minutes; docs/BENCHMARKS.md records a run.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
FILES=400
MESSAGES=600
PHOTOS=2000
while [[ $# -gt 0 ]]; do
  case "$1" in
    --files) FILES="$2"; shift 2 ;;
    --messages) MESSAGES="$2"; shift 2 ;;
    --photos) PHOTOS="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
for v in "$FILES" "$MESSAGES" "$PHOTOS"; do
  [[ "$v" =~ ^[0-9]+$ && "$v" -gt 0 ]] || { echo "error: sizes must be positive integers" >&2; exit 2; }
done

cd "$ROOT"
start=$(date +%s)
DETECT_EVAL_FILES="$FILES" DETECT_EVAL_MESSAGES="$MESSAGES" DETECT_EVAL_PHOTOS="$PHOTOS" \
  cargo test --release -p tenantvault-workloads --test detect_eval -- --nocapture --test-threads 1 2>&1 \
  | grep -E '^(RESULT|RECOVERY)|test result|panicked' 
echo "elapsed: $(( $(date +%s) - start )) s (files=$FILES messages=$MESSAGES photos=$PHOTOS)"
