"""Approve invoice over HTTP (erp-api.md, "ERP operations"): by account and billing period, and by id.

The story (tests/service_support.py): an ERP reseller's account subscribed on 2026-01-31; its January invoice
(100.00 EUR, billing_date 2026-01-01) closed on 2026-02-02 and waits for approval; the February invoice is
open. Every call happens on 2026-02-03, the approval day. Rules: R9, R11–R18, R23, R46, R47.
"""

from datetime import date

import pytest
import time_machine

from arrears.invoices.models import Invoice, InvoiceAttachmentFile
from arrears.payments.services import cancel_payment
from tests.api.conftest import MEDIA_TYPE, ApiClient, refused_over_http
from tests.api.erp_support import MISSING, UNKNOWN_ID, data_uri, erp_body, erp_path
from tests.conftest import MANAGER, at
from tests.factories import AccountFactory, ResellerFactory
from tests.sample_files import pdf_bytes
from tests.service_support import APPROVAL_DAY, JAN_1, approved, closed_erp_invoice, invoice_of, invoices_of, reload

PDF_BYTES = pdf_bytes()
PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
LINK = {"name": "NS2000015", "data": "https://erp.example.com/inv/15.pdf"}


def body(**fields) -> dict:
    return erp_body("NS2000015", **fields)


def approve_path(invoice: Invoice, route: str, *, reseller_id: int | None = None) -> str:
    return erp_path(invoice, route, "approve", reseller_id=reseller_id)


@pytest.fixture(autouse=True)
def today():
    """The API reads the wall clock: every call happens on the approval day."""
    with time_machine.travel(at(APPROVAL_DAY), tick=False):
        yield


@pytest.fixture(params=["by_account", "by_id"])
def route(request) -> str:
    return request.param


@pytest.fixture
def invoice(erp_reseller) -> Invoice:
    return closed_erp_invoice(erp_reseller)


@pytest.fixture
def erp(erp_reseller, api_for) -> ApiClient:
    return api_for(erp_reseller)


def approved_document(response) -> dict:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == MEDIA_TYPE
    return response.json()["data"]


def refused_approval(
    erp: ApiClient, invoice: Invoice, route: str, code: str, *, status: int = 400, pointer: str | None = None, **fields
) -> dict:
    return refused_over_http(
        lambda: erp.post(approve_path(invoice, route), body(**fields)), status, code, pointer=pointer
    )


# --- R9 / R13 / R15: approval answers the invoice document -----------------------------------------------


@pytest.mark.parametrize(("route", "content_type"), [("by_account", MEDIA_TYPE), ("by_id", "application/json")])
def test_R9_R13_R15_approval_answers_the_approved_invoice_document(erp_reseller, erp, route, content_type):
    # Given an invoice of an account whose class lets payments expire after 5 days
    invoice = closed_erp_invoice(erp_reseller, expiration_days=5)
    platform_number = invoice.document_id
    # When the ERP approves it without a due date
    response = erp.post(approve_path(invoice, route), body(), content_type=content_type)
    # Then the answer is the invoice, renamed to the ERP's number, due approval day + 5 − 1
    data = approved_document(response)
    assert (data["type"], data["id"]) == ("invoices", str(invoice.pk))
    attributes = data["attributes"]
    assert attributes["approved"] is True
    assert attributes["document_id"] == "NS2000015"
    assert attributes["original_document_id"] == platform_number
    assert attributes["approval_date"] == "2026-02-03"
    assert attributes["due_date"] == "2026-02-07"
    assert (attributes["total"], attributes["currency"], attributes["billing_date"]) == ("100.00", "EUR", "2026-01-01")
    assert (attributes["external_total"], attributes["external_currency"]) == (None, None)
    assert (attributes["has_attached"], attributes["attachment"]) == (False, None)
    charges = list(invoice.charges.order_by("id").values_list("id", "subscription_id"))
    assert data["relationships"] == {
        "payments": {"data": [{"type": "payments", "id": str(invoice.payment.pk)}]},
        "charges": {"data": [{"type": "charges", "id": str(charge_id)} for charge_id, _ in charges]},
        "corrections": {"data": []},
        "subscriptions": {"data": [{"type": "subscriptions", "id": str(charges[0][1])}]},
        "taxes": {"data": [{"type": "taxes", "id": f"{invoice.pk}-0"}]},  # the plan's one rate, 0 %
    }
    # And the database agrees (R9: approved and due)
    stored = reload(invoice)
    assert stored.approved and stored.document_id == "NS2000015"
    assert stored.payment.due_date == date(2026, 2, 7)


