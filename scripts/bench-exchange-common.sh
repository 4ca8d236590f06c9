# Shared helpers of the Exchange benchmark scripts (sourced, not run):
#   scripts/bench-exchange.sh          requests/message, unchanged incremental, big-mailbox RSS
#   scripts/bench-exchange-ceiling.sh  50 mailboxes x 2,000 messages against the throttling ceiling
#   scripts/bench-exchange-restore.sh  restore of one message from a 1,000,000-message repository
#
# The caller sets ROOT and WORK before sourcing. Every helper is plain bash + python3 (stdlib).
#
# Throttle windows: the emulator's `--time-scale X` makes its 10-minute Outlook window pass X
# times faster. The backup client enforces the same limits on its side (graph crate `Limits`), so
# it must be told the scaled window too, or it waits out a real 10-minute window after the first
# 10,000 requests of a mailbox (that is why a 20,000-message mailbox "did not finish in 12
# minutes" in session 1). write_graph_config does that through the `[graph]` TOML keys
# `mailbox_requests_per_window` and `mailbox_window_secs`.

[[ -x /usr/bin/time ]] || { echo "error: GNU time (/usr/bin/time) is needed: apt-get install -y time" >&2; exit 2; }

# build_release: release binaries (set TENANTVAULT_BENCH_NO_BUILD=1 to use target/release as is).
build_release() {
  if [[ "${TENANTVAULT_BENCH_NO_BUILD:-0}" != 1 ]]; then
    echo "building release binaries..." >&2
    (cd "$ROOT" && cargo build --release -q -p tenantvault-cli -p tenantvault-emulator)
  fi
  TV="$ROOT/target/release/tenantvault"
  EMU="$ROOT/target/release/tenantvault-emulator"
}

EMU_PID=""
stop_emu() { if [[ -n "$EMU_PID" ]]; then kill "$EMU_PID" 2>/dev/null || true; wait "$EMU_PID" 2>/dev/null || true; EMU_PID=""; fi; }
trap stop_emu EXIT

json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {'d': d}))" "$@"; }

# start_emu USERS MESSAGES TIME_SCALE [extra emulator args...]: serves a tenant in the background;
# sets URL and exports the AZURE_* variables for it.
start_emu() {
  local users="$1" messages="$2" scale="$3"
  shift 3
  stop_emu
  : >"$WORK/emu.out"
  "$EMU" serve --seed 7 --users "$users" --messages "$messages" --time-scale "$scale" --port 0 "$@" \
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

# emu_throttling JSON: changes the emulator's throttling (POST /_emulator/throttling).
emu_throttling() {
  python3 - "$URL" "$1" <<'EOF'
import sys, urllib.request
r = urllib.request.Request(sys.argv[1] + "/_emulator/throttling", data=sys.argv[2].encode(),
                           method="POST", headers={"Content-Type": "application/json"})
urllib.request.urlopen(r).read()
EOF
}

# write_graph_config FILE LIMIT WINDOW_SECS: the client's Graph settings for the running emulator
# with a per-mailbox budget of LIMIT requests per WINDOW_SECS (whole seconds, >= 1).
write_graph_config() {
  cat >"$1" <<EOF
[graph]
tenant_id = "$AZURE_TENANT_ID"
client_id = "$AZURE_CLIENT_ID"
client_secret = "$AZURE_CLIENT_SECRET"
authority_host = "$AZURE_AUTHORITY_HOST"
graph_base = "$TENANTVAULT_GRAPH_BASE"
mailbox_requests_per_window = $2
mailbox_window_secs = $3
EOF
}

# scaled_window TIME_SCALE: the emulator's 600-second window in real seconds, rounded up (the
# client may be slightly more careful than the server, never less).
scaled_window() {
  python3 -c "import math,sys; w=math.ceil(600/float(sys.argv[1])); print(w if w>=1 else 1)" "$1"
}

stats() { python3 -c "import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1]+'/_emulator/stats').read().decode())" "$URL" >"$1"; }
reset_stats() { python3 -c "import urllib.request,sys; urllib.request.urlopen(urllib.request.Request(sys.argv[1]+'/_emulator/stats/reset', method='POST'))" "$URL"; }
outlook() { json "$1" "sum(d['totals'].get(c,{}).get('$2',0) for c in ('mail','calendar','contacts'))"; }

export TENANTVAULT_PASSWORD=bench
new_repo() { rm -rf "$1"; "$TV" --repo "$1" --quiet repo init >/dev/null; }

# run_backup NAME REPO PARALLEL GRAPH_TOML [extra args]: backup exchange under GNU time; leaves
# $WORK/NAME.{json,time,err,wall}. Exit code 3 (completed with failures) is accepted.
run_backup() {
  local name="$1" repo="$2" par="$3" cfg="$4" start end rc
  shift 4
  start=$(date +%s.%N)
  rc=0
  /usr/bin/time -v -o "$WORK/$name.time" "$TV" --repo "$repo" --json backup exchange --parallel "$par" \
    --config "$cfg" "$@" >"$WORK/$name.json" 2>"$WORK/$name.err" || rc=$?
  if [[ $rc -ne 0 && $rc -ne 3 ]]; then tail -n 20 "$WORK/$name.err" >&2; exit "$rc"; fi
  end=$(date +%s.%N)
  python3 -c "print(f'{float(\"$end\")-float(\"$start\"):.2f}')" >"$WORK/$name.wall"
}
rss_mb() { awk -F: '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$1"; }
machine() { echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"; }
