"""R46 over HTTP: an API token reaches its own reseller and that reseller's descendants, nothing else.

The tree: parent P with two children A and B, all in ERP mode. B has billed accounts (a closed invoice
waiting for approval and an approved one), their payments, charges, subscriptions and plans. A token of A
gets 404 on every route of the API, whether it names B (or P) as the reseller, or smuggles B's objects
under A's own reseller id; and nothing changes (R47). A token of P reaches A and B alike.

Every route of ``/openapi.json`` must be listed in ``ROUTES``: a new route fails ``test_every_route_is_covered``
until its tenancy is tested here.
"""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import time_machine

from arrears.charges.models import Charge
from arrears.events.models import Event
from arrears.invoices.models import Invoice
from arrears.subscriptions.models import Subscription
from arrears.tenants.models import Reseller
from tests.api.conftest import ApiClient, refused_over_http
from tests.conftest import at
from tests.factories import AccountFactory, ResellerFactory, SubscriptionFactory
from tests.service_support import APPROVAL_DAY, CLOSING_DAY, START, approved, invoices_of, reload

BASE = "/api/v3/resellers/"
B_DOCUMENT_ID = "B-ERP-1"


@dataclass
class Tree:
    parent: Reseller
    a: Reseller
    b: Reseller
    closed: Invoice  # B's invoice waiting for approval
    approved: Invoice  # B's invoice approved as B_DOCUMENT_ID
    subscription: Subscription  # the subscription billed on ``closed``
    charge: Charge  # a charge of ``closed``
    a_account_id: int
    a_subscription: Subscription


@pytest.fixture
def tree(db) -> Tree:
    parent = ResellerFactory(erp=True)
    a = ResellerFactory(erp=True, parent=parent)
    b = ResellerFactory(erp=True, parent=parent)
    closed, to_approve = invoices_of(AccountFactory(reseller=b), AccountFactory(reseller=b))
    a_subscription = SubscriptionFactory(account=AccountFactory(reseller=a), start_date=START)
    return Tree(
        parent=parent,
        a=a,
        b=b,
        closed=closed,
        approved=approved(to_approve, document_id=B_DOCUMENT_ID),
        subscription=Subscription.objects.select_related("plan").get(account=closed.account),
        charge=Charge.objects.filter(invoice=closed).earliest("pk"),
        a_account_id=a_subscription.account_id,
        a_subscription=a_subscription,
    )


@pytest.fixture(autouse=True)
def today():
    """The API reads the wall clock: the calls happen on the approval day of the January story."""
    with time_machine.travel(at(APPROVAL_DAY), tick=False):
        yield


@pytest.fixture
def clients(tree, api_for):
    return {"A": api_for(tree.a), "P": api_for(tree.parent)}


def reference(invoice: Invoice, document_id: str) -> dict:
    return {"document_id": document_id, "billing_date": invoice.billing_date.isoformat()}


@dataclass(frozen=True)
class Route:
    """One operation of the API and how to aim it at B's objects.

    ``ids``: the path ids (besides ``reseller_id``) of B's objects; ``body``: a valid body for them, so that
    only tenancy can refuse the call; ``not_found``: the code of the 404 when B's object is named under A's
    own reseller id; ``listed``: for lists, the query narrowing to B's objects and the ids P must see there;
    ``smuggled``: under A's own reseller id, path ids and a body naming B's object, and the 400 it gets.
    """

    method: str
    path: str
    ids: Callable[[Tree], dict] = lambda t: {}
    body: Callable[[Tree], dict] | None = None
    not_found: str | None = None
    listed: Callable[[Tree], tuple[dict, set[str]]] | None = None
    smuggled: Callable[[Tree], tuple[dict, dict, str, str]] | None = None


def _account(t: Tree) -> dict:
    return {"account_id": t.closed.account_id}


def _approved_account(t: Tree) -> dict:
    return {"account_id": t.approved.account_id}