def test_R13_R17_R23_a_due_date_external_total_and_link_are_answered(invoice, erp, route):
    response = erp.post(
        approve_path(invoice, route),
        body(due_date="2026-03-15", link=LINK, amount={"total": "1050.00", "currency": "USD"}),
    )
    attributes = approved_document(response)["attributes"]
    assert attributes["due_date"] == "2026-03-15"
    assert (attributes["external_total"], attributes["external_currency"]) == ("1050.00", "USD")
    assert attributes["has_attached"] is True
    assert attributes["attachment"] == {"kind": "link", "name": "NS2000015", "url": LINK["data"]}


def test_R23_a_pdf_file_sent_as_data_uri_is_stored(invoice, erp):
    response = erp.post(
        approve_path(invoice, "by_id"), body(file={"name": "NS2000015.pdf", "data": data_uri(PDF_BYTES)})
    )
    attributes = approved_document(response)["attributes"]
    assert attributes["has_attached"] is True
    assert attributes["attachment"] == {"kind": "file", "name": "NS2000015.pdf", "url": None}
    assert bytes(InvoiceAttachmentFile.objects.get(invoice=invoice).data) == PDF_BYTES


def test_R17_an_amount_in_a_currency_without_decimals_is_answered_in_its_precision(invoice, erp):
    response = erp.post(approve_path(invoice, "by_id"), body(amount={"total": "15800", "currency": "JPY"}))
    attributes = approved_document(response)["attributes"]
    assert (attributes["external_total"], attributes["external_currency"]) == ("15800", "JPY")


# --- INVOICE-0001: missing or malformed fields ---------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        ({"document_id": MISSING}, "/document_id"),
        ({"document_id": 15}, "/document_id"),
        ({"document_id": ""}, "/document_id"),
        ({"billing_date": MISSING}, "/billing_date"),
        ({"billing_date": "2026-1-1"}, "/billing_date"),
        ({"billing_date": 20260101}, "/billing_date"),
        ({"billing_date": "2026-01-01T00:00:00"}, "/billing_date"),
        ({"due_date": "2026-3-1"}, "/due_date"),
    ],
    ids=[
        "no-document-id",
        "numeric-document-id",
        "empty-document-id",
        "no-billing-date",
        "unpadded-billing-date",
        "numeric-billing-date",
        "datetime-billing-date",
        "unpadded-due-date",
    ],
)
def test_R16_R47_a_missing_or_malformed_field_is_refused_by_name(invoice, erp, route, fields, pointer):
    refused_approval(erp, invoice, route, "INVOICE-0001", pointer=pointer, **fields)


@pytest.mark.parametrize(
    "raw", ["document_id=NS2000015", '["NS2000015", "2026-01-01"]', ""], ids=["not-json", "json-list", "empty"]
)
def test_R47_a_body_that_is_not_a_json_object_is_refused_at_the_body(invoice, erp, route, raw):
    refused_over_http(lambda: erp.post(approve_path(invoice, route), raw=raw), 400, "INVOICE-0001", pointer="")


# --- the invoice's state ---------------------------------------------------------------------------------


def test_R16_a_billing_date_that_is_not_the_invoices_period_start_is_refused_by_id(invoice, erp):
    refused_approval(erp, invoice, "by_id", "INVOICE-0005", billing_date="2026-02-01", pointer="/billing_date")


def test_R16_an_open_invoice_cannot_be_approved(invoice, erp, route):
    # Given the February invoice, still open on 2026-02-03
    february = Invoice.objects.get(account=invoice.account, billing_date=date(2026, 2, 1))
    assert february.status == Invoice.Status.OPEN
    refused_approval(erp, february, route, "INVOICE-0011", billing_date="2026-02-01")


def test_R6_R16_a_zero_total_invoice_cannot_be_approved(erp_reseller, erp, route):
    # Given an invoice of a plan with fee 0
    invoice = invoice_of(AccountFactory(reseller=erp_reseller), fee=0)
    assert invoice.status == Invoice.Status.CLOSED and invoice.total == 0
    refused_approval(erp, invoice, route, "INVOICE-0012")


