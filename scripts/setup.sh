#!/usr/bin/env bash
# Bootstrap a development or demo machine: Python 3.11, a virtualenv in .venv, Arrears installed into it.
#
#   bash scripts/setup.sh                   # with the test tools (pytest, ruff, …)
#   bash scripts/setup.sh --no-test-extras  # the application only (used by scripts/serve-demo.sh)
#
# Idempotent: system packages are installed only when missing (apt-get update runs at most once), the
# virtualenv is created only when absent or broken, and pip runs only when pyproject.toml changed since the
# last successful install. Written for Debian 12 run as root (or with sudo).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

extras="[test]"
for arg in "$@"; do
    case "$arg" in
        --no-test-extras) extras="" ;;
        *) echo "usage: $0 [--no-test-extras]" >&2; exit 2 ;;
    esac
done

say() { printf '==> setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

apt_updated=0
apt_install() {
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "need root (or sudo) to install: $*"
        sudo="sudo"
    fi
    command -v apt-get >/dev/null || die "apt-get not found; install these by hand: $*"
    if [ "$apt_updated" -eq 0 ]; then
        say "apt-get update"
        $sudo apt-get update -qq
        apt_updated=1
    fi
    say "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

is_python311() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; }

find_python() {
    # The interpreter that builds .venv must not be the one inside it.
    local candidate found search_path
    search_path="$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$(pwd)/.venv/bin" | paste -sd: -)"
    for candidate in python3.11 python3; do
        found="$(PATH="$search_path" command -v "$candidate" || true)"
        if [ -n "$found" ] && is_python311 "$found"; then
            echo "$found"
            return 0
        fi
    done
    return 1
}

python="$(find_python || true)"
if [ -z "$python" ]; then
    apt_install python3
    python="$(find_python || true)"
    [ -n "$python" ] || die "Python 3.11 is required (Debian 12's python3 is 3.11)"
fi
say "using $python ($("$python" --version 2>&1))"

# Debian splits venv and ensurepip out of the interpreter package.
if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
    apt_install python3-venv python3.11-venv
fi

# WeasyPrint renders invoice PDFs through Pango and needs at least one font; with HarfBuzz's subsetter it embeds
# fonts about four times faster than with its Python fallback (bench/README.md, pdf.py).
missing_libs=()
for package in libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing_libs+=("$package")
done
if [ "${#missing_libs[@]}" -gt 0 ]; then
    apt_install "${missing_libs[@]}"
fi

if [ -x .venv/bin/python ] && is_python311 .venv/bin/python && .venv/bin/python -m pip --version >/dev/null 2>&1; then
    say "virtualenv .venv exists"
else
    say "creating virtualenv .venv"
    rm -rf .venv
    "$python" -m venv .venv
fi

# The stamp records what the last successful install covered: the pyproject.toml it read and the extras.
stamp=.venv/.arrears-installed
wanted="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ -f "$stamp" ] && .venv/bin/python -c 'import arrears' 2>/dev/null \
    && { grep -qxF "$wanted $extras" "$stamp" || grep -qxF "$wanted [test]" "$stamp"; }; then
    say "Python dependencies are up to date"
else
    say "installing Arrears${extras:+ with $extras extras} into .venv (pip, quiet)"
    log=.venv/pip-install.log
    pip_install() {
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".$extras" >"$log" 2>&1 \
            || { tail -n 40 "$log" >&2; return 1; }
    }
    if ! pip_install; then
        # Every dependency ships wheels for CPython 3.11 on amd64 and arm64; a compiler is needed only
        # where one does not, so it is installed only after a failed attempt.
        if command -v gcc >/dev/null && "$python" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
            die "pip install failed (full log: $log)"
        fi
        say "pip needs to build a package from source; installing a compiler and Python headers"
        apt_install build-essential python3-dev
        pip_install || die "pip install failed (full log: $log)"
    fi
    echo "$wanted $extras" >"$stamp"
fi

say "ready: $(.venv/bin/python -c 'import django, arrears; print("Django", django.get_version())'), .venv/bin/arrears"
