"""Payment connectors and payment methods in the Operator Control Panel, in a real browser against a real
``arrears serve`` with the demo data: the demo's admin adds a connector (a wrong currency first, named under its
field), copies its secret from the page that shows it once, rotates it (both valid for 24 hours) and ends the
rotation, adds a payment method that pays through it; then a customer's attempts through that connector — one
declined, one timed out and succeeded late — are on the payment's page with their log and messages.

The connector is a scriptable fake on loopback in this process (tests/gateways/fake_connector.py), speaking
protocol v1 with the secret the page showed; the outcomes reach Arrears as signed callbacks over HTTP. Every page
is screenshotted at 1280 px and 390 px and checked by axe and for console and CSP errors.
"""

import re

import pytest
from playwright.sync_api import Page, expect

from arrears.demo.builder import CURRENCY, MANAGER_PASSWORDS, OPERATOR_EMAIL, OPERATOR_NAME
from tests.browser import (
    assert_clean_console,
    assert_no_serious_axe_violations,
    browser,
    live_arrears,
    new_page,
    query,
    screenshot_both,
)
from tests.gateways.fake_connector import fake_connector, post_callback

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SECRET = re.compile(r"^whsec_[A-Za-z0-9+/=]{20,}$")
PROCESSING_MINUTES = 15


def look(page: Page, name: str) -> None:
    page.wait_for_load_state("networkidle")
    assert_clean_console(page)
    assert_no_serious_axe_violations(page)
    # axe scrolls boxes while it checks them: the screenshots show the messages from their first column again
    page.evaluate("document.querySelectorAll('pre').forEach(function (box) { box.scrollLeft = 0; })")
    screenshot_both(page, name)


def confirm(page: Page) -> None:
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Confirm").click()


def connector_row(site) -> dict:
    return query(
        site,
        "from arrears.gateways.models import PaymentConnector\n"
        "c = PaymentConnector.objects.get(name='Card Gateway')\n"
        "result = {'id': c.pk, 'secret': c.secret, 'previous_secret': c.previous_secret, "
        "'currencies': c.currencies, 'processing_minutes': c.processing_minutes, 'url': c.url}",
    )


START_ATTEMPT = """
from django.utils import timezone
from arrears.core.actors import Actor
from arrears.gateways.services import start_attempt
from arrears.payments.models import Payment, PaymentMethod
payment = Payment.objects.get(pk={payment_id})
method = PaymentMethod.objects.get(reseller=payment.reseller, name="Card")
attempt = start_attempt(payment, method, return_url="http://127.0.0.1/customer/payments/{payment_id}/return/"
                        "?attempt={{attempt_id}}", actor=Actor("customer_user", None, "customer"),
                        now=timezone.now())
result = {{"public_id": attempt.public_id, "checkout_id": attempt.checkout_id, "amount": attempt.amount,
          "currency": attempt.currency, "status": attempt.status}}
"""

TIME_OUT = """
from datetime import timedelta
from django.utils import timezone
from arrears.gateways.models import PaymentAttempt
from arrears.gateways.services import check_attempt
attempt = PaymentAttempt.objects.get(public_id="{public_id}")
result = check_attempt(attempt, now=timezone.now() + timedelta(minutes={minutes})).status
"""


def outcome(attempt: dict, kind: str) -> dict:
    return {
        "type": f"checkout.{kind}",
        "attempt_id": attempt["public_id"],
        "checkout_id": attempt["checkout_id"],
        "amount": attempt["amount"],
        "currency": attempt["currency"],
        "occurred_at": "2026-01-01T00:00:00Z",
    }


def payment_status(site, payment_id: int) -> str:
    return query(
        site, f"from arrears.payments.models import Payment\nresult = Payment.objects.get(pk={payment_id}).status"
    )


