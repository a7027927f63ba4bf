"""Tenancy over the whole route table of the Operator Control Panel (R46): a manager of reseller A gets 404 for
every URL that carries one of sibling B's ids, on GET and on POST, and no list page shows B's rows.

The routes are read from the URL configuration, not listed by hand: a new route with an id is covered the day it is
added, and one whose id kind this test does not know fails until it is taught here.
"""

import pytest
from django.urls import URLPattern, get_resolver

from arrears.core.actors import SYSTEM
from arrears.customers.models import AccountClass
from arrears.customers.services import create_account
from arrears.events.models import Event
from arrears.gateways.models import PaymentConnector
from arrears.gateways.services import create_connector, create_payment_method
from arrears.invoices.models import Invoice
from arrears.notifications.handlers import create_event_handler, create_webhook_endpoint
from arrears.notifications.models import Delivery, EventHandler
from arrears.payments.models import PaymentMethod
from arrears.tenants.models import ApiToken, Manager
from arrears.tenants.services import create_manager
from arrears.tenants.tokens import create_api_token
from tests.factories import T0

B_MARK = "Zebrafinch"  # a word that appears in B's names only
# Routes that carry no tenant's id: the invitee's set-password link holds a signed user id and token.
PUBLIC_ROUTES = {"set_password"}


def operator_routes() -> list[tuple[str, URLPattern]]:
    """(route text, pattern) of every /operator/ URL."""
    resolver = get_resolver()
    routes = []
    for entry in resolver.url_patterns:
        if getattr(entry, "app_name", None) == "operator" or getattr(entry, "namespace", None) == "operator":
            for pattern in entry.url_patterns:
                routes.append(("/operator/" + str(pattern.pattern), pattern))
    assert routes, "no operator routes found"
    return routes


def objects_of(reseller, manager: Manager, account) -> dict[str, int]:
    """One object of ``reseller`` for every kind of id the operator routes take, by the route's argument name."""
    invoice = Invoice.objects.filter(account=account, status="closed").order_by("id").first()
    endpoint = create_webhook_endpoint(reseller, url="https://hooks.example.com/b", actor=SYSTEM, now=T0)
    handler = create_event_handler(
        reseller,
        event="invoice.closed",
        channel="email",
        name=f"{B_MARK} handler",
        subject="Hi",
        body="Hello",
        actor=SYSTEM,
        now=T0,
    )
    event = Event.objects.filter(reseller=reseller).order_by("id").first()
    delivery = Delivery.objects.create(
        event=event, handler=handler, channel="email", recipient="b@example.com", created_at=T0, updated_at=T0
    )
    token, _secret = create_api_token(manager=manager, name=f"{B_MARK} token", actor=SYSTEM, now=T0)
    connector, _secret = create_connector(
        reseller,
        name=f"{B_MARK} Gateway",
        url="https://pay.example.net",
        processing_minutes=30,
        currencies=["EUR"],
        actor=SYSTEM,
        now=T0,
    )
    method = create_payment_method(reseller, name=f"{B_MARK} card", connector=connector, actor=SYSTEM, now=T0)
    return {
        "invoice_id": invoice.pk,
        "payment_id": invoice.payment.pk,
        "account_id": account.pk,
        "handler_id": handler.pk,
        "endpoint_id": endpoint.pk,
        "delivery_id": delivery.pk,
        "token_id": token.pk,
        "manager_id": manager.pk,
        "connector_id": connector.pk,
        "method_id": method.pk,
        "request_id": 0,  # billing requests: none of B's exists yet; an id that is not A's must 404 too
    }


@pytest.fixture
def world(erp_world, sign_in):
    b = erp_world["b"]
    b_account = create_account(
        reseller=b,
        account_class=AccountClass.objects.get(reseller=b, is_default=True),
        name=f"{B_MARK} Ltd",
        actor=SYSTEM,
        now=T0,
    )
    b_manager = create_manager(
        reseller=b, email=f"{B_MARK.lower()}@example.com", role=Manager.Role.ADMIN, actor=SYSTEM, now=T0
    )
    return {
        "client": sign_in(erp_world["a"]),
        "b": objects_of(b, b_manager, erp_world["account_b"]),
        "b_account_name": b_account.name,
    }


def _fill(route: str, pattern: URLPattern, ids: dict[str, int]) -> str:
    url = route
    for name in pattern.pattern.converters:
        assert name in ids, f"the tenancy test does not know the id kind {name!r} of {route}: teach it"
        url = url.replace(f"<int:{name}>", str(ids[name])).replace(f"<{name}>", str(ids[name]))
    return url


def test_every_route_with_a_siblings_id_answers_404(world):
    client, ids = world["client"], world["b"]
    checked = 0
    for route, pattern in operator_routes():
        if not pattern.pattern.converters or pattern.name in PUBLIC_ROUTES:
            continue
        url = _fill(route, pattern, ids)
        assert client.get(url).status_code in (404, 405), f"GET {url}"
        assert client.post(url, {}).status_code in (404, 405), f"POST {url}"
        checked += 1
    assert checked >= 10
    # and nothing of B's changed
    assert Invoice.objects.get(pk=ids["invoice_id"]).approved is False
    assert EventHandler.objects.get(pk=ids["handler_id"]).active is True
    assert ApiToken.objects.get(pk=ids["token_id"]).revoked_at is None
    connector = PaymentConnector.objects.get(pk=ids["connector_id"])
    assert (connector.name, connector.previous_secret, connector.active) == (f"{B_MARK} Gateway", "", True)
    assert PaymentMethod.objects.get(pk=ids["method_id"]).active is True


def test_no_list_page_shows_a_siblings_rows(world):
    client = world["client"]
    checked = 0
    for route, pattern in operator_routes():
        if pattern.pattern.converters or route.endswith(("/logout/", "/login/")):
            continue
        response = client.get(route)
        if response.status_code != 200:
            continue
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert B_MARK.encode() not in body, route
        checked += 1
    assert checked >= 8
