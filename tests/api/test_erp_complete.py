"""Complete invoice over HTTP (erp-api.md, "ERP operations"): the ERP received the money, by account and
billing period or by id.

The story (tests/service_support.py): an ERP reseller's January invoice (100.00 EUR, billing_date 2026-01-01)
closed on 2026-02-02; the ERP approved it as "ERP-1" on 2026-02-03 (due 2026-02-12). Every call happens on
2026-02-06, the payment day. Rules: R27–R29, R35, R46, R47.
"""

from datetime import date

import pytest
import time_machine

from arrears.events.models import Event
from arrears.invoices.models import Invoice
from arrears.payments.models import Payment
from arrears.payments.services import cancel_payment, pay_from_balance
from tests.api.conftest import MEDIA_TYPE, ApiClient, refused_over_http
from tests.api.erp_support import MISSING, UNKNOWN_ID, erp_body, erp_path
from tests.conftest import ERP, MANAGER, at
from tests.factories import AccountFactory, ResellerFactory
from tests.service_support import APPROVAL_DAY, FEE, approved, closed_erp_invoice, invoice_of, reload

PAYMENT_DAY = date(2026, 2, 6)


def body(**fields) -> dict:
    return erp_body("ERP-1", **fields)


def complete_path(invoice: Invoice, route: str, *, reseller_id: int | None = None) -> str:
    return erp_path(invoice, route, "complete", reseller_id=reseller_id)


@pytest.fixture(autouse=True)
def today():
    """The API reads the wall clock: every call happens on the payment day."""
    with time_machine.travel(at(PAYMENT_DAY), tick=False):
        yield


@pytest.fixture(params=["by_account", "by_id"])
def route(request) -> str:
    return request.param


@pytest.fixture
def invoice(erp_reseller) -> Invoice:
    return closed_erp_invoice(erp_reseller)


@pytest.fixture
def approved_invoice(invoice) -> Invoice:
    return approved(invoice, document_id="ERP-1")


@pytest.fixture
def erp(erp_reseller, api_for) -> ApiClient:
    return api_for(erp_reseller)


def refused_completion(
    erp: ApiClient, invoice: Invoice, route: str, code: str, *, status: int = 400, pointer: str | None = None, **fields
) -> dict:
    return refused_over_http(
        lambda: erp.post(complete_path(invoice, route), body(**fields)), status, code, pointer=pointer
    )


# --- R27: completing -----------------------------------------------------------------------------------


def test_R27_completing_answers_the_invoice_and_its_payment_is_completed(approved_invoice, erp, route):
    # When the ERP reports the money received
    response = erp.post(complete_path(approved_invoice, route), body())
    # Then the answer is the invoice, still approved under the ERP's number
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == MEDIA_TYPE
    data = response.json()["data"]
    assert (data["type"], data["id"]) == ("invoices", str(approved_invoice.pk))
    assert (data["attributes"]["approved"], data["attributes"]["document_id"]) == (True, "ERP-1")
    payment_id = str(approved_invoice.payment.pk)
    assert data["relationships"]["payments"]["data"] == [{"type": "payments", "id": payment_id}]
    # And its payment reads completed, closed on the payment day
    payment = erp.get(f"/api/v3/resellers/{approved_invoice.reseller_id}/payments/{payment_id}").json()["data"]
    assert payment["attributes"]["status"] == "completed"
    assert payment["attributes"]["closed_at"] == "2026-02-06T12:00:00+00:00"
    assert payment["attributes"]["total"] == "100.00"
    assert reload(approved_invoice).payment.status == Payment.Status.COMPLETED
    # And the event names the calling token as the actor
    assert Event.objects.get(type="payment.received").actor_kind == ERP.kind


def test_R27_the_plain_json_content_type_is_accepted(approved_invoice, erp):
    response = erp.post(complete_path(approved_invoice, "by_id"), body(), content_type="application/json")
    assert response.status_code == 200, response.content
    assert reload(approved_invoice).payment.status == Payment.Status.COMPLETED


# --- INVOICE-0001 / 0005 / 0006: the body --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        ({"document_id": MISSING}, "/document_id"),
        ({"document_id": 1}, "/document_id"),
        ({"billing_date": MISSING}, "/billing_date"),
        ({"billing_date": "2026-1-1"}, "/billing_date"),
        ({"billing_date": 20260101}, "/billing_date"),
    ],
    ids=["no-document-id", "numeric-document-id", "no-billing-date", "unpadded-billing-date", "numeric-billing-date"],
)
def test_R47_a_missing_or_malformed_field_is_refused_by_name(approved_invoice, erp, route, fields, pointer):
    refused_completion(erp, approved_invoice, route, "INVOICE-0001", pointer=pointer, **fields)


