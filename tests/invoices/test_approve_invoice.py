"""approve_invoice and find_invoice_by_billing_date: the ERP approves a closed ERP-managed invoice.

Rules: R9, R10, R11–R18, R23, R26, R47.
"""

import base64
from datetime import date, datetime, timedelta

import pytest

from arrears.events.models import Event
from arrears.invoices.attachments import DOC, DOCX, MAX_ATTACHMENT_BYTES, PDF, XLSX
from arrears.invoices.models import Invoice, InvoiceAttachmentFile
from arrears.invoices.services import approve_invoice, find_invoice_by_billing_date
from arrears.payments.models import Payment
from arrears.payments.services import cancel_payment
from arrears.tenants.services import set_external_invoices
from tests.conftest import ERP, MANAGER, at, bill
from tests.factories import AccountFactory, ResellerFactory
from tests.sample_files import (
    data_uri,
    docx_bytes,
    docx_content_types,
    ole_bytes,
    pdf_bytes,
    xlsx_bytes,
    zip_bytes,
)
from tests.service_support import (
    APPROVAL_DAY,
    FEE,
    JAN_1,
    approved,
    assert_approval_matches_due_date,
    closed_erp_invoice,
    invoice_of,
    invoices_of,
    refused,
    reload,
)

PDF_BYTES = pdf_bytes()
PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"


def approve(invoice: Invoice, *, day: date = APPROVAL_DAY, **fields):
    """When the ERP approves ``invoice`` with ``fields`` over the usual document_id and billing_date."""
    body = {"document_id": "NS2000015", "billing_date": invoice.billing_date} | fields
    return approve_invoice(invoice, actor=ERP, now=at(day), **body)


def approve_refused(code: str, invoice: Invoice, *, pointer: str | None = None, day: date = APPROVAL_DAY, **fields):
    body = {"document_id": "NS2000015", "billing_date": invoice.billing_date} | fields
    return refused(code, approve_invoice, invoice, pointer=pointer, actor=ERP, now=at(day), **body)


@pytest.fixture
def invoice(erp_reseller) -> Invoice:
    return closed_erp_invoice(erp_reseller)


# --- R11 / R12: finding the invoice by account + billing_date -----------------------------------------


def test_R11_the_invoice_is_found_by_account_and_billing_period_start(invoice):
    # Given a closed invoice for the period starting 2026-01-01
    # When the ERP looks it up by account and billing_date
    found = find_invoice_by_billing_date(invoice.account, JAN_1)
    # Then it is that invoice
    assert found.pk == invoice.pk


def test_R11_a_billing_date_inside_the_period_is_not_its_start_and_finds_nothing(invoice):
    refused("INVOICE-0404", find_invoice_by_billing_date, invoice.account, date(2026, 1, 2))


def test_R11_the_first_day_billed_is_not_the_billing_date(invoice):
    # Given the subscription started on the period's last day, the invoice runs from 2026-01-31
    assert (invoice.billing_date, invoice.from_date) == (JAN_1, date(2026, 1, 31))
    refused("INVOICE-0404", find_invoice_by_billing_date, invoice.account, invoice.from_date)


def test_R11_another_accounts_invoice_is_not_found(invoice):
    other_account = AccountFactory(reseller=invoice.reseller)
    refused("INVOICE-0404", find_invoice_by_billing_date, other_account, JAN_1)


@pytest.mark.parametrize("billing_date", [None, "2026-01-01", datetime(2026, 1, 1, 0, 0)])
def test_R11_billing_date_must_be_a_date(invoice, billing_date):
    refused("INVOICE-0001", find_invoice_by_billing_date, invoice.account, billing_date, pointer="/billing_date")


def test_R12_several_invoices_with_one_billing_date_refuse_and_the_by_id_call_still_works(invoice):
    # Given a second invoice of the same account with the same billing_date.
    # The services cannot produce this: billing_date is the period start, which falls on the billing
    # day itself, so invoices of different billing days never share it and one billing day has one
    # invoice per period. The row is created directly to simulate such data (e.g. an import).
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
    # When the ERP looks up by account + billing_date
    # Then the call is refused and names billing_date
    refused("INVOICE-0104", find_invoice_by_billing_date, invoice.account, JAN_1, pointer="/billing_date")
    # And the by-id call approves the intended invoice
    assert approve(invoice).approved


