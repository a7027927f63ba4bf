"""The operator's payment page shows the payment's attempts through a connector: who charged what, the status (a
late success marked), the times, and each attempt's log with direction, HTTP status and the stored message (its
signatures redacted, the connector's secret nowhere) — in a number of queries that does not grow with them."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext

from arrears.core.actors import Actor
from arrears.gateways.models import PaymentAttempt
from arrears.gateways.selectors import attempts_of
from arrears.gateways.services import (
    check_attempt,
    create_connector,
    create_payment_method,
    receive_callback,
    start_attempt,
)
from arrears.payments.models import Payment
from tests.conftest import at
from tests.factories import AccountFactory, ResellerFactory
from tests.gateways.fake_connector import fake_connector, signed_callback
from tests.service_support import APPROVAL_DAY, invoice_of

CUSTOMER = Actor("customer_user", 1, "customer@example.com")
NOW = at(APPROVAL_DAY + timedelta(days=1), 10)
RETURN = "http://127.0.0.1:8000/customer/payments/1/return/?attempt={attempt_id}"


@pytest.fixture
def gateway(db):
    reseller = ResellerFactory(name="Gatewayed")
    with fake_connector("whsec_" + "A" * 32) as fake:
        connector, secret = create_connector(
            reseller,
            name="Card Gateway",
            url=fake.url,
            processing_minutes=15,
            currencies=["EUR"],
            actor=Actor("system", None, "test"),
            now=NOW,
        )
        fake.secret = secret
        method = create_payment_method(
            reseller, name="Card", connector=connector, actor=Actor("system", None, "test"), now=NOW
        )
        yield {"reseller": reseller, "connector": connector, "secret": secret, "method": method, "fake": fake}


def outcome(attempt: PaymentAttempt, kind: str) -> dict:
    return {
        "type": f"checkout.{kind}",
        "attempt_id": attempt.public_id,
        "checkout_id": attempt.checkout_id,
        "amount": attempt.amount,
        "currency": attempt.currency,
        "occurred_at": NOW.isoformat(),
    }


def callback(gateway, attempt, kind: str, *, now=NOW) -> str:
    body, headers = signed_callback(gateway["secret"], outcome(attempt, kind))
    return receive_callback(gateway["connector"].pk, body, headers, now=now)


def a_payment(gateway) -> Payment:
    return invoice_of(AccountFactory(reseller=gateway["reseller"])).payment


def declined(gateway, payment: Payment) -> Payment:
    first = start_attempt(payment, gateway["method"], return_url=RETURN, actor=CUSTOMER, now=NOW)
    assert callback(gateway, first, "declined") == "applied"
    return Payment.objects.get(pk=payment.pk)


def declined_then_late_success(gateway, payment: Payment | None = None) -> Payment:
    """A payment whose first attempt was declined and whose second timed out, succeeded late, and then succeeded
    a second time (credited to the balance)."""
    payment = declined(gateway, payment or a_payment(gateway))
    later = NOW + timedelta(minutes=1)
    second = start_attempt(payment, gateway["method"], return_url=RETURN, actor=CUSTOMER, now=later)
    check_attempt(second, now=later + timedelta(minutes=16))  # the fake still says pending: timed out
    assert callback(gateway, second, "succeeded", now=later + timedelta(minutes=17)) == "applied"
    assert callback(gateway, second, "succeeded", now=later + timedelta(minutes=18)) == "applied"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED
    return payment


def attempts_section(body: str) -> str:
    start = body.index('id="attempts-heading"')
    return body[start : body.index('id="timeline-heading"')]


def test_the_payment_page_lists_each_attempt_with_its_log_and_messages(gateway, sign_in):
    payment = declined_then_late_success(gateway)
    declined, succeeded = sorted(PaymentAttempt.objects.filter(payment=payment), key=lambda attempt: attempt.pk)
    client = sign_in(gateway["reseller"], "viewer")  # reading is every manager's
    response = client.get(f"/operator/payments/{payment.pk}/")
    assert response.status_code == 200
    section = attempts_section(response.content.decode())
    # Newest first: the late success, then the declined one, each with its connector, amount and status
    assert section.index(succeeded.public_id) < section.index(declined.public_id)
    assert section.count("<h3>Card Gateway</h3>") == 2
    assert "100.00 EUR" in section
    assert "Succeeded late" in section and "Declined" in section
    assert "Paid after the attempt had timed out" in section
    # Every step of the log, in words, with its time
    for step in (
        "Started",
        "Checkout requested",
        "Sent to the checkout page",
        "Declined",
        "Status checked",
        "Timed out",
        "Late success",
        "Second success",
    ):
        assert f'<span class="step-what">{step}</span>' in section, step
    assert "Card Gateway says: the payment is still pending." in section
    assert "By customer: customer@example.com" in section
    assert "its amount is credited to the balance" in section
    assert f'datetime="{succeeded.started_at.isoformat()}"' in section
    assert f'datetime="{succeeded.finished_at.isoformat()}"' in section
    # With direction, HTTP status and the stored message, folded away; signatures redacted, no secret
    assert "Sent to the connector" in section and "Received from the connector" in section
    assert "HTTP 201" in section and "HTTP 200" in section
    assert section.count('<details class="step-message">') >= 6
    assert "&quot;attempt_id&quot;: &quot;" + declined.public_id in section
    assert "[redacted]" in section
    assert gateway["secret"] not in response.content.decode()
    assert not re.search(r"v1,[A-Za-z0-9+/=]{20,}", response.content.decode()), "a signature is on the page"


def test_a_payment_without_attempts_says_so(gateway, sign_in):
    payment = a_payment(gateway)
    body = sign_in(gateway["reseller"]).get(f"/operator/payments/{payment.pk}/").content.decode()
    assert "No payment through a payment service yet." in attempts_section(body)


def test_the_page_takes_the_same_queries_for_one_attempt_or_many(gateway, sign_in):
    client = sign_in(gateway["reseller"])
    payment = declined(gateway, a_payment(gateway))
    counts = []
    for more in (False, True):
        if more:  # three attempts in all, each with its log
            declined_then_late_success(gateway, payment)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/operator/payments/{payment.pk}/").status_code == 200
        counts.append(len(queries.captured_queries))
    assert PaymentAttempt.objects.filter(payment=payment).count() == 3
    assert counts[0] == counts[1]


def test_the_partial_shows_no_messages_without_the_flag(gateway):
    # The customer panel includes the same partial without show_messages: plain words only
    payment = declined_then_late_success(gateway)
    html = render_to_string("panels/attempts.html", {"attempts": attempts_of(payment), "tz": "Europe/Berlin"})
    assert "Succeeded late" in html and "Late success" in html and "Declined" in html
    assert "<details" not in html and "HTTP " not in html and "Sent to the connector" not in html
    assert "customer_user" not in html and "[redacted]" not in html
    assert " CET" in html  # times in the given zone, named
