"""ARREARS_BASE_URL, the site's public address (absolute links in e-mails, connectors' callback URLs): a usable
http(s) URL is kept without its trailing slash; anything else stops Arrears at startup, naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from arrears.settings import _base_url

ARREARS = str(Path(sys.executable).with_name("arrears"))


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("https://billing.example.com/", "https://billing.example.com"),
        ("https://example.com/billing/", "https://example.com/billing"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("http://arrears:8000", "http://arrears:8000"),
    ],
)
def test_a_usable_base_url_is_kept_without_its_trailing_slash(value, kept):
    assert _base_url(value) == kept


@pytest.mark.parametrize(
    "value",
    [
        "",
        "billing.example.com",
        "ftp://billing.example.com",
        "https://",
        "https://billing.example.com/?from=mail",
        "https://billing.example.com/#top",
        "https://billing.example.com?",
        "https://user:secret@billing.example.com",
        "http://billing.example.com:99999",
        "http://billing.example.com:0",
        "http://[::1",
        "https://billing example.com",
        " https://billing.example.com",
    ],
)
def test_anything_else_is_refused_naming_the_variable_and_the_value(value):
    with pytest.raises(ImproperlyConfigured) as refused:
        _base_url(value)
    assert str(refused.value).startswith("ARREARS_BASE_URL must be an http:// or https:// URL")
    assert repr(value) in str(refused.value)


@pytest.mark.parametrize("command", [["check"], ["serve", "--port", "0"]])
def test_arrears_does_not_start_with_a_bad_base_url(tmp_path, command):
    env = {
        **os.environ,
        "ARREARS_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'a.sqlite3'}",
        "ARREARS_BASE_URL": "https://billing.example.com/?from=mail",
    }
    started = subprocess.run([ARREARS, *command], env=env, capture_output=True, text=True, timeout=60)
    assert started.returncode != 0
    assert (
        "ImproperlyConfigured: ARREARS_BASE_URL must be an http:// or https:// URL without user, query or "
        "fragment, e.g. https://billing.example.com; got 'https://billing.example.com/?from=mail'"
    ) in started.stderr.splitlines()[-1]
    assert not (tmp_path / "a.sqlite3").exists()  # stopped before touching anything


def test_arrears_reads_the_base_url_from_the_environment(tmp_path):
    env = {
        **os.environ,
        "ARREARS_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'a.sqlite3'}",
        "ARREARS_BASE_URL": "https://billing.example.com/",
    }
    shown = subprocess.run(
        [ARREARS, "shell", "--no-imports", "-c", "from django.conf import settings; print(settings.ARREARS_BASE_URL)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[-1] == "https://billing.example.com"
