#!/usr/bin/env bash
# Repository at scale (issue 2: "a repository of 10 million blobs must be usable with under 1 GiB
# of RAM"). Not a test. Builds a repository of about N distinct tiny blobs with the real CLI
# (`backup dir` of a generated folder into a repository whose chunker cuts ~256-byte blobs),
# then measures wall time and peak RSS (GNU time) of: first backup, open + snapshots (warm and
# cold local index cache), unchanged backup, restore of one item, check, check --read-data, gc.
#
#   scripts/bench-scale.sh [--blobs N] [--work DIR] [--skip-read-data] [--keep] [--bin-dir DIR]
#                          [--steps LIST]
#
# --steps LIST: comma-separated steps to run after first-backup, in that order (default
# snapshots-warm,snapshots-cold-cache,unchanged-backup,restore-one,check,check-read-data,gc).
#
# --bin-dir DIR: use DIR/tenantvault and DIR/scalegen instead of building (a shared, changing
# working tree rebuilds on every cargo call; copy the binaries once and measure those).
# Default N = 1,000,000; the data (source ~N*310 B, repository ~N*520 B, cache ~N*170 B, sort
# runs in $TMPDIR up to ~N*180 B during check --read-data) lives under --work (default
# /tmp/tv-scale-$$) and is deleted at the end unless --keep.
set -euo pipefail
cd "$(dirname "$0")/.."

BLOBS=1000000
WORK="/tmp/tv-scale-$$"
KEEP=0
READ_DATA=1
BIN_DIR=""
STEPS="snapshots-warm,snapshots-cold-cache,unchanged-backup,restore-one,check,check-read-data,gc"
while [ $# -gt 0 ]; do
  case "$1" in
    --blobs) BLOBS="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --skip-read-data) READ_DATA=0; shift ;;
    --bin-dir) BIN_DIR="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    *) echo "usage: $0 [--blobs N] [--work DIR] [--skip-read-data] [--keep] [--bin-dir DIR] [--steps LIST]" >&2; exit 2 ;;
  esac
done

if [ ! -x /usr/bin/time ]; then
  apt-get update -qq && apt-get install -y -qq time >/dev/null
fi

if [ -n "$BIN_DIR" ]; then
  TV="$BIN_DIR/tenantvault"
  GEN="$BIN_DIR/scalegen"
else
  echo "== build (release)"
  cargo build --release -p tenantvault-repo --example scalegen -p tenantvault-cli --bin tenantvault
  TARGET="${CARGO_TARGET_DIR:-target}"
  TV="$TARGET/release/tenantvault"
  GEN="$TARGET/release/examples/scalegen"
fi

mkdir -p "$WORK"
cleanup() {
  if [ "$KEEP" = 0 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

export TENANTVAULT_PASSWORD="bench-scale"
export XDG_CACHE_HOME="$WORK/cache"
REPO="$WORK/repo"
SRC="$WORK/src"
RESULTS="$WORK/results.md"

echo "== generate (source ~ N x 310 bytes): repository with a tiny-blob chunker, source folder for ~$BLOBS blobs"
"$GEN" --repo "$REPO" --source "$SRC" --blobs "$BLOBS"

# measure NAME CMD... : runs CMD under GNU time, appends a table row, keeps stdout in $WORK/NAME.out
measure() {
  local name="$1"; shift
  echo "== $name: $*"
  local rc=0
  /usr/bin/time -f "%e %M" -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
  local wall rss
  read -r wall rss <"$WORK/$name.time" || true
  wall="$(tail -n1 "$WORK/$name.time" | cut -d' ' -f1)"
  rss="$(tail -n1 "$WORK/$name.time" | cut -d' ' -f2)"
  printf '| %s | %s s | %d MiB | %s |\n' "$name" "$wall" "$((rss / 1024))" "$rc" | tee -a "$RESULTS"
  if [ "$rc" != 0 ]; then tail -n 20 "$WORK/$name.err" >&2; fi
}

{
  echo "blobs requested: $BLOBS; $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git describe --always --dirty)"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "| step | wall | peak RSS | exit |"
  echo "|---|---|---|---|"
} >"$RESULTS"

measure first-backup "$TV" --repo "$REPO" backup dir "$SRC" --owner scale --json
du -sm "$SRC" | cut -f1 >"$WORK/src.mib"
IFS=',' read -r -a STEP_LIST <<<"$STEPS"
for step in "${STEP_LIST[@]}"; do
  case "$step" in
    snapshots-warm) measure snapshots-warm "$TV" --repo "$REPO" snapshots --json ;;
    snapshots-cold-cache)
      rm -rf "$XDG_CACHE_HOME"
      measure snapshots-cold-cache "$TV" --repo "$REPO" snapshots --json ;;
    unchanged-backup) measure unchanged-backup "$TV" --repo "$REPO" backup dir "$SRC" --owner scale --json ;;
    restore-one)
      # sed, not head: head closing the pipe early kills sort with SIGPIPE (pipefail, set -e)
      ONE="$(cd "$SRC" && find . -name '*.bin' | sort | sed -n '1s|^\./||p')"
      measure restore-one "$TV" --repo "$REPO" restore latest --owner scale "$ONE" --target "$WORK/restore"
      cmp "$SRC/$ONE" "$WORK/restore/$ONE" && echo "restored $ONE byte-identical"
      rm -rf "$WORK/restore"
      # later steps other than unchanged-backup do not read the source: free its disk space
      if [ "$KEEP" = 0 ] && [[ ",${STEPS#*restore-one}," != *",unchanged-backup,"* ]]; then
        rm -rf "$SRC"
      fi ;;
    check) measure check "$TV" --repo "$REPO" check --json ;;
    check-read-data)
      if [ "$READ_DATA" = 1 ]; then
        measure check-read-data "$TV" --repo "$REPO" check --read-data --json
      fi ;;
    gc) measure gc "$TV" --repo "$REPO" gc --grace 0s --json ;;
    *) echo "unknown step $step" >&2; exit 2 ;;
  esac
done

python3 - "$WORK" "$RESULTS" <<'EOF' | tee -a "$RESULTS"
import json, sys, os, subprocess
work = sys.argv[1]
first = json.load(open(os.path.join(work, "first-backup.out")))
print()
print("first backup:", json.dumps(first.get("stats", first))[:400])
for name in ("check", "check-read-data"):
    p = os.path.join(work, name + ".out")
    if os.path.exists(p) and os.path.getsize(p):
        r = json.load(open(p))
        keys = ("packs", "snapshots", "items", "blobs_verified", "bytes_read")
        print(f"{name}:", {k: r.get(k) for k in keys}, "clean" if not r.get("damaged") else "DAMAGED")
du = lambda d: subprocess.run(["du", "-sm", d], capture_output=True, text=True).stdout.split()[0]
src_mib = open(os.path.join(work, "src.mib")).read().strip()
print(f"sizes: source {src_mib} MiB, repository {du(os.path.join(work, 'repo'))} MiB, "
      f"index cache {du(os.path.join(work, 'cache'))} MiB")
EOF
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RESULTS"
echo "== results ($RESULTS)"
cat "$RESULTS"
