"""Paying through a connector: starting an attempt, the outcomes a connector reports, timeouts, late and second
successes, and callbacks that must change nothing (forged, replayed, for another attempt, with another amount)."""

import threading
from datetime import date, timedelta

import pytest
from django.db import connections

from arrears.core.actors import SYSTEM, Actor
from arrears.customers.models import Account, BalanceEntry
from arrears.events.models import Event
from arrears.gateways.errors import ConnectorSignatureInvalid
from arrears.gateways.models import AttemptLogEntry, PaymentAttempt, PaymentConnector
from arrears.gateways.services import (
    check_attempt,
    create_connector,
    create_payment_method,
    end_secret_rotation,
    receive_callback,
    rotate_connector_secret,
    start_attempt,
    start_top_up_attempt,
    sweep_open_attempts,
)
from arrears.payments.errors import PaymentMethodInvalid, PaymentStatusForbids
from arrears.payments.models import Payment
from arrears.payments.services import pay_from_balance
from tests.conftest import at
from tests.factories import AccountFactory, ResellerFactory
from tests.gateways.fake_connector import fake_connector, signed_callback
from tests.service_support import APPROVAL_DAY, approved, invoice_of, refused, snapshot

CUSTOMER = Actor("customer_user", 1, "customer@example.com")
NOW = at(APPROVAL_DAY + timedelta(days=1), 10)
RETURN = "http://127.0.0.1:8000/customer/payments/1/return/?attempt={attempt_id}"
S = Payment.Status
A = PaymentAttempt.Status


def waiting_payment(reseller, **account) -> Payment:
    return invoice_of(AccountFactory(reseller=reseller, **account)).payment


def outcome(attempt: PaymentAttempt, kind: str, *, amount: int | None = None, currency: str | None = None) -> dict:
    return {
        "type": f"checkout.{kind}",
        "attempt_id": attempt.public_id,
        "checkout_id": attempt.checkout_id,
        "amount": attempt.amount if amount is None else amount,
        "currency": attempt.currency if currency is None else currency,
        "occurred_at": NOW.isoformat(),
    }


def callback(connector, secret, payload, *, webhook_id=None, now=NOW) -> str:
    body, headers = signed_callback(secret, payload, webhook_id=webhook_id)
    return receive_callback(connector.pk, body, headers, now=now)


def reload(payment: Payment) -> Payment:
    return Payment.objects.get(pk=payment.pk)


def balance(payment: Payment) -> int:
    return Account.objects.get(pk=payment.account_id).balance


def test_start_opens_a_signed_checkout_and_puts_the_payment_in_processing(gateway):
    connector, _, method, fake = gateway
    payment = waiting_payment(connector.reseller)

    attempt = start_attempt(payment, method, return_url=RETURN, actor=CUSTOMER, now=NOW)

    assert reload(payment).status == S.PROCESSING
    assert attempt.status == A.OPEN and attempt.previous_status == S.WAITING_FOR_PAYMENT
    assert attempt.redirect_url == f"{fake.url}/checkout/{attempt.public_id}"
    assert attempt.deadline_at == NOW + timedelta(minutes=15)
    sent = fake.checkout_request(attempt.public_id)  # the fake verified its signature
    assert sent["amount"] == payment.total and sent["currency"] == "EUR"
    assert sent["return_url"].endswith(f"?attempt={attempt.public_id}")
    assert sent["callback_url"].endswith(f"/connectors/{connector.pk}/callback")
    headers = next(h for m, p, h, _ in fake.received if m == "POST")
    assert headers["idempotency-key"] == attempt.public_id
    steps = list(AttemptLogEntry.objects.filter(attempt=attempt).values_list("step", "direction"))
    assert steps == [("started", ""), ("started", "sent"), ("redirected", "received")]
    stored = AttemptLogEntry.objects.get(attempt=attempt, direction="sent").message
    assert stored["headers"]["webhook-signature"] == "[redacted]"
    assert secret_nowhere(connector)
    assert Event.objects.filter(type="payment.attempt_started", subject_id=payment.pk).count() == 1


