#!/usr/bin/env bash
# Repository benchmark: tenantvault vs restic vs borg, side by side, on the same machine in one run.
#
# Corpora:
#   usr   a copy of /usr/share (about 470-650 MB, ~43k files)
#   mail  >= 50,000 generated MIME messages (.eml) whose attachments recur across messages
#         (scripts/bench/gen_mail_corpus.py, attachments from ../shared/data/documents)
#
# For each tool and corpus: first backup wall time, unchanged second backup wall time, peak RSS
# (GNU time), repository size (du -sb), and tenantvault's ratio to each peer. Also the machine
# floor: reading the same files with tar (piped through cat, because GNU tar skips reading file
# contents when the archive is literally /dev/null).
#
# Usage: scripts/bench-repo.sh [--work DIR] [--corpus usr|mail|all] [--messages N] [--keep] [--no-build]
#                              [--bin PATH]   (a tenantvault binary to use instead of target/release's)
# Not a test: it takes several minutes and prints figures; docs/BENCHMARKS.md records a run.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${TMPDIR:-/tmp}/tenantvault-bench"
CORPUS=all
MESSAGES=50000
KEEP=0
BUILD=1
TV=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --work) WORK="$2"; shift 2 ;;
    --corpus) CORPUS="$2"; shift 2 ;;
    --messages) MESSAGES="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --no-build) BUILD=0; shift ;;
    --bin) TV="$2"; BUILD=0; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$CORPUS" in usr|mail|all) ;; *) echo "error: --corpus must be usr, mail or all" >&2; exit 2 ;; esac