# --- R9 / R13 / R14: approval and the due date ----------------------------------------------------


def test_R9_R13_approval_without_due_date_uses_the_account_class_expiration_period(erp_reseller):
    # Given an invoice of an account whose class lets payments expire after 5 days
    invoice = closed_erp_invoice(erp_reseller, expiration_days=5)
    assert_approval_matches_due_date(invoice)
    # When the ERP approves it on 2026-02-03 without a due date
    result = approve(invoice)
    # Then due date = approval date + 5 − 1, expiration date = due date + 1
    assert result.approved
    assert result.approval_date == APPROVAL_DAY
    assert result.payment.due_date == date(2026, 2, 7)
    assert result.payment.expiration_date == date(2026, 2, 8)
    assert result.payment.status == Payment.Status.WAITING_FOR_PAYMENT
    assert_approval_matches_due_date(result)


def test_R13_a_given_due_date_is_used(invoice):
    result = approve(invoice, due_date=date(2026, 3, 15))
    assert result.payment.due_date == date(2026, 3, 15)
    assert result.payment.expiration_date == date(2026, 3, 16)
    assert result.approval_date == APPROVAL_DAY


def test_R14_a_due_date_of_today_is_accepted(invoice):
    result = approve(invoice, due_date=APPROVAL_DAY)
    assert result.payment.due_date == APPROVAL_DAY
    assert result.payment.expiration_date == APPROVAL_DAY + timedelta(days=1)


def test_R14_a_due_date_in_the_past_is_refused(invoice):
    approve_refused("INVOICE-0108", invoice, due_date=APPROVAL_DAY - timedelta(days=1), pointer="/due_date")
    assert_approval_matches_due_date(invoice)


def test_R14_today_is_the_resellers_calendar_date_not_the_utc_date(db):
    # Given an ERP reseller in Auckland: 2026-02-03 12:00 UTC is already 2026-02-04 01:00 there
    reseller = ResellerFactory(erp=True, timezone="Pacific/Auckland")
    invoice = closed_erp_invoice(reseller)
    now = at(APPROVAL_DAY)
    assert now.date() == date(2026, 2, 3)
    # When the ERP gives the UTC date as due date
    # Then it is in the past on the reseller's calendar
    refused(
        "INVOICE-0108",
        approve_invoice,
        invoice,
        document_id="NZ-1",
        billing_date=JAN_1,
        due_date=date(2026, 2, 3),
        actor=ERP,
        now=now,
        pointer="/due_date",
    )
    # And the local date is accepted
    result = approve_invoice(
        invoice, document_id="NZ-1", billing_date=JAN_1, due_date=date(2026, 2, 4), actor=ERP, now=now
    )
    assert result.payment.due_date == date(2026, 2, 4)
    assert result.approval_date == date(2026, 2, 4)


def test_R13_the_default_due_date_counts_from_the_resellers_local_approval_date(db):
    reseller = ResellerFactory(erp=True, timezone="Pacific/Auckland")
    invoice = closed_erp_invoice(reseller)
    result = approve_invoice(invoice, document_id="NZ-1", billing_date=JAN_1, actor=ERP, now=at(APPROVAL_DAY))
    assert result.approval_date == date(2026, 2, 4)
    assert result.payment.due_date == date(2026, 2, 13)


@pytest.mark.parametrize("due_date", ["2026-03-01", datetime(2026, 3, 1, 0, 0), 20260301])
def test_R47_a_malformed_due_date_is_refused_by_name(invoice, due_date):
    approve_refused("INVOICE-0001", invoice, due_date=due_date, pointer="/due_date")


# --- R15: the ERP number -------------------------------------------------------------------------


def test_R15_approval_replaces_the_number_with_the_document_id_and_keeps_the_original(invoice):
    platform_number = invoice.document_id
    assert platform_number and invoice.original_document_id == platform_number
    result = approve(invoice, document_id="NS2000015")
    assert result.document_id == "NS2000015"
    assert result.original_document_id == platform_number
    assert result.number == invoice.number


