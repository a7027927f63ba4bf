"""What the API's hot path leaves out must not change what it answers.

- The browser-only middleware (sessions, CSRF, the signed-in user, messages) is skipped under /api/v3/ and
  still guards everything else.
- JSON is written by orjson with exactly the standard library's spelling, and by the standard library where
  orjson refuses.
- SQL placeholders are converted once per query text, with ``%%`` still a literal percent sign.
"""

import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import time_machine
from django.test import Client

from arrears.api.jsonapi import _json_default, json_bytes
from arrears.core import sql
from tests.api.conftest import MEDIA_TYPE, token_for
from tests.conftest import at
from tests.service_support import APPROVAL_DAY, closed_erp_invoice, reload


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(at(APPROVAL_DAY), tick=False):
        yield


def test_an_api_post_needs_no_csrf_token_and_sets_no_cookie(erp_reseller):
    # Given a client that enforces CSRF as a browser would, and a token
    invoice = closed_erp_invoice(erp_reseller)
    client = Client(enforce_csrf_checks=True, HTTP_X_API_TOKEN=token_for(erp_reseller))

    # When the ERP approves an invoice
    response = client.post(
        f"/api/v3/resellers/{erp_reseller.pk}/invoices/{invoice.pk}/approve",
        json.dumps({"document_id": "NS1", "billing_date": invoice.billing_date.isoformat()}),
        content_type=MEDIA_TYPE,
    )

    # Then it is approved, and the answer carries no session or CSRF cookie
    assert response.status_code == 200, response.content
    assert reload(invoice).approved is True
    assert not response.cookies
    assert "Vary" not in response  # the session middleware would add "Vary: Cookie" once it read the session


def test_every_api_answer_is_marked_not_to_be_stored(erp_reseller):
    client = Client(HTTP_X_API_TOKEN=token_for(erp_reseller))
    answers = [
        client.get(f"/api/v3/resellers/{erp_reseller.pk}/invoices"),  # data
        client.get(f"/api/v3/resellers/{erp_reseller.pk}/invoices/999999"),  # an error
        Client().get(f"/api/v3/resellers/{erp_reseller.pk}/invoices"),  # no token
        client.put(f"/api/v3/resellers/{erp_reseller.pk}/invoices"),  # a method the route does not have
    ]
    assert [answer.status_code for answer in answers] == [200, 404, 401, 405]
    assert all(answer["Cache-Control"] == "no-store" for answer in answers)
    assert "no-store" not in Client().get("/operator/login/").get("Cache-Control", "")


@pytest.mark.django_db
def test_outside_the_api_the_browser_middleware_still_guards():
    client = Client(enforce_csrf_checks=True)

    # A form POST without a CSRF token is refused
    assert client.post("/operator/login/", {"email": "x@example.com", "password": "y"}).status_code == 403

    # and a page that reads the session and the user gets its CSRF cookie
    response = client.get("/operator/login/")
    assert response.status_code == 200
    assert "csrftoken" in response.cookies


@pytest.mark.parametrize(
    "document",
    [
        {
            "data": {
                "id": "5",
                "attributes": {
                    "name": 'Müller & Söhne <b>"x"\\',
                    "note": "a\nb\x01\u2028",
                    "n": None,
                    "ok": True,
                    "count": -3,
                    "items": [1, 2, 3],
                },
            }
        },
        {"dates": [date(2026, 1, 31)], "at": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=2)))},
        {"meta": {"total": 0}, "at": datetime(2026, 1, 2, tzinfo=UTC), 7: "integer key"},
        {"errors": [{"code": "X", "meta": {"value": 2**70}}]},  # beyond 64 bits: orjson refuses, json writes it
    ],
    ids=["text", "dates-and-offset", "utc-and-int-key", "huge-integer"],
)
def test_json_bytes_spells_json_like_the_standard_library(document):
    expected = json.dumps(document, separators=(",", ":"), ensure_ascii=False, default=_json_default).encode()
    assert json_bytes(document) == expected


def test_json_bytes_writes_every_timestamp_in_utc():
    assert (
        json_bytes({"at": datetime(2026, 1, 2, 3, 0, tzinfo=timezone(timedelta(hours=2)))})
        == b'{"at":"2026-01-02T01:00:00+00:00"}'
    )


@pytest.mark.django_db
def test_placeholders_and_literal_percent_signs_survive_the_cached_conversion():
    query = "SELECT %s || '%%', %s || '%%s'"
    assert sql.fetch_all(query, ["a", "b"]) == [("a%", "b%s")]
    assert sql.fetch_all(query, ["c", "d"]) == [("c%", "d%s")]  # the second run takes the cached conversion
