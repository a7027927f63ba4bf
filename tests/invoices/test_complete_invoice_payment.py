"""complete_invoice_payment: the ERP saw the money. Rules: R9, R19, R27–R29, R42, R44, R47."""

from datetime import date

import pytest

from arrears.events.models import Event
from arrears.invoices.models import Invoice
from arrears.invoices.services import complete_invoice_payment
from arrears.payments.models import Payment
from arrears.payments.services import cancel_payment, pay_from_balance
from arrears.subscriptions.models import Subscription
from tests.conftest import ERP, MANAGER, at, bill
from tests.factories import AccountFactory
from tests.service_support import (
    APPROVAL_DAY,
    FEE,
    approved,
    assert_approval_matches_due_date,
    closed_erp_invoice,
    invoice_of,
    refused,
    reload,
)

PAYMENT_DAY = date(2026, 2, 6)


def complete(invoice: Invoice, *, document_id: str = "ERP-1", day: date = PAYMENT_DAY) -> Invoice:
    return complete_invoice_payment(
        invoice, document_id=document_id, billing_date=invoice.billing_date, actor=ERP, now=at(day)
    )


def complete_refused(code: str, invoice: Invoice, *, pointer: str | None = None, **fields):
    body = {"document_id": "ERP-1", "billing_date": invoice.billing_date} | fields
    return refused(code, complete_invoice_payment, invoice, pointer=pointer, actor=ERP, now=at(PAYMENT_DAY), **body)


@pytest.fixture
def invoice(erp_reseller) -> Invoice:
    return closed_erp_invoice(erp_reseller)


@pytest.fixture
def approved_invoice(invoice) -> Invoice:
    return approved(invoice, document_id="ERP-1")


# --- R27: completing --------------------------------------------------------------------------


def test_R27_completing_turns_the_payment_of_an_approved_invoice_completed(approved_invoice):
    result = complete(approved_invoice)
    assert result.payment.status == Payment.Status.COMPLETED
    assert result.payment.closed_at == at(PAYMENT_DAY)
    assert result.payment.payment_method is None
    assert result.approved and result.document_id == "ERP-1"
    assert_approval_matches_due_date(result)


def test_R42_completing_records_payment_received_by_the_erp(approved_invoice):
    complete(approved_invoice)
    event = Event.objects.get(type="payment.received")
    assert (event.subject_type, event.subject_id) == ("payment", approved_invoice.payment.pk)
    assert (event.actor_kind, event.actor_id, event.actor_label) == (ERP.kind, ERP.id, ERP.label)
    assert event.occurred_at == at(PAYMENT_DAY)
    assert event.payload["how"] == "erp_complete"
    assert event.payload["invoice_id"] == approved_invoice.pk
    assert event.payload["total"] == FEE
    assert event.payload["changes"] == {"status": ["waiting_for_payment", "completed"]}


def test_R19_completing_with_an_external_total_keeps_the_payment_total(invoice):
    approved(invoice, document_id="ERP-1", amount={"total": "130.00", "currency": "USD"})
    payment = complete(invoice).payment
    assert (payment.total, payment.currency) == (FEE, "EUR")
    assert (payment.external_total, payment.external_currency) == (13_000, "USD")


def test_R27_R44_completing_an_expired_payment_unblocks_its_subscription(approved_invoice):
    bill(approved_invoice.reseller, date(2026, 2, 13))
    assert reload(approved_invoice).payment.status == Payment.Status.EXPIRED
    assert Subscription.objects.get(account=approved_invoice.account).status == Subscription.Status.BLOCKED
    result = complete(approved_invoice, day=date(2026, 2, 14))
    assert result.payment.status == Payment.Status.COMPLETED
    assert Subscription.objects.get(account=approved_invoice.account).status == Subscription.Status.ACTIVE


def test_R22_a_completed_payment_never_expires(approved_invoice):
    complete(approved_invoice)
    bill(approved_invoice.reseller, date(2026, 2, 20))
    assert reload(approved_invoice).payment.status == Payment.Status.COMPLETED
    assert Subscription.objects.get(account=approved_invoice.account).status == Subscription.Status.ACTIVE


# --- R28 / R29: refusals ----------------------------------------------------------------------


def test_R28_the_billing_date_must_be_the_invoices_period_start(approved_invoice):
    complete_refused("INVOICE-0005", approved_invoice, billing_date=date(2026, 1, 2), pointer="/billing_date")


@pytest.mark.parametrize("document_id", ["ERP-2", "original"])
def test_R29_the_document_id_must_be_the_erp_number_given_at_approval(approved_invoice, document_id):
    if document_id == "original":
        document_id = approved_invoice.original_document_id
    complete_refused("INVOICE-0006", approved_invoice, document_id=document_id, pointer="/document_id")


def test_R28_an_open_invoice_cannot_be_completed(invoice):
    open_invoice = Invoice.objects.get(account=invoice.account, billing_date=date(2026, 2, 1))
    complete_refused("INVOICE-0011", open_invoice)


def test_R28_a_zero_total_invoice_cannot_be_completed(erp_reseller):
    invoice = invoice_of(AccountFactory(reseller=erp_reseller), fee=0)
    complete_refused("INVOICE-0012", invoice, document_id=invoice.document_id)


def test_R28_R35_a_cancelled_payment_cannot_be_completed(invoice):
    cancel_payment(invoice.payment, actor=MANAGER, now=at(APPROVAL_DAY))
    complete_refused("INVOICE-0017", invoice, document_id=invoice.document_id)


def test_R28_an_unapproved_invoice_cannot_be_completed(invoice):
    complete_refused("INVOICE-0102", invoice, document_id=invoice.document_id)


def test_R28_an_already_completed_payment_cannot_be_completed_again(approved_invoice):
    complete(approved_invoice)
    complete_refused("INVOICE-0103", approved_invoice)


def test_R28_a_payment_paid_from_balance_cannot_be_completed(erp_reseller):
    invoice = closed_erp_invoice(erp_reseller, balance=FEE)
    approved(invoice, document_id="ERP-1")
    pay_from_balance(reload(invoice).payment, actor=MANAGER, now=at(APPROVAL_DAY))
    complete_refused("INVOICE-0103", invoice)
    assert reload(invoice).payment.status == Payment.Status.PAID_FROM_BALANCE


def test_R28_a_default_mode_invoice_cannot_be_completed_by_the_erp(reseller):
    invoice = invoice_of(AccountFactory(reseller=reseller))
    complete_refused("INVOICE-0105", invoice, document_id=invoice.document_id)


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        ({"document_id": None}, "/document_id"),
        ({"document_id": ""}, "/document_id"),
        ({"billing_date": None}, "/billing_date"),
        ({"billing_date": "2026-01-01"}, "/billing_date"),
    ],
)
def test_R47_malformed_complete_input_is_refused_by_name(approved_invoice, fields, pointer):
    complete_refused("INVOICE-0001", approved_invoice, pointer=pointer, **fields)