def secret_nowhere(connector: PaymentConnector) -> bool:
    texts = [str(row) for row in AttemptLogEntry.objects.values_list("message", flat=True)]
    texts += [str(row) for row in Event.objects.values_list("payload", flat=True)]
    return not any(connector.secret in text for text in texts)


def test_an_erp_external_total_in_another_currency_is_what_the_connector_charges(gateway):
    connector, _, method, fake = gateway
    connector.reseller.external_invoices = True
    connector.reseller.save()
    invoice = approved(
        invoice_of(AccountFactory(reseller=connector.reseller)),
        due_date=date(2026, 2, 20),
        amount={"total": "130.00", "currency": "USD"},
    )
    payment = invoice.payment
    total = payment.total

    attempt = start_attempt(payment, method, return_url=RETURN, actor=CUSTOMER, now=NOW)

    sent = fake.checkout_request(attempt.public_id)
    assert (sent["amount"], sent["currency"]) == (13_000, "USD") == (attempt.amount, attempt.currency)
    callback(connector, fake.secret, outcome(attempt, "succeeded"))
    payment = reload(payment)
    assert payment.status == S.COMPLETED and payment.total == total and payment.currency == "EUR"


def test_a_second_pay_while_an_attempt_is_open_is_refused_and_changes_nothing(gateway):
    connector, _, method, fake = gateway
    payment = waiting_payment(connector.reseller)
    start_attempt(payment, method, return_url=RETURN, actor=CUSTOMER, now=NOW)
    sent_before = len(fake.received)

    refused("CONNECTOR-0006", start_attempt, payment, method, return_url=RETURN, actor=CUSTOMER, now=NOW)
    refused(PaymentStatusForbids.code, pay_from_balance, reload(payment), actor=CUSTOMER, now=NOW)
    assert len(fake.received) == sent_before, "no second checkout was asked for"


@pytest.mark.parametrize("answer", ["error", "unsigned", "wrong_attempt"])
def test_a_connector_that_does_not_open_the_checkout_fails_the_attempt_and_the_payment_goes_back(gateway, answer):
    connector, _, method, fake = gateway
    fake.checkout_answer = answer
    payment = waiting_payment(connector.reseller)

    with pytest.raises(Exception) as failure:
        start_attempt(payment, method, return_url=RETURN, actor=CUSTOMER, now=NOW)

    assert getattr(failure.value, "code", None) == "CONNECTOR-0005"
    assert reload(payment).status == S.WAITING_FOR_PAYMENT
    attempt = PaymentAttempt.objects.get(payment=payment)
    assert attempt.status == A.FAILED
    assert AttemptLogEntry.objects.filter(attempt=attempt, step="start_failed").exists()
    fake.checkout_answer = "ok"
    assert start_attempt(payment, method, return_url=RETURN, actor=CUSTOMER, now=NOW).status == A.OPEN


def test_a_connector_that_is_down_fails_the_attempt(gateway):
    connector, _, method, _ = gateway
    PaymentConnector.objects.filter(pk=connector.pk).update(url="http://127.0.0.1:9")  # discard port: refused
    method.connector.refresh_from_db()
    payment = waiting_payment(connector.reseller)
    with pytest.raises(Exception) as failure:
        start_attempt(payment, method, return_url=RETURN, actor=CUSTOMER, now=NOW)
    assert getattr(failure.value, "code", None) == "CONNECTOR-0005"
    assert reload(payment).status == S.WAITING_FOR_PAYMENT


def test_success_completes_the_payment_once_and_a_replay_changes_nothing(gateway):
    connector, secret, method, _ = gateway
    payment = waiting_payment(connector.reseller)
    attempt = start_attempt(payment, method, return_url=RETURN, actor=CUSTOMER, now=NOW)

    assert callback(connector, secret, outcome(attempt, "succeeded"), webhook_id="msg_1") == "applied"
    payment = reload(payment)
    assert payment.status == S.COMPLETED and payment.payment_method_id == method.pk
    received = Event.objects.get(type="payment.received", subject_id=payment.pk)
    assert received.payload["how"] == "gateway" and received.payload["attempt_id"] == attempt.public_id
    before = snapshot()

    assert callback(connector, secret, outcome(attempt, "succeeded"), webhook_id="msg_1") == "duplicate"
    assert snapshot() == before


