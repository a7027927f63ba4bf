#!/usr/bin/env bash
# The whole check, as CI runs it: lint and format (ruff), the layers contract (lint-imports) and mypy, then the test suite on SQLite and again on
# PostgreSQL.
#
#   bash scripts/test.sh                       # everything
#   bash scripts/test.sh tests/billing -x      # extra arguments go to both pytest runs
#
# Prepares the machine first (idempotent; Debian 12 as root):
#   * the virtualenv with the test tools (scripts/setup.sh);
#   * PostgreSQL 15 on 127.0.0.1:5432 — installed if absent, its cluster started if down — with trust
#     authentication for the user postgres from 127.0.0.1 only: when a password-less TCP login fails
#     (Debian's default is scram-sha-256 for host connections), a line
#     `host all postgres 127.0.0.1/32 trust` is put first in the cluster's pg_hba.conf and the server is
#     reloaded. That is meant for a development or CI machine, not for one that holds real data;
#   * Redis on 127.0.0.1:6379 (installed if absent, started without persistence if not answering);
#   * qpdf, poppler-utils and Debian's chromium for the document and browser tests.
# Tests keep their files under var/test, apart from the demo's var/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$(pwd)"

say() { printf '==> test: %s\n' "$*"; }
die() { printf 'test: error: %s\n' "$*" >&2; exit 1; }

bash scripts/setup.sh

as_root=""
[ "$(id -u)" -eq 0 ] || as_root="sudo"
apt_updated=0
apt_install() {
    if [ "$apt_updated" -eq 0 ]; then
        say "apt-get update"
        $as_root apt-get update -qq
        apt_updated=1
    fi
    say "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
as_postgres() { $as_root runuser -u postgres -- "$@"; }
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND…
    local seconds="$1" what="$2"
    shift 2
    for _ in $(seq "$((seconds * 5))"); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    die "$what did not come up within ${seconds} s"
}

# --- PostgreSQL 15 -------------------------------------------------------------------------------------
pg_url="postgres://postgres@127.0.0.1:5432/arrears"
pg_login() { psql -X -w -h 127.0.0.1 -p 5432 -U postgres -d postgres -tAc 'select 1'; }

if ! command -v pg_isready >/dev/null || ! pg_isready -q -h 127.0.0.1 -p 5432; then
    if ! command -v pg_lsclusters >/dev/null; then
        apt_install postgresql-15
    fi
    if [ -z "$(pg_lsclusters -h 15 main 2>/dev/null || true)" ]; then
        say "creating the PostgreSQL 15 cluster main"
        $as_root pg_createcluster 15 main >/dev/null
    fi
    if [ "$(pg_lsclusters -h 15 main | awk '{print $4}')" != "online" ]; then
        say "starting PostgreSQL 15"
        $as_root pg_ctlcluster --skip-systemctl-redirect 15 main start
    fi
    wait_for 30 "PostgreSQL on 127.0.0.1:5432" pg_isready -h 127.0.0.1 -p 5432
fi
if ! pg_login >/dev/null 2>&1; then
    hba="$(as_postgres psql -X -tAc 'show hba_file')"
    say "allowing password-less TCP logins of user postgres from 127.0.0.1 ($hba)"
    # pg_hba.conf is read top-down and the first matching line wins, so the trust line goes first.
    $as_root sed -i '1i # added by arrears scripts/test.sh: tests log in as postgres over TCP without a password\nhost all postgres 127.0.0.1/32 trust' "$hba"
    as_postgres psql -X -qtAc 'select pg_reload_conf()' >/dev/null
    wait_for 10 "a password-less login as postgres on 127.0.0.1" pg_login
fi
say "PostgreSQL is ready: $(psql -X -w -h 127.0.0.1 -U postgres -d postgres -tAc 'show server_version')"

# --- Redis ---------------------------------------------------------------------------------------------
if ! command -v redis-server >/dev/null; then
    apt_install redis-server