need_pkgs=()
command -v restic >/dev/null || need_pkgs+=(restic)
command -v borg >/dev/null || need_pkgs+=(borgbackup)
[[ -x /usr/bin/time ]] || need_pkgs+=(time)
if [[ ${#need_pkgs[@]} -gt 0 ]]; then
  echo "installing ${need_pkgs[*]} (apt-get)..." >&2
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q "${need_pkgs[@]}" >/dev/null
fi

if [[ $BUILD -eq 1 ]]; then
  echo "building tenantvault (release)..." >&2
  (cd "$ROOT" && cargo build --release -q -p tenantvault-cli)
fi
[[ -n "$TV" ]] || TV="$ROOT/target/release/tenantvault"
[[ -x "$TV" ]] || { echo "error: $TV not built" >&2; exit 1; }

mkdir -p "$WORK"
RESULTS="$WORK/results.md"
PASS=bench-password-not-secret
export TENANTVAULT_PASSWORD=$PASS RESTIC_PASSWORD=$PASS BORG_PASSPHRASE=$PASS
export BORG_BASE_DIR="$WORK/borg-base" BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes

# --- corpora ---------------------------------------------------------------------------------
prepare_usr() {
  if [[ ! -d "$WORK/corpus-usr" ]]; then
    echo "copying /usr/share to $WORK/corpus-usr ..." >&2
    mkdir -p "$WORK/corpus-usr.tmp"
    cp -a /usr/share "$WORK/corpus-usr.tmp/" 2>/dev/null || true
    mv "$WORK/corpus-usr.tmp" "$WORK/corpus-usr"
  fi
}
prepare_mail() {
  if [[ ! -d "$WORK/corpus-mail" ]]; then
    echo "generating $MESSAGES messages in $WORK/corpus-mail ..." >&2
    rm -rf "$WORK/corpus-mail.tmp"
    python3 "$ROOT/scripts/bench/gen_mail_corpus.py" --out "$WORK/corpus-mail.tmp" --messages "$MESSAGES" >&2
    mv "$WORK/corpus-mail.tmp" "$WORK/corpus-mail"
  fi
}

# --- measurement helpers ---------------------------------------------------------------------
# run_timed NAME CMD... : runs CMD under GNU time, appends "NAME wall_s maxrss_kib" to $WORK/raw.txt
run_timed() {
  local name="$1"; shift
  local tf="$WORK/time.$$"
  if ! /usr/bin/time -f '%e %M %U %S' -o "$tf" "$@" >"$WORK/log-$name.out" 2>"$WORK/log-$name.err"; then
    echo "error: $name failed: $*" >&2; tail -5 "$WORK/log-$name.err" >&2; exit 1
  fi
  read -r wall rss user sys <"$tf"
  echo "$name $wall $rss $user $sys" >>"$WORK/raw.txt"
  printf '  %-28s %8.2f s  %8.1f MiB  (user %s s, sys %s s)\n' "$name" "$wall" "$(awk -v r="$rss" 'BEGIN{print r/1024}')" "$user" "$sys" >&2
}
size_of() { du -sb "$1" | cut -f1; }

bench_corpus() {
  # A corpus may be a symlink to a shared read-only copy: resolve it, or restic would back
  # up the link itself (and find/du would count nothing).
  local c="$1" src
  src=$(readlink -f "$WORK/corpus-$1")
  local files bytes
  files=$(find "$src" -type f | wc -l)
  bytes=$(size_of "$src")
  echo "corpus $c: $files files, $bytes bytes" >&2
  echo "corpus_$c $files $bytes" >>"$WORK/raw.txt"
  rm -rf "$WORK/repo-$c-"* "$WORK/cache-$c-"* "$BORG_BASE_DIR"

  # warm the page cache once, then measure the floor (all tools then run on a warm cache)
  tar cf - -C "$src" . | cat >/dev/null
  run_timed "$c-floor-tar" bash -c "tar cf - -C '$src' . | cat >/dev/null"

  "$TV" --repo "$WORK/repo-$c-tv" repo init >/dev/null
  run_timed "$c-tenantvault-1" "$TV" --repo "$WORK/repo-$c-tv" --cache-dir "$WORK/cache-$c-tv" --quiet --json \
    backup dir "$src" --owner "bench-$c"
  run_timed "$c-tenantvault-2" "$TV" --repo "$WORK/repo-$c-tv" --cache-dir "$WORK/cache-$c-tv" --quiet --json \
    backup dir "$src" --owner "bench-$c"
  echo "$c-tenantvault-size $(size_of "$WORK/repo-$c-tv")" >>"$WORK/raw.txt"

  restic init -q --repo "$WORK/repo-$c-restic" >/dev/null
  run_timed "$c-restic-1" restic -q --repo "$WORK/repo-$c-restic" --cache-dir "$WORK/cache-$c-restic" backup "$src"
  run_timed "$c-restic-2" restic -q --repo "$WORK/repo-$c-restic" --cache-dir "$WORK/cache-$c-restic" backup "$src"
  echo "$c-restic-size $(size_of "$WORK/repo-$c-restic")" >>"$WORK/raw.txt"

  borg init -e repokey-blake2 "$WORK/repo-$c-borg" >/dev/null 2>&1
  (cd "$src" && run_timed "$c-borg-1" borg create "$WORK/repo-$c-borg::one" .)
  (cd "$src" && run_timed "$c-borg-2" borg create "$WORK/repo-$c-borg::two" .)
  echo "$c-borg-size $(size_of "$WORK/repo-$c-borg")" >>"$WORK/raw.txt"
  if [[ $KEEP -eq 0 ]]; then rm -rf "$WORK/repo-$c-"* "$WORK/cache-$c-"* "$BORG_BASE_DIR"; fi
}

: >"$WORK/raw.txt"
{
  echo "date $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpus $(nproc)"
  echo "load_before $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "versions tenantvault=$(git -C "$ROOT" describe --always --dirty) bin=$TV $(restic version | cut -d' ' -f1-2 | tr ' ' '=') $(borg --version | tr ' ' '=')"
} >>"$WORK/raw.txt"
if [[ $CORPUS == usr || $CORPUS == all ]]; then prepare_usr; bench_corpus usr; fi
if [[ $CORPUS == mail || $CORPUS == all ]]; then prepare_mail; bench_corpus mail; fi
echo "load_after $(cut -d' ' -f1-3 /proc/loadavg)" >>"$WORK/raw.txt"

python3 "$ROOT/scripts/bench/report.py" "$WORK/raw.txt" | tee "$RESULTS"
echo "raw figures: $WORK/raw.txt, table: $RESULTS" >&2
