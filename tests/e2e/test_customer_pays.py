"""Customers pay, in Debian's Chromium, against a real ``arrears serve`` with the demo and its Demo Gateway (the
reference gateway, a process of its own that serve starts): every step is checked on the page and in the database.

- A Skyline customer downloads a default-mode invoice's PDF and pays the payment from the balance.
- A customer without balance tops up through the gateway, then pays from the balance.
- A declined attempt and a timed-out one return their payments to the status they had (waiting, expired); a late
  success then completes the timed-out one.
- **Pay twice** completes the payment and credits the second amount to the balance.
- A Nordlicht customer sees the ERP payment view-only before approval; once the ERP states an external total in
  another currency, the payment page and the gateway's page show that amount, the balance cannot pay it, and the
  gateway does — while the payment's own total stays as it was.
"""

import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

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

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "demo-customer"
GATEWAY = "Demo Gateway"
PAYMENT = "from arrears.payments.models import Payment\n"
ACCOUNT = "from arrears.customers.models import Account, CustomerUser\n"


# --- reading the database --------------------------------------------------------------------------------


def customer_of(site, account_name: str) -> dict:
    return query(
        site,
        ACCOUNT + f"u = CustomerUser.objects.select_related('account', 'user').get("
        f"account__name={account_name!r})\n"
        "result = {'email': u.user.email, 'account_id': u.account_id, "
        "'balance': u.account.balance}",
    )


def payments_of(site, account_id: int, *statuses: str) -> list[dict]:
    return query(
        site,
        PAYMENT + f"result = list(Payment.objects.filter(account_id={account_id}, "
        f"type='rendered_services', status__in={list(statuses)!r}).exclude(due_date=None)"
        ".order_by('id').values('id', 'status', 'total', 'currency', 'invoice_id'))",
    )


def payment(site, payment_id: int) -> dict:
    return query(
        site,
        PAYMENT + f"p = Payment.objects.get(pk={payment_id})\n"
        "result = {'status': p.status, 'total': p.total, 'currency': p.currency, "
        "'external_total': p.external_total, 'external_currency': p.external_currency, "
        "'balance': p.account.balance}",
    )


def attempts(site, payment_id: int) -> list[dict]:
    return query(
        site,
        "from arrears.gateways.models import PaymentAttempt\n"
        f"result = list(PaymentAttempt.objects.filter(payment_id={payment_id}).order_by('id')"
        ".values('public_id', 'status', 'late', 'amount', 'currency', 'redirect_url'))",
    )


def balance(site, account_id: int) -> int:
    return query(site, ACCOUNT + f"result = Account.objects.get(pk={account_id}).balance")


def events(site, event_type: str, account_id: int) -> list[dict]:
    return query(
        site,
        "from arrears.events.models import Event\n"
        f"result = list(Event.objects.filter(type={event_type!r}, account_id={account_id})"
        ".values('subject_id', 'payload'))",
    )


# --- the browser ------------------------------------------------------------------------------------------


def look(page: Page, name: str) -> None:
    page.wait_for_load_state("networkidle")
    assert_clean_console(page)
    assert_no_serious_axe_violations(page)
    screenshot_both(page, f"story-{name}")  # beside test_customer_panel's, not over them


def sign_in(chromium, site, email: str) -> Page:
    page = new_page(chromium, site.base_url)
    page.goto("/customer/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/customer/$"))
    return page


def pay_from_balance(page: Page) -> None:
    page.get_by_role("button", name="Pay from balance").click()
    dialog = page.get_by_role("dialog")  # money moves: the panel asks first, saying what will happen
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("Paid from balance").first).to_be_visible()


def pay_through_gateway(page: Page, button: str, *, payment_id: int | None = None) -> str:
    """On a payment page, Pay with the Demo Gateway and press ``button`` on its checkout page; returns the
    checkout page's URL."""
    page.get_by_role("button", name=f"Pay with {GATEWAY}").click()
    expect(page.get_by_role("button", name="Never answer")).to_be_visible()
    checkout_url = page.url
    assert checkout_url.startswith("http://127.0.0.1:") and "/checkout/" in checkout_url
    page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_url(re.compile(r"/customer/payments/\d+/return/\?attempt=att_"))
    return checkout_url


def outcome_shown(page: Page, text: str) -> None:
    """The return page asks the connector (it never trusts its query string) and shows the outcome."""
    expect(page.get_by_text(text).first).to_be_visible(timeout=20_000)


# --- the story --------------------------------------------------------------------------------------------