ROUTES: dict[str, Route] = {
    # ERP
    "approve_invoices": Route(
        "post",
        "/accounts/{account_id}/approve_invoices",
        _account,
        lambda t: reference(t.closed, "B-NEW-1"),
        "INVOICE-0404",
    ),
    "approve_invoice": Route(
        "post",
        "/invoices/{invoice_id}/approve",
        lambda t: {"invoice_id": t.closed.pk},
        lambda t: reference(t.closed, "B-NEW-1"),
        "INVOICE-0404",
    ),
    "complete_invoices": Route(
        "post",
        "/accounts/{account_id}/complete_invoices",
        _approved_account,
        lambda t: reference(t.approved, B_DOCUMENT_ID),
        "INVOICE-0404",
    ),
    "complete_invoice": Route(
        "post",
        "/invoices/{invoice_id}/complete",
        lambda t: {"invoice_id": t.approved.pk},
        lambda t: reference(t.approved, B_DOCUMENT_ID),
        "INVOICE-0404",
    ),
    "revoke_invoices": Route(
        "post",
        "/accounts/{account_id}/revoke_invoices",
        _approved_account,
        lambda t: reference(t.approved, B_DOCUMENT_ID) | {"comment": "wrong"},
        "INVOICE-0404",
    ),
    "revoke_invoice": Route(
        "post",
        "/invoices/{invoice_id}/revoke",
        lambda t: {"invoice_id": t.approved.pk},
        lambda t: reference(t.approved, B_DOCUMENT_ID) | {"comment": "wrong"},
        "INVOICE-0404",
    ),
    # Reads
    "get_invoice": Route(
        "get", "/invoices/{invoice_id}", lambda t: {"invoice_id": t.closed.pk}, not_found="INVOICE-0404"
    ),
    "list_invoices": Route(
        "get", "/invoices", listed=lambda t: ({"filter[account_id]": t.closed.account_id}, {str(t.closed.pk)})
    ),
    "get_payment": Route(
        "get", "/payments/{payment_id}", lambda t: {"payment_id": t.closed.payment.pk}, not_found="PAYMENT-0404"
    ),
    "list_payments": Route(
        "get", "/payments", listed=lambda t: ({"filter[invoice_id]": t.closed.pk}, {str(t.closed.payment.pk)})
    ),
    "get_charge": Route("get", "/charges/{charge_id}", lambda t: {"charge_id": t.charge.pk}, not_found="CHARGE-0404"),
    "list_charges": Route(
        "get", "/charges", listed=lambda t: ({"filter[subscription_id]": t.subscription.pk}, {str(t.charge.pk)})
    ),
    "get_plan": Route("get", "/plans/{plan_id}", lambda t: {"plan_id": t.subscription.plan_id}, not_found="PLAN-0404"),
    "list_plans": Route("get", "/plans", listed=lambda t: ({"page[size]": 500}, {str(t.subscription.plan_id)})),
    "list_events": Route(
        "get",
        "/events",
        listed=lambda t: (
            {"filter[account_id]": t.closed.account_id},
            {str(pk) for pk in Event.objects.filter(account_id=t.closed.account_id).values_list("pk", flat=True)},
        ),
    ),
    # Platform
    "create_account": Route(
        "post",
        "/accounts",
        body=lambda t: {"name": "Intruder"},
        smuggled=lambda t: (
            {},
            {"name": "Intruder", "account_class_id": t.closed.account.account_class_id},
            "ACCOUNT-0001",
            "/account_class_id",
        ),
    ),
    "get_account": Route("get", "/accounts/{account_id}", _account, not_found="ACCOUNT-0404"),
    "list_accounts": Route(
        "get",
        "/accounts",
        listed=lambda t: ({"filter[account_class_id]": t.closed.account.account_class_id}, {str(t.closed.account_id)}),
    ),
    "create_subscription": Route(
        "post",
        "/accounts/{account_id}/subscriptions",
        _account,
        lambda t: {"plan_id": t.subscription.plan_id, "start_date": APPROVAL_DAY.isoformat()},
        "ACCOUNT-0404",
        smuggled=lambda t: (
            {"account_id": t.a_account_id},
            {"plan_id": t.subscription.plan_id, "start_date": APPROVAL_DAY.isoformat()},
            "SUBSCRIPTION-0001",
            "/plan_id",
        ),
    ),
    "get_subscription": Route(
        "get",
        "/subscriptions/{subscription_id}",
        lambda t: {"subscription_id": t.subscription.pk},
        not_found="SUBSCRIPTION-0404",
    ),
    "list_subscriptions": Route(
        "get",
        "/subscriptions",
        listed=lambda t: ({"filter[account_id]": t.closed.account_id}, {str(t.subscription.pk)}),
    ),
    "post_usage_charge": Route(
        "post",
        "/subscriptions/{subscription_id}/charges",
        lambda t: {"subscription_id": t.subscription.pk},
        lambda t: {
            "description": "Traffic",
            "quantity": "2",
            "unit_price": "1.50",
            "date": CLOSING_DAY.isoformat(),
            "external_id": "b-usage-1",
        },
        "SUBSCRIPTION-0404",
    ),
}


