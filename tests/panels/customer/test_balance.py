"""The balance page: the balance, its ledger with the balance after each entry, and Top up — through a payment
service (a top-up payment and a checkout) or by bank transfer (a waiting top-up) — with the amount typed or
prefilled from ``?amount=``, validated strictly as a decimal in the currency's precision."""

import html

import pytest

from arrears.core.actors import SYSTEM
from arrears.gateways.models import PaymentAttempt
from arrears.gateways.services import create_payment_method
from arrears.payments.models import Payment
from arrears.payments.services import pay_from_balance, top_up_balance
from tests.factories import T0, AccountFactory, ResellerFactory
from tests.service_support import invoice_of


@pytest.fixture
def reseller(db):
    reseller = ResellerFactory(name="Plain Hosting")
    create_payment_method(reseller, name="Bank transfer", actor=SYSTEM, now=T0)
    return reseller


def page_of(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return html.unescape(response.content.decode())


def field_errors(response, name: str) -> list[tuple[str, str]]:
    return [
        (error.code, message)
        for error in response.context["form"].errors.as_data().get(name, [])
        for message in error.messages
    ]


def test_the_balance_page_shows_the_balance_and_its_history(reseller, customer_client):
    account = AccountFactory(reseller=reseller, balance=150_00)
    invoice = invoice_of(account)
    pay_from_balance(invoice.payment, actor=SYSTEM, now=T0)
    top_up_balance(account, 30_00, actor=SYSTEM, now=T0)
    body = page_of(customer_client(account), "/customer/balance/")
    assert '<p class="balance-figure num">80.00 EUR</p>' in body
    assert "<title>Balance · Plain Hosting</title>" in body
    # newest first, each with the balance after it
    rows = [
        body.index(f'data-label="Amount" class="num">{amount}')
        for amount in ("+30.00 EUR", "-100.00 EUR", "+150.00 EUR")
    ]
    assert rows == sorted(rows)
    for after in ("80.00 EUR", "50.00 EUR", "150.00 EUR"):
        assert f'data-label="Balance after" class="num">{after}</td>' in body
    payment = invoice.payment
    assert f'Payment <a class="text-link" href="/customer/payments/{payment.pk}/">{payment.document_id}</a>' in body
    assert "1–3 of 3 entries" in body


def test_an_empty_history_says_what_to_do(reseller, customer_client):
    body = page_of(customer_client(AccountFactory(reseller=reseller)), "/customer/balance/")
    assert "Nothing on your balance yet." in body and "Top up your balance to pay your invoices from it." in body


def test_top_up_is_prefilled_from_the_link_of_a_payment_page(reseller, customer_client):
    body = page_of(customer_client(AccountFactory(reseller=reseller)), "/customer/balance/?amount=80.00")
    assert 'name="amount" value="80.00"' in body
    assert "error" not in body.split('id="top-up"')[1].split("</form>")[0].replace("form_errors", "")
    assert ">Top up by bank transfer</button>" in body


@pytest.mark.parametrize("prefilled", ["abc", "1,000.00", "80.001", "-5", "0", "1e3", " "])
def test_a_prefilled_amount_is_checked_as_strictly_as_a_typed_one(reseller, customer_client, prefilled):
    response = customer_client(AccountFactory(reseller=reseller)).get(f"/customer/balance/?amount={prefilled}")
    assert response.status_code == 200
    [(code, _message)] = field_errors(response, "amount")
    assert code in ("PAYMENT-0001", "required")
    assert "method" not in response.context["form"].errors


def test_top_up_by_bank_transfer_requests_a_waiting_top_up(reseller, customer_client):
    account = AccountFactory(reseller=reseller)
    client = customer_client(account)
    response = client.post("/customer/balance/top-up/", {"amount": "250.50", "method": "bank_transfer"}, follow=True)
    top_up = Payment.objects.get(account=account, type=Payment.Type.TOP_UP)
    assert (top_up.status, top_up.total, top_up.payment_method) == (Payment.Status.WAITING_FOR_PAYMENT, 250_50, None)
    assert response.redirect_chain == [(f"/customer/payments/{top_up.pk}/", 302)]
    [message] = [str(message) for message in response.context["messages"]]
    assert message.startswith(
        f"Top-up {top_up.document_id} of 250.50 EUR is requested. Transfer 250.50 EUR to "
        f"Plain Hosting by bank, with {top_up.document_id} as the reference"
    )


def test_top_up_through_a_payment_service_opens_its_checkout(reseller, customer_client, card_gateway):
    _, card, fake = card_gateway(reseller)
    account = AccountFactory(reseller=reseller)
    client = customer_client(account)
    body = page_of(client, "/customer/balance/")
    assert (
        f'<button type="submit" name="method" value="{card.pk}" class="primary">Top up with Card Gateway</button>'
        in body
    )
    response = client.post("/customer/balance/top-up/", {"amount": "80.00", "method": str(card.pk)})
    attempt = PaymentAttempt.objects.select_related("payment").get(account=account)
    assert response.status_code == 303
    assert response["Location"] == f"/customer/payments/{attempt.payment.pk}/checkout/?attempt={attempt.public_id}"
    assert client.get(response["Location"])["Refresh"] == f"0; url={attempt.redirect_url}"
    assert (attempt.payment.type, attempt.payment.total, attempt.amount) == (Payment.Type.TOP_UP, 80_00, 80_00)
    assert fake.checkout_request(attempt.public_id)["return_url"] == (
        f"http://testserver/customer/payments/{attempt.payment.pk}/return/?attempt={attempt.public_id}"
    )


def test_a_payment_service_that_does_not_answer_leaves_the_form_with_the_error(reseller, customer_client, card_gateway):
    _, card, fake = card_gateway(reseller)
    fake.checkout_answer = "error"
    account = AccountFactory(reseller=reseller)
    response = customer_client(account).post("/customer/balance/top-up/", {"amount": "80.00", "method": card.pk})
    assert response.status_code == 502
    assert field_errors(response, "method") == [
        ("CONNECTOR-0005", "Card Gateway did not open a checkout; nothing was charged. Try again in a moment.")
    ]
    assert 'value="80.00"' in response.content.decode()  # the form keeps what was typed
    assert Payment.objects.get(account=account, type=Payment.Type.TOP_UP).status == Payment.Status.CANCELLED


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("", "Give the amount to top up."),
        ("ten", "Give the amount as a number, e.g. 100.00, without a currency sign or thousands separators."),
        ("1,000", "Give the amount as a number, e.g. 100.00, without a currency sign or thousands separators."),
        ("€10", "Give the amount as a number, e.g. 100.00, without a currency sign or thousands separators."),
        ("10.001", "EUR amounts have 2 decimal places at most."),
        ("0.00", "The amount must be more than zero."),
    ],
)
def test_a_bad_amount_is_refused_on_its_field_and_nothing_changes(reseller, customer_client, amount, message):
    account = AccountFactory(reseller=reseller)
    response = customer_client(account).post("/customer/balance/top-up/", {"amount": amount, "method": "bank_transfer"})
    assert response.status_code == 400
    assert [text for _code, text in field_errors(response, "amount")] == [message]
    assert not Payment.objects.filter(account=account, type=Payment.Type.TOP_UP).exists()


