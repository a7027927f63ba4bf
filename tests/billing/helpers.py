"""Given / When / Then helpers shared by the billing-engine tests.

``table_snapshot`` captures whole tables as they are (for "run it twice, nothing changes");
``world_snapshot`` captures everything one reseller owns with its ids replaced by their rank among
that reseller's rows, so two resellers built the same way compare equal row for row, event for
event, in the same order.
"""

from datetime import date, datetime

from django.db.models import Q

from arrears.billing.models import BillingDayPlan, BillingRun
from arrears.catalog.models import Plan, ServiceTerm
from arrears.charges.models import Charge
from arrears.core import clock
from arrears.core.actors import SYSTEM
from arrears.customers.models import Account, AccountClass, BalanceEntry
from arrears.events.models import Event
from arrears.invoices.models import Invoice
from arrears.invoices.services import post_usage_charge
from arrears.payments.models import Payment
from arrears.subscriptions.models import Subscription
from arrears.tenants.models import Reseller
from tests.conftest import at, bill
from tests.factories import AccountFactory, ResellerFactory, SubscriptionFactory

DOMAIN_MODELS = (
    Reseller,
    AccountClass,
    Account,
    BalanceEntry,
    ServiceTerm,
    Plan,
    Subscription,
    Invoice,
    Charge,
    Payment,
    Event,
    BillingRun,
)

# Columns that are not business state: the wall-clock duration of a run, and the id-bearing tree path.
NOT_COMPARED = {BillingRun: {"started_at", "finished_at"}, Reseller: {"path"}}

# Event payload keys that carry ids, and the table each id points into.
PAYLOAD_IDS = {
    "invoice_id": Invoice,
    "payment_id": Payment,
    "charge_ids": Charge,
    "plan_id": Plan,
    "account_class_id": AccountClass,
    "parent_id": Reseller,
    "subscription_id": Subscription,
}


def business_time(reseller: Reseller, day: date) -> datetime:
    """The time the engine stamps on everything it does for ``day``: the start of the reseller's day."""
    return clock.start_of_day(day, reseller.timezone)


def bill_day_by_day(reseller: Reseller, first: date, last: date) -> None:
    for day in clock.date_range(first, last):
        bill(reseller, day)


def events(event_type: str, *, reseller: Reseller | None = None, subject=None) -> list[Event]:
    found = Event.objects.filter(type=event_type)
    if reseller is not None:
        found = found.filter(reseller=reseller)
    if subject is not None:
        found = found.filter(subject_type=subject._meta.model_name, subject_id=subject.pk)
    return list(found.order_by("id"))


def subject_ids(event_type: str, reseller: Reseller) -> list[int]:
    return [event.subject_id for event in events(event_type, reseller=reseller)]


def refreshed(*objects):
    for obj in objects:
        obj.refresh_from_db()
    return objects[0] if len(objects) == 1 else objects


def _rows(model, scope: Q | None = None) -> list[dict]:
    rows = model.objects.all() if scope is None else model.objects.filter(scope)
    return list(rows.order_by("pk").values(*(f.attname for f in model._meta.concrete_fields)))


def table_snapshot() -> dict[str, list[dict]]:
    """Every row of every domain table, every column."""
    return {model.__name__: _rows(model) for model in DOMAIN_MODELS}


def _scope(model, reseller: Reseller) -> Q:
    if model is Reseller:
        return Q(pk=reseller.pk)
    if model is BalanceEntry:
        return Q(account__reseller=reseller)
    return Q(reseller=reseller)


