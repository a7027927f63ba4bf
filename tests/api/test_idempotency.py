"""``Idempotency-Key`` on every POST (erp-api.md, "Conventions"; arrears/api/idempotency.py).

Same key + same request within 24 h replays the first response byte for byte; same key + another request
answers 422 IDEMPOTENCY-0001; same key while the first call still runs, 409 IDEMPOTENCY-0002; a malformed
key, 400 IDEMPOTENCY-0003. Keys belong to the token that sent them; answers that say nothing about the
operation (401, 429) are not kept.
"""

import json
from datetime import timedelta

import pytest
import time_machine
from django.test import RequestFactory

from arrears.api.idempotency import _request_hash
from arrears.api.models import IdempotencyKey
from arrears.events.models import Event
from arrears.invoices.services import revoke_invoice_approval
from arrears.tenants.models import ApiToken
from arrears.tenants.tokens import hash_secret
from tests.api.conftest import MEDIA_TYPE, ApiClient, refused_over_http, token_for
from tests.conftest import ERP, at
from tests.factories import AccountFactory
from tests.service_support import APPROVAL_DAY, approved, closed_erp_invoice, invoices_of, reload

NOW = at(APPROVAL_DAY)
KEY = "approve-2046-attempt"


@pytest.fixture(autouse=True)
def today():
    """The API reads the wall clock: the calls happen on the approval day of the January story."""
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def invoice(erp_reseller):
    return closed_erp_invoice(erp_reseller)


@pytest.fixture
def secret(erp_reseller) -> str:
    return token_for(erp_reseller)


@pytest.fixture
def erp(secret) -> ApiClient:
    return ApiClient(secret)


def approve_path(invoice) -> str:
    return f"/api/v3/resellers/{invoice.reseller_id}/invoices/{invoice.pk}/approve"


def body(invoice, document_id: str = "NS2000015", **fields) -> dict:
    return {"document_id": document_id, "billing_date": invoice.billing_date.isoformat(), **fields}


def approve(client: ApiClient, invoice, key: str | None = KEY, **fields):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(approve_path(invoice), body(invoice, **fields), **headers)


def approvals() -> int:
    return Event.objects.filter(type="invoice.approved").count()


def claim(secret: str, invoice, *, created_at, key: str = KEY, **fields) -> IdempotencyKey:
    """Given a claim on ``key`` for this very request whose first call has not answered (yet)."""
    request = RequestFactory().post(approve_path(invoice), json.dumps(body(invoice, **fields)), content_type=MEDIA_TYPE)
    return IdempotencyKey.objects.create(
        token=ApiToken.objects.get(secret_hash=hash_secret(secret)),
        key=key,
        request_hash=_request_hash(request),
        created_at=created_at,
    )


def test_a_retry_with_the_same_key_and_body_replays_the_first_response(erp, invoice):
    # Given the ERP approved an invoice with an Idempotency-Key
    first = approve(erp, invoice)
    assert first.status_code == 200, first.content
    assert approvals() == 1
    # When it retries with the same key and body, even an hour later
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        retry = approve(erp, invoice)
    # Then it gets the first response byte for byte, and nothing happens twice
    assert retry.status_code == 200
    assert retry.content == first.content
    assert retry["Content-Type"] == MEDIA_TYPE
    assert retry["Idempotent-Replayed"] == "true"
    assert approvals() == 1
    assert IdempotencyKey.objects.count() == 1


def test_the_same_body_with_keys_reordered_is_the_same_request(erp, invoice):
    first = approve(erp, invoice)
    # When the retry sends the same JSON object with its members in another order
    reordered = dict(reversed(list(body(invoice).items())))
    retry = erp.post(approve_path(invoice), reordered, **{"Idempotency-Key": KEY})
    # Then it is a replay
    assert retry.status_code == 200 and retry.content == first.content
    assert approvals() == 1


def test_the_same_key_with_another_body_is_refused(erp, invoice):
    # Given a key used to approve as NS2000015
    assert approve(erp, invoice).status_code == 200
    # When the key is sent again with another document_id
    error = refused_over_http(lambda: approve(erp, invoice, document_id="NS2000016"), 422, "IDEMPOTENCY-0001")
    # Then the error names the header
    assert error["source"] == {"header": "Idempotency-Key"}
    assert reload(invoice).document_id == "NS2000015"


