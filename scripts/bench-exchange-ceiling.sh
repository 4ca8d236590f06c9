#!/usr/bin/env bash
# Exchange throughput against the throttling ceiling (issue 4, benchmark 3): MAILBOXES mailboxes of
# about MESSAGES messages each, all backed up at once, with a per-mailbox request budget that
# binds (LIMIT requests per WINDOW seconds per app per mailbox, set on the emulator through
# POST /_emulator/throttling and given to the client in its [graph] TOML), plus Outlook's
# 4-concurrent-requests limit.
#
# Why a scaled budget: at Microsoft's own numbers (10,000 requests per 600 s) a 2,000-message
# mailbox (~2,100 requests) fits in one window, so the per-mailbox budget never binds and the
# "ceiling" would only be this machine's CPU. LIMIT/WINDOW keeps the shape of the limit (a
# sliding window per mailbox, one tenant-wide client) while making every mailbox need
# ~R/LIMIT windows, so the run measures how close the client gets to what the limits allow.
#
# Ceiling: with a sliding window of LIMIT per WINDOW, a mailbox needing R requests cannot finish
# before floor((R-1)/LIMIT) * WINDOW seconds; the tenant cannot finish before the largest such
# time over its mailboxes ("ideal wall"). Reported: achieved wall, ideal wall, ideal/achieved
# (the share of the ceiling reached; bar >= 90%), requests/s, share of requests answered 429
# (bar < 1%), per-mailbox efficiency (ideal/elapsed, median and worst), and the one-after-another
# time (Corso's approach): measured for --sequential-sample mailboxes with --parallel 1, and the
# sum of the per-mailbox times for all of them (each mailbox is bound by its own budget, so run
# one after another they would take the sum).
#
# Usage: scripts/bench-exchange-ceiling.sh [--mailboxes N] [--messages N] [--limit N]
#          [--window SECS] [--sequential-sample N] [--work DIR]
# Not a test: it takes minutes and prints figures; docs/BENCHMARKS.md ("Exchange") records a run.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${TMPDIR:-/tmp}/tenantvault-bench-exchange-ceiling"
MAILBOXES=50
MESSAGES=2000
LIMIT=100
WINDOW=10
SEQ_SAMPLE=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --mailboxes) MAILBOXES="$2"; shift 2 ;;
    --messages) MESSAGES="$2"; shift 2 ;;
    --limit) LIMIT="$2"; shift 2 ;;
    --window) WINDOW="$2"; shift 2 ;;
    --sequential-sample) SEQ_SAMPLE="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$LIMIT" -ge 1 && "$WINDOW" -ge 1 ]] || { echo "error: --limit and --window must be >= 1" >&2; exit 2; }

source "$ROOT/scripts/bench-exchange-common.sh"
build_release
rm -rf "$WORK"; mkdir -p "$WORK"
echo "$(machine); budget $LIMIT requests per $WINDOW s per mailbox, 4 concurrent" >&2

# The emulator's user mix has some guests/disabled accounts; ask for enough users to get about
# MAILBOXES mailboxes (the report says how many were backed up), all of them at once.
USERS=$(( MAILBOXES * 100 / 85 ))
start_emu "$USERS" "$MESSAGES" 1
emu_throttling "{\"mailboxRequestsPerWindow\": $LIMIT, \"windowSecs\": $WINDOW, \"timeScale\": 1, \"reset\": true}"
write_graph_config "$WORK/graph.toml" "$LIMIT" "$WINDOW"

REPO="$WORK/repo"
new_repo "$REPO"
reset_stats
run_backup par "$REPO" "$USERS" "$WORK/graph.toml"
stats "$WORK/par.stats"

