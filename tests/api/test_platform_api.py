"""Platform operations over HTTP (erp-api.md, "Platform operations"): accounts, subscriptions, usage charges.

What a service connector does to set up what gets billed. Every POST needs the ``platform`` scope, every GET
the ``read`` scope; each write records its event with the calling token as actor (R45). A refused call
changes nothing (R47). Calls happen on 2026-02-03.
"""

from datetime import date

import pytest
import time_machine

from arrears.catalog.services import create_plan
from arrears.charges.models import Charge
from arrears.core.actors import SYSTEM
from arrears.customers.models import Account, AccountClass
from arrears.customers.services import create_account_class
from arrears.events.models import Event
from arrears.subscriptions.models import Subscription
from tests.api.conftest import MEDIA_TYPE, ApiClient, refused_over_http, token_for
from tests.conftest import at, bill
from tests.factories import T0, AccountFactory, ResellerFactory, SubscriptionFactory
from tests.service_support import APPROVAL_DAY, CLOSING_DAY, JAN_1

TODAY = APPROVAL_DAY
UNKNOWN_ID = 987_654_321


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(at(TODAY), tick=False):
        yield


@pytest.fixture
def api(reseller) -> ApiClient:
    return ApiClient(token_for(reseller, scopes=["read", "platform"]))


@pytest.fixture
def plan(reseller):
    return create_plan(
        reseller=reseller, name="Metered", fee=2_000, billing_day=1, tax_rate_bp=2_000, actor=SYSTEM, now=T0
    )


@pytest.fixture
def subscription(reseller) -> Subscription:
    """An account of ``reseller`` subscribed since 2026-01-01 to a plan with 20 % tax."""
    return SubscriptionFactory(account=AccountFactory(reseller=reseller), start_date=JAN_1, tax_rate_bp=2_000)


def url(reseller, path: str) -> str:
    return f"/api/v3/resellers/{reseller.pk}{path}"


def created(response, status: int = 201) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == MEDIA_TYPE
    return response.json()["data"]


def the_event(event_type: str, subject_id: int) -> Event:
    return Event.objects.get(type=event_type, subject_id=int(subject_id))


# --- Accounts ------------------------------------------------------------------------------------------------


def test_create_account_answers_201_and_records_account_created_by_the_token(reseller, api):
    # When the connector creates an account without naming a class
    data = created(api.post(url(reseller, "/accounts"), {"name": "Acme GmbH", "email": "Billing@Acme.example"}))
    # Then it exists under the reseller's default account class, e-mail normalised
    account = Account.objects.get(pk=int(data["id"]))
    assert account.reseller_id == reseller.pk
    default_class = AccountClass.objects.get(reseller=reseller, is_default=True)
    assert data["type"] == "accounts"
    assert data["attributes"] | {"created_at": None, "updated_at": None} == {
        "name": "Acme GmbH",
        "email": "billing@acme.example",
        "address": "",
        "account_class_id": default_class.pk,
        "balance": "0.00",
        "currency": "EUR",
        "created_at": None,
        "updated_at": None,
    }
    assert data["attributes"]["created_at"] == data["attributes"]["updated_at"] == "2026-02-03T12:00:00+00:00"
    # And the write is recorded with the token as actor (R45)
    event = the_event("account.created", data["id"])
    assert (event.actor_kind, event.reseller_id, event.account_id) == ("api_token", reseller.pk, account.pk)


def test_create_account_in_a_named_class(reseller, api):
    terms = create_account_class(
        reseller=reseller, name="Net 30", payment_expiration_days=30, grace_days=5, actor=SYSTEM, now=T0
    )
    data = created(api.post(url(reseller, "/accounts"), {"name": "Beta", "account_class_id": terms.pk}))
    assert data["attributes"]["account_class_id"] == terms.pk


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"email": "a@example.com"}, "/name"),
        ({"name": ""}, "/name"),
        ({"name": "   "}, "/name"),
        ({"name": 42}, "/name"),
        ({"name": "Acme", "email": "not-an-address"}, "/email"),
        ({"name": "Acme", "account_class_id": UNKNOWN_ID}, "/account_class_id"),
        ({"name": "Acme", "account_class_id": "first"}, "/account_class_id"),
    ],
)
def test_create_account_refuses_bad_fields(reseller, api, body, pointer):
    refused_over_http(lambda: api.post(url(reseller, "/accounts"), body), 400, "ACCOUNT-0001", pointer=pointer)