def test_the_same_key_on_another_route_is_refused(erp, invoice):
    assert approve(erp, invoice).status_code == 200
    complete = f"/api/v3/resellers/{invoice.reseller_id}/invoices/{invoice.pk}/complete"
    error = refused_over_http(
        lambda: erp.post(complete, body(invoice), **{"Idempotency-Key": KEY}), 422, "IDEMPOTENCY-0001"
    )
    assert error["source"] == {"header": "Idempotency-Key"}


@pytest.mark.parametrize("key", ["k" * 256, "", "   "], ids=["256 characters", "empty", "blank"])
def test_a_malformed_key_is_refused(erp, invoice, key):
    error = refused_over_http(lambda: approve(erp, invoice, key=key), 400, "IDEMPOTENCY-0003")
    assert error["source"] == {"header": "Idempotency-Key"}
    assert approvals() == 0


def test_a_key_of_255_characters_is_accepted(erp, invoice):
    assert approve(erp, invoice, key="k" * 255).status_code == 200
    assert IdempotencyKey.objects.get().key == "k" * 255


def test_keys_belong_to_their_token(erp, erp_reseller):
    # Given two invoices, the first approved by the ERP's token with a key
    first_invoice, second_invoice = invoices_of(
        AccountFactory(reseller=erp_reseller), AccountFactory(reseller=erp_reseller)
    )
    assert approve(erp, first_invoice).status_code == 200
    # When another token sends the very same request with the same key
    response = approve(ApiClient(token_for(erp_reseller)), first_invoice)
    # Then it is no replay: the call runs (and is refused on its merits)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "INVOICE-0101"
    assert "Idempotent-Replayed" not in response
    # When a third token sends the same key with another request, Then it is no reuse: the call runs
    response = approve(ApiClient(token_for(erp_reseller)), second_invoice, document_id="NS2000016")
    assert response.status_code == 200, response.content
    assert approvals() == 2
    assert IdempotencyKey.objects.filter(key=KEY).count() == 3  # one per token


def test_an_error_response_is_replayed_too(erp, invoice):
    # Given the ERP's approval with a wrong billing date was refused
    first = approve(erp, invoice, billing_date="2026-01-02")
    assert first.status_code == 400
    assert first.json()["errors"][0]["code"] == "INVOICE-0005"
    # When it retries with the same key and body, Then the refusal is replayed
    retry = approve(erp, invoice, billing_date="2026-01-02")
    assert (retry.status_code, retry.content) == (400, first.content)
    assert retry["Idempotent-Replayed"] == "true"


def test_a_replayed_refusal_stands_even_when_a_new_call_would_succeed(erp, invoice):
    # Given an approved invoice, and the ERP's second approval refused as already approved (INVOICE-0101)
    approved(invoice, document_id="NS2000015")
    first = approve(erp, invoice)
    assert first.json()["errors"][0]["code"] == "INVOICE-0101"
    # And then the approval was revoked, so a new call would now succeed
    revoke_invoice_approval(
        reload(invoice), document_id="NS2000015", billing_date=invoice.billing_date, actor=ERP, now=NOW
    )
    # When the ERP retries with the same key and body, Then it gets the first answer and nothing is approved
    retry = approve(erp, invoice)
    assert (retry.status_code, retry.content) == (400, first.content)
    assert not reload(invoice).approved
    # While without the key, the call runs
    assert approve(erp, invoice, key=None).status_code == 200


def test_a_401_is_not_kept(erp, secret, invoice):
    # Given the token's manager was deactivated
    token = ApiToken.objects.select_related("manager__user").get(secret_hash=hash_secret(secret))
    token.manager.user.is_active = False
    token.manager.user.save(update_fields=["is_active"])
    # When the ERP approves with a key, Then it is refused and the key is not kept
    refused_over_http(lambda: approve(erp, invoice), 401, "AUTH-0001")
    assert not IdempotencyKey.objects.exists()
    # When the manager is active again, Then the same key and body run the call
    token.manager.user.is_active = True
    token.manager.user.save(update_fields=["is_active"])
    assert approve(erp, invoice).status_code == 200
    assert approvals() == 1