@pytest.mark.parametrize("kind", ["declined", "cancelled"])
def test_declined_or_cancelled_returns_the_payment_to_its_previous_status_and_allows_a_new_attempt(gateway, kind):
    connector, secret, method, _ = gateway
    payment = waiting_payment(connector.reseller)
    Payment.objects.filter(pk=payment.pk).update(status=S.EXPIRED)  # an expired payment can still be paid (R21)
    attempt = start_attempt(reload(payment), method, return_url=RETURN, actor=CUSTOMER, now=NOW)

    callback(connector, secret, outcome(attempt, kind))

    assert reload(payment).status == S.EXPIRED
    assert PaymentAttempt.objects.get(pk=attempt.pk).status == kind
    assert start_attempt(reload(payment), method, return_url=RETURN, actor=CUSTOMER, now=NOW).status == A.OPEN


def forged_cases(connector, secret, attempt, other_attempt):
    """(name, connector id, body, headers) of callbacks Arrears must refuse."""
    good = outcome(attempt, "succeeded")
    cases = []
    body, headers = signed_callback("whsec_" + "B" * 32, good)
    cases.append(("bad signature", "CONNECTOR-0001", connector.pk, body, headers))
    body, headers = signed_callback(secret, good)
    cases.append(
        ("body changed after signing", "CONNECTOR-0001", connector.pk, body.replace(b"succeeded", b"declined"), headers)
    )
    old = dict(headers, **{"webhook-timestamp": str(int(headers["webhook-timestamp"]) - 301)})
    cases.append(("timestamp 5 minutes old", "CONNECTOR-0001", connector.pk, body, old))
    unsigned = {key: value for key, value in headers.items() if key != "webhook-signature"}
    cases.append(("no signature", "CONNECTOR-0001", connector.pk, body, unsigned))
    cases.append(
        ("malformed signature", "CONNECTOR-0001", connector.pk, body, dict(headers, **{"webhook-signature": "v1"}))
    )
    body, headers = signed_callback(secret, {**good, "attempt_id": other_attempt.public_id})
    cases.append(("another connector's attempt", "CONNECTOR-0404", connector.pk, body, headers))
    body, headers = signed_callback(secret, {**good, "attempt_id": "att_unknown"})
    cases.append(("unknown attempt", "CONNECTOR-0404", connector.pk, body, headers))
    body, headers = signed_callback(secret, {**good, "amount": attempt.amount - 1})
    cases.append(("changed amount", "CONNECTOR-0002", connector.pk, body, headers))
    body, headers = signed_callback(secret, {**good, "currency": "USD"})
    cases.append(("changed currency", "CONNECTOR-0002", connector.pk, body, headers))
    body, headers = signed_callback(secret, {**good, "amount": "12.00"})
    cases.append(("amount as text", "CONNECTOR-0003", connector.pk, body, headers))
    body, headers = signed_callback(secret, {**good, "type": "checkout.refunded"})
    cases.append(("unknown type", "CONNECTOR-0003", connector.pk, body, headers))
    body, headers = signed_callback(secret, good)
    cases.append(("unknown connector", "CONNECTOR-0405", connector.pk + 1000, body, headers))
    return cases