def world_snapshot(reseller: Reseller) -> dict[str, list[dict]]:
    """Everything ``reseller`` owns, with every id (keys, foreign keys, event subjects, ids inside
    event payloads) replaced by its rank among the reseller's rows of the table it points into."""
    rank = {
        model: {
            pk: position
            for position, pk in enumerate(
                model.objects.filter(_scope(model, reseller)).order_by("pk").values_list("pk", flat=True)
            )
        }
        for model in DOMAIN_MODELS
    }
    by_name = {model._meta.model_name: model for model in DOMAIN_MODELS}

    def relative(model, pk):
        return None if pk is None else rank[model][pk]

    def payload(value):
        if isinstance(value, dict):
            return {
                key: (relative_ids(PAYLOAD_IDS[key], item) if key in PAYLOAD_IDS else payload(item))
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [payload(item) for item in value]
        return value

    def relative_ids(model, value):
        return [relative(model, pk) for pk in value] if isinstance(value, list) else relative(model, value)

    snapshot = {}
    for model in DOMAIN_MODELS:
        rows = []
        for row in _rows(model, _scope(model, reseller)):
            for column in NOT_COMPARED.get(model, ()):
                del row[column]
            for field in model._meta.concrete_fields:
                if field.primary_key:
                    row[field.attname] = relative(model, row[field.attname])
                elif field.is_relation:
                    row[field.attname] = relative(field.related_model, row[field.attname])
            if model is Event:
                row["subject_id"] = relative(by_name[row["subject_type"]], row["subject_id"])
                row["payload"] = payload(row["payload"])
            rows.append(row)
        snapshot[model.__name__] = rows
    return snapshot


BUSY_FIRST, BUSY_LAST = date(2026, 1, 1), date(2026, 3, 15)


def _usage(subscription, posted_on: date, usage_date: date, quantity: str, unit_price: int) -> None:
    post_usage_charge(
        subscription,
        description="Traffic",
        quantity=quantity,
        unit_price=unit_price,
        usage_date=usage_date,
        actor=SYSTEM,
        now=at(posted_on),
    )


def build_busy_world(erp: bool) -> Reseller:
    """74 days of business: a balance that always pays, one that runs short, an account without
    money; terms of 10/0, 5/3 and 3/0 days (expiration/grace); billing days 1, 10, 15 and 28;
    mid-period starts, tax, usage and a free plan."""
    reseller = ResellerFactory(name="World", timezone="Europe/Berlin", external_invoices=erp)

    prepaid = AccountFactory(reseller=reseller, name="Prepaid", email="prepaid@example.com", balance=200_000)
    monthly = SubscriptionFactory(account=prepaid, fee=10_000, tax_rate_bp=2000, billing_day=1, start_date=BUSY_FIRST)
    SubscriptionFactory(account=prepaid, fee=5_000, billing_day=15, start_date=date(2026, 1, 15))

    late_payer = AccountFactory(
        reseller=reseller, name="Late payer", email="late@example.com", expiration_days=5, grace_days=3
    )
    SubscriptionFactory(account=late_payer, fee=7_000, billing_day=1, start_date=BUSY_FIRST)
    SubscriptionFactory(account=late_payer, fee=1_500, billing_day=1, start_date=date(2026, 2, 17))

    tight = AccountFactory(
        reseller=reseller, name="Tight", email="tight@example.com", expiration_days=3, grace_days=0, balance=12_000
    )
    metered = SubscriptionFactory(
        account=tight, fee=9_000, tax_rate_bp=1000, billing_day=10, start_date=date(2026, 1, 20)
    )
    SubscriptionFactory(account=tight, fee=0, billing_day=10, start_date=date(2026, 1, 20))

    free = AccountFactory(reseller=reseller, name="Free", email="free@example.com")
    SubscriptionFactory(account=free, fee=0, billing_day=28, start_date=date(2026, 1, 28))

    # Usage the connectors posted during the downtime: before any billing run, in both worlds.
    _usage(monthly, date(2026, 1, 20), date(2026, 1, 19), "2.5", 400)
    _usage(monthly, date(2026, 2, 10), date(2026, 2, 3), "1.333", 1_234)
    _usage(metered, date(2026, 2, 5), date(2026, 1, 31), "10", 75)
    _usage(metered, date(2026, 3, 1), date(2026, 2, 28), "0.5", 999)
    return reseller


def forget_billing_day(reseller: Reseller, day: date) -> None:
    """Lose every record that ``day`` was billed (its run and its plan), as if the day had never run: billing it
    again then re-runs every step on what the first run left."""
    BillingRun.objects.filter(reseller=reseller, date=day).delete()
    BillingDayPlan.objects.filter(reseller=reseller, date=day).delete()