def test_R35_an_invoice_whose_payment_a_manager_cancelled_cannot_be_approved(invoice, erp, route):
    cancel_payment(invoice.payment, comment="customer left", actor=MANAGER, now=at(APPROVAL_DAY))
    refused_approval(erp, invoice, route, "INVOICE-0017")


def test_R16_an_approved_invoice_cannot_be_approved_again(invoice, erp, route):
    approved(invoice, document_id="NS-1")
    refused_approval(erp, invoice, route, "INVOICE-0101", document_id="NS-2")
    assert reload(invoice).document_id == "NS-1"


def test_R12_several_invoices_with_one_billing_date_refuse_by_account_and_the_by_id_call_works(invoice, erp):
    # Given a second invoice of the account with the same billing_date. The services cannot produce this
    # (billing_date is the period start, which falls on the billing day itself), so, as in the service test
    # tests/invoices/test_approve_invoice.py, the row is created directly to simulate such data (an import).
    Invoice.objects.create(
        reseller=invoice.reseller,
        account=invoice.account,
        billing_day=15,
        billing_date=JAN_1,
        from_date=JAN_1,
        to_date=date(2026, 2, 1),
        currency="EUR",
        created_at=at(JAN_1),
        updated_at=at(JAN_1),
    )
    # When the ERP approves by account + billing_date, then the call is refused and names billing_date
    refused_approval(erp, invoice, "by_account", "INVOICE-0104", pointer="/billing_date")
    # And the by-id call approves the intended invoice
    assert approved_document(erp.post(approve_path(invoice, "by_id"), body()))["attributes"]["approved"] is True


def test_R10_an_invoice_closed_in_the_default_mode_cannot_be_approved(reseller, api_for, route):
    invoice = invoice_of(AccountFactory(reseller=reseller))
    assert not invoice.managed_externally
    refused_approval(api_for(reseller), invoice, route, "INVOICE-0105")


# --- INVOICE-0106 / 0107 / 0108 / 0109: the approval's own fields ---------------------------------------


@pytest.mark.parametrize(
    ("amount", "pointer"),
    [
        ({"total": "abc", "currency": "EUR"}, "/amount/total"),
        ({"total": "-5.00", "currency": "EUR"}, "/amount/total"),
        ({"total": "1.234", "currency": "EUR"}, "/amount/total"),
        ({"total": "100.00", "currency": "XXY"}, "/amount/currency"),
        ({"total": "100.00"}, "/amount/currency"),
    ],
    ids=["not-a-number", "negative", "too-precise", "unknown-currency", "no-currency"],
)
def test_R17_R47_a_bad_external_total_is_refused_by_name(invoice, erp, route, amount, pointer):
    refused_approval(erp, invoice, route, "INVOICE-0106", pointer=pointer, amount=amount)


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        ({"file": {"name": "a.pdf", "data": data_uri(PDF_BYTES)}, "link": LINK}, "/link"),
        ({"link": {"name": "a", "data": "http://erp.example.com/a.pdf"}}, "/link/data"),
        ({"file": {"name": "a.pdf", "data": "data:application/pdf;base64,@@not base64@@"}}, "/file/data"),
        ({"file": {"name": "a.png", "data": data_uri(PNG_BYTES, "image/png")}}, "/file/data"),
        ({"file": {"name": "a.pdf", "data": data_uri(PNG_BYTES)}}, "/file/data"),
        ({"file": {"name": "a.txt", "data": data_uri(b"just text", "text/plain")}}, "/file/data"),
        ({"link": {"data": LINK["data"]}}, "/link/name"),
    ],
    ids=["file-and-link", "http-link", "bad-base64", "png", "png-named-pdf", "plain-text", "link-without-name"],
)
def test_R23_R47_a_bad_attachment_is_refused_by_name(invoice, erp, route, fields, pointer):
    refused_approval(erp, invoice, route, "INVOICE-0107", pointer=pointer, **fields)


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        ({"file": {"name": "../../etc/passwd", "data": data_uri(PDF_BYTES)}}, "/file/name"),
        ({"file": {"name": "..\\..\\boot.ini", "data": data_uri(PDF_BYTES)}}, "/file/name"),
        ({"file": {"name": "NS1\r\nX-Evil: 1.pdf", "data": data_uri(PDF_BYTES)}}, "/file/name"),
        ({"file": {"name": "NS1\x85.pdf", "data": data_uri(PDF_BYTES)}}, "/file/name"),
        ({"file": {"name": "invoice\u202efdp.exe", "data": data_uri(PDF_BYTES)}}, "/file/name"),
        ({"link": {"name": "NS1\u2066", "data": LINK["data"]}}, "/link/name"),
        ({"link": {"name": "a/b", "data": LINK["data"]}}, "/link/name"),
        ({"link": {"name": "NS1", "data": LINK["data"] + "\r\nSet-Cookie:x=1"}}, "/link/data"),
        ({"link": {"name": "NS1", "data": "https://erp.example.com/\tinv/15.pdf"}}, "/link/data"),
        ({"link": {"name": "NS1", "data": "https://erp.example.com/inv\n/15.pdf"}}, "/link/data"),
    ],
    ids=[
        "traversal",
        "backslashes",
        "crlf-name",
        "c1-name",
        "bidi-name",
        "isolate-link-name",
        "slash-link-name",
        "crlf-link",
        "tab-link",
        "lf-link",
    ],
)
def test_R23_R47_unsafe_attachment_names_and_links_are_refused_by_name(invoice, erp, route, fields, pointer):
    refused_approval(erp, invoice, route, "INVOICE-0107", pointer=pointer, **fields)