@pytest.mark.parametrize("raw", ["not json", "[]"], ids=["not-json", "json-list"])
def test_R47_a_body_that_is_not_a_json_object_is_refused_at_the_body(approved_invoice, erp, route, raw):
    path = complete_path(approved_invoice, route)
    refused_over_http(lambda: erp.post(path, raw=raw), 400, "INVOICE-0001", pointer="")


def test_R28_by_id_the_billing_date_must_be_the_invoices_period_start(approved_invoice, erp):
    refused_completion(
        erp, approved_invoice, "by_id", "INVOICE-0005", billing_date="2026-01-02", pointer="/billing_date"
    )


@pytest.mark.parametrize("document_id", ["ERP-2", "original"])
def test_R29_the_document_id_must_be_the_erp_number_given_at_approval(approved_invoice, erp, route, document_id):
    if document_id == "original":
        document_id = approved_invoice.original_document_id
    refused_completion(erp, approved_invoice, route, "INVOICE-0006", document_id=document_id, pointer="/document_id")


# --- the invoice's and the payment's state -------------------------------------------------------------


def test_R28_an_open_invoice_cannot_be_completed(invoice, erp, route):
    february = Invoice.objects.get(account=invoice.account, billing_date=date(2026, 2, 1))
    assert february.status == Invoice.Status.OPEN and february.document_id is None  # numbered when it closes
    refused_completion(erp, february, route, "INVOICE-0011", billing_date="2026-02-01")


def test_R28_a_zero_total_invoice_cannot_be_completed(erp_reseller, erp, route):
    invoice = invoice_of(AccountFactory(reseller=erp_reseller), fee=0)
    refused_completion(erp, invoice, route, "INVOICE-0012", document_id=invoice.document_id)


def test_R28_R35_a_payment_cancelled_by_a_manager_cannot_be_completed(invoice, erp, route):
    cancel_payment(invoice.payment, comment="customer left", actor=MANAGER, now=at(APPROVAL_DAY))
    refused_completion(erp, invoice, route, "INVOICE-0017", document_id=invoice.document_id)


def test_R28_an_unapproved_invoice_cannot_be_completed(invoice, erp, route):
    refused_completion(erp, invoice, route, "INVOICE-0102", document_id=invoice.document_id)


def test_R28_an_already_completed_payment_cannot_be_completed_again(approved_invoice, erp, route):
    assert erp.post(complete_path(approved_invoice, route), body()).status_code == 200
    refused_completion(erp, approved_invoice, route, "INVOICE-0103")


def test_R28_a_payment_paid_from_balance_cannot_be_completed(erp_reseller, erp, route):
    # Given an approved invoice whose payment the manager paid from the account's balance
    invoice = closed_erp_invoice(erp_reseller, balance=FEE)
    approved(invoice, document_id="ERP-1")
    pay_from_balance(reload(invoice).payment, actor=MANAGER, now=at(APPROVAL_DAY))
    refused_completion(erp, invoice, route, "INVOICE-0103")
    assert reload(invoice).payment.status == Payment.Status.PAID_FROM_BALANCE


def test_R28_a_default_mode_invoice_cannot_be_completed_by_the_erp(reseller, api_for, route):
    invoice = invoice_of(AccountFactory(reseller=reseller))
    refused_completion(api_for(reseller), invoice, route, "INVOICE-0105", document_id=invoice.document_id)


# --- INVOICE-0404 ---------------------------------------------------------------------------------------


def test_R46_an_unknown_account_or_invoice_is_not_found(invoice, erp, route):
    unknown = Invoice(pk=UNKNOWN_ID, reseller_id=invoice.reseller_id, account_id=UNKNOWN_ID)
    refused_completion(erp, unknown, route, "INVOICE-0404", status=404)


def test_R46_another_resellers_account_or_invoice_is_not_found(erp_reseller, erp, route):
    foreign = approved(closed_erp_invoice(ResellerFactory(erp=True)), document_id="ERP-1")
    path = complete_path(foreign, route, reseller_id=erp_reseller.pk)
    refused_over_http(lambda: erp.post(path, body()), 404, "INVOICE-0404")
    assert reload(foreign).payment.status == Payment.Status.WAITING_FOR_PAYMENT


def test_R11_a_billing_date_that_starts_no_period_of_the_account_is_not_found(approved_invoice, erp):
    refused_completion(erp, approved_invoice, "by_account", "INVOICE-0404", status=404, billing_date="2026-01-31")


def test_R46_a_token_without_the_erp_scope_is_forbidden(approved_invoice, api_for, route):
    reader = api_for(approved_invoice.reseller, scopes=["read"])
    refused_completion(reader, approved_invoice, route, "AUTH-0003", status=403)