def test_R15_a_document_id_used_by_another_invoice_of_the_reseller_is_refused(erp_reseller):
    first, second = invoices_of(AccountFactory(reseller=erp_reseller), AccountFactory(reseller=erp_reseller))
    approve(first, document_id="NS-1")
    approve_refused("INVOICE-0109", second, document_id="NS-1", pointer="/document_id")
    assert_approval_matches_due_date(second)


def test_R15_a_document_id_equal_to_another_invoices_platform_number_is_refused(erp_reseller):
    first, second = invoices_of(AccountFactory(reseller=erp_reseller), AccountFactory(reseller=erp_reseller))
    approve_refused("INVOICE-0109", second, document_id=first.document_id, pointer="/document_id")


def test_R15_a_document_id_equal_to_the_platform_number_of_an_approved_invoice_is_refused(erp_reseller):
    # Given the first invoice approved under the ERP's number, so its platform number is set aside
    first, second = invoices_of(AccountFactory(reseller=erp_reseller), AccountFactory(reseller=erp_reseller))
    platform_number = first.document_id
    approve(first, document_id="NS-1")
    # When the second invoice is approved under the first one's platform number
    # Then it is refused: revoking the first approval must be able to restore that number
    approve_refused("INVOICE-0109", second, document_id=platform_number, pointer="/document_id")


def test_R15_an_invoice_may_be_approved_under_its_own_platform_number(invoice):
    assert approve(invoice, document_id=invoice.document_id).document_id == invoice.original_document_id


def test_R15_the_same_document_id_in_another_reseller_is_fine(erp_reseller):
    invoice = closed_erp_invoice(erp_reseller)
    other_invoice = closed_erp_invoice(ResellerFactory(erp=True))
    approve(invoice, document_id="NS-1")
    assert approve(other_invoice, document_id="NS-1").document_id == "NS-1"


@pytest.mark.parametrize("document_id", [None, "", "   ", 15, "N" * 101])
def test_R16_R47_a_missing_or_malformed_document_id_is_refused_by_name(invoice, document_id):
    approve_refused("INVOICE-0001", invoice, document_id=document_id, pointer="/document_id")


# --- R16: what approval requires ----------------------------------------------------------------


@pytest.mark.parametrize("billing_date", [None, "2026-01-01", datetime(2026, 1, 1, 0, 0)])
def test_R16_R47_a_missing_or_malformed_billing_date_is_refused_by_name(invoice, billing_date):
    approve_refused("INVOICE-0001", invoice, billing_date=billing_date, pointer="/billing_date")


def test_R16_a_billing_date_that_is_not_the_invoices_period_start_is_refused(invoice):
    approve_refused("INVOICE-0005", invoice, billing_date=date(2026, 2, 1), pointer="/billing_date")


def test_R16_an_open_invoice_cannot_be_approved(invoice):
    # Given the February period's invoice, still open on 2026-02-02
    open_invoice = Invoice.objects.get(account=invoice.account, billing_date=date(2026, 2, 1))
    assert open_invoice.status == Invoice.Status.OPEN
    approve_refused("INVOICE-0011", open_invoice)


def test_R16_an_invoice_of_the_default_mode_cannot_be_approved(reseller):
    invoice = invoice_of(AccountFactory(reseller=reseller))
    assert not invoice.managed_externally
    approve_refused("INVOICE-0105", invoice)


def test_R10_switching_to_erp_mode_after_closing_does_not_hand_the_invoice_over(reseller):
    # Given an invoice closed in the default mode
    invoice = invoice_of(AccountFactory(reseller=reseller))
    # When the reseller switches to ERP mode afterwards
    set_external_invoices(reseller, True, actor=MANAGER, now=at(APPROVAL_DAY))
    # Then the invoice still cannot be approved
    approve_refused("INVOICE-0105", invoice)


def test_R6_R16_an_invoice_with_zero_total_cannot_be_approved(erp_reseller):
    invoice = invoice_of(AccountFactory(reseller=erp_reseller), fee=0)
    assert invoice.status == Invoice.Status.CLOSED and invoice.total == 0
    assert not Payment.objects.filter(invoice=invoice).exists()
    approve_refused("INVOICE-0012", invoice)


