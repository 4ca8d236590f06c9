#!/usr/bin/env bash
# Exchange backup benchmark against the tenant emulator (a separate process), with the emulator's
# throttling ON at Microsoft's documented Outlook limits (4 concurrent requests and 10,000 requests
# per 10 minutes per app per mailbox; --time-scale makes the 10-minute window pass faster, and the
# client is given the same scaled window: see scripts/bench-exchange-common.sh).
#
# Figures (emulator counters from /_emulator/stats, client report from `backup exchange --json`,
# peak RSS from GNU time):
#   1. requests per message on a first full backup (Outlook classes: mail + calendar + contacts)
#   2. an unchanged incremental: Outlook requests per folder
#   3. MAILBOXES x MESSAGES: wall time, messages/s, requests/s, share of requests answered 429,
#      and the same tenant backed up one mailbox after another (--parallel 1) for comparison
#      (the throughput-vs-ceiling figure is scripts/bench-exchange-ceiling.sh)
#   4. peak RSS of a backup of one big mailbox (BIG messages on average; the generator draws
#      0.5-1.5x the mean per mailbox, seed 7's only mailbox gets ~1.3x), windows scaled by
#      --big-time-scale (default 60: 10,000 requests per 10 s) so the run takes minutes, not hours
#
# Usage: scripts/bench-exchange.sh [--mailboxes N] [--messages N] [--big N] [--time-scale X]
#                                  [--big-time-scale X] [--parallel N] [--work DIR] [--skip-big]
#                                  [--skip-tenant] [--skip-sequential]
# Not a test: it takes minutes and prints figures; docs/BENCHMARKS.md ("Exchange") records a run.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${TMPDIR:-/tmp}/tenantvault-bench-exchange"
MAILBOXES=50
MESSAGES=2000
BIG=200000
TIME_SCALE=1
BIG_SCALE=60
PARALLEL=16
SKIP_TENANT=0
SKIP_BIG=0
SKIP_SEQ=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --mailboxes) MAILBOXES="$2"; shift 2 ;;
    --messages) MESSAGES="$2"; shift 2 ;;
    --big) BIG="$2"; shift 2 ;;
    --time-scale) TIME_SCALE="$2"; shift 2 ;;
    --big-time-scale) BIG_SCALE="$2"; shift 2 ;;
    --skip-tenant) SKIP_TENANT=1; shift ;;
    --parallel) PARALLEL="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --skip-big) SKIP_BIG=1; shift ;;
    --skip-sequential) SKIP_SEQ=1; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
source "$ROOT/scripts/bench-exchange-common.sh"
build_release
rm -rf "$WORK"; mkdir -p "$WORK"

echo "$(machine); time scale $TIME_SCALE (big mailbox: $BIG_SCALE)" >&2

# --- 1-3: MAILBOXES x MESSAGES ------------------------------------------------------------
if [[ $SKIP_TENANT -eq 0 ]]; then
# The emulator's user mix has some guests/disabled accounts; ask for enough users to get
# about MAILBOXES mailboxes (the report says how many were backed up).
USERS=$(( MAILBOXES * 100 / 85 ))
start_emu "$USERS" "$MESSAGES" "$TIME_SCALE"
write_graph_config "$WORK/graph.toml" 10000 "$(scaled_window "$TIME_SCALE")"
REPO="$WORK/repo"
new_repo "$REPO"
reset_stats
run_backup full "$REPO" "$PARALLEL" "$WORK/graph.toml"
stats "$WORK/full.stats"
MB=$(json "$WORK/full.json" "len(d['mailboxes'])")
MSGS=$(json "$WORK/full.json" "sum(m['messagesDownloaded'] for m in d['mailboxes'])")
BYTES=$(json "$WORK/full.json" "sum(m['bytesDownloaded'] for m in d['mailboxes'])")
FAILS=$(json "$WORK/full.json" "sum(len(m['failures'])+(1 if m['error'] else 0) for m in d['mailboxes'])")
REQ=$(outlook "$WORK/full.stats" requests)
THR=$(outlook "$WORK/full.stats" throttled)
WALL=$(cat "$WORK/full.wall")
echo
echo "== first full backup: $MB mailboxes, $MSGS messages ($(( BYTES / 1048576 )) MiB), parallel $PARALLEL"
python3 - "$MSGS" "$REQ" "$THR" "$WALL" "$BYTES" "$FAILS" <<'EOF'
import sys
msgs, req, thr, wall, b, fails = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
print(f"wall {wall:.1f} s; {msgs/wall:.0f} messages/s; {b/wall/1048576:.1f} MiB/s; {req/wall:.0f} Outlook requests/s")
print(f"Outlook requests {req} -> {req/max(msgs,1):.3f} per message (bar <= 1.1)")
print(f"429 answers {thr} = {100*thr/max(req,1):.2f}% of requests (bar < 1%); failures {fails}")
EOF
echo "peak RSS $(rss_mb "$WORK/full.time") MiB"

reset_stats
run_backup incr "$REPO" "$PARALLEL" "$WORK/graph.toml"
stats "$WORK/incr.stats"
FOLDERS=$(json "$WORK/incr.json" "sum(m['folders'] for m in d['mailboxes'])")
REQ2=$(outlook "$WORK/incr.stats" requests)
DL2=$(json "$WORK/incr.json" "sum(m['messagesDownloaded'] for m in d['mailboxes'])")
echo
echo "== unchanged incremental: $REQ2 Outlook requests for $FOLDERS folders -> $(python3 -c "print(f'{$REQ2/max($FOLDERS,1):.2f}')") per folder (bar <= 2); $DL2 messages downloaded; wall $(cat "$WORK/incr.wall") s"

if [[ $SKIP_SEQ -eq 0 ]]; then
  REPO_SEQ="$WORK/repo-seq"
  new_repo "$REPO_SEQ"
  reset_stats
  run_backup seq "$REPO_SEQ" 1 "$WORK/graph.toml"
  stats "$WORK/seq.stats"
  echo
  echo "== one mailbox after another (--parallel 1, Corso's approach): wall $(cat "$WORK/seq.wall") s vs $WALL s in parallel; 429s $(outlook "$WORK/seq.stats" throttled)"
fi
fi

# --- 4: one big mailbox -----------------------------------------------------------------
if [[ $SKIP_BIG -eq 0 ]]; then
  # One user's tenant: the generator makes one licensed mailbox first.
  start_emu 1 "$BIG" "$BIG_SCALE"
  write_graph_config "$WORK/graph-big.toml" 10000 "$(scaled_window "$BIG_SCALE")"
  REPO_BIG="$WORK/repo-big"
  new_repo "$REPO_BIG"
  reset_stats
  run_backup big "$REPO_BIG" 1 "$WORK/graph-big.toml"
  stats "$WORK/big.stats"
  BM=$(json "$WORK/big.json" "sum(m['messagesDownloaded'] for m in d['mailboxes'])")
  echo
  BREQ=$(outlook "$WORK/big.stats" requests)
  BTHR=$(outlook "$WORK/big.stats" throttled)
  echo "== one big mailbox: $BM messages ($(du -sh "$REPO_BIG" | cut -f1) repository) in $(cat "$WORK/big.wall") s; $BREQ Outlook requests, $BTHR answered 429; peak RSS $(rss_mb "$WORK/big.time") MiB (bar < 300 MB at 200,000)"
fi
echo
echo "raw outputs in $WORK" >&2
