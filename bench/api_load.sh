#!/usr/bin/env bash
# HTTP load on the v3 API, in one run: /healthz (the ceiling), GET invoice, and approve+complete pairs on fresh
# invoices. gunicorn serves a fresh SQLite database on 127.0.0.1; wrk (installed with apt-get if missing) sends
# a bounded load to it; every phase prints requests/s and p99, and the ratio to the ceiling. See bench/README.md.
#
#   bash bench/api_load.sh                          # 40,000 invoices, 15 s per phase, wrk -t2 -c8
#   bash bench/api_load.sh --duration 10 --connections 16 --workers 2 --threads 4
#
# Options (defaults in brackets):
#   --accounts N        closed ERP invoices to build, one per account [40000]; the pairs phase needs one each
#   --duration S        seconds per phase [15]
#   --wrk-threads N     wrk threads [2]
#   --connections N     wrk connections, shared by the threads [8]
#   --workers N         gunicorn worker processes [3]; the defaults are those of `arrears web` and `arrears serve`
#   --threads N         threads per gunicorn worker [1]
#   --worker-class C    asgi (the WSGI site behind gunicorn's asyncio worker, as `arrears web` runs it), or the
#                       workers before issue 12: sync (one thread) or gthread [asgi]
#   --port N            port on 127.0.0.1 [18321]
#   --keep              keep the data directory (database, invoices.txt, wrk and gunicorn output)
#   --skip-setup        do not run scripts/setup.sh --no-test-extras first
#
# Exit status: 0 when the run completed and the checks passed (whether the targets were met is printed), 1 when a
# phase had non-2xx answers or socket errors, the database does not show what the responses said, or the
# pairs phase ran out of fresh invoices.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$PWD"

accounts=40000
duration=15
wrk_threads=2
connections=8
workers=3
threads=1
worker_class=""
port=18321
keep=0
skip_setup=0
usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --accounts) accounts="$2"; shift 2 ;;
        --duration) duration="$2"; shift 2 ;;
        --wrk-threads) wrk_threads="$2"; shift 2 ;;
        --connections) connections="$2"; shift 2 ;;
        --workers) workers="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --worker-class) worker_class="$2"; shift 2 ;;
        --port) port="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        --skip-setup) skip_setup=1; shift ;;
        *) usage ;;
    esac
done

say() { printf '==> api_load: %s\n' "$*"; }
die() { printf 'api_load: error: %s\n' "$*" >&2; exit 1; }

# --- tools --------------------------------------------------------------------------------------------------
if [ "$skip_setup" -eq 0 ]; then
    bash scripts/setup.sh --no-test-extras
fi
[ -x .venv/bin/python ] || die ".venv is missing: run scripts/setup.sh"
if ! command -v wrk >/dev/null; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "wrk is missing and installing it needs root (or sudo)"
        sudo="sudo"
    fi
    say "installing wrk (apt-get)"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
python=.venv/bin/python

# --- data ---------------------------------------------------------------------------------------------------
workdir="$(mktemp -d /tmp/arrears-api-load.XXXXXX)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$server_pid" 2>/dev/null || true
    fi
    if [ "$keep" -eq 1 ]; then
        say "kept $workdir"
    else
        rm -rf "$workdir"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A fresh SQLite database (the default under ARREARS_DATA_DIR), whatever the calling shell names.
unset DATABASE_URL HUEY_URL ARREARS_CACHE_URL
export ARREARS_DATA_DIR="$workdir" DJANGO_SETTINGS_MODULE=arrears.settings
export ARREARS_API_THROTTLE=off ARREARS_LOG_LEVEL=WARNING ARREARS_DEBUG=0
# The server refuses to start without a key (arrears.core.secret_key); a throwaway one for this run.
ARREARS_SECRET_KEY="${ARREARS_SECRET_KEY:-$("$python" -c 'import secrets; print(secrets.token_urlsafe(50))')}"
export ARREARS_SECRET_KEY