def call(
    client: ApiClient, route: Route, reseller_id: int, ids: dict, body: dict | None = None, params: dict | None = None
):
    path = BASE + str(reseller_id) + route.path.format(**ids)
    if route.method == "post":
        return client.post(path, body)
    return client.get(path, params)


def test_every_route_is_covered(db, client):
    # Given the API's own description of its operations
    schema = client.get("/openapi.json").json()
    operations = {
        operation["operationId"]: (method, path)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    }
    # Then each one is in ROUTES, with the same method and path: a new route must be added here
    assert operations == {name: (route.method, BASE + "{reseller_id}" + route.path) for name, route in ROUTES.items()}


@pytest.mark.parametrize("name", ROUTES)
@pytest.mark.parametrize("addressed", ["sibling", "parent"])
def test_R46_a_token_never_reaches_a_sibling_or_the_parent_reseller(name, addressed, tree, clients):
    # Given A's token and a route aimed at B's objects under B's (or P's) reseller id, with a valid body
    route = ROUTES[name]
    reseller = tree.b if addressed == "sibling" else tree.parent
    body = route.body(tree) if route.body else None
    params = route.listed(tree)[0] if route.listed else None
    # When A calls it, Then it answers 404 RESELLER-0404 and changes nothing
    refused_over_http(
        lambda: call(clients["A"], route, reseller.pk, route.ids(tree), body, params), 404, "RESELLER-0404"
    )


@pytest.mark.parametrize("name", [name for name, route in ROUTES.items() if route.not_found])
def test_R46_a_token_never_reaches_a_sibling_object_under_its_own_reseller_id(name, tree, clients):
    # Given A's token and B's object named under A's own reseller id, with a body valid for that object
    route = ROUTES[name]
    body = route.body(tree) if route.body else None
    # When A calls it, Then it answers the resource's 404 and changes nothing
    refused_over_http(lambda: call(clients["A"], route, tree.a.pk, route.ids(tree), body), 404, route.not_found)


@pytest.mark.parametrize("name", [name for name, route in ROUTES.items() if route.smuggled])
def test_R46_a_body_naming_a_sibling_object_is_refused(name, tree, clients):
    # Given A's token and a body naming B's account class or plan, under A's own reseller and account
    route = ROUTES[name]
    ids, body, code, pointer = route.smuggled(tree)
    # When A calls it, Then it is refused as bad input naming the field, and changes nothing
    refused_over_http(lambda: call(clients["A"], route, tree.a.pk, ids, body), 400, code, pointer=pointer)


