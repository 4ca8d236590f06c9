#!/usr/bin/env bash
# S3 benchmark: requests per GB backed up and 1/2/4 concurrent writers, S3 (moto_server) next
# to the local backend in the same run, release build. Prints Markdown tables
# (docs/BENCHMARKS.md, S3): the repository benchmark, then moto_server's raw PUT rate with
# boto3 (the same server, no tenantvault) as the reference ceiling of the test server.
# Env: MIB_PER_WRITER (default 256), PACK_MIB (default 32), WRITERS (default 1,2,4),
#      TENANTVAULT_MOTO_SERVER. Data lives under /tmp/tv-s3bench-* and is removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TENANTVAULT_MOTO_SERVER:-}" ]; then
  TENANTVAULT_MOTO_SERVER="$(bash scripts/install-moto.sh)"
  export TENANTVAULT_MOTO_SERVER
fi
export MIB_PER_WRITER="${MIB_PER_WRITER:-256}"
cargo build --quiet --release -p tenantvault-s3 --examples
echo "commit $(git rev-parse --short HEAD), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), MIB_PER_WRITER=$MIB_PER_WRITER PACK_MIB=${PACK_MIB:-32}"
target/release/examples/bench

# Raw moto_server PUT rate: 8 MiB objects (the size of one multipart part) from 1, 2 and 4
# boto3 threads, 256 MiB per thread, deleted afterwards.
echo
PY="$(dirname "$TENANTVAULT_MOTO_SERVER")/python"
[ -x "$PY" ] || PY=python3
PORT="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
LOG="$(mktemp /tmp/tv-s3bench-moto-XXXXXX.log)"
"$TENANTVAULT_MOTO_SERVER" -H 127.0.0.1 -p "$PORT" >"$LOG" 2>&1 &
MOTO=$!
trap 'kill $MOTO 2>/dev/null; rm -f "$LOG"' EXIT
for _ in $(seq 1 100); do
  "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $PORT))" 2>/dev/null && break
  sleep 0.2
done
"$PY" - "$PORT" <<'EOF'
import concurrent.futures, os, sys, time
import boto3
from botocore.config import Config

url = f"http://127.0.0.1:{sys.argv[1]}"
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x",
                  aws_secret_access_key="x", config=Config(max_pool_connections=8))
body = os.urandom(8 << 20)
per_thread = 32  # x 8 MiB = 256 MiB
print("| client | threads | MiB | seconds | MiB/s | PUT/s |")
print("|---|---|---|---|---|---|")
for threads in (1, 2, 4):
    bucket = f"raw{threads}"
    s3.create_bucket(Bucket=bucket)
    def put(t):
        for i in range(per_thread):
            s3.put_object(Bucket=bucket, Key=f"t{t}/o{i}", Body=body)
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        list(ex.map(put, range(threads)))
    secs = time.monotonic() - start
    n = threads * per_thread
    print(f"| boto3 put_object 8 MiB | {threads} | {n * 8} | {secs:.1f} | {n * 8 / secs:.1f} | {n / secs:.1f} |")
    for t in range(threads):
        for i in range(per_thread):
            s3.delete_object(Bucket=bucket, Key=f"t{t}/o{i}")
    s3.delete_bucket(Bucket=bucket)
EOF
