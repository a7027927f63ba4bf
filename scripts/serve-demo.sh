#!/usr/bin/env bash
# Install Arrears, load the demo data and serve it at http://127.0.0.1:8000 (Ctrl-C stops it).
#
# The demo's database and queue live in var/ (ARREARS_DATA_DIR); delete that directory to start over.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '==> demo: %s\n' "$*"; }

bash scripts/setup.sh --no-test-extras
export PATH="$PWD/.venv/bin:$PATH"

say "applying database migrations"
arrears migrate --noinput -v 0
say "loading the demo data"
arrears demo
say "serving at http://127.0.0.1:8000 (health: http://127.0.0.1:8000/healthz); Ctrl-C stops"
exec arrears serve --port 8000
