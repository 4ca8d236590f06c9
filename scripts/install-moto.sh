#!/usr/bin/env bash
# Installs moto_server (PyPI moto[server]), the S3-protocol server the S3 tests start, into a
# venv under target/ (or the user site when venv is unavailable). Prints the binary's path.
# Env: S3_VENV (default target/s3-venv), PYTHON (default python3).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${S3_VENV:-$root/target/s3-venv}"
python="${PYTHON:-python3}"
spec='moto[server]>=5.1,<6'
if [ -x "$venv/bin/python" ] || "$python" -m venv "$venv" >/dev/null 2>&1; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$spec" >&2
    echo "$venv/bin/moto_server"
else
    echo "python venv unavailable; installing moto into the user site" >&2
    rm -rf "$venv"
    "$python" -m pip install --quiet --disable-pip-version-check --user "$spec" >&2
    echo "$("$python" -m site --user-base)/bin/moto_server"
fi