def test_an_account_class_of_another_reseller_is_refused(reseller, api):
    # Given an account class of another reseller
    foreign = AccountClass.objects.get(reseller=ResellerFactory(), is_default=True)
    # When the connector names it, it is refused as a bad field, not revealed
    refused_over_http(
        lambda: api.post(url(reseller, "/accounts"), {"name": "Acme", "account_class_id": foreign.pk}),
        400,
        "ACCOUNT-0001",
        pointer="/account_class_id",
    )


def test_get_and_list_accounts(reseller, api):
    first = AccountFactory(reseller=reseller, name="Zeta")
    second = AccountFactory(reseller=reseller, name="Alpha", expiration_days=30)
    AccountFactory(reseller=ResellerFactory(), name="Elsewhere")
    data = created(api.get(url(reseller, f"/accounts/{first.pk}")), 200)
    assert (data["id"], data["attributes"]["name"], data["attributes"]["email"]) == (str(first.pk), "Zeta", first.email)
    listed = api.get(url(reseller, "/accounts"), {"sort": "name"}).json()
    assert [item["id"] for item in listed["data"]] == [str(second.pk), str(first.pk)]
    assert listed["meta"]["total"] == 2
    by_class = api.get(url(reseller, "/accounts"), {"filter[account_class_id]": second.account_class_id}).json()
    assert [item["id"] for item in by_class["data"]] == [str(second.pk)]
    refused_over_http(lambda: api.get(url(reseller, f"/accounts/{UNKNOWN_ID}")), 404, "ACCOUNT-0404")


# --- Subscriptions -------------------------------------------------------------------------------------------


def test_create_subscription_answers_201_and_records_subscription_created(reseller, api, plan):
    account = AccountFactory(reseller=reseller)
    body = {"plan_id": plan.pk, "start_date": "2026-02-10"}
    data = created(api.post(url(reseller, f"/accounts/{account.pk}/subscriptions"), body))
    assert data["type"] == "subscriptions"
    assert data["attributes"] | {"created_at": None, "updated_at": None} == {
        "account_id": account.pk,
        "plan_id": plan.pk,
        "status": "active",
        "billing_day": 1,
        "start_date": "2026-02-10",
        "created_at": None,
        "updated_at": None,
    }
    subscription = Subscription.objects.get(pk=int(data["id"]))
    assert (subscription.account_id, subscription.start_date) == (account.pk, date(2026, 2, 10))
    event = the_event("subscription.created", data["id"])
    assert (event.actor_kind, event.account_id, event.payload["plan_id"]) == ("api_token", account.pk, plan.pk)


def test_create_subscription_refuses_an_unknown_or_foreign_plan(reseller, api):
    account = AccountFactory(reseller=reseller)
    foreign_plan = create_plan(reseller=ResellerFactory(), name="Theirs", fee=100, billing_day=1, actor=SYSTEM, now=T0)
    for plan_id in (UNKNOWN_ID, foreign_plan.pk):
        refused_over_http(
            lambda plan_id=plan_id: api.post(
                url(reseller, f"/accounts/{account.pk}/subscriptions"), {"plan_id": plan_id, "start_date": "2026-02-10"}
            ),
            400,
            "SUBSCRIPTION-0001",
            pointer="/plan_id",
        )


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (lambda plan: {"start_date": "2026-02-10"}, "/plan_id"),
        (lambda plan: {"plan_id": None, "start_date": "2026-02-10"}, "/plan_id"),
        (lambda plan: {"plan_id": "basic", "start_date": "2026-02-10"}, "/plan_id"),
        (lambda plan: {"plan_id": plan.pk}, "/start_date"),
        (lambda plan: {"plan_id": plan.pk, "start_date": "10.02.2026"}, "/start_date"),
        (lambda plan: {"plan_id": plan.pk, "start_date": 20260210}, "/start_date"),
    ],
)
def test_create_subscription_refuses_bad_fields(reseller, api, plan, body, pointer):
    account = AccountFactory(reseller=reseller)
    refused_over_http(
        lambda: api.post(url(reseller, f"/accounts/{account.pk}/subscriptions"), body(plan)),
        400,
        "SUBSCRIPTION-0001",
        pointer=pointer,
    )


