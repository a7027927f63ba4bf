"""Throttling before authentication and one budget for every worker process (issue 12).

Calls without a token or with one that is not live are counted per client address
(``ARREARS_API_ADDRESS_THROTTLE``); an address that spent its budget answers 429 before its token is looked up. The
per-token budget (``ARREARS_API_THROTTLE``) is counted where all processes see it: the database (on SQLite a file of
its own) or Redis (``ARREARS_CACHE_URL``). A throttled call writes nothing, not even an Idempotency-Key claim."""

import json
import re
import subprocess
import sys
from datetime import timedelta

import pytest
import redis
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from arrears.api.models import IdempotencyKey
from arrears.api.throttling import Budget, counters, purge_rate_counters
from tests.api.conftest import ApiClient, api_snapshot, refused_over_http, token_for
from tests.conftest import at
from tests.e2e.live_server import REPO, python, separate_database
from tests.service_support import APPROVAL_DAY, closed_erp_invoice

NOW = at(APPROVAL_DAY)
REDIS_URL = "redis://127.0.0.1:6379/13"


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def invoices(erp_reseller) -> str:
    return f"/api/v3/resellers/{erp_reseller.pk}/invoices"


def from_address(address: str, secret: str | None = None, **headers) -> Client:
    return Client(REMOTE_ADDR=address, **({"HTTP_X_API_TOKEN": secret} if secret else {}), **headers)


def test_calls_without_a_valid_token_are_limited_per_address(settings, erp_reseller, invoices):
    settings.ARREARS_API_ADDRESS_THROTTLE = "3/m"
    flood = from_address("203.0.113.7")
    for secret in (None, "arr_wrong", None):
        assert from_address("203.0.113.7", secret).get(invoices).status_code == 401
    error = refused_over_http(lambda: flood.get(invoices), 429, "RATE-0429")
    assert "address" in error["detail"]
    response = from_address("203.0.113.7", "arr_wrong").get(invoices)
    assert response.status_code == 429
    assert re.fullmatch(r"[1-9][0-9]*", response["Retry-After"]) and int(response["Retry-After"]) <= 60
    # Another address has a budget of its own
    assert from_address("198.51.100.2").get(invoices).status_code == 401
    # And the window's end gives the address its budget back
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        assert flood.get(invoices).status_code == 401


def test_a_spent_address_is_refused_before_its_token_is_looked_up(settings, erp_reseller, invoices):
    settings.ARREARS_API_ADDRESS_THROTTLE = "1/m"
    assert from_address("203.0.113.7", "arr_wrong").get(invoices).status_code == 401
    with CaptureQueriesContext(connection) as queries:
        assert from_address("203.0.113.7", "arr_guess").get(invoices).status_code == 429
    assert not [query for query in queries.captured_queries if "tenants_apitoken" in query["sql"]]


def test_valid_tokens_never_spend_the_address_budget(settings, erp_reseller, invoices):
    settings.ARREARS_API_ADDRESS_THROTTLE = "2/m"
    erp = from_address("192.0.2.10", token_for(erp_reseller))
    for _ in range(5):
        assert erp.get(invoices).status_code == 200
    assert from_address("192.0.2.10").get(invoices).status_code == 401


def test_behind_a_proxy_the_address_it_appended_counts(settings, erp_reseller, invoices):
    settings.ARREARS_API_ADDRESS_THROTTLE = "1/m"
    settings.ARREARS_PROXY_FORWARDED_FOR = True

    def via_proxy(chain: str) -> int:
        return from_address("10.0.0.1", HTTP_X_FORWARDED_FOR=chain).get(invoices).status_code

    assert via_proxy("6.6.6.6, 203.0.113.7") == 401
    assert via_proxy("7.7.7.7, 203.0.113.7") == 429  # a forged first entry changes nothing
    assert via_proxy("203.0.113.8") == 401  # another client of the same proxy


