"""Tenancy over the whole route table of the Customer Control Panel (R46): a customer user of account X gets 404
for every URL that carries one of account Y's ids — invoices, their documents, payments, paying them, and the
attempts of the return pages — on GET and on POST, and no list page shows Y's rows. Y is an account of the same
reseller: the strictest neighbour.

The routes are read from the URL configuration, not listed by hand: a new route with an id is covered the day it is
added, and one whose id kind this test does not know fails until it is taught here.
"""

import re

import pytest
from django.urls import URLPattern, get_resolver

from arrears.core.actors import SYSTEM
from arrears.customers.models import Account, BalanceEntry
from arrears.gateways.models import PaymentAttempt
from arrears.gateways.services import start_attempt
from arrears.invoices.models import Invoice
from arrears.payments.models import Payment
from arrears.payments.services import request_top_up
from tests.factories import T0, AccountFactory, ResellerFactory
from tests.service_support import invoices_of

Y_MARK = "Zebrafinch"  # a word that appears in Y's names only
# Routes that carry no account's id: the password-reset link holds a signed user id and token.
PUBLIC_ROUTES = {"set_password"}
# Routes that name an attempt in their query string (on to the checkout, the return pages): Y's attempt must 404
# there too, also under X's own payment.
ATTEMPT_ROUTES = {"payment_checkout", "payment_return", "payment_return_check"}


def customer_routes() -> list[tuple[str, URLPattern]]:
    """(route text, pattern) of every /customer/ URL."""
    routes = []
    for entry in get_resolver().url_patterns:
        if getattr(entry, "app_name", None) == "customer" or getattr(entry, "namespace", None) == "customer":
            for pattern in entry.url_patterns:
                routes.append(("/customer/" + str(pattern.pattern), pattern))
    assert routes, "no customer routes found"
    return routes


@pytest.fixture
def world(db, customer_client, card_gateway):
    reseller = ResellerFactory(name="Plain Hosting")
    _, method, _ = card_gateway(reseller)
    x = AccountFactory(reseller=reseller, name="Xylophone Ltd", balance=500_00)
    y = AccountFactory(reseller=reseller, name=f"{Y_MARK} GmbH", balance=500_00)
    x_invoice, y_invoice = invoices_of(x, y)
    y_attempt = start_attempt(
        y_invoice.payment, method, return_url="http://testserver/r?attempt={attempt_id}", actor=SYSTEM, now=T0
    )
    y_top_up = request_top_up(y, 70_00, actor=SYSTEM, now=T0)
    x_attempt_holder = x_invoice.payment
    return {
        "client": customer_client(x),
        "x": x,
        "y": y,
        "x_payment": x_attempt_holder,
        "y_attempt": y_attempt,
        "method": method,
        "ids": {"invoice_id": y_invoice.pk, "payment_id": y_invoice.payment.pk},
        "y_top_up": y_top_up,
        "y_numbers": {y_invoice.document_id, y_invoice.payment.document_id, y_attempt.public_id},
    }


def _fill(route: str, pattern: URLPattern, ids: dict[str, int]) -> str:
    url = route
    for name in pattern.pattern.converters:
        assert name in ids, f"the tenancy test does not know the id kind {name!r} of {route}: teach it"
        url = url.replace(f"<int:{name}>", str(ids[name])).replace(f"<{name}>", str(ids[name]))
    return url


def snapshot(world) -> dict:
    y = world["y"]
    return {
        "payments": list(Payment.objects.filter(account=y).order_by("pk").values_list("pk", "status")),
        "attempts": list(PaymentAttempt.objects.filter(account=y).order_by("pk").values_list("pk", "status")),
        "balance": Account.objects.get(pk=y.pk).balance,
        "ledger": BalanceEntry.objects.filter(account=y).count(),
        "invoices": list(Invoice.objects.filter(account=y).order_by("pk").values_list("pk", "status")),
    }


def test_every_route_with_an_id_of_another_account_answers_404(world):
    client, ids = world["client"], world["ids"]
    before = snapshot(world)
    checked = set()
    for ids_of_y in (ids, {**ids, "payment_id": world["y_top_up"].pk}):
        for route, pattern in customer_routes():
            if not pattern.pattern.converters or pattern.name in PUBLIC_ROUTES:
                continue
            url = _fill(route, pattern, ids_of_y)
            if pattern.name in ATTEMPT_ROUTES:
                url += f"?attempt={world['y_attempt'].public_id}"
            assert client.get(url).status_code in (404, 405), f"GET {url}"
            assert client.post(url, {"method": world["method"].pk, "amount": "10.00"}).status_code in (404, 405), (
                f"POST {url}"
            )
            checked.add(pattern.name)
    assert {
        "invoice",
        "invoice_download",
        "payment",
        "payment_pay",
        "payment_pay_from_balance",
        "payment_checkout",
        "payment_return",
        "payment_return_check",
    } <= checked
    assert snapshot(world) == before, "a foreign id changed something"


def test_another_accounts_attempt_is_not_found_under_ones_own_payment(world):
    client, own = world["client"], world["x_payment"]
    for name in sorted(ATTEMPT_ROUTES):
        route, pattern = next((route, pattern) for route, pattern in customer_routes() if pattern.name == name)
        url = _fill(route, pattern, {"payment_id": own.pk})
        for attempt in (world["y_attempt"].public_id, "", "att_0000", "1"):
            assert client.get(f"{url}?attempt={attempt}").status_code in (404, 405), f"GET {url} {attempt!r}"
            assert client.post(f"{url}?attempt={attempt}").status_code in (404, 405), f"POST {url} {attempt!r}"
        assert client.get(url).status_code in (404, 405)  # no attempt at all
    assert PaymentAttempt.objects.get(pk=world["y_attempt"].pk).status == PaymentAttempt.Status.OPEN


def test_no_page_without_an_id_shows_another_accounts_rows(world):
    client = world["client"]
    checked = 0
    for route, pattern in customer_routes():
        if pattern.pattern.converters or route.endswith(("/logout/", "/login/")):
            continue
        response = client.get(route)
        if response.status_code != 200:
            continue
        body = response.content.decode()
        assert Y_MARK not in body, route
        assert world["y_top_up"].document_id not in body, route
        assert world["y_numbers"].isdisjoint(re.findall(r"\w+", body)), route
        checked += 1
    assert checked >= 4