@pytest.mark.parametrize("name", [name for name, route in ROUTES.items() if route.listed])
def test_R46_a_list_under_the_own_reseller_id_never_shows_a_sibling_objects(name, tree, clients):
    # Given A's token and a list narrowed by a filter to B's objects
    route = ROUTES[name]
    params, b_ids = route.listed(tree)
    # When A lists under its own reseller id
    response = call(clients["A"], route, tree.a.pk, {}, params=params)
    # Then none of B's objects are there
    assert response.status_code == 200, response.content
    assert b_ids, "the story must give B something to hide"
    assert not {item["id"] for item in response.json()["data"]} & b_ids


@pytest.mark.parametrize("name", ROUTES)
def test_R46_the_parent_token_reaches_a_child(name, tree, clients):
    # Given P's token and the very call A was refused, aimed at B's objects under B's reseller id
    route = ROUTES[name]
    body = route.body(tree) if route.body else None
    params, b_ids = route.listed(tree) if route.listed else (None, set())
    # When P calls it
    response = call(clients["P"], route, tree.b.pk, route.ids(tree), body, params)
    # Then it succeeds: only tenancy refused A
    assert response.status_code in (200, 201), response.content
    if route.listed:
        assert b_ids <= {item["id"] for item in response.json()["data"]}


def test_R46_the_parent_token_reads_and_approves_a_child_invoice(tree, clients):
    invoice_path = f"{BASE}{tree.b.pk}/invoices/{tree.closed.pk}"
    # When P reads B's invoice under B's reseller id
    response = clients["P"].get(invoice_path)
    # Then it sees it
    assert response.status_code == 200, response.content
    assert response.json()["data"]["id"] == str(tree.closed.pk)
    assert response.json()["data"]["attributes"]["approved"] is False
    # When P approves it
    response = clients["P"].post(f"{invoice_path}/approve", reference(tree.closed, "P-ERP-7"))
    # Then the invoice is approved under the ERP's number
    assert response.status_code == 200, response.content
    assert response.json()["data"]["attributes"]["document_id"] == "P-ERP-7"
    invoice = reload(tree.closed)
    assert invoice.approved and invoice.document_id == "P-ERP-7"
    # And P reaches A as well
    assert clients["P"].get(f"{BASE}{tree.a.pk}/subscriptions/{tree.a_subscription.pk}").status_code == 200


def feed(client: ApiClient, reseller: Reseller, **params) -> list[dict]:
    response = client.get(f"{BASE}{reseller.pk}/events", {"page[size]": 1000, **params})
    assert response.status_code == 200, response.content
    return response.json()["data"]


def test_R46_a_feed_shows_the_subtree_only(tree, clients):
    # Given events of A (its account, subscription, token) and of B (billing, approval)
    a_events = {str(pk) for pk in Event.objects.filter(reseller=tree.a).values_list("pk", flat=True)}
    b_events = {str(pk) for pk in Event.objects.filter(reseller=tree.b).values_list("pk", flat=True)}
    assert a_events and b_events
    # When A reads its feed, Then it shows A's events and never B's
    a_feed = feed(clients["A"], tree.a)
    assert {event["id"] for event in a_feed} == a_events
    assert {event["attributes"]["reseller_id"] for event in a_feed} == {tree.a.pk}
    # When P reads its feed, Then it shows both children's events
    p_feed = {event["id"] for event in feed(clients["P"], tree.parent)}
    assert a_events | b_events <= p_feed
    # And P reads B's own feed under B's reseller id
    assert {event["id"] for event in feed(clients["P"], tree.b)} == b_events


def test_R46_a_cursor_from_a_sibling_feed_is_refused(tree, clients):
    # Given the id of one of B's events
    b_event = Event.objects.filter(reseller=tree.b).latest("pk")
    # When A reads its own feed after it, Then the cursor is refused as not one of its feed's events
    refused_over_http(
        lambda: clients["A"].get(f"{BASE}{tree.a.pk}/events", {"after": b_event.pk}),
        400,
        "EVENT-0001",
        parameter="after",
    )
