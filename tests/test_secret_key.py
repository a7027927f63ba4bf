"""No secret key in the source: serving refuses to start without ``ARREARS_SECRET_KEY``, and the demo generates a
random key once and keeps it in its data dir."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.live_server import BIN, REPO, separate_database

READ_KEY = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"


def without_key(env: dict) -> dict:
    env = dict(env)
    env.pop("ARREARS_SECRET_KEY", None)
    return env


def run(env: dict, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=180)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("server", ["serve", "web"])
def test_serving_without_a_key_is_refused_with_a_clear_error(tmp_path, server):
    with separate_database(tmp_path) as env:
        done = run(without_key(env), str(BIN / "arrears"), server, "--port", "1")
    assert done.returncode != 0
    assert "ARREARS_SECRET_KEY is not set" in done.stderr


@pytest.mark.django_db(transaction=True)
def test_the_demo_generates_its_key_once_and_the_site_then_uses_it(tmp_path):
    with separate_database(tmp_path) as env:
        env = without_key(env)
        key_file = Path(env["ARREARS_DATA_DIR"]) / "secret-key"
        assert not key_file.exists()
        first = run(env, str(BIN / "arrears"), "demo")
        assert first.returncode == 0, first.stderr
        assert "generated a secret key" in first.stderr
        key = key_file.read_text().strip()
        assert len(key) >= 50
        assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600

        again = run(env, str(BIN / "arrears"), "demo")
        assert again.returncode == 0 and "generated a secret key" not in again.stderr
        assert key_file.read_text().strip() == key
        assert run(env, sys.executable, "-c", READ_KEY).stdout.strip() == key
        configured = run({**env, "ARREARS_SECRET_KEY": "from-the-environment"}, sys.executable, "-c", READ_KEY)
        assert configured.stdout.strip() == "from-the-environment"
