"""Issue 11: the gateway's events are notifiable. A second success for a settled payment is credited to the
balance and mails the reseller's managers who act on money (the reference's rule); the attempt events carry their
attempt and send nothing unless a reseller attaches a handler. Driven through the real gateway services and a
connector on loopback, sent through the real dispatch."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model

from arrears.core.actors import SYSTEM
from arrears.events.models import Event
from arrears.gateways.services import create_connector, create_payment_method, start_attempt, sweep_open_attempts
from arrears.notifications.handlers import create_event_handler, message_for, preview_placeholders
from arrears.notifications.models import EventHandler
from arrears.notifications.placeholders import placeholders_for
from arrears.notifications.selectors import preview_subjects
from arrears.payments.services import request_top_up
from arrears.tenants.models import Manager
from arrears.tenants.services import create_manager
from tests.conftest import MANAGER
from tests.factories import AccountFactory, ResellerFactory
from tests.gateways.fake_connector import fake_connector
from tests.gateways.test_attempts import CUSTOMER, NOW, RETURN, callback, outcome
from tests.notifications.test_default_mail_links import SITE, sent
from tests.service_support import CLOSING_DAY, invoice_of

SECRET = "whsec_" + "A" * 32


@pytest.fixture
def shop(db, mailoutbox, settings):
    """On a site reached at SITE, a default-mode reseller with an admin, a billing manager, a viewer and a
    deactivated admin, a Card Gateway answered by a fake on loopback, and Ada's waiting payment of 100.00 EUR (its
    invoice mail already sent)."""
    settings.ARREARS_BASE_URL = SITE
    reseller = ResellerFactory(name="Gatewayed")
    for role in ("admin", "billing_manager", "viewer"):
        create_manager(reseller=reseller, email=f"{role}@gatewayed.example", role=role, actor=SYSTEM, now=NOW)
    gone = create_manager(reseller=reseller, email="gone@gatewayed.example", actor=SYSTEM, now=NOW)
    get_user_model().objects.filter(pk=gone.user_id).update(is_active=False)
    create_manager(reseller=ResellerFactory(name="Other"), email="admin@other.example", actor=SYSTEM, now=NOW)
    with fake_connector(SECRET) as fake:
        connector, secret = create_connector(
            reseller,
            name="Card Gateway",
            url=fake.url,
            processing_minutes=15,
            currencies=["EUR"],
            actor=SYSTEM,
            now=NOW,
        )
        fake.secret = secret
        method = create_payment_method(reseller, name="Card", connector=connector, actor=SYSTEM, now=NOW)
        payment = invoice_of(AccountFactory(reseller=reseller, name="Ada", email="ada@example.com")).payment
        sent(mailoutbox, CLOSING_DAY)
        yield {"connector": connector, "secret": secret, "method": method, "payment": payment}


def events_of(payment, event_type: str) -> list[Event]:
    return list(Event.objects.filter(type=event_type, subject_id=payment.pk).order_by("id"))


def test_a_second_success_mails_the_managers_who_act_on_money_with_the_amount_credited(shop, mailoutbox):
    connector, secret, payment = shop["connector"], shop["secret"], shop["payment"]
    # Given a payment the gateway completed
    attempt = start_attempt(payment, shop["method"], return_url=RETURN, actor=CUSTOMER, now=NOW)
    callback(connector, secret, outcome(attempt, "succeeded"), webhook_id="msg_first")

    # When the gateway reports a second success (another webhook-id) and the queue sends the mail
    callback(connector, secret, outcome(attempt, "succeeded"), webhook_id="msg_second")
    messages = sent(mailoutbox, NOW.date(), NOW.hour + 1)

    # Then the customer got one receipt, linking the payment's page, and nothing about the attempts
    [receipt] = [message for message in messages if message.to == ["ada@example.com"]]
    assert receipt.subject == f"Thank you: we received payment {payment.document_id}"
    assert f"{SITE}/customer/payments/{payment.pk}/" in receipt.body
    # and the admin and the billing manager (not the viewer, the deactivated admin or another reseller's) got
    # the second charge, with the amount credited, the balance after it and the payment's page in the OCP
    managers = [message for message in messages if message.to != ["ada@example.com"]]
    assert sorted(message.to[0] for message in managers) == [
        "admin@gatewayed.example",
        "billing_manager@gatewayed.example",
    ]
    mail = managers[0]
    assert mail.subject == f"Second charge for payment {payment.document_id} credited to Ada's balance"
    assert (
        f"Card Gateway reported a second successful charge for payment {payment.document_id} (invoice "
        f"{payment.invoice.document_id}) of Ada (account {payment.account_id}), which was settled already."
    ) in mail.body
    assert "Credited to the account's balance: 100.00 EUR" in mail.body
    assert "Balance after the credit: 100.00 EUR" in mail.body
    assert f"Charged by the gateway: 100.00 EUR (attempt {attempt.public_id})" in mail.body
    assert f"Operator Control Panel:\n{SITE}/operator/payments/{payment.pk}/" in mail.body

    # And the event's placeholders carry the attempt and the credit from the payload the services recorded
    [duplicate] = events_of(payment, "payment.duplicate_success")
    values = placeholders_for([duplicate], now=NOW)[duplicate.pk]
    assert values["attempt"] == {
        "id": attempt.public_id,
        "connector_id": connector.pk,
        "connector_name": "Card Gateway",
        "amount": "100.00",
        "currency": "EUR",
    }
    assert values["credit"] == {"amount": "100.00", "currency": "EUR", "balance_after": "100.00"}
    assert values["reseller"]["manager_emails"] == "admin@gatewayed.example, billing_manager@gatewayed.example"

    # And a handler's preview offers the payments the gateway's events could be about, not a newer one
    newer = request_top_up(payment.account, 5_000, actor=CUSTOMER, now=NOW)
    assert newer.pk > payment.pk
    for event_type in ("payment.attempt_started", "payment.attempt_ended", "payment.duplicate_success"):
        assert [subject.pk for subject in preview_subjects(payment.reseller, event_type)] == [payment.pk]


def test_attempt_events_carry_their_outcome_and_mail_only_through_a_resellers_own_handler(shop, mailoutbox):
    connector, secret, payment = shop["connector"], shop["secret"], shop["payment"]
    reseller = payment.reseller
    # Given the reseller mails its managers about declined attempts
    create_event_handler(
        reseller,
        event="payment.attempt_ended",
        channel="email",
        name="Declines",
        recipients="{{ reseller.manager_emails }}",
        subject="{{ attempt.connector_name }} declined {{ payment.document_number }}",
        body="{{ attempt.amount }} {{ attempt.currency }}, attempt {{ attempt.id }}: "
        "{{ attempt.outcome }}\n{{ payment.operator_link }}",
        condition='attempt.outcome == "declined"',
        actor=MANAGER,
        now=NOW,
    )

    # When one attempt is declined, and another times out and then succeeds late
    declined = start_attempt(payment, shop["method"], return_url=RETURN, actor=CUSTOMER, now=NOW)
    callback(connector, secret, outcome(declined, "declined"))
    later = NOW + timedelta(minutes=1)
    late = start_attempt(payment, shop["method"], return_url=RETURN, actor=CUSTOMER, now=later)
    sweep_open_attempts(now=later + timedelta(minutes=16))
    callback(connector, secret, outcome(late, "succeeded"), now=later + timedelta(minutes=17))
    messages = sent(mailoutbox, NOW.date(), NOW.hour + 1)

    # Then the attempt events carry their attempt, outcome and lateness
    started = [placeholders_for([event], now=NOW)[event.pk] for event in events_of(payment, "payment.attempt_started")]
    assert [values["attempt"]["id"] for values in started] == [declined.public_id, late.public_id]
    assert started[0]["attempt"] == {
        "id": declined.public_id,
        "connector_id": connector.pk,
        "connector_name": "Card Gateway",
        "amount": "100.00",
        "currency": "EUR",
    }
    ended = [
        placeholders_for([event], now=NOW)[event.pk]["attempt"] for event in events_of(payment, "payment.attempt_ended")
    ]
    assert [(attempt["id"], attempt["outcome"], attempt["late"]) for attempt in ended] == [
        (declined.public_id, "declined", False),
        (late.public_id, "timed_out", False),
        (late.public_id, "succeeded", True),
    ]
    # and only the reseller's handler mailed about an attempt: its managers, on the declined one
    about_attempts = [message for message in messages if message.to != ["ada@example.com"]]
    assert sorted(message.to[0] for message in about_attempts) == [
        "admin@gatewayed.example",
        "billing_manager@gatewayed.example",
    ]
    assert about_attempts[0].subject == f"Card Gateway declined {payment.document_id}"
    assert about_attempts[0].body == (
        f"100.00 EUR, attempt {declined.public_id}: declined\n{SITE}/operator/payments/{payment.pk}/"
    )
    # and the customer only got the receipt of the late success
    assert [message.subject for message in messages if message.to == ["ada@example.com"]] == [
        f"Thank you: we received payment {payment.document_id}"
    ]


def test_the_managers_default_previews_on_the_newest_attempt_and_renders_a_sparse_payload(shop):
    payment, reseller = shop["payment"], shop["payment"].reseller
    default = EventHandler.objects.get(reseller=None, event="payment.duplicate_success")
    # Given no attempt yet, the preview renders with what the payment says (a credit of its total)
    values = preview_placeholders(reseller, "payment.duplicate_success", payment, now=NOW)
    assert values["attempt"]["id"] is None
    mail = message_for(default, values)
    assert "A payment gateway reported a second successful charge" in mail.body
    assert "Credited to the account's balance: 100.00 EUR" in mail.body and "Charged by" not in mail.body
    assert mail.recipients == ["admin@gatewayed.example", "billing_manager@gatewayed.example"]

    # Given an attempt, the preview names it
    attempt = start_attempt(payment, shop["method"], return_url=RETURN, actor=CUSTOMER, now=NOW)
    values = preview_placeholders(reseller, "payment.duplicate_success", payment, now=NOW)
    mail = message_for(default, values)
    assert "Card Gateway reported" in mail.body and f"(attempt {attempt.public_id})" in mail.body

    # And an event recorded with only some of the documented keys renders too
    sparse = Event(
        pk=10**9,
        type="payment.duplicate_success",
        reseller_id=reseller.pk,
        account_id=payment.account_id,
        subject_type="payment",
        subject_id=payment.pk,
        occurred_at=NOW,
        payload={"attempt_id": attempt.public_id, "credited": 4_200, "credited_currency": "EUR"},
    )
    values = placeholders_for([sparse], now=NOW)[sparse.pk]
    assert values["credit"] == {"amount": "42.00", "currency": "EUR", "balance_after": None}
    mail = message_for(default, values)
    assert "Credited to the account's balance: 42.00 EUR" in mail.body and "Balance after" not in mail.body
    assert Manager.objects.filter(reseller=reseller).count() == 4
