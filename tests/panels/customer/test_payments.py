"""A customer's payments: the list, the payment page, paying from the balance when the rules allow it (R8, R18)
and saying why not when they do not, the external total in plain words (R19), one Pay with <connector> per
payment method, and the return page, which asks the connector instead of trusting its query string."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from arrears.core import clock
from arrears.core.actors import SYSTEM
from arrears.customers.models import Account
from arrears.events.models import Event
from arrears.gateways.models import PaymentAttempt
from arrears.gateways.services import check_attempt, receive_callback, start_attempt
from arrears.payments.models import Payment
from arrears.payments.services import cancel_payment, pay_from_balance, request_top_up
from tests.factories import T0, AccountFactory, ResellerFactory
from tests.gateways.fake_connector import signed_callback
from tests.service_support import approved, invoice_of, invoices_of

S = Payment.Status
A = PaymentAttempt.Status


def page_of(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def reload(payment: Payment) -> Payment:
    return Payment.objects.select_related("account").get(pk=payment.pk)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def erp_reseller(db):
    return ResellerFactory(name="Nordlicht", erp=True)


def erp_payment(reseller, *, balance: int = 0, **approval) -> Payment:
    """An ERP invoice's payment; approved (a due date) with ``approval``'s fields unless ``approval`` is None."""
    invoice = invoice_of(AccountFactory(reseller=reseller, balance=balance))
    if approval.pop("approve", True):
        approved(invoice, **approval)
    return reload(invoice.payment)


# --- Pay from balance ---------------------------------------------------------------------------------


def test_paying_from_the_balance(billed, customer_client):
    payment = billed(balance=150_00).payment
    client = customer_client(payment.account)
    body = page_of(client, f"/customer/payments/{payment.pk}/")
    assert f"<title>Payment {payment.document_id} · Plain Hosting</title>" in body
    assert ">Pay from balance</button>" in body
    assert (
        f'data-confirm="Pay {payment.document_id} of 100.00 EUR from your balance? Your balance goes from '
        '150.00 EUR to 50.00 EUR."'
    ) in body
    response = client.post(f"/customer/payments/{payment.pk}/pay-from-balance/", follow=True)
    assert response.redirect_chain == [(f"/customer/payments/{payment.pk}/", 302)]
    assert messages_of(response) == [
        f"Payment {payment.document_id} of 100.00 EUR is paid from your balance. Your balance is now 50.00 EUR."
    ]
    paid = reload(payment)
    assert (paid.status, paid.account.balance) == (S.PAID_FROM_BALANCE, 50_00)
    body = response.content.decode()
    assert ">Pay from balance</button>" not in body
    assert "This payment was paid from your balance: there is nothing left to pay." in body
    # the customer user is the actor of the event
    event = Event.objects.get(type="payment.received", subject_id=paid.pk)
    assert (event.actor_kind, event.actor_label) == ("customer_user", client.customer_user.user.email)


def test_not_enough_balance_says_by_how_much_and_links_a_prefilled_top_up(billed, customer_client):
    payment = billed(balance=20_00).payment
    client = customer_client(payment.account)
    body = page_of(client, f"/customer/payments/{payment.pk}/")
    assert ">Pay from balance</button>" not in body
    assert (
        "Your balance of 20.00 EUR is 80.00 EUR short of the total of 100.00 EUR. Top up your balance to pay from it."
    ) in body
    assert '<a class="button" href="/customer/balance/?amount=80.00">Top up</a>' in body
    response = client.post(f"/customer/payments/{payment.pk}/pay-from-balance/", follow=True)
    assert messages_of(response) == ["The account balance does not cover the payment total. · PAYMENT-0105"]
    assert reload(payment).status == S.WAITING_FOR_PAYMENT and reload(payment).account.balance == 20_00


def test_an_external_total_that_differs_rules_out_the_balance_and_is_said_in_plain_words(erp_reseller, customer_client):
    payment = erp_payment(
        erp_reseller, balance=500_00, document_id="ERP-7", amount={"total": "95.00", "currency": "USD"}
    )
    client = customer_client(payment.account)
    body = page_of(client, f"/customer/payments/{payment.pk}/")
    assert ">Pay from balance</button>" not in body
    assert (
        "Your invoice states 95.00 USD, which is not the platform total of 100.00 EUR, so your balance cannot "
        "pay it. Pay it through a payment service instead."
    ) in body
    assert (
        "Your invoice ERP-7 states that you owe <strong>95.00 USD</strong>. That is what a payment service "
        "charges; the platform total of 100.00 EUR stays as it is."
    ) in body
    assert '<span class="external-total">Invoice states 95.00 USD</span>' in body
    response = client.post(f"/customer/payments/{payment.pk}/pay-from-balance/", follow=True)
    assert messages_of(response) == [
        "The ERP stated an external total that differs from the payment; use another payment method. · PAYMENT-0106"
    ]
    assert reload(payment).status == S.WAITING_FOR_PAYMENT and reload(payment).account.balance == 500_00


def test_an_external_total_equal_to_the_platforms_allows_the_balance(erp_reseller, customer_client):
    payment = erp_payment(erp_reseller, balance=500_00, amount={"total": "100.00", "currency": "EUR"})
    body = page_of(customer_client(payment.account), f"/customer/payments/{payment.pk}/")
    assert ">Pay from balance</button>" in body


def test_an_erp_payment_without_a_due_date_is_view_only(erp_reseller, customer_client, card_gateway):
    card_gateway(erp_reseller)
    payment = erp_payment(erp_reseller, balance=500_00, approve=False)
    client = customer_client(payment.account)
    body = page_of(client, f"/customer/payments/{payment.pk}/")
    assert "Your invoice is being prepared; you can pay it once it is issued." in body
    assert ">Pay from balance</button>" not in body and ">Pay with " not in body
    assert "How to pay" not in body
    assert "Once the invoice is issued" in body
    for action in ("pay-from-balance/", "pay/"):
        response = client.post(f"/customer/payments/{payment.pk}/{action}", {"method": "1"}, follow=True)
        assert response.status_code == 200
    assert reload(payment).status == S.WAITING_FOR_PAYMENT and reload(payment).account.balance == 500_00
    assert not PaymentAttempt.objects.filter(payment=payment).exists()


def test_a_cancelled_or_a_top_up_payment_says_why_the_balance_does_not_pay_it(erp_reseller, customer_client):
    cancelled = erp_payment(erp_reseller, approve=False)
    cancel_payment(cancelled, comment="service credit", actor=SYSTEM, now=T0)
    client = customer_client(cancelled.account)
    assert "This payment is cancelled: there is nothing to pay." in page_of(
        client, f"/customer/payments/{cancelled.pk}/"
    )
    top_up = request_top_up(cancelled.account, 40_00, actor=SYSTEM, now=T0)
    body = page_of(client, f"/customer/payments/{top_up.pk}/")
    assert "A top-up adds money to your balance, so the balance cannot pay it." in body
    assert "Balance top-up" in body


# --- Pay with <connector> --------------------------------------------------------------------------------


def test_one_pay_button_per_payment_method_and_paying_opens_the_checkout(billed, customer_client, card_gateway):
    invoice = billed()
    reseller = invoice.reseller
    _, card, fake = card_gateway(reseller)
    card_gateway(reseller, name="Wallet Pay")
    card_gateway(reseller, name="Dollar Only", currencies=["USD"])  # cannot charge EUR: not offered
    payment = invoice.payment
    client = customer_client(payment.account)
    body = page_of(client, f"/customer/payments/{payment.pk}/")
    assert ">Pay with Card Gateway</button>" in body and ">Pay with Wallet Pay</button>" in body
    assert "Dollar Only" not in body

    response = client.post(f"/customer/payments/{payment.pk}/pay/", {"method": card.pk})
    attempt = PaymentAttempt.objects.get(payment=payment)
    # On to the checkout through a page of the site: the CSP's form-action 'self' blocks a form's cross-origin
    # redirect, and a GET page is safe to reload
    checkout = f"/customer/payments/{payment.pk}/checkout/?attempt={attempt.public_id}"
    assert response.status_code == 303 and response["Location"] == checkout
    assert attempt.redirect_url.startswith(fake.url)
    on_to = client.get(checkout)
    assert on_to.status_code == 200 and on_to["Refresh"] == f"0; url={attempt.redirect_url}"
    assert f'href="{attempt.redirect_url}" rel="noreferrer">Continue to Card Gateway</a>' in on_to.content.decode()
    sent = fake.checkout_request(attempt.public_id)
    assert sent["return_url"] == f"http://testserver/customer/payments/{payment.pk}/return/?attempt={attempt.public_id}"
    assert (sent["amount"], sent["currency"]) == (100_00, "EUR")
    assert reload(payment).status == S.PROCESSING

    # While it is open: no second Pay, and the page says why, with a link to its status
    body = page_of(client, f"/customer/payments/{payment.pk}/")
    assert ">Pay with " not in body
    assert "A payment through Card Gateway is in progress." in body
    assert f'/customer/payments/{payment.pk}/return/?attempt={attempt.public_id}">Check its status</a>' in body
    response = client.post(f"/customer/payments/{payment.pk}/pay/", {"method": card.pk}, follow=True)
    assert messages_of(response)[0].endswith("· CONNECTOR-0006")
    assert PaymentAttempt.objects.filter(payment=payment).count() == 1


def test_a_connector_that_does_not_answer_is_said_and_changes_nothing(billed, customer_client, card_gateway):
    invoice = billed()
    _, card, fake = card_gateway(invoice.reseller)
    fake.checkout_answer = "error"
    client = customer_client(invoice.account)
    response = client.post(f"/customer/payments/{invoice.payment.pk}/pay/", {"method": card.pk}, follow=True)
    assert response.redirect_chain == [(f"/customer/payments/{invoice.payment.pk}/", 302)]
    assert messages_of(response) == [
        "Card Gateway did not open a checkout; nothing was charged. Try again in a moment. · CONNECTOR-0005"
    ]
    assert reload(invoice.payment).status == S.WAITING_FOR_PAYMENT
    assert ">Pay with Card Gateway</button>" in response.content.decode()


def test_a_method_not_offered_for_the_payment_is_refused(billed, customer_client, card_gateway):
    invoice = billed()
    _, dollars, _ = card_gateway(invoice.reseller, name="Dollar Only", currencies=["USD"])
    other_reseller_method = card_gateway(ResellerFactory(), name="Elsewhere")[1]
    client = customer_client(invoice.account)
    for method in (dollars.pk, other_reseller_method.pk, "x", ""):
        response = client.post(f"/customer/payments/{invoice.payment.pk}/pay/", {"method": method}, follow=True)
        assert "This payment service is not offered for this payment." in messages_of(response)[0]
    assert not PaymentAttempt.objects.exists()
    assert client.get(f"/customer/payments/{invoice.payment.pk}/pay/").status_code == 405


def test_an_external_total_is_what_the_connector_charges_and_the_platform_total_stays(
    erp_reseller, customer_client, card_gateway
):
    connector, card, fake = card_gateway(erp_reseller, currencies=["EUR", "USD"])
    payment = erp_payment(erp_reseller, document_id="ERP-9", amount={"total": "95.00", "currency": "USD"})
    client = customer_client(payment.account)
    client.post(f"/customer/payments/{payment.pk}/pay/", {"method": card.pk})
    attempt = PaymentAttempt.objects.get(payment=payment)
    assert (attempt.amount, attempt.currency) == (95_00, "USD")
    succeed(fake, connector, attempt)
    paid = reload(payment)
    assert (paid.status, paid.total, paid.currency) == (S.COMPLETED, 100_00, "EUR")
    body = page_of(client, f"/customer/payments/{payment.pk}/")
    assert (
        "Your invoice ERP-9 states that you owe <strong>95.00 USD</strong>. That is what a payment service "
        "charges; the platform total of 100.00 EUR stays as it is, also now that it is paid."
    ) in body
    assert "This payment is completed: there is nothing left to pay." in body


def succeed(fake, connector, attempt) -> None:
    fake.statuses[attempt.public_id] = "succeeded"
    body, headers = signed_callback(
        fake.secret,
        {
            "type": "checkout.succeeded",
            "attempt_id": attempt.public_id,
            "checkout_id": attempt.checkout_id,
            "amount": attempt.amount,
            "currency": attempt.currency,
            "occurred_at": clock.wall_clock().isoformat(),
        },
    )
    assert receive_callback(connector.pk, body, headers, now=clock.wall_clock()) == "applied"


# --- The return page ----------------------------------------------------------------------------------


@pytest.fixture
def started(billed, customer_client, card_gateway):
    """A payment with an open attempt through the fake connector, started by the customer."""
    invoice = billed()
    connector, card, fake = card_gateway(invoice.reseller)
    client = customer_client(invoice.account)
    client.post(f"/customer/payments/{invoice.payment.pk}/pay/", {"method": card.pk})
    attempt = PaymentAttempt.objects.get(payment=invoice.payment)
    query = parse_qs(urlsplit(fake.checkout_request(attempt.public_id)["return_url"]).query)
    return {
        "client": client,
        "payment": invoice.payment,
        "attempt": attempt,
        "fake": fake,
        "connector": connector,
        "return": f"/customer/payments/{invoice.payment.pk}/return/?attempt={query['attempt'][0]}",
        "check": f"/customer/payments/{invoice.payment.pk}/return/check/?attempt={attempt.public_id}",
    }


def test_the_return_page_checks_and_polls_with_htmx(started):
    body = page_of(started["client"], started["return"])
    assert "<title>Your payment · Plain Hosting</title>" in body
    assert "Checking your payment…" in body
    assert f'hx-post="{started["check"]}&amp;poll=2" hx-trigger="load delay:1s"' in body
    assert f'href="/customer/payments/{started["payment"].pk}/">Back to payment' in body
    assert "<script>" not in body and " style=" not in body and " onclick" not in body


def test_the_check_asks_the_connector_and_shows_a_success(started):
    started["fake"].statuses[started["attempt"].public_id] = "succeeded"
    response = started["client"].post(started["check"] + "&poll=2", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert "Payment received" in body and "Card Gateway confirmed your payment of 100.00 EUR" in body
    assert "hx-post" not in body  # done: no more polling
    assert any(method == "GET" for method, *_ in started["fake"].received)  # it asked the connector
    assert reload(started["payment"]).status == S.COMPLETED


def test_the_checkout_page_of_a_finished_attempt_goes_to_its_outcome(started):
    started["fake"].statuses[started["attempt"].public_id] = "declined"
    started["client"].post(started["check"], HTTP_HX_REQUEST="true")
    checkout = started["check"].replace("/return/check/", "/checkout/")
    response = started["client"].get(checkout)
    assert response.status_code == 302 and response["Location"] == started["return"]


def test_a_declined_attempt_is_said_and_the_payment_can_be_paid_again(started):
    started["fake"].statuses[started["attempt"].public_id] = "declined"
    body = started["client"].post(started["check"], HTTP_HX_REQUEST="true").content.decode()
    assert "Payment declined" in body and "nothing was charged" in body
    assert reload(started["payment"]).status == S.WAITING_FOR_PAYMENT
    body = page_of(started["client"], f"/customer/payments/{started['payment'].pk}/")
    assert ">Pay with Card Gateway</button>" in body


def test_still_pending_polls_again_and_then_says_it_is_still_processing(started):
    client = started["client"]
    body = client.post(started["check"] + "&poll=2", HTTP_HX_REQUEST="true").content.decode()
    assert "Checking your payment…" in body and "&amp;poll=3" in body and 'hx-trigger="load delay:2s"' in body
    body = client.post(started["check"] + "&poll=6", HTTP_HX_REQUEST="true").content.decode()
    assert "Still processing" in body and "We will e-mail you as soon as it does" in body
    assert "hx-post" not in body and ">Check again</button>" in body
    assert reload(started["payment"]).status == S.PROCESSING


def test_an_attempt_past_its_deadline_times_out_on_the_check(started):
    with time_machine.travel(clock.wall_clock() + timedelta(minutes=20), tick=False):
        body = started["client"].post(started["check"], HTTP_HX_REQUEST="true").content.decode()
    assert "No answer in time" in body
    assert PaymentAttempt.objects.get(pk=started["attempt"].pk).status == A.TIMED_OUT
    assert reload(started["payment"]).status == S.WAITING_FOR_PAYMENT


def test_the_check_without_htmx_is_the_whole_page(started):
    started["fake"].statuses[started["attempt"].public_id] = "succeeded"
    response = started["client"].post(started["check"])
    assert response.status_code == 200 and "<html" in response.content.decode()
    assert "Payment received" in response.content.decode()


def test_a_finished_attempt_shows_its_outcome_without_asking_again(started):
    succeed(started["fake"], started["connector"], started["attempt"])
    asked = len(started["fake"].received)
    body = page_of(started["client"], started["return"])
    assert "Payment received" in body and "hx-post" not in body
    started["client"].post(started["check"], HTTP_HX_REQUEST="true")
    assert len(started["fake"].received) == asked  # a final attempt is not asked about again


def test_the_payment_page_lists_the_attempts_in_plain_words(started):
    started["fake"].statuses[started["attempt"].public_id] = "declined"
    started["client"].post(started["check"], HTTP_HX_REQUEST="true")
    body = page_of(started["client"], f"/customer/payments/{started['payment'].pk}/")
    section = body[body.index('id="attempts-heading"') :]
    assert "<h3>Card Gateway</h3>" in section and "Declined" in section
    assert '<span class="step-what">Sent to the checkout page</span>' in section
    assert "<details" not in section and "HTTP 201" not in section  # the messages are the operator's


# --- The list and query counts --------------------------------------------------------------------------


def test_the_list_shows_the_accounts_payments_and_top_ups(billed, customer_client):
    invoice = billed(balance=150_00)
    pay_from_balance(invoice.payment, actor=SYSTEM, now=T0)
    top_up = request_top_up(invoice.account, 25_00, actor=SYSTEM, now=T0)
    body = page_of(customer_client(invoice.account), "/customer/payments/")
    assert f'>{invoice.payment.document_id}</a><span class="sub">for invoice {invoice.document_id}</span>' in body
    assert f'>{top_up.document_id}</a><span class="sub">Balance top-up</span>' in body
    assert '<span class="badge badge--paid_from_balance">Paid from balance</span>' in body
    assert "from balance</span>" in body
    # the top-up from the account's creation, this one, and the invoice's payment
    assert "1–3 of 3 payments" in body


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


def test_query_counts_do_not_grow_with_payments_or_attempts(db, customer_client, card_gateway):
    reseller = ResellerFactory()
    connector, card, fake = card_gateway(reseller)
    few, many = AccountFactory(reseller=reseller), AccountFactory(reseller=reseller)
    few_invoice, many_invoice = invoices_of(few, many)
    for amount in range(1, 30):
        request_top_up(many, amount * 100, actor=SYSTEM, now=T0)
    for payment, attempts in ((few_invoice.payment, 1), (many_invoice.payment, 4)):  # declined attempts
        for _ in range(attempts):
            attempt = start_attempt(
                payment, card, return_url="http://t/{attempt_id}", actor=SYSTEM, now=clock.wall_clock()
            )
            fake.statuses[attempt.public_id] = "declined"
            check_attempt(attempt, now=clock.wall_clock())
    counts = {}
    for name, account, payment in (("few", few, few_invoice.payment), ("many", many, many_invoice.payment)):
        client = customer_client(account)
        counts[name] = [
            queries(client, url)
            for url in (
                "/customer/payments/?per_page=100",
                f"/customer/payments/{payment.pk}/",
                "/customer/",
                "/customer/balance/",
            )
        ]
    assert counts["few"] == counts["many"]
    assert max(counts["many"]) <= 12, counts
    assert Account.objects.get(pk=many.pk).balance == 0
