"""Every lost-race branch of the payment services, reached deterministically: the loser's read is replayed from
before the winner committed (a stale object, as two PostgreSQL transactions can both see the old row), so only
its conditional UPDATE can notice. The loser answers PAYMENT-0409 "changed meanwhile" and changes nothing."""

from datetime import date

import pytest

from arrears.events.models import Event
from arrears.invoices import services as invoice_services
from arrears.payments import services as payment_services
from arrears.payments.models import Payment, PaymentMethod
from tests.conftest import ERP, MANAGER, at
from tests.factories import AccountFactory
from tests.service_support import APPROVAL_DAY, approved, closed_erp_invoice, invoice_of, refused

DAY = date(2026, 2, 6)
CHANGED = "PAYMENT-0409"


@pytest.fixture
def bank_transfer(reseller):
    return PaymentMethod.objects.create(reseller=reseller, name="Bank transfer")


def stale_reread(monkeypatch, payment: Payment) -> None:
    """From now on the services' re-read returns ``payment`` as it is at this moment."""
    stale = payment_services._reread(payment)
    monkeypatch.setattr(payment_services, "_reread", lambda _: stale)


def events_of(payment: Payment, event_type: str) -> int:
    return Event.objects.filter(type=event_type, subject_id=payment.pk).count()


def test_pay_from_balance_that_lost_to_a_manager_approval_changes_nothing(reseller, bank_transfer, monkeypatch):
    payment = invoice_of(AccountFactory(reseller=reseller, balance=1_000_000)).payment
    stale_reread(monkeypatch, payment)
    payment_services.approve_payment(
        Payment.objects.get(pk=payment.pk), payment_method=bank_transfer, actor=MANAGER, now=at(DAY)
    )

    refused(CHANGED, payment_services.pay_from_balance, payment, actor=MANAGER, now=at(DAY))

    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.COMPLETED
    assert events_of(payment, "payment.received") == 1


def test_an_approval_that_lost_to_a_balance_payment_changes_nothing(reseller, bank_transfer, monkeypatch):
    payment = invoice_of(AccountFactory(reseller=reseller, balance=1_000_000)).payment
    stale_reread(monkeypatch, payment)
    payment_services.pay_from_balance(Payment.objects.get(pk=payment.pk), actor=MANAGER, now=at(DAY))

    refused(
        CHANGED, payment_services.approve_payment, payment, payment_method=bank_transfer, actor=MANAGER, now=at(DAY)
    )
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.PAID_FROM_BALANCE


def test_a_cancel_that_lost_to_another_cancel_changes_nothing(erp_reseller, monkeypatch):
    payment = closed_erp_invoice(erp_reseller).payment
    stale_reread(monkeypatch, payment)
    payment_services.cancel_payment(Payment.objects.get(pk=payment.pk), comment="first", actor=MANAGER, now=at(DAY))

    refused(CHANGED, payment_services.cancel_payment, payment, comment="second", actor=MANAGER, now=at(DAY))
    assert events_of(payment, "payment.cancelled") == 1
    assert "second" not in Payment.objects.get(pk=payment.pk).comment


def test_an_erp_approval_that_lost_to_a_cancel_answers_changed_meanwhile(erp_reseller, monkeypatch):
    invoice = closed_erp_invoice(erp_reseller)
    stale = invoice_services._fresh(invoice)
    payment_services.cancel_payment(invoice.payment, comment="customer left", actor=MANAGER, now=at(APPROVAL_DAY))
    monkeypatch.setattr(invoice_services, "_fresh", lambda _: stale)

    refused(
        CHANGED,
        invoice_services.approve_invoice,
        invoice,
        document_id="ERP-9",
        billing_date=invoice.billing_date,
        actor=ERP,
        now=at(APPROVAL_DAY),
    )


def test_a_revoke_that_lost_to_a_balance_payment_answers_changed_meanwhile(erp_reseller, monkeypatch):
    invoice = approved(closed_erp_invoice(erp_reseller, balance=1_000_000), due_date=date(2026, 2, 20))
    stale = invoice_services._fresh(invoice)
    payment_services.pay_from_balance(invoice.payment, actor=MANAGER, now=at(DAY))
    monkeypatch.setattr(invoice_services, "_fresh", lambda _: stale)

    refused(
        CHANGED,
        invoice_services.revoke_invoice_approval,
        invoice,
        document_id=invoice.document_id,
        billing_date=invoice.billing_date,
        comment="wrong VAT",
        actor=ERP,
        now=at(DAY),
    )
    assert not Event.objects.filter(type="invoice.revoked", subject_id=invoice.pk).exists()
