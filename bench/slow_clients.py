"""Slow clients against the real server: does /healthz still answer while uploads stall?

    .venv/bin/python bench/slow_clients.py                       # the defaults of `arrears web`
    .venv/bin/python bench/slow_clients.py --workers 2 --threads 4 --duration 15
    .venv/bin/python bench/slow_clients.py --app arrears.wsgi:application --server-arg=--worker-class=sync

The server is started as ``arrears web`` starts it (``gunicorn_command`` and ``web_environment`` of
arrears/server/management/commands/web.py) on 127.0.0.1, on a migrated SQLite database in a fresh temporary
``ARREARS_DATA_DIR``, with a reseller and an API token made through the services. Then:

1. ``--slow-clients`` connections (default: one more than the server's request slots, workers × threads + 1)
   each send ``POST /api/v3/resellers/{reseller}/accounts`` with a valid token (none with ``--anonymous``),
   ``Content-Length: 100`` and one byte of body, and then send nothing more; they stay open until the end (a
   thread notes when the server answers or drops each one).
2. For ``--duration`` seconds a separate client sends ``GET /healthz`` one after the other, each with a
   ``--probe-timeout`` (2 s), and counts the 200 answers, the timeouts and the latencies.
3. The slow connections are closed, one more ``/healthz`` and one honest ``POST`` (an account) are sent, and the
   server is stopped (SIGTERM, then SIGKILL after 10 s). Traffic goes only to 127.0.0.1; the run is bounded.

It prints the figures and a last ``RESULT {...}`` line with them as JSON; the exit status is 0 whatever the
figures (it is a measurement), 1 when the server did not start.
"""

import argparse
import json
import os
import secrets
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

HOST = "127.0.0.1"
DECLARED_LENGTH = 100  # the slow upload's Content-Length; it sends one byte of it


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def prepare_data(data_dir: Path) -> tuple[int, str]:
    """Migrate the SQLite database under ``data_dir`` and make a reseller with a platform token, in this process."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "arrears.settings"
    import django

    django.setup()
    from datetime import UTC, datetime

    from django.core.management import call_command
    from django.db import connection

    from arrears.core.actors import SYSTEM
    from arrears.tenants.services import create_manager, create_reseller
    from arrears.tenants.tokens import create_api_token

    now = datetime.now(UTC)
    call_command("migrate", verbosity=0)
    reseller = create_reseller(name="Slow clients bench", currency="EUR", actor=SYSTEM, now=now)
    manager = create_manager(reseller=reseller, email="slow-bench@example.com", actor=SYSTEM, now=now)
    _, secret = create_api_token(manager=manager, name="slow clients bench", actor=SYSTEM, now=now)
    connection.close()
    return reseller.pk, secret


def request_bytes(
    method: str, path: str, *, token: str | None = None, body: bytes = b"", declared_length: int | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", "Connection: close"]
    if token:
        lines.append(f"X-Api-Token: {token}")
    if method == "POST":
        lines += [
            "Content-Type: application/json",
            f"Content-Length: {len(body) if declared_length is None else declared_length}",
        ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def exchange(port: int, payload: bytes, timeout: float) -> tuple[int | None, float]:
    """Send ``payload`` on a new connection; the answer's status (None on timeout or error) and the seconds taken."""
    started = time.monotonic()
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as client:
            client.settimeout(max(0.01, timeout - (time.monotonic() - started)))
            client.sendall(payload)
            answer = b""
            while b"\r\n" not in answer:
                chunk = client.recv(4096)
                if not chunk:
                    break
                answer += chunk
            status_line = answer.split(b"\r\n", 1)[0].split()
            status = int(status_line[1]) if len(status_line) >= 2 and status_line[1].isdigit() else None
            return status, time.monotonic() - started
    except OSError:
        return None, time.monotonic() - started


class SlowUploads:
    """Connections that send a request's head and one byte of its body, then nothing; notes when each ends."""

    def __init__(self, port: int, count: int, path: str, token: str | None):
        self.sockets: list[socket.socket] = []
        self.ended: dict[int, tuple[float, str]] = {}  # index -> (seconds after opening, what the server did)
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        payload = request_bytes("POST", path, token=token, body=b"{", declared_length=DECLARED_LENGTH)
        for index in range(count):
            client = socket.create_connection((HOST, port), timeout=5)
            client.sendall(payload)
            client.setblocking(False)
            self.sockets.append(client)
            self._selector.register(client, selectors.EVENT_READ, index)
        self.opened_at = time.monotonic()
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        while not self._stop.is_set() and len(self.ended) < len(self.sockets):
            for key, _ in self._selector.select(timeout=0.1):
                index = key.data
                try:
                    data = key.fileobj.recv(4096)
                except OSError as exc:
                    data, outcome = b"", f"reset ({exc.__class__.__name__})"
                else:
                    outcome = "dropped (closed without an answer)"
                if data:
                    status_line = data.split(b"\r\n", 1)[0].decode("latin-1")
                    outcome = f"answered {status_line!r}"
                self.ended[index] = (time.monotonic() - self.opened_at, outcome)
                self._selector.unregister(key.fileobj)

    def close(self) -> None:
        self._stop.set()
        self._watcher.join(timeout=2)
        for client in self.sockets:
            client.close()


