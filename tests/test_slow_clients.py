"""Slow uploads do not starve the server (issue 12): `arrears web` as it starts by default, on the test database.

Each slow upload declares ``Content-Length: 100``, sends one byte of body and then nothing. One more of them than
the server has workers used to hold every sync worker, and /healthz timed out.
"""

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from arrears.asgi import BODY_IDLE_SECONDS
from arrears.customers.models import Account
from arrears.server.management.commands.web import add_web_arguments
from tests.api.conftest import MEDIA_TYPE, token_for
from tests.factories import ResellerFactory
from tests.loopback import free_port
from tests.test_serve import _url_of_the_test_database

STARTUP_TIMEOUT = 30
ANSWER_TIMEOUT = 3  # a few seconds: an idle server answers /healthz in milliseconds


def _default_workers() -> int:
    parser = argparse.ArgumentParser()
    add_web_arguments(parser)
    return parser.parse_args([]).workers


def _request(
    method: str, path: str, *, token: str | None = None, body: bytes = b"", declared_length: int | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    if token:
        lines.append(f"X-Api-Token: {token}")
    if method == "POST":
        lines += [
            f"Content-Type: {MEDIA_TYPE}",
            f"Content-Length: {len(body) if declared_length is None else declared_length}",
        ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _read_answer(client: socket.socket) -> tuple[int, bytes]:
    """The status and body of the answer on ``client`` (which the server closes after it)."""
    answer = b""
    while chunk := client.recv(65536):
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), answer[:200]
    return int(head.split()[1]), body


def _exchange(port: int, payload: bytes, timeout: float) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as client:
        client.sendall(payload)
        return _read_answer(client)


@contextlib.contextmanager
def _slow_uploads(port: int, count: int, path: str, token: str):
    clients = []
    try:
        for _ in range(count):
            client = socket.create_connection(("127.0.0.1", port), timeout=5)
            client.sendall(_request("POST", path, token=token, body=b"{", declared_length=100))
            clients.append(client)
        yield clients
    finally:
        for client in clients:
            client.close()


@pytest.fixture
def web_server(transactional_db, tmp_path):
    """`arrears web` with its defaults on a free port, serving the test database; (port, reseller, token)."""
    reseller = ResellerFactory()
    token = token_for(reseller)
    env = {
        **os.environ,
        "ARREARS_DATA_DIR": str(tmp_path),
        "DATABASE_URL": _url_of_the_test_database(),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("HUEY_URL", None)
    port = free_port()
    log_path = tmp_path / "web.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "arrears.cli", "web", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            assert server.poll() is None, f"web exited with {server.returncode}:\n{log_path.read_text()}"
            with contextlib.suppress(OSError, AssertionError):
                if _exchange(port, _request("GET", "/healthz"), 1)[0] == 200:
                    break
            assert time.monotonic() < deadline, f"no /healthz within {STARTUP_TIMEOUT} s:\n{log_path.read_text()}"
            time.sleep(0.2)
        yield port, reseller, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.slow
def test_healthz_and_honest_writes_are_served_while_workers_plus_one_uploads_stall(web_server):
    port, reseller, token = web_server
    path = f"/api/v3/resellers/{reseller.pk}/accounts"

    # Given one more stalled upload than the server has workers
    with _slow_uploads(port, _default_workers() + 1, path, token):
        time.sleep(0.5)  # the server has taken them

        # Then /healthz answers, every time, within a few seconds
        for _ in range(5):
            try:
                status, body = _exchange(port, _request("GET", "/healthz"), ANSWER_TIMEOUT)
            except TimeoutError:
                pytest.fail(f"/healthz did not answer within {ANSWER_TIMEOUT} s beside the stalled uploads")
            assert status == 200
            assert json.loads(body)["status"] == "ok"

        # And an honest POST is served while they hang
        status, body = _exchange(
            port, _request("POST", path, token=token, body=b'{"name": "Honest account"}'), ANSWER_TIMEOUT
        )
        assert status == 201, body
        assert json.loads(body)["data"]["attributes"]["name"] == "Honest account"

    # And afterwards too; only the honest accounts exist
    status, _ = _exchange(port, _request("POST", path, token=token, body=b'{"name": "After"}'), ANSWER_TIMEOUT)
    assert status == 201
    assert sorted(Account.objects.filter(reseller=reseller).values_list("name", flat=True)) == [
        "After",
        "Honest account",
    ]


@pytest.mark.slow
def test_a_stalled_upload_is_answered_408_and_changes_nothing(web_server):
    port, reseller, token = web_server
    path = f"/api/v3/resellers/{reseller.pk}/accounts"

    # Given an upload that stops after one byte of its body
    with _slow_uploads(port, 1, path, token) as (client,):
        # Then the server gives up on it after the body's idle limit, with a JSON:API 408, not never
        client.settimeout(BODY_IDLE_SECONDS + 10)
        try:
            status, body = _read_answer(client)
        except TimeoutError:
            pytest.fail(f"the stalled upload was neither answered nor dropped within {BODY_IDLE_SECONDS + 10} s")
    assert status == 408
    assert json.loads(body)["errors"][0]["code"] == "REQUEST-0408"

    # And nothing was written
    assert not Account.objects.filter(reseller=reseller).exists()
