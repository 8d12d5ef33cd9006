#!/usr/bin/env bash
# Smoke test: widely used Python clients (pinned in requirements.txt) against the standalone
# emulator, over HTTPS with the emulator's CA. Not run by CI: it needs PyPI.
#
#   bash cosell-emulator/smoke/run.sh            # from the workspace root
#   SMOKE_PORT=9300 bash cosell-emulator/smoke/run.sh
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
port="${SMOKE_PORT:-9300}"
work="$(mktemp -d)"
emulator_pid=""
cleanup() {
  if [ -n "$emulator_pid" ]; then kill "$emulator_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"

(cd "$root" && cargo build --quiet -p cosell-emulator)
COSELL_EMULATOR_PORT="$port" COSELL_EMULATOR_CA="$work/ca.pem" \
  "$root/target/debug/cosell-emulator" > "$work/emulator.log" 2>&1 &
emulator_pid=$!
for _ in $(seq 1 100); do
  grep -q "Serving until" "$work/emulator.log" 2>/dev/null && break
  sleep 0.1
done

EMULATOR_PORT="$port" REQUESTS_CA_BUNDLE="$work/ca.pem" "$work/venv/bin/python" "$here/smoke.py"