def test_customers_download_pay_from_balance_top_up_and_pay_through_the_demo_gateway(tmp_path):
    with live_arrears(tmp_path, schedule=False) as site, browser() as chromium:
        # 1. A default-mode invoice's PDF, and a payment paid from the balance
        alpine = customer_of(site, "Alpine Dental Clinic")
        [waiting] = payments_of(site, alpine["account_id"], "waiting_for_payment")
        assert alpine["balance"] >= waiting["total"]
        page = sign_in(chromium, site, alpine["email"])
        look(page, "customer-overview")
        rendered = (
            "from arrears.invoices.models import Invoice\n"
            f"result = Invoice.objects.filter(pk={waiting['invoice_id']}, "
            "document__rendered_version__gt=0).exists()"
        )
        deadline = time.monotonic() + 120
        while not query(site, rendered):  # the task consumer renders the demo's PDFs in the background
            assert time.monotonic() < deadline, "the invoice's PDF was never rendered"
            time.sleep(1)
        page.goto(f"/customer/invoices/{waiting['invoice_id']}/")
        look(page, "customer-invoice")
        with page.expect_download() as download:
            page.get_by_role("link", name="Download").click()
        assert download.value.suggested_filename.endswith(".pdf")
        assert open(download.value.path(), "rb").read(5) == b"%PDF-"
        page.goto(f"/customer/payments/{waiting['id']}/")
        look(page, "customer-payment-waiting")
        pay_from_balance(page)
        assert payment(site, waiting["id"])["status"] == "paid_from_balance"
        assert balance(site, alpine["account_id"]) == alpine["balance"] - waiting["total"]
        page.context.close()

        # 2. No balance: Top up (prefilled with what is missing) through the gateway, then pay from the balance
        lindner = customer_of(site, "Lindner Logistics GmbH")
        [owed] = payments_of(site, lindner["account_id"], "waiting_for_payment")
        assert lindner["balance"] == 0
        page = sign_in(chromium, site, lindner["email"])
        page.goto(f"/customer/payments/{owed['id']}/")
        expect(page.get_by_role("button", name="Pay from balance")).to_have_count(0)
        look(page, "customer-payment-balance-short")
        page.get_by_role("link", name="Top up").click()
        expect(page).to_have_url(re.compile(r"/customer/balance/\?amount="))
        amount_field = page.get_by_label("Amount")
        expect(amount_field).to_have_value(re.compile(r"^\d+\.\d\d$"))
        look(page, "customer-balance-top-up")
        page.get_by_role("button", name=f"Top up with {GATEWAY}").click()
        expect(page.get_by_role("button", name="Pay twice")).to_be_visible()
        look(page, "gateway-checkout-top-up")
        page.get_by_role("button", name="Pay", exact=True).click()
        outcome_shown(page, "Payment received")
        look(page, "customer-payment-return-received")
        assert balance(site, lindner["account_id"]) == owed["total"]
        page.goto(f"/customer/payments/{owed['id']}/")
        pay_from_balance(page)
        assert payment(site, owed["id"])["status"] == "paid_from_balance"
        assert balance(site, lindner["account_id"]) == 0
        page.context.close()

        # 3. Declined: back to waiting. Timed out: back to expired. A late success completes it.
        moser = customer_of(site, "Moser Steuerberatung")
        [declined] = payments_of(site, moser["account_id"], "waiting_for_payment")
        page = sign_in(chromium, site, moser["email"])
        page.goto(f"/customer/payments/{declined['id']}/")
        pay_through_gateway(page, "Decline")
        outcome_shown(page, "declined")
        assert payment(site, declined["id"])["status"] == "waiting_for_payment"
        assert [a["status"] for a in attempts(site, declined["id"])] == ["declined"]
        page.goto(f"/customer/payments/{declined['id']}/")
        expect(page.get_by_role("button", name=f"Pay with {GATEWAY}")).to_be_enabled()
        look(page, "customer-payment-declined")
        page.context.close()

        novak = customer_of(site, "Novak Media e.U.")
        expired = payments_of(site, novak["account_id"], "expired")[-1]
        page = sign_in(chromium, site, novak["email"])
        page.goto(f"/customer/payments/{expired['id']}/")
        checkout_url = pay_through_gateway(page, "Never answer")
        outcome_shown(page, "Checking your payment")
        assert payment(site, expired["id"])["status"] == "processing"
        page.goto(f"/customer/payments/{expired['id']}/")
        expect(page.get_by_role("button", name=f"Pay with {GATEWAY}")).to_have_count(0)  # no double charge
        look(page, "customer-payment-processing")
        later = (datetime.now(UTC) + timedelta(minutes=16)).isoformat()
        assert "asked about 1 open attempt" in arrears(site.env, "sweep-attempts", "--at", later)
        assert payment(site, expired["id"])["status"] == "expired"
        assert [a["status"] for a in attempts(site, expired["id"])] == ["timed_out"]
        page.reload()
        expect(page.get_by_text("Timed out").first).to_be_visible()
        page.goto(checkout_url)  # the customer had left the gateway's page open, and pays after all
        page.get_by_role("button", name="Pay", exact=True).click()
        page.wait_for_url(re.compile(r"/customer/payments/\d+/return/"))
        assert payment(site, expired["id"])["status"] == "completed"
        [late] = attempts(site, expired["id"])
        assert (late["status"], late["late"]) == ("succeeded", True)
        page.goto(f"/customer/payments/{expired['id']}/")
        expect(page.get_by_text("Late success").first).to_be_visible()
        look(page, "customer-payment-late-success")
        page.context.close()

        # 4. Pay twice: the payment completes once, the second charge is credited to the balance
        pichler = customer_of(site, "Pichler Engineering AG")
        [twice] = payments_of(site, pichler["account_id"], "waiting_for_payment")
        page = sign_in(chromium, site, pichler["email"])
        page.goto(f"/customer/payments/{twice['id']}/")
        pay_through_gateway(page, "Pay twice")
        outcome_shown(page, "Payment received")
        page.wait_for_timeout(500)
        assert payment(site, twice["id"])["status"] == "completed"
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        credited = pichler["balance"] + twice["total"]
        while balance(site, pichler["account_id"]) != credited and datetime.now(UTC) < deadline:
            page.wait_for_timeout(250)  # the second callback follows the first
        assert balance(site, pichler["account_id"]) == credited
        [duplicate] = events(site, "payment.duplicate_success", pichler["account_id"])
        assert duplicate["subject_id"] == twice["id"] and duplicate["payload"]["credited"] == twice["total"]
        page.goto("/customer/balance/")
        look(page, "customer-balance")
        page.context.close()

        # 5. ERP: view-only before approval; an external total in USD afterwards, paid through the gateway
        fjord = customer_of(site, "Fjord Consulting GmbH")
        [erp] = query(
            site,
            PAYMENT + f"result = list(Payment.objects.filter(account_id={fjord['account_id']}, "
            "status='waiting_for_payment', due_date=None).values('id', 'invoice_id', "
            "'total', 'currency'))",
        )
        page = sign_in(chromium, site, fjord["email"])
        page.goto(f"/customer/payments/{erp['id']}/")
        expect(
            page.get_by_text("your invoice is being prepared; you can pay it once it is issued", exact=False).first
        ).to_be_visible()
        expect(page.get_by_role("button", name="Pay from balance")).to_have_count(0)
        expect(page.get_by_role("button", name=f"Pay with {GATEWAY}")).to_have_count(0)
        look(page, "customer-payment-erp-being-prepared")
        query(
            site,
            "from datetime import timedelta\nfrom arrears.core import clock\n"
            "from arrears.core.actors import Actor\nfrom arrears.invoices.models import Invoice\n"
            "from arrears.invoices.services import approve_invoice\n"
            f"invoice = Invoice.objects.get(pk={erp['invoice_id']})\nnow = clock.wall_clock()\n"
            "approve_invoice(invoice, document_id='FJ-2026-77', billing_date=invoice.billing_date, "
            "due_date=clock.local_date(now, invoice.reseller.timezone) + timedelta(days=14), "
            "amount={'total': '95.00', 'currency': 'USD'}, actor=Actor.system('the ERP'), now=now)\n"
            "result = True",
        )
        page.reload()
        expect(page.get_by_text("95.00 USD").first).to_be_visible()
        expect(page.get_by_role("button", name="Pay from balance")).to_have_count(0)
        look(page, "customer-payment-erp-external-total")
        page.get_by_role("button", name=f"Pay with {GATEWAY}").click()
        expect(page.get_by_text(re.compile(r"USD\s95\.00")).first).to_be_visible()
        look(page, "gateway-checkout-external-total")
        page.get_by_role("button", name="Pay", exact=True).click()
        outcome_shown(page, "Payment received")
        after = payment(site, erp["id"])
        assert after["status"] == "completed"
        assert (after["total"], after["currency"]) == (erp["total"], erp["currency"])
        assert (after["external_total"], after["external_currency"]) == (9500, "USD")
        [charged] = attempts(site, erp["id"])
        assert (charged["amount"], charged["currency"], charged["status"]) == (9500, "USD", "succeeded")
        page.goto(f"/customer/payments/{erp['id']}/")
        expect(page.get_by_text("95.00 USD").first).to_be_visible()  # still said after paying
        look(page, "customer-payment-erp-paid")
        page.context.close()

        assert "Traceback" not in site.log_tail(200_000)