@pytest.mark.parametrize(
    ("field", "code"), [("amount", "INVOICE-0106"), ("file", "INVOICE-0107"), ("link", "INVOICE-0107")]
)
def test_R17_R23_R47_an_amount_or_attachment_that_is_not_an_object_is_refused_under_its_name(
    invoice, erp, route, field, code
):
    error = refused_approval(erp, invoice, route, code, **{field: "1050.00"})
    # The pointer is the field itself or one of its members (the schema reports the first member it misses)
    assert f"{error['source']['pointer']}/".startswith(f"/{field}/"), error


def test_R14_a_due_date_in_the_past_is_refused(invoice, erp, route):
    refused_approval(erp, invoice, route, "INVOICE-0108", due_date="2026-02-02", pointer="/due_date")


def test_R14_a_due_date_of_today_is_accepted(invoice, erp):
    response = erp.post(approve_path(invoice, "by_id"), body(due_date="2026-02-03"))
    assert approved_document(response)["attributes"]["due_date"] == "2026-02-03"


def test_R15_a_document_id_of_another_invoice_is_refused(erp_reseller, erp, route):
    first, second = invoices_of(AccountFactory(reseller=erp_reseller), AccountFactory(reseller=erp_reseller))
    approved(first, document_id="NS-1")
    refused_approval(erp, second, route, "INVOICE-0109", document_id="NS-1", pointer="/document_id")
    refused_approval(erp, second, route, "INVOICE-0109", document_id=first.original_document_id, pointer="/document_id")


# --- INVOICE-0404: what the token cannot see -------------------------------------------------------------


def test_R46_an_unknown_account_or_invoice_is_not_found(invoice, erp, route):
    unknown = Invoice(pk=UNKNOWN_ID, reseller_id=invoice.reseller_id, account_id=UNKNOWN_ID)
    refused_approval(erp, unknown, route, "INVOICE-0404", status=404)


def test_R46_another_resellers_account_or_invoice_is_not_found(erp_reseller, erp, route):
    # Given an invoice of a sibling ERP reseller, asked for under the token's own reseller
    foreign = closed_erp_invoice(ResellerFactory(erp=True))
    path = approve_path(foreign, route, reseller_id=erp_reseller.pk)
    refused_over_http(lambda: erp.post(path, body()), 404, "INVOICE-0404")
    assert not reload(foreign).approved


def test_R11_a_billing_date_that_starts_no_period_of_the_account_is_not_found(invoice, erp):
    refused_approval(erp, invoice, "by_account", "INVOICE-0404", status=404, billing_date="2026-01-02")


# --- Authentication and scopes ---------------------------------------------------------------------------


def test_R46_a_token_without_the_erp_scope_is_forbidden(invoice, api_for, route):
    reader = api_for(invoice.reseller, scopes=["read"])
    refused_approval(reader, invoice, route, "AUTH-0003", status=403)


@pytest.mark.parametrize("secret", [None, "arr_not-a-real-token", "wrong"], ids=["no-token", "unknown", "malformed"])
def test_a_missing_or_wrong_token_is_unauthorized_and_names_the_header(invoice, route, secret):
    error = refused_approval(ApiClient(secret), invoice, route, "AUTH-0001", status=401)
    assert error["source"] == {"header": "X-Api-Token"}
