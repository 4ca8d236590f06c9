#!/usr/bin/env bash
# OneDrive benchmark against the tenant emulator (a separate process, throttling off):
#   1. large-file throughput: `curl` downloads the biggest file of the drive (raw emulator rate),
#      then `tenantvault backup onedrive` backs the drive up (one big file, a few small ones);
#      reported: both rates and their ratio (issue 5 asks >= 70 %), and the backup's peak RSS
#   2. many small files: peak RSS and wall time of a full backup of a drive of FILES files, then
#      an unchanged incremental (requests from the emulator's counters)
# The 100,000-file / 50,000-file-move figures come from the drive_bench harness:
#   DRIVE_BENCH_FILES=100000 cargo test --release -p tenantvault-workloads --test drive_bench -- --ignored --nocapture
#
# Usage: scripts/bench-drive.sh [--large-mb N] [--files N] [--work DIR] [--no-build] [--skip-small]
#                              [--shm DIR] [--bin-dir DIR]
# The large file is also fetched with `curl -o FILE` + fsync on the work disk (the disk floor), and backed
# up a second time with the repository and cache on tmpfs (--shm, default /dev/shm/tv-bench-drive; skipped
# above 2,000 MiB) to separate the disk from the pipeline.
# CPU is reported beside every rate (user + sys of curl and tenantvault, and of the emulator while it
# served them, from /proc/PID/stat): on a 2-core machine the emulator's share bounds any client, so
# "CPU-seconds per GB" is the figure to compare across loaded runs. The single-core cost of each
# pipeline step: cargo run --release -p tenantvault-repo --example cpufloor.
# Not a test: it takes minutes and prints figures; docs/BENCHMARKS.md (OneDrive/SharePoint) records runs.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${TMPDIR:-/tmp}/tenantvault-bench-drive"
LARGE_MB=1024
FILES=20000
BUILD=1
SMALL=1
SHM=/dev/shm/tv-bench-drive
BIN=""
while [ $# -gt 0 ]; do
  case "$1" in
    --large-mb) LARGE_MB="$2"; shift 2 ;;
    --files) FILES="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --skip-small) SMALL=0; shift ;;
    --shm) SHM="$2"; shift 2 ;;
    --bin-dir) BIN="$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ "$BUILD" = 1 ]; then
  (cd "$ROOT" && cargo build --release -p tenantvault-cli -p tenantvault-emulator)
fi
TV="${BIN:-$ROOT/target/release}/tenantvault"
EMU="${BIN:-$ROOT/target/release}/tenantvault-emulator"
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "GNU time (/usr/bin/time) is needed for peak RSS" >&2; exit 1; }

