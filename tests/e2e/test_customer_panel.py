"""The Customer Control Panel in a real browser, against a real ``arrears serve`` with the demo data and its Demo
Gateway (the reference gateway, a process of its own), no mocks.

Customers of the demo sign in (a manager cannot), reset a forgotten password through a real SMTP server on
loopback, read their overview, invoices and payments, download a standard PDF, an ERP's attached file and an ERP's
link, see why the balance cannot pay (too little, an external total in another currency, an invoice still being
prepared), top up prefilled with what is missing through the gateway, pay from the balance, and come back from the
gateway after a decline and after no answer. Every page is screenshotted at 1280 px and 390 px
(``var/test/screenshots/customer-*.png``), checked by axe and for console and CSP errors.
"""

import base64
import re
import time

import httpx
import pytest
from playwright.sync_api import Page, expect

from arrears.demo.builder import CUSTOMER_PASSWORD, MANAGER_PASSWORDS, OPERATOR_EMAIL
from tests.browser import (
    assert_clean_console,
    assert_no_serious_axe_violations,
    browser,
    live_arrears,
    new_page,
    query,
    screenshot_both,
)
from tests.loopback import smtp_server
from tests.sample_files import pdf_bytes

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

GATEWAY = "Demo Gateway"
NEW_PASSWORD = "a new passphrase for the bikes"


def wait_for_the_rendered_pdf(site, invoice_id: int, *, seconds: float = 120) -> None:
    """The standard PDF is rendered by the queue's consumer after the invoice closes; until then Download says
    it is being prepared (a page, not a file). On a busy machine the demo's consumer may still be rendering."""
    deadline = time.monotonic() + seconds
    while not query(
        site,
        "from arrears.invoices.models import InvoiceDocument\n"
        f"d = InvoiceDocument.objects.filter(pk={invoice_id}).first()\n"
        "result = d is not None and not d.stale and bool(d.file)",
    ):
        assert time.monotonic() < deadline, f"invoice {invoice_id}'s PDF was not rendered within {seconds} s"
        time.sleep(0.5)


PAYMENT = "from arrears.payments.models import Payment\n"
ACCOUNT = "from arrears.customers.models import Account, CustomerUser\n"
ERP_PDF = pdf_bytes()  # a one-page PDF that parses


@pytest.fixture
def inbox(monkeypatch):
    """A real SMTP server on loopback; the site's processes send their mail to it (ARREARS_SMTP_URL)."""
    with smtp_server() as (inbox, port):
        monkeypatch.setenv("ARREARS_SMTP_URL", f"smtp://127.0.0.1:{port}")
        yield inbox


# --- reading the database ------------------------------------------------------------------------------


def customer_of(site, account_name: str) -> dict:
    return query(
        site,
        ACCOUNT + f"u = CustomerUser.objects.select_related('account', 'user').get("
        f"account__name={account_name!r})\n"
        "result = {'email': u.user.email, 'account_id': u.account_id, "
        "'balance': u.account.balance}",
    )


def payable_payments(site, account_id: int) -> list[dict]:
    """The account's payments for rendered services that can be paid now (waiting or expired, with a due date)."""
    return query(
        site,
        PAYMENT + f"result = list(Payment.objects.filter(account_id={account_id}, "
        "type='rendered_services', status__in=['waiting_for_payment', 'expired'])"
        ".exclude(due_date=None).order_by('id').values('id', 'status', 'total', "
        "'invoice_id', 'document_id'))",
    )


def unapproved_payments(site, account_id: int) -> list[dict]:
    return query(
        site,
        PAYMENT + f"result = list(Payment.objects.filter(account_id={account_id}, "
        "status='waiting_for_payment', due_date=None, type='rendered_services')"
        ".order_by('id').values('id', 'invoice_id', 'total'))",
    )


def payment(site, payment_id: int) -> dict:
    return query(
        site,
        PAYMENT + f"p = Payment.objects.select_related('account').get(pk={payment_id})\n"
        "result = {'status': p.status, 'total': p.total, 'currency': p.currency, "
        "'balance': p.account.balance}",
    )