def probe_healthz(port: int, duration: float, probe_timeout: float) -> dict:
    latencies, failures, probes = [], 0, 0
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        status, seconds = exchange(port, request_bytes("GET", "/healthz"), probe_timeout)
        probes += 1
        if status == 200:
            latencies.append(seconds)
            time.sleep(0.05)  # a monitor's pace, not a flood
        else:
            failures += 1
    latencies.sort()
    return {
        "probes": probes,
        "ok": len(latencies),
        "failed": failures,
        "ok_share": len(latencies) / probes if probes else 0.0,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else None,
        "max_ms": 1000 * latencies[-1] if latencies else None,
    }


def start_server(
    port: int, workers: int, threads: int, app: str | None, extra: list[str], data_dir: Path, log_path: Path
):
    from arrears.server.management.commands.web import gunicorn_command, web_environment

    command = gunicorn_command(host=HOST, port=port, workers=workers, threads=threads) + extra
    if app:
        command[3] = app
    env = web_environment(
        {
            **os.environ,
            "ARREARS_DATA_DIR": str(data_dir),
            "ARREARS_DEBUG": "0",
            "ARREARS_LOG_LEVEL": "WARNING",
            "ARREARS_SECRET_KEY": secrets.token_urlsafe(50),
            "PYTHONPATH": str(REPO),
        }
    )
    env.pop("DATABASE_URL", None)
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
        if exchange(port, request_bytes("GET", "/healthz"), 1)[0] == 200:
            return server, command
        time.sleep(0.2)
    server.kill()
    raise SystemExit(f"the server did not answer /healthz within 30 s:\n{log_path.read_text()[-3000:]}")


def stop_server(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workers", type=int, default=3, help="as `arrears web --workers` [3]")
    parser.add_argument("--threads", type=int, default=1, help="as `arrears web --threads` [1]")
    parser.add_argument("--slow-clients", type=int, help="slow uploads to open [workers x threads + 1]")
    parser.add_argument("--duration", type=float, default=10, help="seconds of /healthz probes [10]")
    parser.add_argument("--probe-timeout", type=float, default=2, help="seconds one probe may take [2]")
    parser.add_argument(
        "--anonymous", action="store_true", help="slow uploads without a token (the honest POST still has one)"
    )
    parser.add_argument("--app", help="gunicorn's application instead of gunicorn_command's (to try a candidate)")
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="one more gunicorn argument, appended to gunicorn_command's (to try a candidate)",
    )
    args = parser.parse_args()
    slow_count = args.slow_clients if args.slow_clients is not None else args.workers * args.threads + 1

    with tempfile.TemporaryDirectory(prefix="arrears-slow-clients.") as temp:
        data_dir = Path(temp)
        os.environ["ARREARS_DATA_DIR"] = str(data_dir)
        os.environ.pop("DATABASE_URL", None)
        reseller_id, token = prepare_data(data_dir)
        port = free_port()
        log_path = data_dir / "server.log"
        server, command = start_server(port, args.workers, args.threads, args.app, args.server_arg, data_dir, log_path)
        try:
            before = probe_healthz(port, 1, args.probe_timeout)
            slow = SlowUploads(
                port, slow_count, f"/api/v3/resellers/{reseller_id}/accounts", None if args.anonymous else token
            )
            time.sleep(0.5)  # let the workers take them
            during = probe_healthz(port, args.duration, args.probe_timeout)
            ended = dict(slow.ended)
            held_for = time.monotonic() - slow.opened_at
            slow.close()
            after_status, after_seconds = exchange(port, request_bytes("GET", "/healthz"), 10)
            honest_status, honest_seconds = exchange(
                port,
                request_bytes(
                    "POST", f"/api/v3/resellers/{reseller_id}/accounts", token=token, body=b'{"name": "Honest account"}'
                ),
                10,
            )
        finally:
            stop_server(server)

    shown = " ".join(part for part in command[2:] if not part.startswith(sys.executable))
    print(f"server: gunicorn {shown}")
    kind = "anonymous POST" if args.anonymous else "POST"
    print(
        f"slow uploads: {slow_count} x {kind} with Content-Length: {DECLARED_LENGTH} and 1 byte, held {held_for:.1f} s"
    )
    print(f"/healthz before the slow uploads: {before['ok']}/{before['probes']} ok")
    p50 = "-" if during["p50_ms"] is None else f"{during['p50_ms']:.1f}"
    worst = "-" if during["max_ms"] is None else f"{during['max_ms']:.1f}"
    print(
        f"/healthz during ({args.duration:.0f} s, {args.probe_timeout:.0f} s timeout per probe): "
        f"{during['ok']}/{during['probes']} ok ({during['ok_share']:.0%}), {during['failed']} timed out or failed,"
        f" p50 {p50} ms, max {worst} ms"
    )
    for index in range(slow_count):
        seconds, outcome = ended.get(index, (None, "still held by the server"))
        when = "" if seconds is None else f" after {seconds:.1f} s"
        print(f"  slow upload {index + 1}: {outcome}{when}")
    print(
        f"after closing them: /healthz {after_status} in {1000 * after_seconds:.0f} ms, honest POST "
        f"{honest_status} in {1000 * honest_seconds:.0f} ms"
    )
    print(
        "RESULT "
        + json.dumps(
            {
                "command": shown,
                "slow_clients": slow_count,
                "anonymous": args.anonymous,
                "duration_s": args.duration,
                "before": before,
                "during": during,
                "slow_uploads": [ended.get(index) for index in range(slow_count)],
                "after_healthz_status": after_status,
                "honest_post_status": honest_status,
            }
        )
    )


if __name__ == "__main__":
    main()