def test_R16_an_approved_invoice_cannot_be_approved_again(invoice):
    approve(invoice, document_id="NS-1")
    approve_refused("INVOICE-0101", invoice, document_id="NS-2", day=APPROVAL_DAY + timedelta(days=1))
    assert reload(invoice).document_id == "NS-1"


def test_R16_R35_an_invoice_whose_payment_was_cancelled_cannot_be_approved(invoice):
    cancel_payment(invoice.payment, comment="customer left", actor=MANAGER, now=at(APPROVAL_DAY))
    approve_refused("INVOICE-0017", invoice)


# --- R17 / R18: the external total ------------------------------------------------------------------


def test_R17_the_external_total_is_stored_and_the_platform_totals_do_not_change(invoice):
    result = approve(invoice, amount={"total": "1050.00", "currency": "USD"})
    assert (result.external_total, result.external_currency) == (105_000, "USD")
    assert (result.payment.external_total, result.payment.external_currency) == (105_000, "USD")
    assert (result.total, result.currency) == (FEE, "EUR")
    assert (result.payment.total, result.payment.initial_total, result.payment.currency) == (FEE, FEE, "EUR")


def test_R17_without_an_external_total_nothing_external_is_stored(invoice):
    result = approve(invoice)
    assert result.external_total is None and result.external_currency is None
    assert result.payment.external_total is None and result.payment.external_currency is None
    assert result.payment.balance_payment_allowed


@pytest.mark.parametrize(
    ("amount", "allowed"),
    [
        ({"total": "100.00", "currency": "EUR"}, True),
        ({"total": "100", "currency": "EUR"}, True),
        ({"total": "100.01", "currency": "EUR"}, False),
        ({"total": "100.00", "currency": "USD"}, False),
    ],
)
def test_R18_the_balance_is_allowed_only_when_the_external_total_equals_the_platform_total(invoice, amount, allowed):
    assert approve(invoice, amount=amount).payment.balance_payment_allowed is allowed


@pytest.mark.parametrize(
    ("amount", "pointer"),
    [
        ({"total": "-1.00", "currency": "EUR"}, "/amount/total"),
        ({"total": "0.00", "currency": "EUR"}, "/amount/total"),
        ({"total": "1.005", "currency": "EUR"}, "/amount/total"),
        ({"total": "100.5", "currency": "JPY"}, "/amount/total"),
        ({"total": "ten", "currency": "EUR"}, "/amount/total"),
        ({"total": 100.0, "currency": "EUR"}, "/amount/total"),
        ({"total": "100.00"}, "/amount/currency"),
        ({"total": "100.00", "currency": "XYZ"}, "/amount/currency"),
        ({"total": "100.00", "currency": "eur"}, "/amount/currency"),
        ("100.00", "/amount"),
    ],
)
def test_R17_R47_a_bad_external_total_is_refused_by_name(invoice, amount, pointer):
    approve_refused("INVOICE-0106", invoice, amount=amount, pointer=pointer)


# --- R23: the attachment ---------------------------------------------------------------------------


def test_R23_a_pdf_file_is_attached(invoice):
    result = approve(invoice, file={"name": "NS2000015.pdf", "data": data_uri(PDF_BYTES)})
    assert result.has_attached
    assert (result.attachment_kind, result.attachment_name) == ("file", "NS2000015.pdf")
    assert result.attachment_content_type == PDF
    assert bytes(InvoiceAttachmentFile.objects.get(invoice=result).data) == PDF_BYTES


def test_R23_a_docx_file_is_recognised_by_its_content(invoice):
    document = docx_bytes()
    result = approve(invoice, file={"name": "NS2000015.docx", "data": data_uri(document, DOCX)})
    assert result.attachment_content_type == DOCX
    assert bytes(InvoiceAttachmentFile.objects.get(invoice=result).data) == document


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        ("NS1.doc", ole_bytes(), DOC),
        ("NS1.xlsx", xlsx_bytes(), XLSX),
        ("NS1", docx_bytes(), DOCX),
        ("NS1.PDF", pdf_bytes(), PDF),
    ],
    ids=["doc", "xlsx", "docx-without-extension", "pdf-upper-case-extension"],
)
def test_R23_each_kind_is_recognised_by_its_parsed_content_whatever_the_data_uri_says(invoice, name, data, kind):
    result = approve(invoice, file={"name": name, "data": data_uri(data, "application/octet-stream")})
    assert result.attachment_content_type == kind