def approve(site, invoice_id: int, document_id: str, **fields: str) -> None:
    """The ERP approves the invoice (through the service, as the API would): ``fields`` as Python source."""
    extra = "".join(f", {name}={source}" for name, source in fields.items())
    query(
        site,
        "from arrears.core import clock\nfrom arrears.core.actors import Actor\n"
        "from arrears.invoices.models import Invoice\nfrom arrears.invoices.services import approve_invoice\n"
        f"invoice = Invoice.objects.get(pk={invoice_id})\n"
        f"approve_invoice(invoice, document_id={document_id!r}, billing_date=invoice.billing_date, "
        f"actor=Actor.system('the ERP'), now=clock.wall_clock(){extra})\nresult = True",
    )


# --- the browser ---------------------------------------------------------------------------------------


def look(page: Page, name: str) -> None:
    """The checks every page gets: no console or CSP error, no serious axe violation, screenshots at both widths."""
    page.wait_for_load_state("networkidle")
    assert_clean_console(page)
    assert_no_serious_axe_violations(page)
    screenshot_both(page, name)


def sign_in(chromium, site, email_address: str, password: str = CUSTOMER_PASSWORD) -> Page:
    page = new_page(chromium, site.base_url)
    page.goto("/customer/login/")
    page.get_by_label("Email").fill(email_address)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    return page


def expected_refusal(page: Page, status: int) -> None:
    """A refused form (400) or a link that names nothing (404) answers its status, which Chromium reports in the
    console: that report is expected, nothing else."""
    assert [problem for problem in page.console_errors if f"status of {status}" not in problem] == []
    page.console_errors.clear()


def confirm(page: Page) -> None:
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Confirm").click()


def at_the_gateway(page: Page, button: str) -> None:
    """On the Demo Gateway's checkout page, press ``button``; the browser comes back to the return page."""
    expect(page.get_by_role("button", name="Never answer")).to_be_visible()
    # The page "Taking you to the gateway" leaves at once (its Refresh header): a page icon it had not loaded yet
    # is aborted, which is that navigation, not a problem.
    page.console_errors[:] = [
        problem
        for problem in page.console_errors
        if not (problem.startswith("request failed") and "favicon.svg" in problem)
    ]
    page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_url(re.compile(r"/customer/payments/\d+/return/\?attempt=att_"))


# --- the story -----------------------------------------------------------------------------------------


