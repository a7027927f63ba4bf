"""The Operator Control Panel in a real browser, against a real ``arrears serve`` with the demo data, no mocks.

A billing manager of Skyline Cloud signs in, turns ERP mode on in Finance settings, runs billing now, approves an
invoice with an external total and a file, downloads the file, revokes the approval with a reason, approves again,
approves its payment; cancels another unapproved payment; approves a default-mode payment with a bank transfer;
downloads a standard PDF. Each step is checked on the page and in the database. A viewer is refused every action.
Every page visited is screenshotted at 1280 px and 390 px, checked by axe and for console and CSP errors.

The demo's history ends the day before one of Skyline's billing days, and ``serve`` runs without its schedule, so
that the billing day is billed only when the manager asks, after ERP mode is on.
"""

import json
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from arrears.demo.builder import MANAGER_PASSWORDS, OPERATOR_EMAIL, OPERATOR_TIMEZONE
from tests.browser import (
    assert_clean_console,
    assert_no_serious_axe_violations,
    browser,
    live_arrears,
    new_page,
    query,
    screenshot_both,
)
from tests.e2e.live_server import arrears
from tests.sample_files import pdf_bytes

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SKYLINE_BILLING_DAYS = (1, 15)
INVOICE = "from arrears.invoices.models import Invoice\n"
PAYMENT = "from arrears.payments.models import Payment\n"
ERP_PDF = pdf_bytes()  # a one-page PDF that parses


def demo_history_end(today: date) -> date:
    """The day before the latest of Skyline's billing days whose invoices close by ``today`` (billing day + 1)."""
    day = today - timedelta(days=1)
    while day.day not in SKYLINE_BILLING_DAYS:
        day -= timedelta(days=1)
    return day - timedelta(days=1)


def look(page: Page, name: str) -> None:
    """The checks every page gets: no console or CSP error, no serious axe violation, screenshots at both widths."""
    page.wait_for_load_state("networkidle")
    assert_clean_console(page)
    assert_no_serious_axe_violations(page)
    screenshot_both(page, name)


def sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/operator/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def confirm(page: Page) -> None:
    """The confirmation dialog that money-moving and destructive actions open."""
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Confirm").click()