def _pdf_without_xref() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def _bomb_content_types() -> str:
    return (
        '<?xml version="1.0"?><!DOCTYPE Types [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">&b;</Types>'
    )


NOT_WHAT_THEY_CLAIM = {
    "pdf-header-only": b"%PDF-1.4\n%%EOF\n",
    "pdf-header-and-junk": b"%PDF-1.7 this is a text file",
    "pdf-without-cross-references": _pdf_without_xref(),
    "pdf-cut-in-half": pdf_bytes()[: len(pdf_bytes()) // 2],
    "pdf-without-pages": pdf_bytes(
        objects=[b"<</Type/Catalog/Pages 2 0 R>>", b"<</Type/Pages/Kids[]/Count 0>>", b"<</Foo 1>>"]
    ),
    "pdf-page-tree-in-a-loop": pdf_bytes(
        objects=[b"<</Type/Catalog/Pages 2 0 R>>", b"<</Type/Pages/Kids[2 0 R]/Count 1>>", b"<</Foo 1>>"]
    ),
    "pdf-root-not-a-catalog": pdf_bytes(objects=[b"<</Type/Font>>", b"<<>>", b"<<>>"]),
    "ole-header-and-zeros": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 2048,
    "excel-97-workbook": ole_bytes("Workbook"),
    "zip-with-a-word-folder-only": zip_bytes({"word/document.xml": "<w:document/>"}),
    "zip-with-xl-and-a-program": zip_bytes({"xl/run.exe": "MZ"}),
    "content-types-without-main-part": zip_bytes(
        {"[Content_Types].xml": '<?xml version="1.0"?><Types/>', "word/document.xml": "<w:document/>"}
    ),
    "content-types-with-entities": zip_bytes(
        {"[Content_Types].xml": _bomb_content_types(), "word/document.xml": "<w:document/>"}
    ),
    "main-part-missing": zip_bytes({"[Content_Types].xml": docx_content_types(), "xl/workbook.xml": "<x/>"}),
}


@pytest.mark.parametrize("data", NOT_WHAT_THEY_CLAIM.values(), ids=NOT_WHAT_THEY_CLAIM.keys())
def test_R23_R47_a_file_that_only_starts_like_a_document_is_refused(invoice, data):
    approve_refused(
        "INVOICE-0107",
        invoice,
        file={"name": "NS1", "data": data_uri(data, "application/octet-stream")},
        pointer="/file/data",
    )


@pytest.mark.parametrize(
    ("name", "data", "mime"),
    [
        ("NS1.pdf", docx_bytes(), "application/octet-stream"),
        ("NS1.docx", pdf_bytes(), "application/octet-stream"),
        ("NS1", docx_bytes(), PDF),
        ("NS1", pdf_bytes(), XLSX),
        ("NS1.xlsx", ole_bytes(), DOC),
    ],
    ids=["docx-named-pdf", "pdf-named-docx", "docx-sent-as-pdf", "pdf-sent-as-xlsx", "doc-named-xlsx"],
)
def test_R23_R47_a_file_whose_name_or_data_uri_contradicts_its_content_is_refused(invoice, name, data, mime):
    approve_refused("INVOICE-0107", invoice, file={"name": name, "data": data_uri(data, mime)}, pointer="/file/data")


def test_R23_a_file_of_exactly_10_mb_is_accepted(invoice):
    data = pdf_bytes(size=MAX_ATTACHMENT_BYTES)
    result = approve(invoice, file={"name": "big.pdf", "data": data_uri(data)})
    assert len(InvoiceAttachmentFile.objects.get(invoice=result).data) == MAX_ATTACHMENT_BYTES


def test_R23_an_https_link_is_attached_and_never_fetched(invoice):
    result = approve(invoice, link={"name": "NS2000015", "data": "https://erp.example.com/inv/15.pdf"})
    assert (result.attachment_kind, result.attachment_name) == ("link", "NS2000015")
    assert result.attachment_url == "https://erp.example.com/inv/15.pdf"
    assert not InvoiceAttachmentFile.objects.filter(invoice=result).exists()


def test_R24_without_an_attachment_nothing_is_attached(invoice):
    result = approve(invoice)
    assert not result.has_attached
    assert not InvoiceAttachmentFile.objects.filter(invoice=result).exists()


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        (
            {
                "file": {"name": "a.pdf", "data": data_uri(PDF_BYTES)},
                "link": {"name": "a", "data": "https://erp.example.com/a.pdf"},
            },
            "/link",
        ),
        ({"link": {"name": "a", "data": "http://erp.example.com/a.pdf"}}, "/link/data"),
        ({"link": {"name": "a", "data": "ftp://erp.example.com/a.pdf"}}, "/link/data"),
        ({"link": {"name": "a", "data": "https://"}}, "/link/data"),
        ({"link": {"name": "", "data": "https://erp.example.com/a.pdf"}}, "/link/name"),
        ({"link": "https://erp.example.com/a.pdf"}, "/link"),
        ({"file": {"name": "a.pdf", "data": "data:application/pdf;base64,@@not base64@@"}}, "/file/data"),
        ({"file": {"name": "a.pdf", "data": base64.b64encode(PDF_BYTES).decode()}}, "/file/data"),
        ({"file": {"name": "a.pdf", "data": data_uri(PNG_BYTES)}}, "/file/data"),
        ({"file": {"name": "a.pdf", "data": data_uri(b"")}}, "/file/data"),
        ({"file": {"name": "", "data": data_uri(PDF_BYTES)}}, "/file/name"),
        ({"file": "a.pdf"}, "/file"),
    ],
    ids=[
        "file-and-link",
        "http-link",
        "ftp-link",
        "link-without-host",
        "link-without-name",
        "link-not-object",
        "bad-base64",
        "not-a-data-uri",
        "png-named-pdf",
        "empty-file",
        "file-without-name",
        "file-not-object",
    ],
)
def test_R23_R47_a_bad_attachment_is_refused_by_name(invoice, fields, pointer):
    approve_refused("INVOICE-0107", invoice, pointer=pointer, **fields)