def test_a_start_date_on_an_already_billed_day_is_refused(reseller, api, plan, subscription):
    # Given the engine has billed the reseller's subscriptions up to 2026-02-02
    account = AccountFactory(reseller=reseller)
    bill(reseller, CLOSING_DAY)
    subscribe = url(reseller, f"/accounts/{account.pk}/subscriptions")
    # When a subscription should start on that day, its first fee would never be charged: refused
    refused_over_http(
        lambda: api.post(subscribe, {"plan_id": plan.pk, "start_date": CLOSING_DAY.isoformat()}),
        400,
        "SUBSCRIPTION-0101",
        pointer="/start_date",
    )
    # And the day after is fine
    created(api.post(subscribe, {"plan_id": plan.pk, "start_date": "2026-02-03"}))


def test_subscribing_an_unknown_account_is_404(reseller, api, plan):
    refused_over_http(
        lambda: api.post(
            url(reseller, f"/accounts/{UNKNOWN_ID}/subscriptions"), {"plan_id": plan.pk, "start_date": "2026-02-10"}
        ),
        404,
        "ACCOUNT-0404",
    )


def test_get_and_list_subscriptions(reseller, api, subscription):
    other = SubscriptionFactory(account=AccountFactory(reseller=reseller), start_date=date(2026, 2, 5))
    data = created(api.get(url(reseller, f"/subscriptions/{subscription.pk}")), 200)
    assert (data["id"], data["attributes"]["account_id"], data["attributes"]["start_date"]) == (
        str(subscription.pk),
        subscription.account_id,
        "2026-01-01",
    )
    every = api.get(url(reseller, "/subscriptions"), {"sort": "-start_date"}).json()
    assert [item["id"] for item in every["data"]] == [str(other.pk), str(subscription.pk)]
    mine = api.get(url(reseller, "/subscriptions"), {"filter[account_id]": other.account_id}).json()
    assert [item["id"] for item in mine["data"]] == [str(other.pk)]
    refused_over_http(lambda: api.get(url(reseller, f"/subscriptions/{UNKNOWN_ID}")), 404, "SUBSCRIPTION-0404")


# --- Usage charges -------------------------------------------------------------------------------------------


def usage(**fields) -> dict:
    return {"description": "API calls", "quantity": "12.5", "unit_price": "0.40", "date": "2026-02-03"} | fields


def test_a_usage_charge_is_priced_from_quantity_and_unit_price(reseller, api, subscription):
    # When the connector posts 12.5 units at 0.40 on a plan with 20 % tax
    data = created(api.post(url(reseller, f"/subscriptions/{subscription.pk}/charges"), usage(external_id="u-1")))
    # Then the charge is 5.00 net, 1.00 tax, 6.00 gross, blocked on the current period's open invoice
    attributes = data["attributes"]
    assert {
        key: attributes[key]
        for key in (
            "kind",
            "status",
            "quantity",
            "unit_price",
            "net_amount",
            "tax_rate",
            "tax_amount",
            "amount",
            "currency",
            "period_from",
            "period_to",
            "close_date",
            "external_id",
            "subscription_id",
        )
    } == {
        "kind": "usage",
        "status": "blocked",
        "quantity": "12.5",
        "unit_price": "0.40",
        "net_amount": "5.00",
        "tax_rate": "20",
        "tax_amount": "1.00",
        "amount": "6.00",
        "currency": "EUR",
        "period_from": "2026-02-03",
        "period_to": "2026-02-04",
        "close_date": "2026-03-01",
        "external_id": "u-1",
        "subscription_id": subscription.pk,
    }
    charge = Charge.objects.select_related("invoice").get(pk=int(data["id"]))
    assert (charge.amount, charge.invoice.status, charge.invoice.billing_date) == (600, "open", date(2026, 2, 1))
    assert attributes["invoice_id"] == charge.invoice_id
    event = the_event("charge.created", data["id"])
    assert (event.actor_kind, event.payload["external_id"], event.payload["amount"]) == ("api_token", "u-1", 600)