echo
echo "== $(json "$WORK/par.json" "len(d['mailboxes'])") mailboxes x ~$MESSAGES messages, all at once; budget $LIMIT requests / $WINDOW s / mailbox"
python3 - "$WORK/par.json" "$WORK/par.stats" "$(cat "$WORK/par.wall")" "$LIMIT" "$WINDOW" <<'EOF'
import json, statistics, sys
rep, st = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
wall, L, W = float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
outlook = ("mail", "calendar", "contacts")
per = {}
for r in st["rows"]:
    if r["class"] in outlook and r["owner"] != "-":
        p = per.setdefault(r["owner"].lower(), [0, 0])
        p[0] += r["requests"]; p[1] += r["throttled"]
req = sum(p[0] for p in per.values()); thr = sum(p[1] for p in per.values())
msgs = sum(m["messagesDownloaded"] for m in rep["mailboxes"])
fails = sum(len(m["failures"]) + (1 if m["error"] else 0) for m in rep["mailboxes"])
ideal = lambda r: ((r - 1) // L) * W if r > 0 else 0.0
effs, ideals, elapsed = [], [], []
for m in rep["mailboxes"]:
    r = per.get(m["mailbox"]["id"].lower(), [0, 0])[0]
    i, e = ideal(r), m["elapsed"]
    ideals.append(i); elapsed.append(e)
    if i > 0 and e > 0:
        effs.append(i / e)
ideal_wall = max(ideals) if ideals else 0.0
print(f"messages {msgs}, Outlook requests {req} ({req/max(msgs,1):.3f}/message), failures {fails}")
print(f"wall {wall:.1f} s; ideal wall under the budget {ideal_wall:.0f} s -> {100*ideal_wall/wall:.1f}% of the ceiling (bar >= 90%)")
print(f"throughput {req/wall:.0f} requests/s, {msgs/wall:.0f} messages/s (budget allows {len(rep['mailboxes'])*L/W:.0f} requests/s while all mailboxes are busy)")
print(f"429 answers {thr} = {100*thr/max(req,1):.2f}% of requests (bar < 1%)")
if effs:
    print(f"per-mailbox ideal/elapsed: median {100*statistics.median(effs):.1f}%, worst {100*min(effs):.1f}%")
print(f"one after another (sum of per-mailbox times): {sum(elapsed):.0f} s = {sum(elapsed)/wall:.1f}x the parallel wall")
EOF
echo "peak RSS $(rss_mb "$WORK/par.time") MiB"

if [[ "$SEQ_SAMPLE" -gt 0 ]]; then
  REPO_SEQ="$WORK/repo-seq"
  new_repo "$REPO_SEQ"
  emu_throttling '{"reset": true}'
  reset_stats
  SEQ=()
  while read -r upn; do SEQ+=(--mailbox "$upn"); done < <(json "$WORK/par.json" "'\\n'.join(m['mailbox']['upn'] for m in d['mailboxes'][:$SEQ_SAMPLE])")
  run_backup seq "$REPO_SEQ" 1 "$WORK/graph.toml" "${SEQ[@]}"
  stats "$WORK/seq.stats"
  python3 - "$WORK/seq.json" "$(cat "$WORK/seq.wall")" "$WORK/par.json" "$(outlook "$WORK/seq.stats" throttled)" <<'EOF'
import json, sys
seq, wall, par, thr = json.load(open(sys.argv[1])), float(sys.argv[2]), json.load(open(sys.argv[3])), sys.argv[4]
n = len(seq["mailboxes"])
ids = {m["mailbox"]["id"] for m in seq["mailboxes"]}
same = sum(m["elapsed"] for m in par["mailboxes"] if m["mailbox"]["id"] in ids)
print(f"== one after another (--parallel 1), {n} sample mailboxes: {wall:.1f} s ({wall/n:.1f} s per mailbox; "
      f"the same mailboxes took {same:.1f} s summed in the parallel run); 429 answers {thr}")
print(f"   extrapolated to all {len(par['mailboxes'])} mailboxes: ~{wall/n*len(par['mailboxes']):.0f} s")
EOF
fi
echo
echo "raw outputs in $WORK" >&2