UNSAFE_NAMES = {
    "path-traversal": "../../etc/passwd",
    "slash": "invoices/NS1.pdf",
    "backslash": "..\\NS1.pdf",
    "nul": "NS1\x00.pdf",
    "escape": "NS1\x1b[31m.pdf",
    "line-break": "NS1\r\nX-Evil: 1.pdf",
    "tab": "NS1\t.pdf",
    "delete": "NS1\x7f.pdf",
    "c1-next-line": "NS1\x85.pdf",
    "right-to-left-override": "invoice\u202efdp.exe",
    "left-to-right-embedding": "NS1\u202a.pdf",
    "first-strong-isolate": "NS1\u2068.pdf",
    "right-to-left-mark": "NS1\u200f.pdf",
    "arabic-letter-mark": "NS1\u061c.pdf",
    "line-separator": "NS1\u2028.pdf",
    "only-dots": "..",
}


@pytest.mark.parametrize("name", UNSAFE_NAMES.values(), ids=UNSAFE_NAMES.keys())
def test_R23_R47_a_file_name_with_control_characters_separators_or_bidi_controls_is_refused(invoice, name):
    approve_refused("INVOICE-0107", invoice, file={"name": name, "data": data_uri(PDF_BYTES)}, pointer="/file/name")


@pytest.mark.parametrize("name", UNSAFE_NAMES.values(), ids=UNSAFE_NAMES.keys())
def test_R23_R47_a_link_name_with_control_characters_separators_or_bidi_controls_is_refused(invoice, name):
    approve_refused(
        "INVOICE-0107", invoice, link={"name": name, "data": "https://erp.example.com/a.pdf"}, pointer="/link/name"
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://erp.example.com/a.pdf\r\nSet-Cookie:x=1",
        "https://erp.example.com/a\n.pdf",
        "https://erp.example.com/\ta.pdf",
        "https://erp.example.com/a.pdf\x00",
        "https://erp.example.com/a\x1b.pdf",
        "https://erp.example.com/a\x85.pdf",
        "https://erp.example.com/\u202efdp.exe",
        "https://erp.example.com/a b",
    ],
    ids=["crlf", "lf", "tab", "nul", "escape", "c1", "bidi-override", "space"],
)
def test_R23_R47_a_link_with_line_breaks_tabs_or_control_characters_is_refused(invoice, url):
    approve_refused("INVOICE-0107", invoice, link={"name": "NS1", "data": url}, pointer="/link/data")


