#!/usr/bin/env bash
# Exchange backup benchmark against the tenant emulator (a separate process), with the emulator's
# throttling ON at Microsoft's documented Outlook limits (4 concurrent requests and 10,000 requests
# per 10 minutes per app per mailbox; --time-scale makes the 10-minute window pass faster).
#
# Figures (emulator counters from /_emulator/stats, client report from `backup exchange --json`,
# peak RSS from GNU time):
#   1. requests per message on a first full backup (Outlook classes: mail + calendar + contacts)
#   2. an unchanged incremental: Outlook requests per folder
#   3. MAILBOXES x MESSAGES: wall time, messages/s, requests/s, share of requests answered 429,
#      and the same tenant backed up one mailbox after another (--parallel 1) for comparison
#   4. peak RSS of a backup of one big mailbox (BIG messages)
#
# Usage: scripts/bench-exchange.sh [--mailboxes N] [--messages N] [--big N] [--time-scale X]
#                                  [--parallel N] [--work DIR] [--skip-big] [--skip-sequential]
# Not a test: it takes minutes and prints figures; docs/BENCHMARKS.md ("Exchange") records a run.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${TMPDIR:-/tmp}/tenantvault-bench-exchange"
MAILBOXES=50
MESSAGES=2000
BIG=200000
TIME_SCALE=1
PARALLEL=16
SKIP_BIG=0
SKIP_SEQ=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --mailboxes) MAILBOXES="$2"; shift 2 ;;
    --messages) MESSAGES="$2"; shift 2 ;;
    --big) BIG="$2"; shift 2 ;;
    --time-scale) TIME_SCALE="$2"; shift 2 ;;
    --parallel) PARALLEL="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --skip-big) SKIP_BIG=1; shift ;;
    --skip-sequential) SKIP_SEQ=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ -x /usr/bin/time ]] || { echo "error: GNU time (/usr/bin/time) is needed: apt-get install -y time" >&2; exit 2; }

echo "building release binaries..." >&2
(cd "$ROOT" && cargo build --release -q -p tenantvault-cli -p tenantvault-emulator)
TV="$ROOT/target/release/tenantvault"
EMU="$ROOT/target/release/tenantvault-emulator"
rm -rf "$WORK"; mkdir -p "$WORK"
EMU_PID=""
cleanup() { [[ -n "$EMU_PID" ]] && kill "$EMU_PID" 2>/dev/null || true; }
trap cleanup EXIT

json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {'d': d}))" "$@"; }

# start_emu USERS MESSAGES: serves a tenant; exports the AZURE_* variables for it.
start_emu() {
  local users="$1" messages="$2"
  cleanup
  "$EMU" serve --seed 7 --users "$users" --messages "$messages" --time-scale "$TIME_SCALE" --port 0 \
    >"$WORK/emu.out" 2>"$WORK/emu.err" &
  EMU_PID=$!
  for _ in $(seq 1 600); do [[ -s "$WORK/emu.out" ]] && break; sleep 0.1; done
  head -n1 "$WORK/emu.out" >"$WORK/emu.json"
  URL=$(json "$WORK/emu.json" "d['url']")
  export AZURE_TENANT_ID; AZURE_TENANT_ID=$(json "$WORK/emu.json" "d['tenantId']")
  export AZURE_CLIENT_ID; AZURE_CLIENT_ID=$(json "$WORK/emu.json" "d['clientId']")
  export AZURE_CLIENT_SECRET; AZURE_CLIENT_SECRET=$(json "$WORK/emu.json" "d['clientSecret']")
  export AZURE_AUTHORITY_HOST="$URL"
  export TENANTVAULT_GRAPH_BASE="$URL/v1.0"
}

stats() { python3 -c "import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1]+'/_emulator/stats').read().decode())" "$URL" >"$1"; }
reset_stats() { python3 -c "import urllib.request,sys; urllib.request.urlopen(urllib.request.Request(sys.argv[1]+'/_emulator/stats/reset', method='POST'))" "$URL"; }
outlook() { json "$1" "sum(d['totals'].get(c,{}).get('$2',0) for c in ('mail','calendar','contacts'))"; }

export TENANTVAULT_PASSWORD=bench
new_repo() { rm -rf "$1"; "$TV" --repo "$1" --quiet repo init >/dev/null; }

# run_backup NAME REPO PARALLEL: backup exchange with GNU time; leaves $WORK/NAME.{json,time}
run_backup() {
  local name="$1" repo="$2" par="$3" start end
  start=$(date +%s.%N)
  /usr/bin/time -v -o "$WORK/$name.time" "$TV" --repo "$repo" --json backup exchange --parallel "$par" \
    >"$WORK/$name.json" 2>"$WORK/$name.err" || { rc=$?; [[ $rc -eq 3 ]] || { cat "$WORK/$name.err" >&2; exit $rc; }; }
  end=$(date +%s.%N)
  python3 -c "print(f'{float(\"$end\")-float(\"$start\"):.2f}')" >"$WORK/$name.wall"
}
rss_mb() { awk -F: '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$1"; }

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); time scale $TIME_SCALE" >&2

# --- 1-3: MAILBOXES x MESSAGES ------------------------------------------------------------
# The emulator's user mix has some guests/disabled accounts; ask for enough users to get
# about MAILBOXES mailboxes (the report says how many were backed up).
USERS=$(( MAILBOXES * 100 / 85 ))
start_emu "$USERS" "$MESSAGES"
REPO="$WORK/repo"
new_repo "$REPO"
reset_stats
run_backup full "$REPO" "$PARALLEL"
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
run_backup incr "$REPO" "$PARALLEL"
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
  run_backup seq "$REPO_SEQ" 1
  stats "$WORK/seq.stats"
  echo
  echo "== one mailbox after another (--parallel 1, Corso's approach): wall $(cat "$WORK/seq.wall") s vs $WALL s in parallel; 429s $(outlook "$WORK/seq.stats" throttled)"
fi

# --- 4: one big mailbox -----------------------------------------------------------------
if [[ $SKIP_BIG -eq 0 ]]; then
  # One user's tenant: the generator makes one licensed mailbox first.
  start_emu 1 "$BIG"
  REPO_BIG="$WORK/repo-big"
  new_repo "$REPO_BIG"
  reset_stats
  run_backup big "$REPO_BIG" 1
  stats "$WORK/big.stats"
  BM=$(json "$WORK/big.json" "sum(m['messagesDownloaded'] for m in d['mailboxes'])")
  echo
  echo "== one big mailbox: $BM messages in $(cat "$WORK/big.wall") s; peak RSS $(rss_mb "$WORK/big.time") MiB (bar < 300 MB at 200,000)"
fi
echo
echo "raw outputs in $WORK" >&2