def test_a_throttled_call_writes_nothing_not_even_its_idempotency_claim(settings, erp_reseller):
    settings.ARREARS_API_THROTTLE = "1/m"
    invoice = closed_erp_invoice(erp_reseller)
    erp = ApiClient(token_for(erp_reseller))
    assert erp.get(f"/api/v3/resellers/{erp_reseller.pk}/invoices").status_code == 200
    before = api_snapshot()
    with CaptureQueriesContext(connection) as queries:
        response = erp.post(
            f"/api/v3/resellers/{erp_reseller.pk}/invoices/{invoice.pk}/approve",
            {"document_id": "NS2000015", "billing_date": invoice.billing_date.isoformat()},
            **{"Idempotency-Key": "approve-1"},
        )
    assert response.status_code == 429 and response.json()["errors"][0]["code"] == "RATE-0429"
    writes = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        and "api_rate_counter" not in query["sql"]
    ]
    assert writes == []
    assert api_snapshot() == before and not IdempotencyKey.objects.exists()


def test_ended_windows_are_purged(settings, erp_reseller, invoices):
    settings.ARREARS_API_THROTTLE = "5/s"
    settings.ARREARS_API_ADDRESS_THROTTLE = "5/s"
    ApiClient(token_for(erp_reseller)).get(invoices)
    from_address("203.0.113.7").get(invoices)
    store = counters()
    window = Budget(5, 1).window_end(NOW.timestamp())
    assert store.peek("address:203.0.113.7", window) == 1
    assert purge_rate_counters(now=NOW) == 0
    assert purge_rate_counters(now=NOW + timedelta(seconds=2)) == 2
    assert store.peek("address:203.0.113.7", window) == 0


@pytest.mark.parametrize("rate", ["50", "0/s", "5/w", "1.5/s", "five/m"])
def test_a_malformed_rate_is_refused_at_start(tmp_path, rate):
    env = {
        "PATH": "/usr/bin:/bin",
        "ARREARS_DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "arrears.settings",
        "ARREARS_API_THROTTLE": rate,
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "a throttle rate is N/s" in done.stderr


# --- One budget for every process ----------------------------------------------------------------------------

MAKE_TOKEN = """
import django; django.setup()
from arrears.core.actors import SYSTEM
from arrears.tenants.services import create_manager, create_reseller
from arrears.tenants.tokens import create_api_token
from django.utils import timezone
now = timezone.now()
reseller = create_reseller(name="Throttled", currency="EUR", actor=SYSTEM, now=now)
manager = create_manager(reseller=reseller, email="erp@throttled.example", role="admin", actor=SYSTEM, now=now)
_, secret = create_api_token(manager=manager, scopes=None, actor=SYSTEM, now=now)
print(reseller.pk, secret)
"""
CALLS = """
import json, sys, django; django.setup()
from django.test import Client
reseller, secret, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = Client(HTTP_X_API_TOKEN=secret)
print(json.dumps([client.get(f"/api/v3/resellers/{reseller}/invoices").status_code for _ in range(count)]))
"""


def last_line(output: str) -> str:
    return output.strip().splitlines()[-1]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("store", ["database", "redis"])
def test_the_token_budget_is_one_for_all_processes(tmp_path, store):
    with separate_database(tmp_path) as env:
        env.update(ARREARS_API_THROTTLE="5/h", ARREARS_API_ADDRESS_THROTTLE="off")
        env.pop("ARREARS_CACHE_URL", None)
        if store == "redis":
            redis.Redis.from_url(REDIS_URL).flushdb()
            env["ARREARS_CACHE_URL"] = REDIS_URL
        reseller, secret = last_line(python(env, MAKE_TOKEN)).split()
        first = json.loads(last_line(python(env, CALLS, reseller, secret, "3")))
        second = json.loads(last_line(python(env, CALLS, reseller, secret, "3")))
    assert (first, second) == ([200, 200, 200], [200, 200, 429])