def test_a_way_to_pay_that_is_not_offered_is_refused(reseller, customer_client, card_gateway):
    elsewhere = card_gateway(ResellerFactory())[1]
    account = AccountFactory(reseller=reseller)
    client = customer_client(account)
    for method in ("", "paypal", str(elsewhere.pk)):
        response = client.post("/customer/balance/top-up/", {"amount": "10.00", "method": method})
        assert response.status_code == 400 and "method" in response.context["form"].errors
    assert not Payment.objects.filter(account=account, type=Payment.Type.TOP_UP).exists()
    assert client.get("/customer/balance/top-up/").status_code == 405


def test_a_currency_without_decimals_takes_whole_numbers(db, customer_client):
    yen = ResellerFactory(name="Tokyo Cloud", currency="JPY")
    create_payment_method(yen, name="Bank transfer", actor=SYSTEM, now=T0)
    account = AccountFactory(reseller=yen)
    client = customer_client(account)
    body = page_of(client, "/customer/balance/")
    assert "Amount (JPY)" in body and "e.g. 100." in body
    response = client.post("/customer/balance/top-up/", {"amount": "100.5", "method": "bank_transfer"})
    assert [text for _code, text in field_errors(response, "amount")] == ["JPY amounts are whole numbers."]
    client.post("/customer/balance/top-up/", {"amount": "1500", "method": "bank_transfer"})
    assert Payment.objects.get(account=account, type=Payment.Type.TOP_UP).total == 1500


def test_without_any_way_to_top_up_the_page_says_whom_to_ask(db, customer_client):
    body = page_of(customer_client(AccountFactory(reseller=ResellerFactory(name="Bare"))), "/customer/balance/")
    assert "Bare offers no way to top up here yet." in body
