"""The invoices pages of the Operator Control Panel: list, page, approval, revoke, download, CSV."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from arrears.invoices.models import Invoice
from arrears.tenants.models import Manager
from tests.panels.conftest import billed_accounts
from tests.sample_files import pdf_bytes


def closed_erp_invoice(account) -> Invoice:
    return Invoice.objects.filter(account=account, status="closed").select_related("payment").order_by("id").first()


def test_an_anonymous_visit_goes_to_the_sign_in_page(client):
    response = client.get("/operator/invoices/")
    assert response.status_code == 302
    assert response["Location"].startswith("/operator/login/?next=/operator/invoices/")


def test_the_list_shows_the_resellers_invoices_and_never_a_siblings(erp_world, sign_in):
    client = sign_in(erp_world["a"])
    response = client.get("/operator/invoices/")
    assert response.status_code == 200
    numbers_a = set(
        Invoice.objects.filter(reseller=erp_world["a"], status="closed").values_list("document_id", flat=True)
    )
    numbers_b = (
        set(Invoice.objects.filter(reseller=erp_world["b"], status="closed").values_list("document_id", flat=True))
        - numbers_a
    )
    body = response.content.decode()
    assert all(number in body for number in numbers_a)
    assert not any(number in body for number in numbers_b)


def test_a_siblings_invoice_answers_404_on_every_invoice_route(erp_world, sign_in):
    client = sign_in(erp_world["a"])
    foreign = closed_erp_invoice(erp_world["account_b"])
    for suffix in ("", "approve/", "revoke/", "download/"):
        assert client.get(f"/operator/invoices/{foreign.pk}/{suffix}").status_code == 404
        assert client.post(f"/operator/invoices/{foreign.pk}/{suffix}", {"document_id": "X"}).status_code in (404, 405)
    assert Invoice.objects.get(pk=foreign.pk).approved is False


def test_the_query_count_of_the_list_does_not_grow_with_its_page_size(db, reseller, sign_in):
    billed_accounts(reseller, 30)
    client = sign_in(reseller)
    counts = []
    for size in (25, 100):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/operator/invoices/?per_page={size}").status_code == 200
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]


def test_approving_with_an_external_total_and_a_link(erp_world, sign_in):
    client = sign_in(erp_world["a"], Manager.Role.BILLING_MANAGER)
    invoice = closed_erp_invoice(erp_world["account_a"])
    response = client.post(
        f"/operator/invoices/{invoice.pk}/approve/",
        {
            "document_id": "ERP-1",
            "external_total": "99.50",
            "currency": "usd",
            "link": "https://erp.example.com/inv/ERP-1.pdf",
        },
    )
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert (invoice.approved, invoice.document_id, invoice.external_total, invoice.external_currency) == (
        True,
        "ERP-1",
        9950,
        "USD",
    )
    assert invoice.attachment_url == "https://erp.example.com/inv/ERP-1.pdf"


@pytest.mark.parametrize(
    ("data", "field", "code"),
    [
        ({"document_id": ""}, "document_id", "required"),
        ({"document_id": "E1", "due_date": "2020-01-01"}, "due_date", "INVOICE-0108"),
        ({"document_id": "E1", "external_total": "10.00", "currency": "XYZ"}, "currency", "INVOICE-0106"),
        ({"document_id": "E1", "external_total": "10.001", "currency": "EUR"}, "external_total", "INVOICE-0106"),
        ({"document_id": "E1", "currency": "EUR"}, "external_total", "INVOICE-0106"),
        ({"document_id": "E1", "link": "http://erp.example.com/x"}, "link", "INVOICE-0107"),
    ],
    ids=["no-number", "past-due-date", "unknown-currency", "too-many-decimals", "currency-alone", "http-link"],
)
def test_a_refused_approval_shows_the_error_on_its_field_and_changes_nothing(erp_world, sign_in, data, field, code):
    client = sign_in(erp_world["a"])
    invoice = closed_erp_invoice(erp_world["account_a"])
    response = client.post(f"/operator/invoices/{invoice.pk}/approve/", data)
    assert response.status_code == 400
    errors = response.context["approve_form"].errors.as_data()
    assert field in errors and errors[field][0].code == code
    assert Invoice.objects.get(pk=invoice.pk).approved is False


def test_a_file_and_a_link_together_are_refused_on_the_link(erp_world, sign_in):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = sign_in(erp_world["a"])
    invoice = closed_erp_invoice(erp_world["account_a"])
    pdf = SimpleUploadedFile("erp.pdf", pdf_bytes(), "application/pdf")
    response = client.post(
        f"/operator/invoices/{invoice.pk}/approve/",
        {"document_id": "E1", "file": pdf, "link": "https://erp.example.com/x"},
    )
    assert response.status_code == 400
    assert response.context["approve_form"].errors.as_data()["link"][0].code == "INVOICE-0107"
    assert Invoice.objects.get(pk=invoice.pk).approved is False


def test_revoking_needs_a_reason_and_then_restores_the_number(erp_world, sign_in):
    client = sign_in(erp_world["a"])
    invoice = closed_erp_invoice(erp_world["account_a"])
    client.post(f"/operator/invoices/{invoice.pk}/approve/", {"document_id": "ERP-7"})
    response = client.post(f"/operator/invoices/{invoice.pk}/revoke/", {"reason": ""})
    assert response.status_code == 400
    assert "reason" in response.context["revoke_form"].errors
    assert Invoice.objects.get(pk=invoice.pk).approved is True

    assert client.post(f"/operator/invoices/{invoice.pk}/revoke/", {"reason": "wrong total"}).status_code == 302
    invoice.refresh_from_db()
    assert (invoice.approved, invoice.document_id) == (False, invoice.original_document_id)
    assert "wrong total" in invoice.payment.comment


def test_a_viewer_reads_but_is_refused_approval(erp_world, sign_in):
    client = sign_in(erp_world["a"], Manager.Role.VIEWER)
    invoice = closed_erp_invoice(erp_world["account_a"])
    page = client.get(f"/operator/invoices/{invoice.pk}/")
    assert page.status_code == 200 and b">Approve</button>" not in page.content
    assert client.post(f"/operator/invoices/{invoice.pk}/approve/", {"document_id": "V1"}).status_code == 403
    assert Invoice.objects.get(pk=invoice.pk).approved is False


def test_the_csv_export_is_exactly_the_filtered_list(erp_world, sign_in):
    client = sign_in(erp_world["a"])
    response = client.get("/operator/invoices/export.csv?status=closed")
    rows = b"".join(response.streaming_content).decode().strip().splitlines()
    expected = Invoice.objects.filter(reseller=erp_world["a"], status="closed").count()
    assert rows[0].startswith("id,number,") and len(rows) - 1 == expected > 0


def test_the_number_search_finds_the_erp_number_by_its_beginning_and_the_original_number_exactly(erp_world, sign_in):
    client = sign_in(erp_world["a"])
    invoice = closed_erp_invoice(erp_world["account_a"])
    original = invoice.original_document_id
    client.post(f"/operator/invoices/{invoice.pk}/approve/", {"document_id": "NS-2026-0042"})
    other = Invoice.objects.filter(reseller=erp_world["a"], status="closed").exclude(pk=invoice.pk).first()

    def found(number):
        table = client.get("/operator/invoices/", {"number": number}).context["table"]
        return {row.record.pk for row in table.page.object_list}

    assert found("NS-2026") == {invoice.pk}
    assert found(original) == {invoice.pk}
    assert found(other.document_id) == {other.pk}
    assert found("NOPE") == set()


def test_a_deep_page_shows_the_same_rows_as_a_plain_offset_would(db, reseller, sign_in, settings, monkeypatch):
    from arrears.panels import pagination

    billed_accounts(reseller, 12)
    client = sign_in(reseller)
    monkeypatch.setattr(pagination, "DEEP_OFFSET", 10**9)
    plain = [row.record.pk for row in client.get("/operator/invoices/?page=2&sort=-total").context["table"].page]
    monkeypatch.setattr(pagination, "DEEP_OFFSET", 0)
    with CaptureQueriesContext(connection) as queries:
        deep = [row.record.pk for row in client.get("/operator/invoices/?page=2&sort=-total").context["table"].page]
    assert any("IN (" in query["sql"] and "LIMIT" not in query["sql"] for query in queries.captured_queries)
    expected = list(Invoice.objects.filter(reseller=reseller).order_by("-total", "-id").values_list("pk", flat=True))
    assert deep == plain == expected[25:50]