def test_an_unknown_token_keeps_no_key(invoice):
    refused_over_http(lambda: approve(ApiClient("arr_unknown"), invoice), 401, "AUTH-0001")
    assert not IdempotencyKey.objects.exists()


def test_a_429_is_not_kept(erp, invoice, settings):
    # Given a budget of one request a minute, already spent
    settings.ARREARS_API_THROTTLE = "1/m"
    assert erp.get(f"/api/v3/resellers/{invoice.reseller_id}/invoices").status_code == 200
    # When the ERP approves with a key, Then it is throttled and the key is not kept
    refused_over_http(lambda: approve(erp, invoice), 429, "RATE-0429")
    assert not IdempotencyKey.objects.exists()
    # When the budget is back, Then the same key and body run the call
    settings.ARREARS_API_THROTTLE = None
    assert approve(erp, invoice).status_code == 200
    assert approvals() == 1


def test_a_key_whose_first_call_still_runs_answers_409(erp, secret, invoice):
    # Given the first call with this key and body started a minute ago and has not answered yet
    claim(secret, invoice, created_at=NOW - timedelta(minutes=1))
    # When the ERP retries, Then it is told to retry later, and nothing runs
    error = refused_over_http(lambda: approve(erp, invoice), 409, "IDEMPOTENCY-0002")
    assert error["source"] == {"header": "Idempotency-Key"}
    assert approvals() == 0


def test_a_running_key_with_another_body_is_a_reuse(erp, secret, invoice):
    claim(secret, invoice, created_at=NOW - timedelta(minutes=1), document_id="NS2000016")
    refused_over_http(lambda: approve(erp, invoice), 422, "IDEMPOTENCY-0001")


def test_a_claim_abandoned_for_over_5_minutes_is_taken_over(erp, secret, invoice):
    # Given the first call with this key claimed it 6 minutes ago and never answered (its worker died)
    claim(secret, invoice, created_at=NOW - timedelta(minutes=6))
    # When the ERP retries, Then the call runs and its answer is kept for the key
    response = approve(erp, invoice)
    assert response.status_code == 200, response.content
    assert approvals() == 1
    kept = IdempotencyKey.objects.get()
    assert (kept.response_status, bytes(kept.response_body), kept.created_at) == (200, response.content, NOW)


def test_a_key_older_than_24_hours_is_replaced(erp, invoice):
    # Given the ERP approved with a key
    first = approve(erp, invoice)
    assert first.status_code == 200
    # When it sends the same key and body 23 hours later, Then it is still a replay
    with time_machine.travel(NOW + timedelta(hours=23), tick=False):
        assert approve(erp, invoice).content == first.content
    # When it sends them 25 hours later, Then the call runs again (and is refused on its merits)
    later = NOW + timedelta(hours=25)
    with time_machine.travel(later, tick=False):
        again = approve(erp, invoice)
    assert again.status_code == 400
    assert again.json()["errors"][0]["code"] == "INVOICE-0101"
    assert "Idempotent-Replayed" not in again
    assert approvals() == 1
    kept = IdempotencyKey.objects.get()
    assert (kept.response_status, kept.created_at) == (400, later)


def test_keys_older_than_the_replay_window_are_purged_and_younger_ones_kept(secret, monkeypatch):
    from arrears.api import idempotency, tasks

    token = ApiToken.objects.get(secret_hash=hash_secret(secret))
    ages = [timedelta(hours=25), timedelta(hours=24, seconds=1), timedelta(hours=23), timedelta(0)]
    for number, age in enumerate(ages):
        IdempotencyKey.objects.create(token=token, key=f"k{number}", request_hash="x", created_at=NOW - age)
    monkeypatch.setattr(idempotency, "PURGE_BATCH", 1)  # several batches

    tasks.purge_expired_idempotency_keys.call_local()

    assert sorted(IdempotencyKey.objects.values_list("key", flat=True)) == ["k2", "k3"]