def test_the_same_external_id_twice_creates_one_charge(reseller, api, subscription):
    post = url(reseller, f"/subscriptions/{subscription.pk}/charges")
    # Given a usage charge posted with external_id u-7
    first = created(api.post(post, usage(external_id="u-7")))
    events = Event.objects.count()
    # When the connector posts it again (a retry), even with a changed quantity
    again = created(api.post(post, usage(external_id="u-7", quantity="99")), status=200)
    # Then the answer is the first charge, and nothing new is written
    assert again == first
    assert Charge.objects.filter(subscription=subscription, external_id="u-7").count() == 1
    assert Event.objects.count() == events
    # And another external_id is another charge
    assert created(api.post(post, usage(external_id="u-8")))["id"] != first["id"]


def test_charges_without_external_id_are_each_new(reseller, api, subscription):
    post = url(reseller, f"/subscriptions/{subscription.pk}/charges")
    assert created(api.post(post, usage()))["id"] != created(api.post(post, usage()))["id"]
    assert Charge.objects.filter(subscription=subscription, kind="usage").count() == 2


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        ({"unit_price": "1.234"}, "/unit_price"),
        ({"unit_price": "-1.00"}, "/unit_price"),
        ({"unit_price": "cheap"}, "/unit_price"),
        ({"date": "2026-02-04"}, "/date"),  # tomorrow
        ({"date": "2025-12-31"}, "/date"),  # before the subscription starts
        ({"date": "03/02/2026"}, "/date"),
        ({"quantity": "0"}, "/quantity"),
        ({"quantity": "1.2345"}, "/quantity"),
        ({"description": ""}, "/description"),
    ],
)
def test_a_bad_usage_charge_is_refused_naming_the_field(reseller, api, subscription, fields, pointer):
    refused_over_http(
        lambda: api.post(url(reseller, f"/subscriptions/{subscription.pk}/charges"), usage(**fields)),
        400,
        "CHARGE-0001",
        pointer=pointer,
    )


def test_a_charge_for_an_unknown_subscription_is_404(reseller, api):
    refused_over_http(
        lambda: api.post(url(reseller, f"/subscriptions/{UNKNOWN_ID}/charges"), usage()), 404, "SUBSCRIPTION-0404"
    )


# --- Scopes --------------------------------------------------------------------------------------------------


def test_a_read_only_token_cannot_write(reseller, plan, subscription):
    reader = ApiClient(token_for(reseller, scopes=["read"]))
    account = subscription.account
    for path, body in [
        ("/accounts", {"name": "Acme"}),
        (f"/accounts/{account.pk}/subscriptions", {"plan_id": plan.pk, "start_date": "2026-02-10"}),
        (f"/subscriptions/{subscription.pk}/charges", usage()),
    ]:
        refused_over_http(lambda path=path, body=body: reader.post(url(reseller, path), body), 403, "AUTH-0003")
    # And it can read
    assert reader.get(url(reseller, f"/accounts/{account.pk}")).status_code == 200


def test_a_platform_only_token_cannot_read(reseller, plan, subscription):
    writer = ApiClient(token_for(reseller, scopes=["platform"]))
    account = subscription.account
    for path in [
        f"/accounts/{account.pk}",
        "/accounts",
        f"/subscriptions/{subscription.pk}",
        "/subscriptions",
        "/plans",
        f"/plans/{plan.pk}",
        "/invoices",
        "/payments",
        "/charges",
        "/events",
    ]:
        refused_over_http(lambda path=path: writer.get(url(reseller, path)), 403, "AUTH-0003")
    # And it can write
    created(writer.post(url(reseller, "/accounts"), {"name": "Acme"}))
