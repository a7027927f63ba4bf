"""The callback route over HTTP: its answers and their JSON:API errors (docs/payment-connectors.md §2)."""

import json

import pytest
from django.test import Client

from arrears.gateways.services import start_attempt
from arrears.payments.models import Payment
from tests.gateways.fake_connector import signed_callback
from tests.gateways.test_attempts import CUSTOMER, NOW, RETURN, outcome, waiting_payment


@pytest.fixture
def open_attempt(gateway):
    connector, secret, method, _ = gateway
    payment = waiting_payment(connector.reseller)
    return connector, secret, start_attempt(payment, method, return_url=RETURN, actor=CUSTOMER, now=NOW)


def post(connector_id, body: bytes, headers: dict):
    extra = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
    return Client().post(f"/connectors/{connector_id}/callback", data=body, content_type="application/json", **extra)


def test_a_signed_success_answers_applied_then_duplicate(open_attempt):
    connector, secret, attempt = open_attempt
    body, headers = signed_callback(secret, outcome(attempt, "succeeded"), webhook_id="msg_http")
    first, again = post(connector.pk, body, headers), post(connector.pk, body, headers)
    assert (first.status_code, first.json()) == (200, {"result": "applied"})
    assert (again.status_code, again.json()) == (200, {"result": "duplicate"})
    assert Payment.objects.get(pk=attempt.payment_id).status == "completed"


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"secret": "whsec_" + "Z" * 32}, 401, "CONNECTOR-0001"),
        ({"amount": 1}, 409, "CONNECTOR-0002"),
        ({"attempt_id": "att_nobody"}, 404, "CONNECTOR-0404"),
        ({"type": "checkout.maybe"}, 400, "CONNECTOR-0003"),
    ],
)
def test_refusals_are_json_api_errors_with_their_code(open_attempt, change, status, code):
    connector, secret, attempt = open_attempt
    payload = {**outcome(attempt, "succeeded"), **{k: v for k, v in change.items() if k != "secret"}}
    body, headers = signed_callback(change.get("secret", secret), payload)
    response = post(connector.pk, body, headers)
    assert response.status_code == status
    assert response["Content-Type"] == "application/vnd.api+json"
    assert response.json()["errors"][0]["code"] == code
    assert Payment.objects.get(pk=attempt.payment_id).status == "processing"


def test_not_json_get_and_oversized_bodies_are_refused(open_attempt):
    connector, secret, attempt = open_attempt
    body, headers = signed_callback(secret, outcome(attempt, "succeeded"))
    assert Client().get(f"/connectors/{connector.pk}/callback").status_code == 405
    huge = json.dumps({**outcome(attempt, "succeeded"), "padding": "x" * 70_000}).encode()
    assert post(connector.pk, huge, headers).status_code == 413
    assert post(connector.pk, b"not json", headers).json()["errors"][0]["code"] == "CONNECTOR-0001"
    assert Payment.objects.get(pk=attempt.payment_id).status == "processing"