mkdir -p "$workdir/static"  # STATIC_ROOT: whitenoise warns about a missing one
say "building $accounts closed ERP invoices in $workdir"
"$python" bench/api_load_setup.py build --accounts "$accounts" --out "$workdir"
# shellcheck disable=SC1091
. "$workdir/bench.env"
export BENCH_LUA_DIR="$repo/bench/api_load" BENCH_INVOICES="$INVOICES" BENCH_RESELLER_ID="$RESELLER_ID" \
    BENCH_TOKEN="$TOKEN"

# --- server -------------------------------------------------------------------------------------------------
[ -n "$worker_class" ] || worker_class=asgi
case "$worker_class" in
    asgi) gunicorn_args=("arrears.asgi:buffered_site(threads=$threads)" --asgi-lifespan off) ;;
    gthread) gunicorn_args=(arrears.wsgi:application --threads "$threads") ;;
    sync) [ "$threads" -eq 1 ] || die "a sync worker has one thread: pass --threads 1 with --worker-class sync"
          gunicorn_args=(arrears.wsgi:application) ;;
    *) die "--worker-class must be asgi, gthread or sync" ;;
esac
gunicorn_args+=(--bind "127.0.0.1:$port" --workers "$workers" --worker-class "$worker_class" --graceful-timeout 5
                --error-logfile "$workdir/gunicorn.log")
if "$python" -c 'import gunicorn, sys; sys.exit(gunicorn.version_info < (25, 1))'; then
    gunicorn_args+=(--no-control-socket)
fi
say "starting gunicorn: $workers x $worker_class worker(s), $threads thread(s) each, on 127.0.0.1:$port"
"$python" -m gunicorn "${gunicorn_args[@]}" &
server_pid=$!
for _ in $(seq 100); do
    if "$python" -c "import sys, urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/healthz', timeout=1)" \
        2>/dev/null; then
        break
    fi
    kill -0 "$server_pid" 2>/dev/null || die "gunicorn exited: $(tail -n 20 "$workdir/gunicorn.log")"
    sleep 0.2
done

# --- phases -------------------------------------------------------------------------------------------------
url="http://127.0.0.1:$port"
wrk_args=(-t "$wrk_threads" -c "$connections" --latency --timeout 10s)
ticks_per_second="$(getconf CLK_TCK)"
server_cpu_ticks() {  # user + system CPU of the gunicorn workers so far (fields 14 and 15 of /proc/PID/stat)
    local total=0 pid
    for pid in $(cat "/proc/$server_pid/task/$server_pid/children" 2>/dev/null); do
        total=$((total + $(sed 's/^.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')))
    done
    echo "$total"
}
run_phase() {  # name, seconds, script, extra args for the script
    local name="$1" seconds="$2" script="$3" before after
    shift 3
    before="$(server_cpu_ticks)"
    wrk "${wrk_args[@]}" -d "${seconds}s" -s "bench/api_load/$script" "$url" -- "$@" >"$workdir/wrk-$name.txt"
    after="$(server_cpu_ticks)"
    printf '%s server_cpu_s=%s\n' "$(grep '^BENCH_RESULT ' "$workdir/wrk-$name.txt" | tail -n 1 | sed 's/^BENCH_RESULT //')" \
        "$(awk -v t=$((after - before)) -v hz="$ticks_per_second" 'BEGIN {printf "%.2f", t / hz}')"
}
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

say "warming up (3 s of /healthz and of GET invoice, not counted)"
run_phase warmup-healthz 3 healthz.lua >/dev/null
run_phase warmup-get 3 get_invoice.lua >/dev/null

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
say "phase healthz: ${duration} s"
healthz="$(run_phase healthz "$duration" healthz.lua)"
say "phase GET invoice: ${duration} s"
get="$(run_phase get "$duration" get_invoice.lua)"
say "phase approve+complete pairs: ${duration} s"
pairs="$(run_phase pairs "$duration" pairs.lua "$wrk_threads")"
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- checks -------------------------------------------------------------------------------------------------
failed=0
for result in "$healthz" "$get" "$pairs"; do
    [ -n "$result" ] || die "a wrk phase printed no result (see the wrk-*.txt files; rerun with --keep)"
    phase="$(field "$result" phase)"
    if [ "$(field "$result" non2xx)" != 0 ] || [ "$(field "$result" socket_errors)" != 0 ]; then
        echo "FAIL phase $phase: $(field "$result" non2xx) non-2xx answers, $(field "$result" socket_errors) socket errors"
        failed=1
    fi