def test_customers_use_their_panel_in_the_browser(tmp_path, inbox):
    with live_arrears(tmp_path, schedule=False) as site, browser() as chromium:
        # Signing in: a wrong password is refused on the form; a manager does not get in
        page = new_page(chromium, site.base_url)
        page.goto("/customer/invoices/")
        expect(page).to_have_url(re.compile(r"/customer/login/\?next=/customer/invoices/$"))
        expect(page).to_have_title("Sign in · Customer Control Panel")
        look(page, "customer-login")
        page.get_by_label("Email").fill(OPERATOR_EMAIL)
        page.get_by_label("Password").fill(MANAGER_PASSWORDS[OPERATOR_EMAIL])
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_text("The email or the password is not right.")).to_be_visible()
        expected_refusal(page, 400)
        look(page, "customer-login-error")

        # Forgot password? The link arrives by SMTP, sets a new password once
        bikes = customer_of(site, "Urban Bikes Wien")
        page.get_by_role("link", name="Forgot password?").click()
        look(page, "customer-password-reset")
        page.get_by_label("Email").fill(bikes["email"])
        page.get_by_role("button", name="Send the link").click()
        expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()
        look(page, "customer-password-reset-sent")
        mail = inbox.wait_for(bikes["email"], "Reset your password for Skyline Cloud")
        [link] = re.findall(r"http://127\.0\.0\.1:\d+/customer/password-reset/\S+/", mail.get_content())
        assert link.startswith(site.base_url)
        page.goto(link)
        look(page, "customer-set-password")
        page.get_by_label("New password").fill(NEW_PASSWORD)
        page.get_by_label("Confirm password").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Set password").click()
        expect(page.get_by_text("Your new password is set.")).to_be_visible()
        page.goto(link)
        expect(page.get_by_role("heading", name="Link no longer valid")).to_be_visible()
        expected_refusal(page, 404)
        look(page, "customer-set-password-invalid")
        page.context.close()
        page = sign_in(chromium, site, bikes["email"], NEW_PASSWORD)
        page.context.close()

        # A customer who never pays: the overview, invoices and payments
        novak = customer_of(site, "Novak Media e.U.")
        assert novak["balance"] == 0
        payable = payable_payments(site, novak["account_id"])
        assert len(payable) >= 3, payable
        short, declined, unanswered = payable[-1], payable[0], payable[1]
        page = sign_in(chromium, site, novak["email"])
        expect(page).to_have_title("Overview · Skyline Cloud")
        expect(page.get_by_text("Waiting for payment").first).to_be_visible()
        look(page, "customer-overview")
        page.get_by_role("link", name="Invoices", exact=True).click()
        expect(page.get_by_text(re.compile(r"\d+ invoices"))).to_be_visible()
        look(page, "customer-invoices")
        page.get_by_role("link", name="Current period").first.click()
        expect(page.get_by_text("This is the current billing period")).to_be_visible()
        expect(page.get_by_role("link", name="Download")).to_have_count(0)
        look(page, "customer-invoice-open")

        # its invoice's standard PDF
        page.goto(f"/customer/invoices/{short['invoice_id']}/")
        look(page, "customer-invoice")
        wait_for_the_rendered_pdf(site, short["invoice_id"])
        with page.expect_download() as download:
            page.get_by_role("link", name="Download").click()
        assert download.value.suggested_filename.endswith(".pdf")
        assert open(download.value.path(), "rb").read(5) == b"%PDF-"

        page.get_by_role("link", name="Payments", exact=True).click()
        look(page, "customer-payments")

        # Not enough balance: the page says so and links a Top up prefilled with what is missing
        page.goto(f"/customer/payments/{short['id']}/")
        expect(page.get_by_text("short of the total")).to_be_visible()
        expect(page.get_by_role("button", name="Pay from balance")).to_have_count(0)
        look(page, "customer-payment-balance-short")
        page.get_by_role("link", name="Top up", exact=True).click()
        expect(page).to_have_url(re.compile(r"/customer/balance/\?amount=\d+\.\d\d$"))
        expected = f"{short['total'] // 100}.{short['total'] % 100:02d}"
        expect(page.get_by_label("Amount")).to_have_value(expected)
        look(page, "customer-balance-top-up")

        # Top up through the Demo Gateway, then pay from the balance
        page.get_by_role("button", name=f"Top up with {GATEWAY}").click()
        expect(page.get_by_text(f"EUR {expected}").first).to_be_visible()  # the gateway's page charges that
        at_the_gateway(page, "Pay")
        expect(page.get_by_text("Payment received")).to_be_visible(timeout=20_000)
        look(page, "customer-payment-return-received")
        assert customer_of(site, "Novak Media e.U.")["balance"] == short["total"]
        page.goto(f"/customer/payments/{short['id']}/")
        page.get_by_role("button", name="Pay from balance").click()
        confirm(page)
        expect(page.get_by_text(f"Payment {short['document_id']} of")).to_be_visible()
        assert payment(site, short["id"])["status"] == "paid_from_balance"
        assert payment(site, short["id"])["balance"] == 0
        look(page, "customer-payment-paid")

        page.get_by_role("link", name="Balance", exact=True).click()
        expect(page.get_by_text("Top-up").first).to_be_visible()
        look(page, "customer-balance")

        # Declined at the gateway: said on the return page, the payment is back and can be paid again
        page.goto(f"/customer/payments/{declined['id']}/")
        look(page, "customer-payment-payable")
        page.get_by_role("button", name=f"Pay with {GATEWAY}").click()
        at_the_gateway(page, "Decline")
        expect(page.get_by_text("Payment declined")).to_be_visible(timeout=20_000)
        look(page, "customer-payment-return-declined")
        assert payment(site, declined["id"])["status"] == declined["status"]
        page.get_by_role("link", name=re.compile("Back to payment")).click()
        expect(page.get_by_role("button", name=f"Pay with {GATEWAY}")).to_be_visible()
        expect(page.get_by_text("Declined").first).to_be_visible()  # the attempt, in the payment's attempts

        # No answer: the return page keeps checking, then says it is still processing
        page.goto(f"/customer/payments/{unanswered['id']}/")
        page.get_by_role("button", name=f"Pay with {GATEWAY}").click()
        at_the_gateway(page, "Never answer")
        expect(page.get_by_text("Checking your payment…")).to_be_visible()
        screenshot_both(page, "customer-payment-return-checking")
        expect(page.get_by_text("Still processing")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("We will e-mail you")).to_be_visible()
        look(page, "customer-payment-return-pending")
        assert payment(site, unanswered["id"])["status"] == "processing"
        page.goto(f"/customer/payments/{unanswered['id']}/")
        expect(page.get_by_text(f"A payment through {GATEWAY} is in progress.")).to_be_visible()
        expect(page.get_by_role("button", name=f"Pay with {GATEWAY}")).to_have_count(0)
        look(page, "customer-payment-processing")

        # Another account's payment is not found
        other = payable_payments(site, customer_of(site, "Oberhofer Hotels KG")["account_id"])
        foreign = other[0]["id"] if other else 1
        page.goto(f"/customer/payments/{foreign}/")
        expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
        expected_refusal(page, 404)
        look(page, "customer-not-found")
        page.context.close()

        # ERP: a payment whose invoice is being prepared is view-only, and the invoice has no Download
        lech = customer_of(site, "Lech Outdoor GmbH")
        waiting_for_erp = unapproved_payments(site, lech["account_id"])
        assert len(waiting_for_erp) >= 2, waiting_for_erp
        page = sign_in(chromium, site, lech["email"])
        page.goto(f"/customer/payments/{waiting_for_erp[0]['id']}/")
        expect(page.get_by_text("Your invoice is being prepared; you can pay it once it is issued.")).to_be_visible()
        expect(page.get_by_role("button", name="Pay from balance")).to_have_count(0)
        expect(page.get_by_role("button", name=f"Pay with {GATEWAY}")).to_have_count(0)
        look(page, "customer-payment-being-prepared")
        page.goto(f"/customer/invoices/{waiting_for_erp[0]['invoice_id']}/")
        expect(page.get_by_role("link", name="Download")).to_have_count(0)
        look(page, "customer-invoice-being-prepared")

        # Approved with an external total in another currency: said in plain words, the balance cannot pay it
        approve(site, waiting_for_erp[0]["invoice_id"], "LECH-2026-01", amount="{'total': '95.00', 'currency': 'USD'}")
        page.goto(f"/customer/payments/{waiting_for_erp[0]['id']}/")
        expect(page.get_by_text("states that you owe 95.00 USD")).to_be_visible()
        expect(page.get_by_text("so your balance cannot pay it")).to_be_visible()
        expect(page.get_by_role("button", name="Pay from balance")).to_have_count(0)
        expect(page.get_by_role("button", name=f"Pay with {GATEWAY}")).to_be_visible()
        look(page, "customer-payment-external-total")
        total = payment(site, waiting_for_erp[0]["id"])
        assert (total["total"], total["currency"]) == (waiting_for_erp[0]["total"], "EUR")

        # Approved with the ERP's file: Download gives that file
        pdf = base64.b64encode(ERP_PDF).decode()
        approve(
            site,
            waiting_for_erp[1]["invoice_id"],
            "LECH-2026-02",
            file=f"{{'name': 'LECH-2026-02.pdf', 'data': 'data:application/pdf;base64,{pdf}'}}",
        )
        page.goto(f"/customer/invoices/{waiting_for_erp[1]['invoice_id']}/")
        expect(page.get_by_text("File: LECH-2026-02.pdf")).to_be_visible()
        look(page, "customer-invoice-erp-file")
        with page.expect_download() as download:
            page.get_by_role("link", name="Download").click()
        assert download.value.suggested_filename == "LECH-2026-02.pdf"
        assert open(download.value.path(), "rb").read() == ERP_PDF
        page.context.close()

        # Approved with the ERP's link: Download sends the browser there (Arrears never fetches it)
        fjord = customer_of(site, "Fjord Consulting GmbH")
        [linked] = query(
            site,
            "from arrears.invoices.models import Invoice\n"
            f"result = list(Invoice.objects.filter(account_id={fjord['account_id']}, "
            "attachment_kind='link').order_by('-id').values('id', 'attachment_url')[:1])",
        )
        page = sign_in(chromium, site, fjord["email"])
        page.goto(f"/customer/invoices/{linked['id']}/")
        expect(page.get_by_text("Link to erp.nordlicht-it.example")).to_be_visible()
        look(page, "customer-invoice-erp-link")
        cookies = {cookie["name"]: cookie["value"] for cookie in page.context.cookies()}
        answer = httpx.get(
            f"{site.base_url}/customer/invoices/{linked['id']}/download/", cookies=cookies, follow_redirects=False
        )
        assert answer.status_code == 302 and answer.headers["location"] == linked["attachment_url"]

        # Signing out
        page.goto("/customer/")
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_text("You are signed out.")).to_be_visible()
        page.context.close()

        assert "Traceback" not in site.log_tail(200_000)
