"""Revoke approval over HTTP (erp-api.md, "ERP operations"): by id, and by account and billing period (Arrears).

The story (tests/service_support.py): an ERP reseller's January invoice (100.00 EUR, billing_date 2026-01-01)
closed on 2026-02-02; the ERP approved it as "ERP-1" on 2026-02-03 with an external total of 120.00 USD and a
PDF file; the account class lets payments expire after 10 days (due 2026-02-12). Calls happen on 2026-02-05
unless a test says otherwise. Rules: R9, R28, R29, R36–R40, R46, R47.
"""

from datetime import date

import pytest
import time_machine

from arrears.invoices.models import Invoice, InvoiceAttachmentFile
from arrears.invoices.services import REVOKE_COMMENT, complete_invoice_payment
from arrears.payments.models import Payment
from arrears.payments.services import cancel_payment
from arrears.subscriptions.models import Subscription
from tests.api.conftest import MEDIA_TYPE, ApiClient, refused_over_http
from tests.api.erp_support import MISSING, UNKNOWN_ID, erp_body, erp_path
from tests.conftest import ERP, MANAGER, at, bill
from tests.factories import AccountFactory, ResellerFactory
from tests.sample_files import data_uri, pdf_bytes
from tests.service_support import APPROVAL_DAY, JAN_1, approved, closed_erp_invoice, invoice_of, reload

REVOKE_DAY = date(2026, 2, 5)
PDF_URI = data_uri(pdf_bytes())


def body(**fields) -> dict:
    return erp_body("ERP-1", **fields)


def revoke_path(invoice: Invoice, route: str, *, reseller_id: int | None = None) -> str:
    return erp_path(invoice, route, "revoke", reseller_id=reseller_id)


def post_on(day: date, erp: ApiClient, path: str, **fields):
    """The ERP posts ``body(**fields)`` to ``path`` on ``day`` (the API reads the wall clock)."""
    with time_machine.travel(at(day), tick=False):
        return erp.post(path, body(**fields))


def revoke(erp: ApiClient, invoice: Invoice, route: str, *, day: date = REVOKE_DAY, path: str | None = None, **fields):
    """When the ERP revokes the approval of ``invoice`` on ``day``."""
    return post_on(day, erp, path or revoke_path(invoice, route), **fields)


def refused_revocation(
    erp: ApiClient, invoice: Invoice, route: str, code: str, *, status: int = 400, pointer: str | None = None, **fields
) -> dict:
    return refused_over_http(lambda: revoke(erp, invoice, route, **fields), status, code, pointer=pointer)


def payment_read(erp: ApiClient, payment: Payment) -> dict:
    with time_machine.travel(at(REVOKE_DAY), tick=False):
        response = erp.get(f"/api/v3/resellers/{payment.account.reseller_id}/payments/{payment.pk}")
    assert response.status_code == 200, response.content
    return response.json()["data"]["attributes"]


@pytest.fixture(params=["by_account", "by_id"])
def route(request) -> str:
    return request.param


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


@pytest.fixture
def erp(erp_reseller, api_for) -> ApiClient:
    return api_for(erp_reseller)


# --- R37 / R38: what revoking undoes -------------------------------------------------------------------


def test_R37_R38_revoking_answers_the_invoice_as_before_approval(approved_invoice, erp, route):
    platform_number = approved_invoice.original_document_id
    # When the ERP revokes the approval, giving a reason
    response = revoke(erp, approved_invoice, route, comment="wrong VAT rate")
    # Then the answer is the invoice under its platform number, without approval, external total or attachment
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == MEDIA_TYPE
    data = response.json()["data"]
    assert (data["type"], data["id"]) == ("invoices", str(approved_invoice.pk))
    attributes = data["attributes"]
    assert (attributes["approved"], attributes["approval_date"], attributes["due_date"]) == (False, None, None)
    assert attributes["document_id"] == attributes["original_document_id"] == platform_number
    assert (attributes["external_total"], attributes["external_currency"]) == (None, None)
    assert (attributes["has_attached"], attributes["attachment"]) == (False, None)
    assert (attributes["total"], attributes["currency"]) == ("100.00", "EUR")
    assert not InvoiceAttachmentFile.objects.filter(invoice=approved_invoice).exists()
    # And its payment waits again without a due date, its comment carrying the reason (R38)
    payment = payment_read(erp, approved_invoice.payment)
    assert payment["status"] == "waiting_for_payment"
    assert (payment["due_date"], payment["expiration_date"]) == (None, None)
    assert (payment["external_total"], payment["external_currency"]) == (None, None)
    assert payment["comment"] == REVOKE_COMMENT.format(reason="wrong VAT rate")


def test_R38_without_a_reason_the_comment_says_so(approved_invoice, erp):
    with time_machine.travel(at(REVOKE_DAY), tick=False):
        response = erp.post(revoke_path(approved_invoice, "by_id"), body(), content_type="application/json")
    assert response.status_code == 200, response.content
    assert reload(approved_invoice).payment.comment == REVOKE_COMMENT.format(reason="not given")


def test_R40_after_revoking_the_invoice_can_be_approved_again_over_http(approved_invoice, erp):
    assert revoke(erp, approved_invoice, "by_id").status_code == 200
    path = f"/api/v3/resellers/{approved_invoice.reseller_id}/invoices/{approved_invoice.pk}/approve"
    response = post_on(REVOKE_DAY, erp, path, due_date="2026-03-01")
    assert response.status_code == 200, response.content
    assert response.json()["data"]["attributes"]["due_date"] == "2026-03-01"


