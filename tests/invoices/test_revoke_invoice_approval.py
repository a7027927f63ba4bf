"""revoke_invoice_approval: the ERP (or a manager) undoes an approval. Rules: R9, R26, R28, R29, R36–R40, R47."""

from datetime import date

import pytest

from arrears.events.models import Event
from arrears.invoices.models import Invoice, InvoiceAttachmentFile
from arrears.invoices.services import REVOKE_COMMENT, complete_invoice_payment, revoke_invoice_approval
from arrears.payments.models import Payment
from arrears.payments.services import cancel_payment, pay_from_balance
from arrears.subscriptions.models import Subscription
from tests.conftest import ERP, MANAGER, at, bill
from tests.factories import AccountFactory
from tests.sample_files import data_uri, pdf_bytes
from tests.service_support import (
    APPROVAL_DAY,
    JAN_1,
    approved,
    assert_approval_matches_due_date,
    closed_erp_invoice,
    invoice_of,
    invoices_of,
    refused,
    reload,
)

PDF_URI = data_uri(pdf_bytes())
REVOKE_DAY = date(2026, 2, 5)


def revoke(invoice: Invoice, *, document_id: str = "ERP-1", day: date = REVOKE_DAY, **fields) -> Invoice:
    return revoke_invoice_approval(
        invoice, document_id=document_id, billing_date=invoice.billing_date, actor=ERP, now=at(day), **fields
    )


def revoke_refused(code: str, invoice: Invoice, *, pointer: str | None = None, day: date = REVOKE_DAY, **fields):
    body = {"document_id": "ERP-1", "billing_date": invoice.billing_date} | fields
    return refused(code, revoke_invoice_approval, invoice, pointer=pointer, actor=ERP, now=at(day), **body)


@pytest.fixture
def invoice(erp_reseller) -> Invoice:
    return closed_erp_invoice(erp_reseller)


@pytest.fixture
def approved_invoice(invoice) -> Invoice:
    return approved(
        invoice,
        document_id="ERP-1",
        amount={"total": "120.00", "currency": "USD"},
        file={"name": "ERP-1.pdf", "data": PDF_URI},
    )


# --- R37 / R38: what revoking undoes -------------------------------------------------------------


def test_R37_revoking_clears_the_attachment_external_total_and_approval_date_and_restores_the_number(approved_invoice):
    platform_number = approved_invoice.original_document_id
    assert approved_invoice.document_id == "ERP-1" and approved_invoice.has_attached
    result = revoke(approved_invoice)
    assert not result.approved
    assert result.approval_date is None
    assert result.document_id == result.original_document_id == platform_number
    assert result.external_total is None and result.external_currency is None
    assert not result.has_attached
    assert (result.attachment_name, result.attachment_url, result.attachment_content_type) == ("", "", "")
    assert not InvoiceAttachmentFile.objects.filter(invoice=result).exists()
    assert (result.total, result.currency) == (approved_invoice.total, approved_invoice.currency)


def test_R37_revoking_clears_a_link(invoice):
    approved(invoice, link={"name": "ERP-1", "data": "https://erp.example.com/1.pdf"})
    result = revoke(invoice)
    assert (result.attachment_kind, result.attachment_url) == ("", "")


def test_R9_R38_revoking_returns_the_payment_to_waiting_without_due_date(approved_invoice):
    assert approved_invoice.payment.due_date is not None
    result = revoke(approved_invoice)
    payment = result.payment
    assert payment.status == Payment.Status.WAITING_FOR_PAYMENT
    assert payment.due_date is None and payment.expiration_date is None
    assert payment.external_total is None and payment.external_currency is None
    assert (payment.total, payment.currency) == (approved_invoice.payment.total, "EUR")
    assert_approval_matches_due_date(result)


def test_R38_the_reason_is_appended_to_the_payment_comment(approved_invoice):
    result = revoke(approved_invoice, comment="  wrong VAT rate  ")
    assert result.payment.comment == REVOKE_COMMENT.format(reason="wrong VAT rate")


def test_R38_each_revocation_appends_its_own_line_and_a_missing_reason_says_so(approved_invoice):
    revoke(approved_invoice, comment="wrong VAT rate")
    approved(approved_invoice, document_id="ERP-1", day=REVOKE_DAY)
    result = revoke(approved_invoice, day=REVOKE_DAY)
    assert result.payment.comment.splitlines() == [
        REVOKE_COMMENT.format(reason="wrong VAT rate"),
        REVOKE_COMMENT.format(reason="not given"),
    ]


