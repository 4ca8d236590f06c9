#!/usr/bin/env bash
# Restore of one message from a repository holding ~1,000,000 messages (issue 4, benchmark 5):
# under 1 s from command start.
#
# Builds the repository the real way: one emulator mailbox of about MESSAGES messages (the
# generator draws 0.5-1.5x the mean per mailbox; seed 7's only mailbox gets ~1.31x, so the default
# mean of 765,000 gives ~1,000,000) backed up with `backup exchange`, throttle windows scaled by
# --time-scale (client told the same window). Then, against the same emulator:
#   * `find --item`-free lookups: `find --subject S --limit 1` (stops at the first match) and
#     `find --subject S` (scans the whole item list: the cost of a filter over everything)
#   * `restore exchange --item msg:<id>` (one message by id: binary search over the snapshot's
#     sorted item lists, one list blob and the message's blobs read, one folder lookup/create
#     and one create request against the emulator) — wall time of the whole command from
#     process start, repeated --repeat times (cold first run after dropping nothing: the OS page
#     cache is warm from the backup; say so when reporting)
#   * `restore exchange --dry-run --subject S` (a filter-driven plan: a full scan)
#
# Usage: scripts/bench-exchange-restore.sh [--messages MEAN] [--time-scale X] [--repeat N]
#                                          [--work DIR] [--reuse]
#   --reuse  keep WORK/repo from an earlier run (skips the backup; the emulator is started with
#            the same seed and size, so ids match)
# Not a test: the backup takes tens of minutes; docs/BENCHMARKS.md ("Exchange") records a run.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${TMPDIR:-/tmp}/tenantvault-bench-exchange-restore"
MESSAGES=765000
TIME_SCALE=600
REPEAT=5
REUSE=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --messages) MESSAGES="$2"; shift 2 ;;
    --time-scale) TIME_SCALE="$2"; shift 2 ;;
    --repeat) REPEAT="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --reuse) REUSE=1; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

source "$ROOT/scripts/bench-exchange-common.sh"
build_release
REPO="$WORK/repo"
if [[ $REUSE -eq 1 ]]; then
  [[ -d "$REPO" ]] || { echo "error: --reuse but $REPO does not exist" >&2; exit 2; }
else
  rm -rf "$WORK"
fi
mkdir -p "$WORK"
echo "$(machine); time scale $TIME_SCALE" >&2

start_emu 1 "$MESSAGES" "$TIME_SCALE"
write_graph_config "$WORK/graph.toml" 10000 "$(scaled_window "$TIME_SCALE")"
if [[ $REUSE -eq 0 ]]; then
  new_repo "$REPO"
  echo "backing up one mailbox of ~$MESSAGES x 1.3 messages (minutes)..." >&2
  run_backup big "$REPO" 1 "$WORK/graph.toml" --no-events --no-contacts
  echo "== backup: $(json "$WORK/big.json" "sum(m['messagesDownloaded'] for m in d['mailboxes'])") messages in $(cat "$WORK/big.wall") s; peak RSS $(rss_mb "$WORK/big.time") MiB; repository $(du -sh "$REPO" | cut -f1)"
fi
# timed NAME CMD...: wall seconds of CMD (from process start to exit) into $WORK/NAME.wall.
timed() {
  local name="$1" start end rc=0
  shift
  start=$(date +%s.%N)
  "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
  end=$(date +%s.%N)
  python3 -c "print(f'{float(\"$end\")-float(\"$start\"):.3f}')" >"$WORK/$name.wall"
  [[ $rc -eq 0 ]] || { echo "error: $name exited $rc:" >&2; tail -n 5 "$WORK/$name.err" >&2; exit 1; }
}

# The mailbox and one message in the middle of the item list (ids are random-looking, so this
# is an arbitrary message; the lookup is a binary search either way).
SNAP=$("$TV" --repo "$REPO" --json snapshots | python3 -c "
import json,sys
d=json.load(sys.stdin)
s=d if isinstance(d,list) else d.get('snapshots')
print(s[-1]['id'])")
timed find-first "$TV" --repo "$REPO" --json find "$SNAP" --folder Archive --limit 1
ITEM=$(json "$WORK/find-first.out" "d['items'][0]['id']")
SUBJECT=$(json "$WORK/find-first.out" "d['items'][0]['name']")
MBX=$(json "$WORK/find-first.out" "d['owner']")
echo "snapshot $SNAP, mailbox $MBX, message $ITEM ($SUBJECT)" >&2

timed find-subject-1 "$TV" --repo "$REPO" --json find "$SNAP" --subject "$SUBJECT" --limit 1
timed find-subject-all "$TV" --repo "$REPO" --json find "$SNAP" --subject "$SUBJECT"
MATCHES=$(json "$WORK/find-subject-all.out" "len(d['items'])")
timed dry-subject "$TV" --repo "$REPO" --json restore exchange --snapshot "$SNAP" --subject "$SUBJECT" --kind message --dry-run
WALLS=()
for i in $(seq 1 "$REPEAT"); do
  timed "restore-$i" "$TV" --repo "$REPO" --json restore exchange --snapshot "$SNAP" --item "$ITEM" \
    --folder-name "Bench restore $i" --config "$WORK/graph.toml"
  WALLS+=("$(cat "$WORK/restore-$i.wall")")
done
/usr/bin/time -v -o "$WORK/restore-rss.time" "$TV" --repo "$REPO" --json restore exchange --snapshot "$SNAP" \
  --item "$ITEM" --folder-name "Bench restore rss" --config "$WORK/graph.toml" >"$WORK/restore-rss.out" 2>&1
STATUS=$(json "$WORK/restore-1.out" "d['items'][0]['status']")
ITEMS=$("$TV" --repo "$REPO" --json snapshots | python3 -c "
import json,sys
d=json.load(sys.stdin)
s=d if isinstance(d,list) else d.get('snapshots')
print(s[-1].get('items', s[-1].get('stats',{}).get('items','?')))")

echo
echo "== restore of one message from a snapshot of $ITEMS items (repository $(du -sh "$REPO" | cut -f1))"
python3 - "$STATUS" "${WALLS[@]}" <<'EOF'
import statistics, sys
status, walls = sys.argv[1], [float(w) for w in sys.argv[2:]]
print(f"restore exchange --item: status {status}; wall per run {', '.join(f'{w:.3f}' for w in walls)} s; "
      f"median {statistics.median(walls):.3f} s, worst {max(walls):.3f} s (bar < 1 s from command start)")
EOF
echo "peak RSS of one restore: $(rss_mb "$WORK/restore-rss.time") MiB"
echo "find --subject S --limit 1: $(cat "$WORK/find-subject-1.wall") s; find --subject S (full scan, $MATCHES matches): $(cat "$WORK/find-subject-all.wall") s"
echo "restore --dry-run --subject S (plan over everything): $(cat "$WORK/dry-subject.wall") s; find --folder Archive --limit 1: $(cat "$WORK/find-first.wall") s"
echo
echo "raw outputs in $WORK" >&2