def test_a_billing_manager_does_the_erp_hand_off_in_the_browser(tmp_path):
    today = datetime.now(ZoneInfo(OPERATOR_TIMEZONE)).date()
    history_end = demo_history_end(today)
    with live_arrears(tmp_path, demo_today=history_end.isoformat(), schedule=False) as site, browser() as chromium:
        page = new_page(chromium, site.base_url)

        # Given the demo's operator signed in
        page.goto("/operator/")
        expect(page).to_have_url(re.compile(r"/operator/login/\?next=/operator/$"))
        look(page, "operator-login")
        sign_in(page, OPERATOR_EMAIL, MANAGER_PASSWORDS[OPERATOR_EMAIL])
        look(page, "operator-dashboard")

        # When they turn ERP mode on in Finance settings
        page.get_by_role("link", name="Finance").click()
        look(page, "operator-finance-settings")
        page.get_by_label("External system generates Invoices").check()
        page.get_by_role("button", name="Update").click()
        expect(page.get_by_text("Finance settings updated")).to_be_visible()
        assert (
            query(
                site,
                "from arrears.tenants.models import Reseller\n"
                "result = Reseller.objects.get(name='Skyline Cloud').external_invoices",
            )
            is True
        )

        # and run billing now: the billing day closes its invoices in ERP mode
        page.get_by_role("link", name="Billing runs").click()
        page.get_by_role("button", name="Run billing now").click()
        expect(page.get_by_text("Done", exact=False).first).to_be_visible(timeout=60_000)
        look(page, "operator-billing-runs")
        erp_invoices = query(
            site,
            "from arrears.invoices.models import Invoice\n"
            "result = list(Invoice.objects.filter(reseller__name='Skyline Cloud', "
            "managed_externally=True, status='closed', approved=False, total__gt=0)"
            ".order_by('id').values_list('id', 'document_id', 'payment__id'))",
        )
        assert len(erp_invoices) >= 2, "the billing day closed no ERP invoice"
        (invoice_id, number, payment_id), (_, _, other_payment_id) = erp_invoices[0], erp_invoices[1]

        # Then the invoices list finds them as waiting for approval
        page.get_by_role("link", name="Invoices", exact=True).click()
        look(page, "operator-invoices")
        page.get_by_label("Approved").select_option("no")
        page.get_by_label("Managed externally").select_option("yes")
        expect(page.get_by_role("link", name=number)).to_be_visible()

        # When the manager approves one with an external total and a file
        page.get_by_role("link", name=number).click()
        look(page, "operator-invoice-closed")
        page.get_by_label("Invoice number").fill("ERP-E2E-1")
        page.get_by_label("External total").fill("99.90")
        page.get_by_label("Currency").fill("USD")
        page.get_by_label("File").set_input_files(
            files=[{"name": "erp-invoice.pdf", "mimeType": "application/pdf", "buffer": ERP_PDF}]
        )
        page.get_by_role("button", name="Approve", exact=True).click()
        expect(page.get_by_text("Invoice ERP-E2E-1 is approved")).to_be_visible()
        expect(page.get_by_text("External total 99.90 USD").first).to_be_visible()
        look(page, "operator-invoice-approved")
        approved = query(
            site,
            f"{INVOICE}i = Invoice.objects.get(pk={invoice_id})\n"
            "result = [i.approved, i.document_id, i.external_total, i.external_currency, "
            "i.attachment_kind, i.payment.due_date is not None]",
        )
        assert approved == [True, "ERP-E2E-1", 9990, "USD", "file", True]

        # and downloads the ERP's file
        with page.expect_download() as download:
            page.get_by_role("link", name="Download").click()
        assert download.value.path().read_bytes() == ERP_PDF

        # When they revoke the approval with a reason
        page.get_by_label("Reason").fill("The ERP total was wrong")
        page.get_by_role("button", name="Revoke approval").click()
        confirm(page)
        expect(page.get_by_text("The approval is revoked")).to_be_visible()
        revoked = query(
            site,
            f"{INVOICE}i = Invoice.objects.get(pk={invoice_id})\n"
            "result = [i.approved, i.document_id == i.original_document_id, i.external_total, "
            "i.attachment_kind, i.payment.due_date, 'The ERP total was wrong' in i.payment.comment]",
        )
        assert revoked == [False, True, None, "", None, True]

        # and approve it again, plainly
        page.get_by_label("Invoice number").fill("ERP-E2E-2")
        page.get_by_role("button", name="Approve", exact=True).click()
        expect(page.get_by_text("Invoice ERP-E2E-2 is approved")).to_be_visible()

        # When they approve its payment: an approved ERP invoice's payment needs no method (R30)
        page.goto(f"/operator/payments/{payment_id}/")
        look(page, "operator-payment-erp")
        page.get_by_role("button", name="Approve payment").click()
        confirm(page)
        expect(page.locator(".badge--completed").first).to_be_visible()
        assert (
            query(
                site,
                f"from arrears.payments.models import Payment\nresult = Payment.objects.get(pk={payment_id}).status",
            )
            == "completed"
        )

        # When they cancel another unapproved payment (R32)
        page.goto(f"/operator/payments/{other_payment_id}/")
        page.get_by_role("button", name="Cancel payment").click()
        confirm(page)
        expect(page.locator(".badge--cancelled").first).to_be_visible()
        assert (
            query(
                site,
                f"from arrears.payments.models import Payment\n"
                f"result = Payment.objects.get(pk={other_payment_id}).status",
            )
            == "cancelled"
        )

        # When they approve a default-mode payment with the bank transfer method (R31)
        default_payment = query(
            site,
            "from arrears.payments.models import Payment\n"
            "result = Payment.objects.filter(reseller__name='Skyline Cloud', "
            "type='rendered_services', invoice__managed_externally=False, "
            "status__in=['waiting_for_payment', 'expired'], due_date__isnull=False)"
            ".order_by('id').values_list('id', flat=True).first()",
        )
        page.goto(f"/operator/payments/{default_payment}/")
        page.get_by_label("Payment method").select_option(label="Bank transfer")
        page.get_by_role("button", name="Approve payment").click()
        confirm(page)
        expect(page.locator(".badge--completed").first).to_be_visible()
        assert query(
            site, f"{PAYMENT}p = Payment.objects.get(pk={default_payment})\nresult = [p.status, p.payment_method.name]"
        ) == ["completed", "Bank transfer"]

        # When they download the standard PDF of a default-mode invoice
        pdf_invoice = query(
            site,
            "from arrears.invoices.models import Invoice\n"
            "result = Invoice.objects.filter(reseller__name='Skyline Cloud', status='closed', "
            "managed_externally=False, document__rendered_version__gt=0).order_by('-id')"
            ".values_list('id', flat=True).first()",
        )
        page.goto(f"/operator/invoices/{pdf_invoice}/")
        with page.expect_download() as download:
            page.get_by_role("link", name="Download").click()
        assert download.value.path().read_bytes().startswith(b"%PDF-")

        # Every other page of the panel gets the same look: screenshots, axe, a clean console
        account_id = query(site, f"{INVOICE}result = Invoice.objects.get(pk={invoice_id}).account_id")
        endpoint = json.loads(
            arrears(
                site.env, "webhook", "create", "--reseller", "1", "--url", "https://erp.skyline.example/arrears-hooks"
            )
        )
        for name, url in [
            ("operator-reconciliation", "/operator/reconciliation/"),
            ("operator-payments", "/operator/payments/"),
            ("operator-payments-expired", "/operator/payments/?status=expired"),
            ("operator-accounts", "/operator/accounts/"),
            ("operator-account", f"/operator/accounts/{account_id}/"),
            ("operator-event-handlers", "/operator/event-handlers/"),
            ("operator-event-handler-new", "/operator/event-handlers/new/"),
            ("operator-webhooks", "/operator/webhooks/"),
            ("operator-webhook", f"/operator/webhooks/{endpoint['id']}/"),
            ("operator-deliveries", "/operator/deliveries/"),
            ("operator-api-tokens", "/operator/api-tokens/"),
            ("operator-managers", "/operator/managers/"),
        ]:
            page.goto(url)
            expect(page.locator("h1")).to_be_visible()
            look(page, name)
        page.context.close()

        # A viewer sees the pages but is refused every action
        arrears(
            site.env,
            "manager",
            "create",
            "--reseller",
            "1",
            "--email",
            "viewer@arrears.demo",
            "--password",
            "viewer-password",
            "--role",
            "viewer",
        )
        viewer = new_page(chromium, site.base_url)
        sign_in(viewer, "viewer@arrears.demo", "viewer-password")
        viewer.goto(f"/operator/invoices/{erp_invoices[2][0] if len(erp_invoices) > 2 else invoice_id}/")
        expect(viewer.get_by_role("button", name="Approve")).to_have_count(0)
        token = next(c["value"] for c in viewer.context.cookies() if c["name"] == "csrftoken")
        refusals = {
            f"/operator/invoices/{invoice_id}/revoke/": {"reason": "viewer"},
            f"/operator/payments/{default_payment}/approve/": {},
            f"/operator/payments/{other_payment_id}/cancel/": {},
            "/operator/settings/finance/": {},
        }
        for url, form in refusals.items():
            answer = viewer.request.post(url, form=form, headers={"X-CSRFToken": token, "Referer": site.base_url})
            assert answer.status == 403, url
        assert (
            query(
                site,
                "from arrears.tenants.models import Reseller\n"
                "result = Reseller.objects.get(name='Skyline Cloud').external_invoices",
            )
            is True
        )
        viewer.context.close()