def test_forged_and_foreign_callbacks_are_refused_and_change_nothing(gateway):
    connector, secret, method, _ = gateway
    payment = waiting_payment(connector.reseller)
    attempt = start_attempt(payment, method, return_url=RETURN, actor=CUSTOMER, now=NOW)
    with fake_connector("whsec_" + "C" * 32) as other_fake:
        other_reseller = ResellerFactory(name="Other")
        other, other_secret = create_connector(
            other_reseller,
            name="Other Gateway",
            url=other_fake.url,
            processing_minutes=15,
            currencies=["EUR"],
            actor=SYSTEM,
            now=NOW,
        )
        other_fake.secret = other_secret
        other_method = create_payment_method(other_reseller, name="Other", connector=other, actor=SYSTEM, now=NOW)
        other_attempt = start_attempt(
            waiting_payment(other_reseller), other_method, return_url=RETURN, actor=CUSTOMER, now=NOW
        )

    for name, code, connector_id, body, headers in forged_cases(connector, secret, attempt, other_attempt):
        before = snapshot(), list(PaymentAttempt.objects.values()), AttemptLogEntry.objects.count()
        with pytest.raises(Exception) as failure:
            receive_callback(connector_id, body, headers, now=NOW)
        assert getattr(failure.value, "code", None) == code, name
        after = snapshot(), list(PaymentAttempt.objects.values()), AttemptLogEntry.objects.count()
        assert after == before, f"{name} changed something"
    assert reload(payment).status == S.PROCESSING


def test_the_previous_secret_is_accepted_during_a_rotation_only(gateway):
    connector, old_secret, method, fake = gateway
    payment = waiting_payment(connector.reseller)
    attempt = start_attempt(payment, method, return_url=RETURN, actor=CUSTOMER, now=NOW)
    connector, new_secret = rotate_connector_secret(connector, actor=SYSTEM, now=NOW)
    assert new_secret != old_secret
    fake.secret = new_secret  # Arrears signs with the new secret at once

    body, headers = signed_callback(old_secret, outcome(attempt, "declined"))
    with pytest.raises(ConnectorSignatureInvalid):
        receive_callback(connector.pk, body, headers, now=NOW + timedelta(hours=24, seconds=1))
    assert receive_callback(connector.pk, body, headers, now=NOW + timedelta(hours=23)) == "applied"

    end_secret_rotation(connector, actor=SYSTEM, now=NOW)
    attempt = start_attempt(reload(payment), method, return_url=RETURN, actor=CUSTOMER, now=NOW)
    body, headers = signed_callback(old_secret, outcome(attempt, "declined"))
    with pytest.raises(ConnectorSignatureInvalid):
        receive_callback(connector.pk, body, headers, now=NOW)
    assert callback(connector, new_secret, outcome(attempt, "declined")) == "applied"


def test_timeout_returns_the_payment_and_a_late_success_still_completes_it(gateway):
    connector, secret, method, fake = gateway
    payment = waiting_payment(connector.reseller)
    attempt = start_attempt(payment, method, return_url=RETURN, actor=CUSTOMER, now=NOW)

    assert check_attempt(attempt, now=NOW + timedelta(minutes=5)).status == A.OPEN  # pending, in time
    assert sweep_open_attempts(now=NOW + timedelta(minutes=16)) == 1
    attempt = PaymentAttempt.objects.get(pk=attempt.pk)
    assert attempt.status == A.TIMED_OUT and reload(payment).status == S.WAITING_FOR_PAYMENT
    assert Event.objects.filter(type="payment.attempt_ended", payload__outcome="timed_out").count() == 1

    assert callback(connector, secret, outcome(attempt, "succeeded"), now=NOW + timedelta(minutes=20)) == "applied"
    attempt = PaymentAttempt.objects.get(pk=attempt.pk)
    assert attempt.status == A.SUCCEEDED and attempt.late
    assert reload(payment).status == S.COMPLETED
    assert AttemptLogEntry.objects.filter(attempt=attempt, step="late_success").count() == 1


@pytest.mark.parametrize("status", [["succeeded"], {"value": "succeeded"}, 1])
def test_a_status_that_is_not_a_string_is_no_outcome_and_the_sweep_still_times_the_attempt_out(gateway, status):
    connector, _, method, fake = gateway
    payment = waiting_payment(connector.reseller)
    attempt = start_attempt(payment, method, return_url=RETURN, actor=CUSTOMER, now=NOW)
    fake.statuses[attempt.public_id] = status  # signed JSON, but no status a connector may report

    assert check_attempt(attempt, now=NOW + timedelta(minutes=5)).status == A.OPEN
    assert sweep_open_attempts(now=NOW + timedelta(minutes=16)) == 1
    assert PaymentAttempt.objects.get(pk=attempt.pk).status == A.TIMED_OUT
    assert reload(payment).status == S.WAITING_FOR_PAYMENT


