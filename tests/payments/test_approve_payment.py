"""approve_payment: a manager confirms the money arrived. Rules: R8, R19, R30, R31, R42, R44, R47."""

from datetime import date

import pytest

from arrears.events.models import Event
from arrears.payments.models import Payment, PaymentMethod
from arrears.payments.services import approve_payment
from arrears.subscriptions.models import Subscription
from tests.conftest import MANAGER, at, bill
from tests.factories import AccountFactory, ResellerFactory
from tests.service_support import FEE, approved, closed_erp_invoice, invoice_of, refused, reload

PAYMENT_DAY = date(2026, 2, 6)


def bank_transfer(reseller, *, active: bool = True) -> PaymentMethod:
    return PaymentMethod.objects.create(
        reseller=reseller, kind=PaymentMethod.Kind.MANUAL, name="Bank transfer", active=active
    )


def approve(payment: Payment, *, day: date = PAYMENT_DAY, **fields) -> Payment:
    return approve_payment(payment, actor=MANAGER, now=at(day), **fields)


def approve_refused(code: str, payment: Payment, *, pointer: str | None = None, **fields):
    return refused(code, approve_payment, payment, pointer=pointer, actor=MANAGER, now=at(PAYMENT_DAY), **fields)


@pytest.fixture
def erp_invoice(erp_reseller):
    return closed_erp_invoice(erp_reseller)


@pytest.fixture
def default_invoice(reseller):
    return invoice_of(AccountFactory(reseller=reseller))


# --- R8 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_method", [False, True], ids=["without-method", "with-method"])
def test_R8_a_waiting_payment_without_due_date_cannot_be_approved(erp_invoice, with_method):
    fields = {"payment_method": bank_transfer(erp_invoice.reseller)} if with_method else {}
    approve_refused("PAYMENT-0102", erp_invoice.payment, **fields)


# --- R30: ERP mode ------------------------------------------------------------------------------


def test_R30_an_approved_erp_invoices_payment_is_completed_without_a_method(erp_invoice):
    approved(erp_invoice)
    result = approve(reload(erp_invoice).payment)
    assert result.status == Payment.Status.COMPLETED
    assert result.payment_method is None
    assert result.closed_at == at(PAYMENT_DAY)
    event = Event.objects.get(type="payment.received", subject_id=result.pk)
    assert (event.actor_kind, event.actor_id) == (MANAGER.kind, MANAGER.id)
    assert event.payload["how"] == "manager_approval"
    assert event.payload["payment_method_id"] is None
    assert event.payload["changes"] == {"status": ["waiting_for_payment", "completed"]}


def test_R30_R44_an_expired_erp_payment_is_completed_without_a_method_and_unblocks(erp_invoice):
    # Given an approved ERP payment that expired and blocked its subscription
    approved(erp_invoice)
    bill(erp_invoice.reseller, date(2026, 2, 13))
    payment = reload(erp_invoice).payment
    assert payment.status == Payment.Status.EXPIRED
    assert Subscription.objects.get(account=erp_invoice.account).status == Subscription.Status.BLOCKED
    # When a manager approves it without a method
    result = approve(payment, day=date(2026, 2, 14))
    # Then it is completed and the subscription works again
    assert result.status == Payment.Status.COMPLETED
    assert Event.objects.get(type="payment.received").payload["changes"] == {"status": ["expired", "completed"]}
    assert Subscription.objects.get(account=erp_invoice.account).status == Subscription.Status.ACTIVE


def test_R19_approving_a_payment_with_an_external_total_keeps_its_total(erp_invoice):
    approved(erp_invoice, amount={"total": "99.00", "currency": "EUR"})
    result = approve(reload(erp_invoice).payment)
    assert (result.status, result.total, result.currency) == (Payment.Status.COMPLETED, FEE, "EUR")
    assert result.external_total == 9_900


def test_R30_an_approved_erp_payment_may_also_be_approved_with_a_method(erp_invoice):
    approved(erp_invoice)
    method = bank_transfer(erp_invoice.reseller)
    result = approve(reload(erp_invoice).payment, payment_method=method)
    assert (result.status, result.payment_method_id) == (Payment.Status.COMPLETED, method.pk)


# --- R31: default mode --------------------------------------------------------------------------


def test_R31_in_default_mode_a_payment_method_is_required(default_invoice):
    approve_refused("PAYMENT-0103", default_invoice.payment, pointer="/payment_method_id")


def test_R31_in_default_mode_approving_with_a_method_completes_the_payment(default_invoice):
    method = bank_transfer(default_invoice.reseller)
    result = approve(default_invoice.payment, payment_method=method)
    assert result.status == Payment.Status.COMPLETED
    assert result.payment_method_id == method.pk
    assert Event.objects.get(type="payment.received").payload["payment_method_id"] == method.pk


def test_R31_an_expired_default_payment_is_completed_with_a_method(reseller):
    invoice = invoice_of(AccountFactory(reseller=reseller), until=date(2026, 2, 12))
    payment = reload(invoice).payment
    assert payment.status == Payment.Status.EXPIRED
    result = approve(payment, payment_method=bank_transfer(reseller), day=date(2026, 2, 13))
    assert result.status == Payment.Status.COMPLETED
    assert Subscription.objects.get(account=invoice.account).status == Subscription.Status.ACTIVE


def test_R31_a_method_of_the_parent_reseller_may_be_used(db):
    parent = ResellerFactory()
    child = ResellerFactory(parent=parent)
    invoice = invoice_of(AccountFactory(reseller=child))
    result = approve(invoice.payment, payment_method=bank_transfer(parent))
    assert result.status == Payment.Status.COMPLETED


def test_R47_an_inactive_payment_method_is_refused(default_invoice):
    method = bank_transfer(default_invoice.reseller, active=False)
    approve_refused("PAYMENT-0107", default_invoice.payment, payment_method=method, pointer="/payment_method_id")


def test_R47_another_resellers_payment_method_is_refused(default_invoice):
    method = bank_transfer(ResellerFactory())
    approve_refused("PAYMENT-0107", default_invoice.payment, payment_method=method, pointer="/payment_method_id")


def test_R47_a_completed_payment_cannot_be_approved_again(default_invoice):
    method = bank_transfer(default_invoice.reseller)
    approve(default_invoice.payment, payment_method=method)
    approve_refused("PAYMENT-0101", default_invoice.payment, payment_method=method, pointer="/status")
