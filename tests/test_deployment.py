"""Deployment safety (issue 12): ``ARREARS_HTTPS=1`` turns on HSTS, secure cookies and the redirect to HTTPS
(``/healthz`` exempt), a proxy's ``X-Forwarded-Proto`` counts only with ``ARREARS_PROXY_SSL_HEADER=1``, and with a
real key ``arrears check --deploy --fail-level WARNING`` passes. Each case starts Python afresh, since the settings
are read from the environment once."""

import json
import os
import secrets
import subprocess

import pytest

from arrears.core.checks import CSRF_MIDDLEWARE, csrf_middleware_installed
from tests.e2e.live_server import BIN, python

VISITS = """
import json, django
django.setup()
from django.test import Client

def visit(path, **options):
    response = Client().get(path, **options)
    cookies = {name: bool(morsel["secure"]) for name, morsel in response.cookies.items()}
    return {"status": response.status_code, "location": response.get("Location"),
            "hsts": response.get("Strict-Transport-Security"), "secure_cookies": cookies}

print(json.dumps({
    "plain": visit("/operator/login/"),
    "healthz": visit("/healthz"),
    "forwarded": visit("/operator/login/", headers={"X-Forwarded-Proto": "https"}),
    "https": visit("/operator/login/", secure=True),
    "api_https": visit("/api/v3/resellers/1/invoices", secure=True),
}))
"""
HSTS = "max-age=31536000; includeSubDomains; preload"


@pytest.fixture
def environment(tmp_path) -> dict:
    """A fresh process's environment with a real key. Nothing here reads a table, so an empty SQLite file will do
    on either database's run."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        "ARREARS_DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "arrears.settings",
        "ARREARS_SECRET_KEY": secrets.token_urlsafe(50),
    }
    for name in ("ARREARS_HTTPS", "ARREARS_PROXY_SSL_HEADER", "ARREARS_DEBUG", "HUEY_URL", "ARREARS_CACHE_URL"):
        env.pop(name, None)
    return env


def visits(env: dict) -> dict:
    return json.loads(python(env, VISITS).strip().splitlines()[-1])


def test_https_redirects_plain_http_sends_hsts_and_keeps_cookies_to_https(environment):
    seen = visits({**environment, "ARREARS_HTTPS": "1"})
    assert (seen["plain"]["status"], seen["plain"]["location"]) == (301, "https://testserver/operator/login/")
    assert seen["healthz"]["status"] == 200  # the load balancer's probe on the inside
    assert seen["forwarded"]["status"] == 301  # a client's own X-Forwarded-Proto is not believed by default
    assert (seen["https"]["status"], seen["https"]["hsts"]) == (200, HSTS)
    assert seen["https"]["secure_cookies"] == {"csrftoken": True}
    assert seen["api_https"]["hsts"] == HSTS


def test_behind_a_proxy_its_forwarded_proto_counts_when_told(environment):
    seen = visits({**environment, "ARREARS_HTTPS": "1", "ARREARS_PROXY_SSL_HEADER": "1"})
    assert (seen["forwarded"]["status"], seen["forwarded"]["hsts"]) == (200, HSTS)
    assert seen["forwarded"]["secure_cookies"] == {"csrftoken": True}
    assert seen["plain"]["status"] == 301


def test_without_https_nothing_is_redirected_and_cookies_are_plain(environment):
    seen = visits(environment)
    assert (seen["plain"]["status"], seen["plain"]["hsts"]) == (200, None)
    assert seen["plain"]["secure_cookies"] == {"csrftoken": False}


def deploy_check(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "arrears"), "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_deploy_check_passes_with_https_and_a_real_key(environment):
    done = deploy_check({**environment, "ARREARS_HTTPS": "1"})
    assert done.returncode == 0, done.stderr
    assert "no issues" in done.stdout


def test_the_deploy_check_fails_without_https_and_says_why(environment):
    done = deploy_check(environment)
    assert done.returncode != 0
    for check in ("security.W004", "security.W008", "security.W010", "arrears.W016"):
        assert check in done.stderr, done.stderr


def test_the_csrf_checks_look_for_arrears_own_middleware(settings):
    settings.CSRF_COOKIE_SECURE = True
    assert csrf_middleware_installed(None) == []
    settings.CSRF_COOKIE_SECURE = False
    assert [warning.id for warning in csrf_middleware_installed(None)] == ["arrears.W016"]
    settings.MIDDLEWARE = [name for name in settings.MIDDLEWARE if name != CSRF_MIDDLEWARE]
    assert [warning.id for warning in csrf_middleware_installed(None)] == ["arrears.W003"]