EMU_PID=""
cleanup() { [ -n "$EMU_PID" ] && kill "$EMU_PID" 2>/dev/null || true; }
trap cleanup EXIT
# emu_cpu: CPU seconds (user + sys) the emulator has used so far.
TICKS="$(getconf CLK_TCK)"
emu_cpu() { awk -v t="$TICKS" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$EMU_PID/stat"; }

# start_emulator FILES LARGE_FILES LARGE_MB: starts it and sets INFO (its JSON line).
start_emulator() {
  cleanup
  rm -f "$WORK/emu.out"
  "$EMU" serve --users 1 --messages 1 --events 0 --contacts 0 --groups 0 --no-throttle \
    --files-per-drive "$1" --large-files "$2" --large-file-mb "$3" \
    >"$WORK/emu.out" 2>"$WORK/emu.err" &
  EMU_PID=$!
  for _ in $(seq 1 600); do
    [ -s "$WORK/emu.out" ] && break
    sleep 0.2
  done
  INFO="$(head -1 "$WORK/emu.out")"
  export AZURE_TENANT_ID="$(jq -r .tenantId <<<"$INFO")"
  export AZURE_CLIENT_ID="$(jq -r .clientId <<<"$INFO")"
  export AZURE_CLIENT_SECRET="$(jq -r .clientSecret <<<"$INFO")"
  export AZURE_AUTHORITY_HOST="$(jq -r .url <<<"$INFO")"
  export TENANTVAULT_GRAPH_BASE="$(jq -r .graphUrl <<<"$INFO")"
}

# new_repo [DIR]: a fresh repository (and cache) under DIR (default the work dir).
new_repo() {
  local at="${1:-$WORK}"
  rm -rf "$WORK/repo" "$WORK/cache" "$SHM/repo" "$SHM/cache"
  mkdir -p "$at"
  export TENANTVAULT_REPO="$at/repo" TENANTVAULT_CACHE_DIR="$at/cache"
  export TENANTVAULT_PASSWORD="bench-drive"
  unset TENANTVAULT_CONFIG TENANTVAULT_GRAPH_CONFIG
  "$TV" --quiet repo init --kdf-memory 64KiB --kdf-iterations 1
}

token() {
  curl -s -X POST "$(jq -r .tokenUrl <<<"$INFO")" \
    -d grant_type=client_credentials -d "client_id=$AZURE_CLIENT_ID" \
    --data-urlencode "client_secret=$AZURE_CLIENT_SECRET" \
    -d scope=https://graph.microsoft.com/.default | jq -r .access_token
}

mkdir -p "$WORK"
echo "== 1. large file: ${LARGE_MB} MiB"
start_emulator 4 1 "$LARGE_MB"
G="$(jq -r .graphUrl <<<"$INFO")"
TOK="$(token)"
UID1="$(curl -s -H "Authorization: Bearer $TOK" "$G/users?\$top=1" | jq -r '.value[0].id')"
DRIVE="$(curl -s -H "Authorization: Bearer $TOK" "$G/users/$UID1/drive" | jq -r .id)"
BIG="$(curl -s -H "Authorization: Bearer $TOK" "$G/drives/$DRIVE/root/delta?\$top=1000" \
  | jq -r '[.value[] | select(.file)] | max_by(.size) | "\(.id) \(.size)"')"
BIG_ID="${BIG% *}"; BIG_SIZE="${BIG#* }"
E0="$(emu_cpu)"
CURL_BPS="$($TIME -f '%U %S' -o "$WORK/curl-time.txt" curl -s -L -o /dev/null -w '%{speed_download}' \
  -H "Authorization: Bearer $TOK" "$G/drives/$DRIVE/items/$BIG_ID/content")"
E1="$(emu_cpu)"
read -r CU CS <"$WORK/curl-time.txt"
echo "curl -o /dev/null: $BIG_SIZE bytes at $(awk -v b="$CURL_BPS" 'BEGIN{printf "%.1f MB/s", b/1e6}')" \
  "(curl CPU user $CU s sys $CS s; emulator CPU $(awk -v a="$E0" -v z="$E1" 'BEGIN{printf "%.2f", z-a}') s)"
# The disk floor: the same download written to a file on the work disk and fsynced.
T0="$(date +%s.%N)"
curl -s -L -o "$WORK/curl.bin" -H "Authorization: Bearer $TOK" "$G/drives/$DRIVE/items/$BIG_ID/content"
sync "$WORK/curl.bin"
T1="$(date +%s.%N)"
rm -f "$WORK/curl.bin"
awk -v b="$BIG_SIZE" -v a="$T0" -v z="$T1" 'BEGIN{printf "curl -o FILE + fsync (work disk): %.1f MB/s\n", b/(z-a)/1e6}'

# backup_large LABEL [DIR]: one full backup of the drive with the repository under DIR.
backup_large() {
  new_repo "${2:-}"
  sync  # the previous run's dirty pages are written back before this one is timed
  local e0 e1
  e0="$(emu_cpu)"
  $TIME -f '%e %M %U %S' -o "$WORK/time.txt" "$TV" --json backup onedrive --no-permissions >"$WORK/large.json"
  e1="$(emu_cpu)"
  read -r SECS RSS_KB USER_S SYS_S <"$WORK/time.txt"
  BYTES="$(jq '[.drives[].bytesDownloaded] | add' "$WORK/large.json")"
  awk -v l="$1" -v b="$BYTES" -v s="$SECS" -v c="$CURL_BPS" -v r="$RSS_KB" -v u="$USER_S" -v y="$SYS_S" \
    -v e="$(awk -v a="$e0" -v z="$e1" 'BEGIN{print z-a}')" 'BEGIN{
    printf "tenantvault (%s): %.0f bytes in %.2f s = %.1f MB/s (%.0f %% of curl -o /dev/null), peak RSS %.0f MB, CPU user %s s sys %s s (%.2f CPU-s per GB), emulator CPU %.2f s\n", l, b, s, b/s/1e6, 100*b/s/c, r/1024, u, y, (u+y)/(b/1e9), e }'
}
backup_large "repository on the work disk"
if [ "$LARGE_MB" -le 2000 ]; then
  backup_large "repository on tmpfs $SHM" "$SHM"
  rm -rf "$SHM"
fi

if [ "$SMALL" = 1 ]; then
  echo "== 2. drive of about $FILES small files"
  start_emulator "$FILES" 0 1
  new_repo
  $TIME -f '%e %M' -o "$WORK/time.txt" "$TV" --json backup onedrive --no-permissions >"$WORK/small.json"
  read -r SECS RSS_KB <"$WORK/time.txt"
  jq -r --arg s "$SECS" --arg r "$RSS_KB" \
    '.drives[0] | "full: \(.filesDownloaded) files, \(.bytesDownloaded) bytes in \($s) s, peak RSS \(($r|tonumber)/1024|floor) MB"' \
    "$WORK/small.json"
  BEFORE="$(curl -s "$(jq -r .url <<<"$INFO")/_emulator/stats" | jq '[.. | .requests? // empty] | add')"
  $TIME -f '%e %M' -o "$WORK/time.txt" "$TV" --json backup onedrive --no-permissions >"$WORK/inc.json"
  read -r SECS RSS_KB <"$WORK/time.txt"
  AFTER="$(curl -s "$(jq -r .url <<<"$INFO")/_emulator/stats" | jq '[.. | .requests? // empty] | add')"
  echo "unchanged incremental: $(jq '.drives[0].filesDownloaded' "$WORK/inc.json") downloads, $SECS s, emulator counter delta $((AFTER - BEFORE)) (token + users + drive + delta pages)"
fi
rm -rf "$WORK/repo" "$WORK/cache" "$SHM"
