"""A customer's invoices: the list (paginated, newest first, the open period's charges so far), the invoice page
(period, subscriptions, charges with tax, total, the payment and its status) and Download: the ERP's attached
file, the ERP's link, or the standard PDF (R24); nothing for an ERP invoice the ERP has not approved (R25)."""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from arrears.invoices.documents import render_invoice_document, request_documents
from arrears.invoices.models import Invoice
from tests.conftest import at, bill
from tests.factories import AccountFactory, ResellerFactory, SubscriptionFactory
from tests.sample_files import data_uri, pdf_bytes
from tests.service_support import APPROVAL_DAY, CLOSING_DAY, approved, invoice_of

PDF_BYTES = pdf_bytes()


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def erp_invoice(db):
    """A closed ERP invoice waiting for the ERP's approval (100.00 EUR)."""
    return invoice_of(AccountFactory(reseller=ResellerFactory(name="Nordlicht", erp=True), name="Fjord"))


def page_of(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def test_the_invoice_page_shows_period_subscriptions_charges_with_tax_total_and_payment(billed, customer_client):
    invoice = billed()
    body = page_of(customer_client(invoice.account), f"/customer/invoices/{invoice.pk}/")
    assert f"<title>Invoice {invoice.document_id} · Plain Hosting</title>" in body
    # The subscription started on the period's last day: a one-day period (its to_date is exclusive)
    assert 'Billing period <time datetime="2026-01-31" title="2026-01-31">31 Jan 2026</time> · 100.00 EUR' in body
    assert "Plan 310000/1" in body  # the subscription's plan
    assert 'data-label="Tax">0.00 EUR<span class="sub">0 %</span>' in body
    assert "100.00 EUR" in body
    payment = invoice.payment
    assert f'href="/customer/payments/{payment.pk}/">{payment.document_id}</a>' in body
    assert '<span class="badge badge--waiting_for_payment">Waiting for payment</span>' in body
    assert '<time datetime="2026-02-11" title="2026-02-11">11 Feb 2026</time>' in body  # the due date
    assert f'href="/customer/invoices/{invoice.pk}/download/">Download</a>' in body
    assert f">Pay {payment.document_id}</a>" in body


def test_the_list_is_newest_first_and_the_open_period_shows_its_charges_so_far(db, customer_client):
    account = AccountFactory(reseller=ResellerFactory(name="Plain Hosting"))
    SubscriptionFactory(account=account, fee=3_000_00, tax_rate_bp=2000, start_date=date(2026, 1, 1))
    bill(account.reseller, date(2026, 3, 2))
    body = page_of(customer_client(account), "/customer/invoices/")
    closed = list(Invoice.objects.filter(account=account, status="closed").order_by("-billing_date"))
    assert len(closed) == 2
    positions = [body.index(f">{invoice.document_id}</a>") for invoice in closed]
    assert positions == sorted(positions)
    assert body.index(">Current period</a>") < positions[0]
    assert '3,600.00 EUR<span class="sub">so far</span>' in body
    assert "1–3 of 3 invoices" in body


def test_an_account_without_invoices_is_told_when_the_first_comes(db, customer_client):
    body = page_of(customer_client(AccountFactory()), "/customer/invoices/")
    assert "No invoice yet." in body and "the day after your first billing period ends" in body


def test_the_list_is_paginated(db, customer_client):
    account = AccountFactory(reseller=ResellerFactory())
    for billing_day in range(1, 9):
        SubscriptionFactory(account=account, billing_day=billing_day, start_date=date(2026, 1, 5))
    bill(account.reseller, date(2026, 4, 10))
    client = customer_client(account)
    count = Invoice.objects.filter(account=account).count()
    assert count > 25
    first = page_of(client, "/customer/invoices/")
    assert f"1–25 of {count} invoices" in first and 'rel="next"' in first
    second = page_of(client, "/customer/invoices/?page=2")
    assert f"26–{count} of {count} invoices" in second


# --- Download -----------------------------------------------------------------------------------------


def test_download_of_a_default_mode_invoice_is_the_standard_pdf(billed, customer_client):
    invoice = billed()
    client = customer_client(invoice.account)
    now = at(CLOSING_DAY) + timedelta(hours=1)
    request_documents([invoice.pk], now=now)
    assert render_invoice_document(invoice.pk, now=now)
    response = client.get(f"/customer/invoices/{invoice.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert response["Content-Disposition"].startswith(f'attachment; filename="{invoice.document_id}.pdf"')
    assert "Document</dt><dd>PDF</dd>" in page_of(client, f"/customer/invoices/{invoice.pk}/")


def test_a_pdf_still_being_rendered_says_so_and_to_try_again(billed, customer_client):
    invoice = billed()
    client = customer_client(invoice.account)
    request_documents([invoice.pk], now=at(CLOSING_DAY))  # requested, not rendered yet
    response = client.get(f"/customer/invoices/{invoice.pk}/download/", follow=True)
    assert response.redirect_chain == [(f"/customer/invoices/{invoice.pk}/", 302)]
    assert "being prepared. Please try again in a minute." in response.content.decode()


def test_download_of_an_erp_invoice_with_a_link_sends_the_browser_to_the_erp(erp_invoice, customer_client):
    link = "https://erp.example.com/invoices/ERP-1.pdf"
    approved(erp_invoice, link={"name": "ERP-1.pdf", "data": link})
    client = customer_client(erp_invoice.account)
    response = client.get(f"/customer/invoices/{erp_invoice.pk}/download/")
    assert response.status_code == 302 and response["Location"] == link
    body = page_of(client, f"/customer/invoices/{erp_invoice.pk}/")
    assert "Link to erp.example.com" in body and ">Download</a>" in body
    assert "<title>Invoice ERP-1 · Nordlicht</title>" in body


def test_download_of_an_erp_invoice_with_a_file_is_the_erps_file(erp_invoice, customer_client):
    approved(erp_invoice, file={"name": "Rechnung ERP-1.pdf", "data": data_uri(PDF_BYTES)})
    client = customer_client(erp_invoice.account)
    response = client.get(f"/customer/invoices/{erp_invoice.pk}/download/")
    assert response.status_code == 200 and response.content == PDF_BYTES
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        "attachment; filename=\"Rechnung_ERP-1.pdf\"; filename*=UTF-8''Rechnung%20ERP-1.pdf"
    )
    assert "File: Rechnung ERP-1.pdf" in page_of(client, f"/customer/invoices/{erp_invoice.pk}/")


def test_an_erp_invoice_without_an_attachment_downloads_the_standard_pdf_once_approved(erp_invoice, customer_client):
    approved(erp_invoice)
    now = at(APPROVAL_DAY) + timedelta(hours=1)
    request_documents([erp_invoice.pk], now=now)
    assert render_invoice_document(erp_invoice.pk, now=now)
    response = customer_client(erp_invoice.account).get(f"/customer/invoices/{erp_invoice.pk}/download/")
    assert response.status_code == 200 and response.content.startswith(b"%PDF")


def test_an_unapproved_erp_invoice_has_no_download_and_says_why(erp_invoice, customer_client):
    client = customer_client(erp_invoice.account)
    body = page_of(client, f"/customer/invoices/{erp_invoice.pk}/")
    assert ">Download</a>" not in body and "/download/" not in body
    assert "Your invoice is being prepared; you can pay it and download it once it is issued." in body
    assert '<span class="badge badge--not_approved">Being prepared</span>' in body
    assert ">Pay " not in body
    response = client.get(f"/customer/invoices/{erp_invoice.pk}/download/", follow=True)
    assert response.redirect_chain == [(f"/customer/invoices/{erp_invoice.pk}/", 302)]
    assert "Your invoice is being prepared: you can download it once it is issued." in response.content.decode()


def test_an_open_invoice_has_no_download(db, customer_client):
    account = AccountFactory()
    SubscriptionFactory(account=account, start_date=date(2026, 1, 31))
    bill(account.reseller, date(2026, 1, 31))
    invoice = Invoice.objects.get(account=account, status="open")
    body = page_of(customer_client(account), f"/customer/invoices/{invoice.pk}/")
    assert ">Download</a>" not in body and "This is the current billing period" in body
    assert "<title>Current period · " in body


def test_the_external_total_is_said_in_plain_words_beside_the_platform_total(erp_invoice, customer_client):
    approved(erp_invoice, amount={"total": "95.00", "currency": "USD"})
    body = page_of(customer_client(erp_invoice.account), f"/customer/invoices/{erp_invoice.pk}/")
    assert (
        "Your invoice states a total of <strong>95.00 USD</strong>: that is the amount you owe under it. "
        "The platform total stays 100.00 EUR." in body
    )
    assert '<span class="external-total">Invoice states 95.00 USD</span>' in body


# --- Query counts -------------------------------------------------------------------------------------


def account_with_invoices(billing_days) -> object:
    account = AccountFactory(reseller=ResellerFactory())
    for billing_day in billing_days:
        SubscriptionFactory(account=account, billing_day=billing_day, tax_rate_bp=2000, start_date=date(2026, 1, 5))
    bill(account.reseller, date(2026, 3, 10))
    return account


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


def test_the_query_count_of_the_list_and_the_page_does_not_grow_with_rows(
    db, customer_client, django_assert_max_num_queries
):
    # the large account: more invoices, and its first invoice has three charges of three subscriptions
    small, large = account_with_invoices([1]), account_with_invoices([1, 1, 1, 2, 3, 4, 5, 6])
    counts = {}
    for name, account in (("small", small), ("large", large)):
        client = customer_client(account)
        invoice = (
            Invoice.objects.filter(account=account, status="closed")
            .annotate(lines=Count("charges"))
            .order_by("-lines", "id")
            .first()
        )
        counts[name] = (
            queries(client, "/customer/invoices/?per_page=100"),
            queries(client, f"/customer/invoices/{invoice.pk}/"),
        )
    assert Invoice.objects.filter(account=large).count() > 3 * Invoice.objects.filter(account=small).count()
    assert (
        max(Invoice.objects.filter(account=large).annotate(lines=Count("charges")).values_list("lines", flat=True)) == 3
    )
    assert counts["small"] == counts["large"]
    client = customer_client(large)
    with django_assert_max_num_queries(8):
        client.get("/customer/invoices/")
