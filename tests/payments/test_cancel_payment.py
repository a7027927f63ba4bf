"""cancel_payment: a manager cancels the payment of an unapproved ERP invoice. Rules: R32–R35, R45, R47."""

from datetime import date

import pytest

from arrears.events.models import Event
from arrears.invoices.models import Invoice
from arrears.invoices.services import approve_invoice, complete_invoice_payment, revoke_invoice_approval
from arrears.payments.models import Payment
from arrears.payments.services import approve_payment, cancel_payment, pay_from_balance, request_top_up
from arrears.subscriptions.models import Subscription
from tests.conftest import ERP, MANAGER, at, bill
from tests.factories import AccountFactory
from tests.service_support import (
    APPROVAL_DAY,
    JAN_1,
    approved,
    closed_erp_invoice,
    invoice_of,
    invoices_of,
    refused,
    reload,
)

CANCEL_DAY = date(2026, 2, 4)


def cancel(payment: Payment, *, day: date = CANCEL_DAY, **fields) -> Payment:
    return cancel_payment(payment, actor=MANAGER, now=at(day), **fields)


def cancel_refused(code: str, payment: Payment, *, pointer: str | None = None):
    return refused(code, cancel_payment, payment, pointer=pointer, actor=MANAGER, now=at(CANCEL_DAY))


@pytest.fixture
def erp_invoice(erp_reseller) -> Invoice:
    return closed_erp_invoice(erp_reseller, balance=50_000)


@pytest.fixture
def cancelled_invoice(erp_invoice) -> Invoice:
    cancel(erp_invoice.payment, comment="customer disputes the period")
    return reload(erp_invoice)


# --- R32: ERP mode, unapproved ------------------------------------------------------------------


def test_R32_the_payment_of_an_unapproved_erp_invoice_is_cancelled(erp_invoice):
    result = cancel(erp_invoice.payment, comment="  customer disputes the period ")
    assert result.status == Payment.Status.CANCELLED
    assert result.closed_at == at(CANCEL_DAY)
    assert result.comment == "Cancelled: customer disputes the period"
    assert (result.total, result.due_date) == (erp_invoice.payment.total, None)
    invoice = reload(erp_invoice)
    assert (invoice.status, invoice.approved) == (Invoice.Status.CLOSED, False)


def test_R45_cancelling_records_payment_cancelled_with_the_manager(erp_invoice):
    cancel(erp_invoice.payment, comment="duplicate")
    event = Event.objects.get(type="payment.cancelled")
    assert (event.subject_type, event.subject_id) == ("payment", erp_invoice.payment.pk)
    assert (event.actor_kind, event.actor_id) == (MANAGER.kind, MANAGER.id)
    assert event.payload["reason"] == "duplicate"
    assert event.payload["changes"] == {"status": ["waiting_for_payment", "cancelled"]}


def test_R32_the_payment_of_an_approved_erp_invoice_cannot_be_cancelled(erp_invoice):
    approved(erp_invoice)
    cancel_refused("PAYMENT-0104", reload(erp_invoice).payment)


def test_R32_R40_after_revoking_the_approval_the_payment_can_be_cancelled(erp_invoice):
    approved(erp_invoice, document_id="ERP-1")
    revoke_invoice_approval(erp_invoice, document_id="ERP-1", billing_date=JAN_1, actor=ERP, now=at(CANCEL_DAY))
    assert cancel(reload(erp_invoice).payment).status == Payment.Status.CANCELLED


def test_R47_a_cancelled_payment_cannot_be_cancelled_again(cancelled_invoice):
    cancel_refused("PAYMENT-0101", cancelled_invoice.payment, pointer="/status")


# --- R33: default mode --------------------------------------------------------------------------


def test_R33_a_default_mode_payment_can_never_be_cancelled(reseller):
    invoice = invoice_of(AccountFactory(reseller=reseller))
    cancel_refused("PAYMENT-0104", invoice.payment)


def test_R33_an_expired_default_mode_payment_cannot_be_cancelled_either(reseller):
    invoice = invoice_of(AccountFactory(reseller=reseller), until=date(2026, 2, 12))
    assert reload(invoice).payment.status == Payment.Status.EXPIRED
    cancel_refused("PAYMENT-0104", reload(invoice).payment)


# --- R34 / R35: after cancelling ---------------------------------------------------------------


def test_R34_a_cancelled_payment_blocks_nothing(erp_reseller):
    # Given two ERP invoices: one cancelled, the other approved on the same day and left unpaid
    cancelled, unpaid = invoices_of(AccountFactory(reseller=erp_reseller), AccountFactory(reseller=erp_reseller))
    cancel(cancelled.payment, day=APPROVAL_DAY)
    approved(unpaid, day=APPROVAL_DAY)
    # When the engine runs past the day the approved one expires and blocks
    bill(erp_reseller, date(2026, 2, 28))
    assert Subscription.objects.get(account=unpaid.account).status == Subscription.Status.BLOCKED
    # Then the cancelled one's subscription was never blocked and its payment is still cancelled
    assert reload(cancelled).payment.status == Payment.Status.CANCELLED
    assert Subscription.objects.get(account=cancelled.account).status == Subscription.Status.ACTIVE
    assert not Event.objects.filter(type="subscription.blocked", account=cancelled.account).exists()


def test_R34_cancelling_creates_no_debt(cancelled_invoice):
    cancelled_invoice.account.refresh_from_db()
    assert cancelled_invoice.account.balance == 50_000


def test_R35_no_new_payment_is_created_for_a_cancelled_invoice(cancelled_invoice):
    bill(cancelled_invoice.reseller, date(2026, 3, 2))
    assert list(Payment.objects.filter(invoice=cancelled_invoice).values_list("status", flat=True)) == [
        Payment.Status.CANCELLED
    ]
    # The next period's invoice gets its own payment as usual
    february = Invoice.objects.get(account=cancelled_invoice.account, billing_date=date(2026, 2, 1))
    assert february.payment.status == Payment.Status.WAITING_FOR_PAYMENT


def test_R35_a_cancelled_invoice_can_no_longer_be_approved(cancelled_invoice):
    refused(
        "INVOICE-0017",
        approve_invoice,
        cancelled_invoice,
        document_id="ERP-1",
        billing_date=JAN_1,
        actor=ERP,
        now=at(APPROVAL_DAY),
    )


def test_R35_a_cancelled_invoice_can_no_longer_be_completed(cancelled_invoice):
    refused(
        "INVOICE-0017",
        complete_invoice_payment,
        cancelled_invoice,
        document_id=cancelled_invoice.document_id,
        billing_date=JAN_1,
        actor=ERP,
        now=at(APPROVAL_DAY),
    )


def test_R35_a_cancelled_payment_can_be_neither_paid_nor_approved(cancelled_invoice):
    refused("PAYMENT-0101", pay_from_balance, cancelled_invoice.payment, actor=MANAGER, now=at(APPROVAL_DAY))
    refused("PAYMENT-0101", approve_payment, cancelled_invoice.payment, actor=MANAGER, now=at(APPROVAL_DAY))


# --- top-ups ------------------------------------------------------------------------------------


def test_a_waiting_top_up_can_be_cancelled(reseller):
    top_up = request_top_up(AccountFactory(reseller=reseller), 5_000, actor=MANAGER, now=at(CANCEL_DAY))
    assert cancel(top_up).status == Payment.Status.CANCELLED