def test_R39_revoking_an_expired_payments_approval_unblocks_its_subscription(invoice, erp_reseller, erp, route):
    # Given the approval of 2026-02-03 (due 2026-02-12), and the billing engine expired the payment the day after
    approved(invoice, document_id="ERP-1")
    bill(erp_reseller, date(2026, 2, 13))
    assert reload(invoice).payment.status == Payment.Status.EXPIRED
    assert Subscription.objects.get(account=invoice.account).status == Subscription.Status.BLOCKED
    # When the ERP revokes the approval on 2026-02-14
    response = revoke(erp, invoice, route, day=date(2026, 2, 14), comment="sent to the wrong customer")
    # Then the payment waits again without a due date and the subscription is active
    assert response.status_code == 200, response.content
    assert response.json()["data"]["attributes"]["due_date"] is None
    assert payment_read(erp, invoice.payment)["status"] == "waiting_for_payment"
    assert Subscription.objects.get(account=invoice.account).status == Subscription.Status.ACTIVE


# --- INVOICE-0001 / 0005 / 0006: the body --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        ({"document_id": MISSING}, "/document_id"),
        ({"billing_date": MISSING}, "/billing_date"),
        ({"billing_date": "2026-1-1"}, "/billing_date"),
        ({"billing_date": 20260101}, "/billing_date"),
        ({"comment": 42}, "/comment"),
    ],
    ids=["no-document-id", "no-billing-date", "unpadded-billing-date", "numeric-billing-date", "numeric-comment"],
)
def test_R47_a_missing_or_malformed_field_is_refused_by_name(approved_invoice, erp, route, fields, pointer):
    refused_revocation(erp, approved_invoice, route, "INVOICE-0001", pointer=pointer, **fields)


def test_R47_a_body_that_is_not_a_json_object_is_refused_at_the_body(approved_invoice, erp, route):
    path = revoke_path(approved_invoice, route)
    with time_machine.travel(at(REVOKE_DAY), tick=False):
        refused_over_http(lambda: erp.post(path, raw='["ERP-1"]'), 400, "INVOICE-0001", pointer="")


def test_R28_by_id_the_billing_date_must_be_the_invoices_period_start(approved_invoice, erp):
    refused_revocation(
        erp, approved_invoice, "by_id", "INVOICE-0005", billing_date="2026-02-01", pointer="/billing_date"
    )


@pytest.mark.parametrize("document_id", ["ERP-2", "original"])
def test_R29_revoking_needs_the_erp_number_given_at_approval(approved_invoice, erp, route, document_id):
    if document_id == "original":
        document_id = approved_invoice.original_document_id
    refused_revocation(erp, approved_invoice, route, "INVOICE-0006", document_id=document_id, pointer="/document_id")


# --- R36: what cannot be revoked -----------------------------------------------------------------------


def test_R36_an_unapproved_invoice_cannot_be_revoked(invoice, erp, route):
    refused_revocation(erp, invoice, route, "INVOICE-0102", document_id=invoice.document_id)


def test_R36_a_completed_payments_approval_cannot_be_revoked(approved_invoice, erp, route):
    complete_invoice_payment(approved_invoice, document_id="ERP-1", billing_date=JAN_1, actor=ERP, now=at(REVOKE_DAY))
    refused_revocation(erp, approved_invoice, route, "INVOICE-0103")
    assert reload(approved_invoice).approved


def test_R36_a_cancelled_payments_invoice_cannot_be_revoked(invoice, erp, route):
    cancel_payment(invoice.payment, comment="customer left", actor=MANAGER, now=at(APPROVAL_DAY))
    refused_revocation(erp, invoice, route, "INVOICE-0017", document_id=invoice.document_id)


def test_R28_a_default_mode_invoice_cannot_be_revoked(reseller, api_for, route):
    invoice = invoice_of(AccountFactory(reseller=reseller))
    refused_revocation(api_for(reseller), invoice, route, "INVOICE-0105", document_id=invoice.document_id)


# --- INVOICE-0404 and scopes ---------------------------------------------------------------------------


def test_R46_an_unknown_account_or_invoice_is_not_found(invoice, erp, route):
    unknown = Invoice(pk=UNKNOWN_ID, reseller_id=invoice.reseller_id, account_id=UNKNOWN_ID)
    refused_revocation(erp, unknown, route, "INVOICE-0404", status=404)


def test_R46_another_resellers_account_or_invoice_is_not_found(erp_reseller, erp, route):
    foreign = approved(closed_erp_invoice(ResellerFactory(erp=True)), document_id="ERP-1")
    path = revoke_path(foreign, route, reseller_id=erp_reseller.pk)
    refused_over_http(lambda: revoke(erp, foreign, route, path=path), 404, "INVOICE-0404")
    assert reload(foreign).approved


def test_R11_a_billing_date_that_starts_no_period_of_the_account_is_not_found(approved_invoice, erp):
    refused_revocation(erp, approved_invoice, "by_account", "INVOICE-0404", status=404, billing_date="2025-12-01")


def test_R46_a_token_without_the_erp_scope_is_forbidden(approved_invoice, api_for, route):
    reader = api_for(approved_invoice.reseller, scopes=["read"])
    refused_revocation(reader, approved_invoice, route, "AUTH-0003", status=403)
