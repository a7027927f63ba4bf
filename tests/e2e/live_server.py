"""A real Arrears installation for end-to-end tests: its own database, the ``arrears`` command, gunicorn.

Nothing here touches the test session's database: a fresh SQLite file, or a fresh PostgreSQL database on
the session's server when the session runs on PostgreSQL, is migrated, filled and billed by subprocesses,
and served by gunicorn on a socket this process bound to a free port (handed over as ``fd://``, so two
test workers can never race for one port).
"""

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from django.db import connection

from tests.separate_databases import postgres_database

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT = 180
STARTUP_TIMEOUT = 30
SHUTDOWN_TIMEOUT = 15


@contextlib.contextmanager
def separate_database(tmp_path: Path) -> Iterator[dict]:
    """The environment of subprocesses that use a new, migrated database of the session's kind."""
    drop = None
    if connection.vendor == "postgresql":
        url, drop = postgres_database("arrears_e2e")
    else:
        url = f"sqlite:///{tmp_path / 'e2e.sqlite3'}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "ARREARS_DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "arrears.settings",
        "ARREARS_API_THROTTLE": "off",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("HUEY_URL", None)
    try:
        run([str(BIN / "arrears"), "migrate", "-v", "0"], env)
        yield env
    finally:
        if drop is not None:
            drop()


def run(command: list[str], env: dict) -> str:
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    assert done.returncode == 0, f"{command[:4]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def arrears(env: dict, *args: str) -> str:
    """Run the ``arrears`` command line; returns its standard output."""
    return run([str(BIN / "arrears"), *args], env)


def python(env: dict, script: str, *args: str) -> str:
    return run([sys.executable, "-c", script, *args], env)


@contextlib.contextmanager
def gunicorn(env: dict, log_path: Path, *, workers: int = 2, threads: int = 8) -> Iterator[str]:
    """gunicorn serving ``arrears.wsgi`` on 127.0.0.1; yields its base URL once /healthz answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    command = [
        str(BIN / "gunicorn"),
        "arrears.wsgi:application",
        "--bind",
        f"fd://{listener.fileno()}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--timeout",
        "120",
        "--graceful-timeout",
        "5",
        "--access-logfile",
        "-",
    ]
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            command, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, pass_fds=(listener.fileno(),)
        )
    listener.close()  # gunicorn holds its own copy
    try:
        _wait_until_healthy(server, base_url, log_path)
        yield base_url
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=SHUTDOWN_TIMEOUT)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait_until_healthy(server: subprocess.Popen, base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        assert server.poll() is None, f"gunicorn exited with {server.returncode}:\n{log_path.read_text()[-4000:]}"
        try:
            response = httpx.get(f"{base_url}/healthz", timeout=2)
            if response.status_code == 200:
                assert response.json() == {"status": "ok", "database": connection.vendor}
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"/healthz did not answer within {STARTUP_TIMEOUT} s:\n{log_path.read_text()[-4000:]}")


def server_errors(log_path: Path) -> list[str]:
    """Tracebacks and 5xx lines gunicorn logged (its access log is on)."""
    lines = log_path.read_text().splitlines()
    return [line for line in lines if "Traceback" in line or '" 5' in line]