def test_R26_revoking_records_invoice_revoked_with_the_actor_and_reason(approved_invoice):
    platform_number = approved_invoice.original_document_id
    revoke(approved_invoice, comment="wrong VAT rate")
    event = Event.objects.get(type="invoice.revoked")
    assert (event.subject_type, event.subject_id) == ("invoice", approved_invoice.pk)
    assert (event.actor_kind, event.actor_id, event.actor_label) == (ERP.kind, ERP.id, ERP.label)
    assert event.occurred_at == at(REVOKE_DAY)
    assert event.payload["document_id"] == platform_number
    assert event.payload["erp_document_id"] == "ERP-1"
    assert event.payload["billing_date"] == "2026-01-01"
    assert event.payload["payment_id"] == approved_invoice.payment.pk
    assert event.payload["reason"] == "wrong VAT rate"
    assert event.payload["changes"]["approved"] == [True, False]
    assert event.payload["changes"]["due_date"] == [approved_invoice.payment.due_date.isoformat(), None]


def test_R45_a_manager_revoking_is_recorded_as_the_manager(approved_invoice):
    revoke_invoice_approval(
        approved_invoice, document_id="ERP-1", billing_date=JAN_1, actor=MANAGER, now=at(REVOKE_DAY)
    )
    assert Event.objects.get(type="invoice.revoked").actor_kind == "manager"


# --- R40: approving again ---------------------------------------------------------------------


def test_R40_after_revoking_the_invoice_can_be_approved_again_even_with_the_same_number(approved_invoice):
    revoke(approved_invoice)
    result = approved(approved_invoice, document_id="ERP-1", day=REVOKE_DAY, due_date=date(2026, 3, 1))
    assert result.approved and result.document_id == "ERP-1"
    assert result.payment.due_date == date(2026, 3, 1)
    assert result.approval_date == REVOKE_DAY
    assert Event.objects.filter(type="invoice.approved").count() == 2
    assert_approval_matches_due_date(result)


def test_R40_after_revoking_the_erp_number_is_free_for_another_invoice(erp_reseller):
    first, second = invoices_of(AccountFactory(reseller=erp_reseller), AccountFactory(reseller=erp_reseller))
    approved(first, document_id="ERP-1")
    revoke(first)
    assert approved(second, document_id="ERP-1", day=REVOKE_DAY).document_id == "ERP-1"


# --- R39: an expired payment's subscriptions ----------------------------------------------------


def test_R39_revoking_an_expired_payment_unblocks_the_subscriptions_it_alone_blocked(erp_reseller):
    # Given two accounts whose approved payments expired on 2026-02-13 and blocked their subscriptions
    mine, other = invoices_of(AccountFactory(reseller=erp_reseller), AccountFactory(reseller=erp_reseller))
    approved(mine, document_id="ERP-1")
    approved(other, document_id="ERP-2")
    bill(erp_reseller, date(2026, 2, 13))
    assert reload(mine).payment.status == Payment.Status.EXPIRED
    assert set(Subscription.objects.values_list("status", flat=True)) == {Subscription.Status.BLOCKED}
    # When the ERP revokes the approval of one of them
    result = revoke(mine, day=date(2026, 2, 14))
    # Then its payment waits again and its subscription is active; the other account's stays blocked
    assert result.payment.status == Payment.Status.WAITING_FOR_PAYMENT
    assert Subscription.objects.get(account=mine.account).status == Subscription.Status.ACTIVE
    assert Subscription.objects.get(account=other.account).status == Subscription.Status.BLOCKED
    unblocked = Event.objects.get(type="subscription.unblocked")
    assert unblocked.account_id == mine.account_id and unblocked.actor_kind == ERP.kind
    # And the engine does not block it again: the payment has no due date any more
    bill(erp_reseller, date(2026, 3, 1))
    assert Subscription.objects.get(account=mine.account).status == Subscription.Status.ACTIVE


def test_R39_a_subscription_held_by_another_expired_payment_stays_blocked(erp_reseller):
    # Given the January and the February payments of one subscription both expired
    january = invoice_of(AccountFactory(reseller=erp_reseller))
    approved(january, document_id="ERP-JAN", day=date(2026, 2, 2), due_date=date(2026, 2, 2))
    bill(erp_reseller, date(2026, 3, 2))
    february = Invoice.objects.get(account=january.account, billing_date=date(2026, 2, 1))
    approved(february, document_id="ERP-FEB", day=date(2026, 3, 2), due_date=date(2026, 3, 2))
    bill(erp_reseller, date(2026, 3, 3))
    subscription = Subscription.objects.get(account=january.account)
    assert {reload(i).payment.status for i in (january, february)} == {Payment.Status.EXPIRED}
    assert subscription.status == Subscription.Status.BLOCKED
    # When the January approval is revoked, the February payment still holds the subscription
    revoke(january, document_id="ERP-JAN", day=date(2026, 3, 4))
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.BLOCKED
    # And when the February approval is revoked too, nothing holds it any more
    revoke(february, document_id="ERP-FEB", day=date(2026, 3, 4))
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE


# --- R36 and the other refusals ---------------------------------------------------------------


def test_R36_a_completed_payments_approval_cannot_be_revoked(approved_invoice):
    complete_invoice_payment(approved_invoice, document_id="ERP-1", billing_date=JAN_1, actor=ERP, now=at(REVOKE_DAY))
    revoke_refused("INVOICE-0103", approved_invoice)
    assert reload(approved_invoice).approved


def test_R36_a_payment_paid_from_balance_cannot_have_its_approval_revoked(erp_reseller):
    invoice = closed_erp_invoice(erp_reseller, balance=50_000)
    approved(invoice)
    pay_from_balance(reload(invoice).payment, actor=MANAGER, now=at(REVOKE_DAY))
    revoke_refused("INVOICE-0103", invoice)


def test_R36_a_cancelled_payments_invoice_cannot_be_revoked(invoice):
    cancel_payment(invoice.payment, actor=MANAGER, now=at(APPROVAL_DAY))
    revoke_refused("INVOICE-0017", invoice, document_id=invoice.document_id)


def test_R36_an_unapproved_invoice_cannot_be_revoked(invoice):
    revoke_refused("INVOICE-0102", invoice, document_id=invoice.document_id)


def test_R28_revoking_checks_the_billing_date(approved_invoice):
    revoke_refused("INVOICE-0005", approved_invoice, billing_date=date(2026, 2, 1), pointer="/billing_date")


@pytest.mark.parametrize("document_id", ["ERP-2", "original"])
def test_R29_revoking_needs_the_erp_number_given_at_approval(approved_invoice, document_id):
    if document_id == "original":
        document_id = approved_invoice.original_document_id
    revoke_refused("INVOICE-0006", approved_invoice, document_id=document_id, pointer="/document_id")


def test_R28_an_open_invoice_cannot_be_revoked(invoice):
    open_invoice = Invoice.objects.get(account=invoice.account, billing_date=date(2026, 2, 1))
    revoke_refused("INVOICE-0011", open_invoice)


def test_R28_a_default_mode_invoice_cannot_be_revoked(reseller):
    invoice = invoice_of(AccountFactory(reseller=reseller))
    revoke_refused("INVOICE-0105", invoice, document_id=invoice.document_id)


def test_R28_a_zero_total_invoice_cannot_be_revoked(erp_reseller):
    invoice = invoice_of(AccountFactory(reseller=erp_reseller), fee=0)
    revoke_refused("INVOICE-0012", invoice, document_id=invoice.document_id)


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        ({"document_id": None}, "/document_id"),
        ({"document_id": "  "}, "/document_id"),
        ({"billing_date": None}, "/billing_date"),
        ({"billing_date": "2026-01-01"}, "/billing_date"),
        ({"comment": 42}, "/comment"),
    ],
)
def test_R47_malformed_revoke_input_is_refused_by_name(approved_invoice, fields, pointer):
    revoke_refused("INVOICE-0001", approved_invoice, pointer=pointer, **fields)


def test_R45_the_payment_log_records_the_approval_and_its_revocation(approved_invoice):
    payment = approved_invoice.payment

    revoke(approved_invoice, comment="wrong amount")

    log = Event.objects.filter(subject_type="payment", subject_id=payment.pk).order_by("id")
    set_event, revoked_event = [event for event in log if event.type != "payment.created"]
    assert set_event.type == "payment.due_date_set"
    assert set_event.payload["changes"]["due_date"][0] is None
    assert revoked_event.type == "payment.approval_revoked"
    assert revoked_event.payload["changes"]["due_date"][1] is None
    assert "status" not in revoked_event.payload["changes"]  # it was waiting and stays waiting
    assert (revoked_event.actor_kind, revoked_event.actor_label) == (ERP.kind, ERP.label)


# --- A lost race: two revokes of one approval ------------------------------------------------------------


def test_a_revoke_that_lost_the_race_changes_nothing_and_keeps_the_first_reason(approved_invoice, monkeypatch):
    """Both revokes read the invoice approved (the loser's read is replayed from before the winner committed, as
    on PostgreSQL two transactions can both see it); only the winner's conditional UPDATE finds it."""
    from arrears.invoices import services

    stale = services._fresh(approved_invoice)
    revoke(approved_invoice, comment="the first reason")
    monkeypatch.setattr(services, "_fresh", lambda invoice: stale)

    revoke_refused("INVOICE-0102", approved_invoice, comment="the second reason")

    assert Event.objects.filter(type="invoice.revoked", subject_id=approved_invoice.pk).count() == 1
    payment = Payment.objects.get(invoice=approved_invoice)
    assert "the first reason" in payment.comment and "the second reason" not in payment.comment