def test_a_status_read_applies_the_outcome_and_the_callback_after_it_is_a_confirmation(gateway):
    connector, secret, method, fake = gateway
    payment = waiting_payment(connector.reseller)
    attempt = start_attempt(payment, method, return_url=RETURN, actor=CUSTOMER, now=NOW)
    fake.statuses[attempt.public_id] = "succeeded"

    assert check_attempt(attempt, now=NOW).status == A.SUCCEEDED
    assert reload(payment).status == S.COMPLETED
    balance_before = balance(payment)
    assert callback(connector, secret, outcome(attempt, "succeeded"), webhook_id="msg_first") == "applied"
    assert balance(payment) == balance_before, "the first callback confirms the success read; it is no second charge"

    callback(connector, secret, outcome(attempt, "succeeded"), webhook_id="msg_second")
    assert balance(payment) == balance_before + payment.total


def test_a_second_success_is_credited_to_the_balance_and_tells_the_managers(gateway):
    connector, secret, method, _ = gateway
    payment = waiting_payment(connector.reseller)
    attempt = start_attempt(payment, method, return_url=RETURN, actor=CUSTOMER, now=NOW)
    callback(connector, secret, outcome(attempt, "succeeded"), webhook_id="msg_a")
    before = balance(payment)

    assert callback(connector, secret, outcome(attempt, "succeeded"), webhook_id="msg_b") == "applied"

    payment = reload(payment)
    assert payment.status == S.COMPLETED and balance(payment) == before + payment.total
    entry = BalanceEntry.objects.get(payment=payment, kind=BalanceEntry.Kind.DUPLICATE_SUCCESS)
    assert entry.amount == payment.total
    event = Event.objects.get(type="payment.duplicate_success")
    assert event.payload["credited"] == payment.total and event.payload["attempt_id"] == attempt.public_id


def test_a_late_success_for_a_payment_paid_from_the_balance_meanwhile_is_credited(gateway):
    connector, secret, method, _ = gateway
    payment = waiting_payment(connector.reseller, balance=1_000_000)
    attempt = start_attempt(payment, method, return_url=RETURN, actor=CUSTOMER, now=NOW)
    sweep_open_attempts(now=NOW + timedelta(minutes=16))
    pay_from_balance(reload(payment), actor=CUSTOMER, now=NOW + timedelta(minutes=17))
    before = balance(payment)

    callback(connector, secret, outcome(attempt, "succeeded"), now=NOW + timedelta(minutes=18))

    assert reload(payment).status == S.PAID_FROM_BALANCE
    assert balance(payment) == before + payment.total
    assert Event.objects.filter(type="payment.duplicate_success").count() == 1


def test_a_top_up_through_a_connector_credits_the_balance(gateway):
    connector, secret, method, _ = gateway
    account = AccountFactory(reseller=connector.reseller)
    attempt = start_top_up_attempt(
        account,
        5_000,
        method,
        return_url="http://x/customer/payments/{payment_id}/return/?attempt={attempt_id}",
        actor=CUSTOMER,
        now=NOW,
    )
    payment = attempt.payment
    assert payment.type == Payment.Type.TOP_UP and reload(payment).status == S.PROCESSING

    callback(connector, secret, outcome(attempt, "succeeded"))

    assert reload(payment).status == S.COMPLETED
    assert Account.objects.get(pk=account.pk).balance == 5_000


