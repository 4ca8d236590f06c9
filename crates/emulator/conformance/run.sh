#!/usr/bin/env bash
# Conformance suite: Microsoft's Python Graph SDK (msgraph-sdk) against tenantvault-emulator.
#
# Usage: crates/emulator/conformance/run.sh [pytest args...]
# Env:   CONFORMANCE_VENV  venv directory (default: target/conformance-venv)
#        PYTHON            interpreter for the venv (default: python3, 3.11+)
#        EMULATOR_BIN      prebuilt emulator binary (default: build it with cargo)
# Exits non-zero when the build, the emulator or any test fails; pytest prints its summary.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
venv="${CONFORMANCE_VENV:-$root/target/conformance-venv}"
python="${PYTHON:-python3}"

# 1. Python environment (only PyPI needed): a venv, or the user site when venv is unavailable.
if [ -x "$venv/bin/python" ] || "$python" -m venv "$venv" >/dev/null 2>&1; then
    py="$venv/bin/python"
    "$py" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
else
    echo "python venv unavailable; installing into the user site" >&2
    rm -rf "$venv"
    py="$python"
    "$py" -m pip install --quiet --disable-pip-version-check --user -r "$here/requirements.txt"
fi

# 2. The emulator binary.
if [ -z "${EMULATOR_BIN:-}" ]; then
    (cd "$root" && cargo build --quiet -p tenantvault-emulator --bin tenantvault-emulator)
    target_dir="${CARGO_TARGET_DIR:-$root/target}"
    case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
    EMULATOR_BIN="$target_dir/debug/tenantvault-emulator"
fi

# 3. Start it on a free port; its first stdout line is a JSON object with URL and credentials.
workdir="$(mktemp -d)"
emu_pid=""
cleanup() {
    if [ -n "$emu_pid" ] && kill -0 "$emu_pid" 2>/dev/null; then
        kill "$emu_pid" 2>/dev/null || true
        wait "$emu_pid" 2>/dev/null || true
    fi
    rm -rf "$workdir"
}
trap cleanup EXIT
mkfifo "$workdir/out"
"$EMULATOR_BIN" serve --port 0 --seed 42 --users 8 --messages 25 --no-throttle \
    --files-per-drive 16 --large-files 1 --large-file-mb 8 \
    >"$workdir/out" 2>"$workdir/emulator.log" &
emu_pid=$!
exec 3<"$workdir/out"
info=""
if ! IFS= read -r -t 60 info <&3; then
    echo "emulator did not start; its log:" >&2
    cat "$workdir/emulator.log" >&2
    exit 1
fi
# Keep draining stdout in the background so the emulator never blocks on a full pipe.
cat <&3 >/dev/null &
export EMULATOR_INFO="$info"
echo "emulator: $(printf '%s' "$info" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["url"])')"

# 4. The suite. pytest's exit status is the script's.
status=0
(cd "$here" && "$py" -m pytest -p no:cacheprovider -q -rA "$@") || status=$?
if [ "$status" -ne 0 ]; then
    echo "--- emulator log (last 50 lines) ---" >&2
    tail -n 50 "$workdir/emulator.log" >&2 || true
fi
exit "$status"