fi
if [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" != "PONG" ]; then
    say "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    wait_for 10 "Redis on 127.0.0.1:6379" sh -c '[ "$(redis-cli -h 127.0.0.1 -p 6379 ping)" = PONG ]'
fi
say "Redis is ready"

# --- PDF tools and the browser -------------------------------------------------------------------------
# The invoice document tests check the PDFs with qpdf and pdftotext; the panel tests drive Debian's
# Chromium through Playwright (playwright install cannot download browsers here).
missing_tools=()
command -v qpdf >/dev/null || missing_tools+=(qpdf)
command -v pdftotext >/dev/null || missing_tools+=(poppler-utils)
[ -x /usr/bin/chromium ] || missing_tools+=(chromium)
if [ "${#missing_tools[@]}" -gt 0 ]; then
    apt_install "${missing_tools[@]}"
fi

# --- the checks ----------------------------------------------------------------------------------------
export ARREARS_DATA_DIR="$repo/var/test"
mkdir -p "$ARREARS_DATA_DIR"
unset DATABASE_URL HUEY_URL ARREARS_HUEY_IMMEDIATE
export PATH="$repo/.venv/bin:$PATH"
pytest_args=(-n 2 -p no:cacheprovider -q --durations=5 "$@")

declare -a names results
failed=0
record() {  # record NAME EXIT-CODE [DETAIL]
    local outcome
    case "$2" in
        0) outcome="passed" ;;
        5) outcome="FAILED (no tests were collected)" ;;
        *) outcome="FAILED (exit code $2)" ;;
    esac
    [ "$2" -eq 0 ] || failed=1
    names+=("$1")
    results+=("$outcome${3:+ — $3}")
}
pytest_summary() { grep -E '[0-9]+ (passed|failed|error)|no tests ran' "$1" | tail -n 1 | tr -d '=' | sed 's/^ *//;s/ *$//'; }
count() {  # count WORD SUMMARY: the number before WORD in a pytest summary line, or 0
    local n
    n="$(grep -oE "[0-9]+ $1" <<<"$2" | grep -oE '^[0-9]+' || true)"
    echo "${n:-0}"
}
total_passed=0
total_failed=0

say "ruff check"
status=0
ruff check . || status=$?
record "ruff check" "$status"

say "ruff format --check"
status=0
ruff format --check . || status=$?
record "ruff format" "$status"

say "lint-imports (the layers contract in pyproject.toml)"
status=0
lint-imports || status=$?
record "lint-imports" "$status"

say "mypy (arrears/ with django-stubs, [tool.mypy] in pyproject.toml)"
status=0
log="$(mktemp)"
# The django-stubs plugin imports the settings, so the package must be this checkout's.
PYTHONPATH="$repo" mypy 2>&1 | tee "$log" || status=${PIPESTATUS[0]}
record "mypy" "$status" "$(grep -E '^(Success|Found [0-9]+ error)' "$log" | tail -n 1)"
rm -f "$log"

run_pytest() {  # run_pytest NAME [VAR=VALUE…]
    local name="$1" log status=0
    shift
    log="$(mktemp)"
    say "pytest on $name"
    env "$@" pytest "${pytest_args[@]}" 2>&1 | tee "$log" || status=${PIPESTATUS[0]}
    summary="$(pytest_summary "$log")"
    # A skipped test proves nothing: every test must run, browser tests included.
    if [ "$status" -eq 0 ] && [ "$(count skipped "$summary")" -ne 0 ]; then
        status=1
        summary="$summary — skipped tests are not allowed"
    fi
    total_passed=$((total_passed + $(count passed "$summary")))
    total_failed=$((total_failed + $(count failed "$summary") + $(count error "$summary")))
    record "pytest on $name" "$status" "$summary"
    rm -f "$log"
}
run_pytest "SQLite"
run_pytest "PostgreSQL" DATABASE_URL="$pg_url"

echo
say "summary"
for i in "${!names[@]}"; do
    printf '    %-24s %s\n' "${names[$i]}" "${results[$i]}"
done
if [ "$failed" -ne 0 ]; then
    say "FAILED"
    echo "$total_passed passed, $total_failed failed"
    exit 1
fi
say "all checks passed"
echo "$total_passed passed, $total_failed failed"