def test_a_top_up_whose_checkout_fails_is_cancelled(gateway):
    connector, _, method, fake = gateway
    fake.checkout_answer = "error"
    account = AccountFactory(reseller=connector.reseller)
    with pytest.raises(Exception) as failure:
        start_top_up_attempt(account, 5_000, method, return_url=RETURN, actor=CUSTOMER, now=NOW)
    assert getattr(failure.value, "code", None) == "CONNECTOR-0005"
    assert list(Payment.objects.filter(account=account).values_list("status", flat=True)) == [S.CANCELLED]


def test_a_method_of_another_reseller_or_a_currency_the_connector_refuses_is_refused(gateway):
    connector, _, method, _ = gateway
    other = waiting_payment(ResellerFactory(name="Elsewhere"))
    refused(
        PaymentMethodInvalid.code,
        start_attempt,
        other,
        method,
        return_url=RETURN,
        actor=CUSTOMER,
        now=NOW,
        pointer="/payment_method_id",
    )
    chf_reseller = ResellerFactory(name="Swiss", currency="CHF")
    with fake_connector("whsec_" + "D" * 32) as fake:
        chf_connector, secret = create_connector(
            chf_reseller,
            name="Euro only",
            url=fake.url,
            processing_minutes=5,
            currencies=["EUR"],
            actor=SYSTEM,
            now=NOW,
        )
        chf_method = create_payment_method(
            chf_reseller, name="Euro only", connector=chf_connector, actor=SYSTEM, now=NOW
        )
        refused(
            "CONNECTOR-0007",
            start_attempt,
            waiting_payment(chf_reseller),
            chf_method,
            return_url=RETURN,
            actor=CUSTOMER,
            now=NOW,
            pointer="/payment_method_id",
        )


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_copies_of_one_success_complete_the_payment_exactly_once():
    reseller = ResellerFactory(name="Concurrent")
    with fake_connector("whsec_" + "E" * 32) as fake:
        connector, secret = create_connector(
            reseller, name="Card", url=fake.url, processing_minutes=15, currencies=["EUR"], actor=SYSTEM, now=NOW
        )
        fake.secret = secret
        method = create_payment_method(reseller, name="Card", connector=connector, actor=SYSTEM, now=NOW)
        payment = waiting_payment(reseller)
        attempt = start_attempt(payment, method, return_url=RETURN, actor=CUSTOMER, now=NOW)
    body, headers = signed_callback(secret, outcome(attempt, "succeeded"), webhook_id="msg_same")
    start = threading.Barrier(20)
    results, errors = [], []

    def deliver():
        try:
            start.wait()
            results.append(receive_callback(connector.pk, body, headers, now=NOW))
        except Exception as exc:  # handed to the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert sorted(results) == ["applied"] + ["duplicate"] * 19
    assert reload(payment).status == S.COMPLETED
    assert Event.objects.filter(type="payment.received", subject_id=payment.pk).count() == 1
    assert not BalanceEntry.objects.filter(payment=payment).exists()
    assert AttemptLogEntry.objects.filter(attempt=attempt, webhook_id="msg_same").count() == 1


def test_a_late_success_that_loses_the_race_to_a_balance_payment_is_credited_not_lost(gateway, monkeypatch):
    """The success reads the payment waiting, a balance payment commits before its UPDATE: it becomes a credit."""
    from arrears.gateways import services

    connector, secret, method, _ = gateway
    payment = waiting_payment(connector.reseller, balance=1_000_000)
    attempt = start_attempt(payment, method, return_url=RETURN, actor=CUSTOMER, now=NOW)
    sweep_open_attempts(now=NOW + timedelta(minutes=16))
    stale = services._reread(payment)
    pay_from_balance(reload(payment), actor=CUSTOMER, now=NOW + timedelta(minutes=17))
    reads = iter([stale])
    real = services._reread
    monkeypatch.setattr(services, "_reread", lambda p: next(reads, None) or real(p))
    before = balance(payment)

    assert callback(connector, secret, outcome(attempt, "succeeded"), now=NOW + timedelta(minutes=18)) == "applied"

    assert reload(payment).status == S.PAID_FROM_BALANCE
    assert balance(payment) == before + payment.total
    assert Event.objects.filter(type="payment.duplicate_success").count() == 1