@pytest.mark.parametrize(
    "name", ["Rechnung März 2026 (Kopie).pdf", "請求書-2026.pdf", "فاتورة.pdf", ".NS1.pdf", "NS 1 'final'.pdf"]
)
def test_R23_names_in_any_script_with_spaces_quotes_and_dots_are_kept(invoice, name):
    result = approve(invoice, file={"name": name, "data": data_uri(PDF_BYTES)})
    assert result.attachment_name == name


def test_R23_a_file_over_10_mb_is_refused(invoice):
    data = pdf_bytes(size=MAX_ATTACHMENT_BYTES + 1)
    approve_refused("INVOICE-0107", invoice, file={"name": "big.pdf", "data": data_uri(data)}, pointer="/file/data")


# --- R26: the event ---------------------------------------------------------------------------------


def test_R26_approval_records_invoice_approved_with_the_actor(invoice):
    platform_number = invoice.document_id
    approve(
        invoice,
        document_id="NS2000015",
        due_date=date(2026, 2, 20),
        amount={"total": "105.00", "currency": "EUR"},
        link={"name": "NS2000015", "data": "https://erp.example.com/inv/15.pdf"},
    )
    event = Event.objects.get(type="invoice.approved")
    assert (event.subject_type, event.subject_id) == ("invoice", invoice.pk)
    assert (event.reseller_id, event.account_id) == (invoice.reseller_id, invoice.account_id)
    assert (event.actor_kind, event.actor_id, event.actor_label) == (ERP.kind, ERP.id, ERP.label)
    assert event.occurred_at == at(APPROVAL_DAY)
    assert event.payload | {"changes": None} == {
        "document_id": "NS2000015",
        "original_document_id": platform_number,
        "billing_date": "2026-01-01",
        "approval_date": "2026-02-03",
        "payment_id": invoice.payment.pk,
        "due_date": "2026-02-20",
        "expiration_date": "2026-02-21",
        "external_total": 10_500,
        "external_currency": "EUR",
        "attachment": {"kind": "link", "name": "NS2000015", "url": "https://erp.example.com/inv/15.pdf"},
        "changes": None,
    }
    assert event.payload["changes"]["approved"] == [False, True]
    assert event.payload["changes"]["document_id"] == [platform_number, "NS2000015"]


def test_R26_a_manager_approving_is_recorded_as_the_manager(invoice):
    approve_invoice(invoice, document_id="NS-1", billing_date=JAN_1, actor=MANAGER, now=at(APPROVAL_DAY))
    event = Event.objects.get(type="invoice.approved")
    assert (event.actor_kind, event.actor_id) == ("manager", MANAGER.id)


# --- the approved invoice in the billing timeline ---------------------------------------------------


def test_R8_R22_an_unapproved_payment_never_expires_and_an_approved_one_expires_after_its_due_date(erp_reseller):
    waiting = closed_erp_invoice(erp_reseller)
    bill(erp_reseller, date(2026, 2, 20))
    assert reload(waiting).payment.status == Payment.Status.WAITING_FOR_PAYMENT
    approved(waiting, day=date(2026, 2, 20), due_date=date(2026, 2, 25))
    bill(erp_reseller, date(2026, 2, 25))
    assert reload(waiting).payment.status == Payment.Status.WAITING_FOR_PAYMENT
    bill(erp_reseller, date(2026, 2, 26))
    assert reload(waiting).payment.status == Payment.Status.EXPIRED
    assert_approval_matches_due_date(waiting)