done
if [ "$(field "$pairs" exhausted)" != 0 ]; then
    echo "FAIL the pairs phase ran out of fresh invoices: rerun with more --accounts"
    failed=1
fi
if [ "$(field "$pairs" refused)" != 0 ]; then
    echo "FAIL pairs refused: $(field "$pairs" refused); first: $(field "$pairs" first_refusal)"
    failed=1
fi
say "checking the database against the 200 responses"
# At the end of the phase each connection may have had an approve answered whose complete was never sent.
"$python" bench/api_load_setup.py verify --out "$workdir" --approved "$(field "$pairs" approves_ok)" \
    --completed "$(field "$pairs" completes_ok)" --in-flight "$connections" || failed=1

# --- summary ------------------------------------------------------------------------------------------------
"$python" - "$healthz" "$get" "$pairs" "$load_before" "$load_after" \
    "$workers x $worker_class, $threads thread(s); wrk -t$wrk_threads -c$connections -d${duration}s" <<'PY'
import json
import sys

phases = [dict(item.split("=", 1) for item in arg.split()) for arg in sys.argv[1:4]]
load_before, load_after, setup = sys.argv[4:7]
rows = {}
for phase in phases:
    seconds = int(phase["duration_us"]) / 1e6
    rate = int(phase["requests"]) / seconds
    rows[phase["phase"]] = {"requests": int(phase["requests"]), "rps": rate, "p50_ms": int(phase["p50_us"]) / 1000,
                            "p99_ms": int(phase["p99_us"]) / 1000, "max_ms": int(phase["max_us"]) / 1000,
                            "server_cpu_ms_per_request": 1000 * float(phase["server_cpu_s"]) / max(1, int(phase["requests"]))}
ceiling = rows["healthz"]["rps"]
pairs = rows["pairs"]
pairs["pairs_per_s"] = pairs["rps"] / 2
names = {"healthz": "/healthz (ceiling)", "get": "GET invoice", "pairs": "approve+complete (requests)"}
print()
print(f"server: {setup}; load average {load_before} before, {load_after} after")
print(f"{'phase':30} {'requests':>9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'/ ceiling':>10}"
      f" {'server CPU ms/req':>18}")
for key in ("healthz", "get", "pairs"):
    row = rows[key]
    print(f"{names[key]:30} {row['requests']:9,} {row['rps']:9.1f} {row['p50_ms']:8.1f} {row['p99_ms']:8.1f}"
          f" {row['max_ms']:8.1f} {row['rps'] / ceiling:10.0%} {row['server_cpu_ms_per_request']:18.2f}")
print(f"{'approve+complete pairs/s':30} {'':9} {pairs['pairs_per_s']:9.1f}")
targets = [
    ("GET invoice >= 50 % of the ceiling", f"{rows['get']['rps'] / ceiling:.0%}", rows["get"]["rps"] >= 0.5 * ceiling),
    (">= 300 approve+complete pairs/s", f"{pairs['pairs_per_s']:.1f}", pairs["pairs_per_s"] >= 300),
    *((f"p99 < 100 ms: {names[key]}", f"{rows[key]['p99_ms']:.1f} ms", rows[key]["p99_ms"] < 100)
      for key in ("healthz", "get", "pairs")),
]
print()
for text, measured, met in targets:
    print(f"  {'met   ' if met else 'MISSED'} {text}: {measured}")
print("RESULT " + json.dumps({"setup": setup, "load_before": load_before, "load_after": load_after, **rows}))
PY
if [ "$failed" -ne 0 ]; then
    echo "api_load: the run FAILED its checks (see above)" >&2
    exit 1
fi