def test_an_admin_sets_up_a_connector_and_sees_the_attempts_through_it(tmp_path):
    with (
        live_arrears(tmp_path, schedule=False) as site,
        browser() as chromium,
        fake_connector("whsec_" + "A" * 32) as fake,
    ):
        page = new_page(chromium, site.base_url)
        page.goto("/operator/login/")
        page.get_by_label("Email").fill(OPERATOR_EMAIL)
        page.get_by_label("Password").fill(MANAGER_PASSWORDS[OPERATOR_EMAIL])
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

        # Given the admin on Settings → Payment connectors
        page.get_by_role("link", name="Payment connectors").click()
        expect(page.get_by_role("heading", name="Payment connectors", exact=True)).to_be_visible()
        page.get_by_role("link", name="Add connector").first.click()
        look(page, "operator-connector-add")

        # When they add a connector with a currency code that does not exist
        page.get_by_label("Name").fill("Card Gateway")
        page.get_by_label("URL").fill(fake.url)
        page.get_by_label("Period for payment processing").fill(str(PROCESSING_MINUTES))
        page.get_by_label("Currencies").fill(f"{CURRENCY}, EURO")
        page.get_by_role("button", name="Add connector").click()
        # Then the error is under the field, what was typed is kept, and nothing is stored
        expect(page.locator("#id_currencies-error-1")).to_contain_text("'EURO' is not an ISO 4217 currency code")
        expect(page.locator("#id_currencies-error-1")).to_contain_text("CONNECTOR-0004")
        expect(page.get_by_label("Name")).to_have_value("Card Gateway")
        assert (
            query(
                site,
                "from arrears.gateways.models import PaymentConnector\n"
                "result = PaymentConnector.objects.filter(name='Card Gateway').count()",
            )
            == 0
        )
        # (the refused form answers 400, which Chromium reports in the console: expected here, and only that)
        assert [problem for problem in page.console_errors if "status of 400" not in problem] == []
        page.console_errors.clear()
        look(page, "operator-connector-form-error")

        # When they correct it
        page.get_by_label("Currencies").fill(f"{CURRENCY.lower()} usd")
        page.get_by_role("button", name="Add connector").click()
        # Then the secret is shown once, as stored, with a warning
        expect(page.get_by_text("Copy it now:")).to_be_visible()
        secret = page.locator("#connector-secret").inner_text().strip()
        stored = connector_row(site)
        assert SECRET.match(secret) and secret == stored["secret"]
        assert (stored["url"], stored["processing_minutes"], stored["currencies"]) == (
            fake.url,
            PROCESSING_MINUTES,
            [CURRENCY, "USD"],
        )
        fake.secret = secret
        # The Copy button puts it on the clipboard
        page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.base_url)
        page.get_by_role("button", name="Copy the shared secret").click()
        expect(page.get_by_role("button", name="Copy the shared secret")).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == secret
        look(page, "operator-connector-secret")
        secret_url = page.url
        # And never again: the same address, the connector's page, the list
        page.goto(secret_url)
        expect(page.get_by_text("shown once, right after it is generated")).to_be_visible()
        assert secret not in page.content()
        look(page, "operator-connector")
        page.get_by_role("link", name="Payment connectors").first.click()
        assert secret not in page.content()

        # When they rotate the secret
        page.get_by_role("link", name="Card Gateway").click()
        page.get_by_role("button", name="Rotate secret").click()
        confirm(page)
        # Then the new one is shown once and both are valid for 24 hours
        expect(page.get_by_text("Both the new and the previous secret are valid for 24 hours")).to_be_visible()
        new_secret = page.locator("#connector-secret").inner_text().strip()
        stored = connector_row(site)
        assert new_secret == stored["secret"] != secret and stored["previous_secret"] == secret
        assert secret not in page.content()
        look(page, "operator-connector-secret-rotated")
        fake.secret = new_secret
        page.get_by_role("link", name="Done").click()
        expect(page.get_by_text("Rotation in progress.")).to_be_visible()
        assert new_secret not in page.content()
        look(page, "operator-connector-rotating")
        # And ending the rotation accepts the new secret only
        page.get_by_role("button", name="End rotation").click()
        confirm(page)
        expect(page.get_by_text("The rotation is ended")).to_be_visible()
        assert connector_row(site)["previous_secret"] == ""
        page.get_by_role("link", name="Payment connectors").first.click()
        expect(page.get_by_role("cell", name=f"{CURRENCY} USD")).to_be_visible()
        look(page, "operator-payment-connectors")

        # When they add a payment method that pays through it
        page.get_by_role("link", name="Payment methods").first.click()
        page.get_by_label("Name").fill("Card")
        page.get_by_label("Kind").select_option(label="Connector: Card Gateway")
        page.get_by_role("button", name="Add payment method").click()
        expect(page.get_by_text("The payment method Card is added: Connector: Card Gateway.")).to_be_visible()
        expect(page.get_by_role("cell", name="Connector: Card Gateway")).to_be_visible()
        look(page, "operator-payment-methods")

        # Given a customer's payment: one attempt declined, one that timed out and then succeeded late
        payment_id = query(
            site,
            f"from arrears.payments.models import Payment\n"
            f"result = Payment.objects.filter(reseller__name={OPERATOR_NAME!r}, "
            f"type='rendered_services', status='waiting_for_payment', due_date__isnull=False, "
            f"currency={CURRENCY!r}, total__gt=0, invoice__managed_externally=False)"
            f".order_by('id').values_list('id', flat=True).first()",
        )
        assert payment_id, "the demo has no waiting payment"
        declined = query(site, START_ATTEMPT.format(payment_id=payment_id))
        assert declined["status"] == "open" and payment_status(site, payment_id) == "processing"
        answer = post_callback(site.base_url, stored["id"], new_secret, outcome(declined, "declined"))
        assert answer.status_code == 200 and answer.json() == {"result": "applied"}
        assert payment_status(site, payment_id) == "waiting_for_payment"
        late = query(site, START_ATTEMPT.format(payment_id=payment_id))
        assert query(site, TIME_OUT.format(public_id=late["public_id"], minutes=PROCESSING_MINUTES + 1)) == "timed_out"
        assert payment_status(site, payment_id) == "waiting_for_payment"
        assert post_callback(site.base_url, stored["id"], new_secret, outcome(late, "succeeded")).json() == {
            "result": "applied"
        }
        assert payment_status(site, payment_id) == "completed"

        # When the admin opens the payment
        page.goto(f"/operator/payments/{payment_id}/")
        attempts = page.locator("#attempts")
        # Then both attempts are there, newest first, with their outcome and log
        expect(attempts.get_by_role("heading", name="Card Gateway")).to_have_count(2)
        expect(attempts.locator(".attempt").first).to_contain_text("Succeeded late")
        expect(attempts.locator(".attempt").nth(1)).to_contain_text("Declined")
        for step in (
            "Started",
            "Checkout requested",
            "Sent to the checkout page",
            "Status checked",
            "Timed out",
            "Late success",
        ):
            expect(attempts.locator(".step-what", has_text=re.compile(f"^{step}$")).first).to_be_visible()
        expect(attempts.get_by_text("HTTP 201").first).to_be_visible()
        # And a message opens on demand, its signature redacted
        first_message = attempts.locator("details.step-message").first
        first_message.locator("summary").click()
        expect(first_message.locator("pre")).to_contain_text("[redacted]")
        assert new_secret not in page.content() and secret not in page.content()
        look(page, "operator-payment-attempts")
        assert late["public_id"] in page.content() and declined["public_id"] in page.content()
        # Past the attempts: the late success completed the payment
        expect(page.get_by_role("heading", name=re.compile("Payment .* Completed"))).to_be_visible()
