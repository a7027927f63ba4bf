"""post_usage_charge: a service connector posts a usage charge. Rules: domain §2.1, R2, R3, R47."""

from datetime import date, datetime

import pytest

from arrears.charges.models import Charge
from arrears.events.models import Event
from arrears.invoices.models import Invoice
from arrears.invoices.services import post_usage_charge
from tests.conftest import ERP, at, bill
from tests.factories import AccountFactory, ResellerFactory, SubscriptionFactory
from tests.service_support import refused, snapshot

TODAY = date(2026, 2, 10)
FEB_1, MAR_1 = date(2026, 2, 1), date(2026, 3, 1)


def post(subscription, *, day: date = TODAY, **fields):
    body = {
        "description": "Storage, GB-month",
        "quantity": "1.5",
        "unit_price": 1_000,
        "usage_date": date(2026, 2, 9),
    } | fields
    return post_usage_charge(subscription, actor=ERP, now=at(day), **body)


def post_refused(code: str, subscription, *, pointer: str, **fields):
    body = {
        "description": "Storage, GB-month",
        "quantity": "1.5",
        "unit_price": 1_000,
        "usage_date": date(2026, 2, 9),
    } | fields
    return refused(code, post_usage_charge, subscription, pointer=pointer, actor=ERP, now=at(TODAY), **body)


@pytest.fixture
def subscription(reseller):
    """A subscription from 2026-02-01 on billing day 1, 20 % tax; the engine has opened its first period."""
    subscription = SubscriptionFactory(account=AccountFactory(reseller=reseller), tax_rate_bp=2_000, start_date=FEB_1)
    bill(reseller, FEB_1)
    return subscription


# --- posting ------------------------------------------------------------------------------------


def test_a_usage_charge_is_blocked_on_the_current_periods_open_invoice(subscription):
    # When a connector posts 1.5 units at 10.00 with 20 % tax during the February period
    charge, created = post(subscription)
    # Then it is a blocked usage charge on February's open invoice, closing on the next billing day
    assert created
    invoice = Invoice.objects.get(account=subscription.account, billing_date=FEB_1)
    assert (charge.invoice_id, invoice.status) == (invoice.pk, Invoice.Status.OPEN)
    assert (charge.kind, charge.status, charge.close_date) == (Charge.Kind.USAGE, Charge.Status.BLOCKED, MAR_1)
    assert (charge.quantity, charge.unit_price) == (1_500, 1_000)
    assert (charge.net_amount, charge.tax_rate_bp, charge.tax_amount, charge.amount) == (1_500, 2_000, 300, 1_800)
    assert (charge.period_from, charge.period_to) == (date(2026, 2, 9), date(2026, 2, 10))
    assert charge.description == "Storage, GB-month"


def test_a_usage_charge_records_charge_created(subscription):
    charge, _ = post(subscription, external_id="usage-42")
    event = Event.objects.get(type="charge.created", subject_id=charge.pk)
    assert (event.actor_kind, event.occurred_at) == (ERP.kind, at(TODAY))
    assert event.payload["kind"] == "usage" and event.payload["external_id"] == "usage-42"
    assert event.payload["amount"] == 1_800


def test_the_line_amount_rounds_half_up(subscription):
    charge, _ = post(subscription, quantity="0.5", unit_price=3)
    assert charge.net_amount == 2


def test_R2_R3_the_usage_charge_closes_on_the_billing_day_and_counts_in_the_invoice_total(subscription):
    charge, _ = post(subscription)
    bill(subscription.reseller, date(2026, 3, 2))
    charge.refresh_from_db()
    assert charge.status == Charge.Status.CLOSED
    invoice = Invoice.objects.get(pk=charge.invoice_id)
    assert invoice.status == Invoice.Status.CLOSED
    assert invoice.total == 12_000 + 1_800  # February's fee with tax + the usage


def test_usage_posted_before_the_engine_reached_the_period_lands_on_the_invoice_the_engine_uses(reseller):
    # Given a subscription the engine has billed only until 2026-01-31
    subscription = SubscriptionFactory(account=AccountFactory(reseller=reseller), start_date=date(2026, 1, 31))
    bill(reseller, date(2026, 1, 31))
    # When usage is posted on 2026-02-10 and the engine then catches up
    charge, _ = post(subscription)
    bill(reseller, date(2026, 2, 10))
    # Then the period's recurring fee joined the same invoice
    invoice = Invoice.objects.get(account=subscription.account, billing_date=FEB_1)
    assert set(invoice.charges.values_list("kind", flat=True)) == {Charge.Kind.USAGE, Charge.Kind.RECURRING}
    assert charge.invoice_id == invoice.pk


def test_usage_of_the_last_day_posted_after_midnight_lands_on_its_periods_invoice_until_the_engine_ran(reseller):
    # Given February billed up to its last day; the billing day 2026-03-01 has begun but the engine has not run yet
    subscription = SubscriptionFactory(account=AccountFactory(reseller=reseller), start_date=FEB_1)
    bill(reseller, date(2026, 2, 28))
    # When usage of 28 February is posted at 00:05 on 1 March
    charge, _ = post(subscription, day=MAR_1, usage_date=date(2026, 2, 28))
    # Then it is February's, on February's invoice, and closes with it on the billing day
    february = Invoice.objects.get(account=subscription.account, billing_date=FEB_1)
    assert (charge.invoice_id, charge.close_date, charge.late) == (february.pk, MAR_1, False)
    bill(reseller, date(2026, 3, 2))
    february.refresh_from_db()
    assert february.status == Invoice.Status.CLOSED
    assert Charge.objects.get(pk=charge.pk).status == Charge.Status.CLOSED
    assert february.total == sum(february.charges.values_list("amount", flat=True))


def test_usage_posted_during_downtime_lands_on_the_period_of_its_date(reseller):
    # Given the engine stopped on 2026-02-25 and it is now 3 March
    subscription = SubscriptionFactory(account=AccountFactory(reseller=reseller), start_date=FEB_1)
    bill(reseller, date(2026, 2, 25))
    # When usage of 27 February and of 2 March arrive
    february_usage, _ = post(subscription, day=date(2026, 3, 3), usage_date=date(2026, 2, 27))
    march_usage, _ = post(subscription, day=date(2026, 3, 3), usage_date=date(2026, 3, 2))
    # Then each is on its own period's invoice
    invoices = dict(Invoice.objects.filter(account=subscription.account).values_list("billing_date", "pk"))
    assert february_usage.invoice_id == invoices[FEB_1] and march_usage.invoice_id == invoices[MAR_1]
    assert not february_usage.late and not march_usage.late


def test_usage_of_a_period_whose_charges_closed_goes_to_the_current_period_marked_late(reseller):
    # Given the billing day 2026-03-01 has run: February's charges are closed
    subscription = SubscriptionFactory(account=AccountFactory(reseller=reseller), start_date=FEB_1)
    bill(reseller, MAR_1)
    # When usage of 27 February arrives on 2 March
    charge, _ = post(subscription, day=date(2026, 3, 2), usage_date=date(2026, 2, 27))
    # Then it is charged on March's invoice, marked late, and the event says so
    march = Invoice.objects.get(account=subscription.account, billing_date=MAR_1)
    assert (charge.invoice_id, charge.late, charge.close_date) == (march.pk, True, date(2026, 4, 1))
    assert Event.objects.get(type="charge.created", subject_id=charge.pk).payload["late"] is True


def test_the_resellers_calendar_decides_what_today_is(db):
    # Given a reseller in Auckland: 2026-02-09 12:00 UTC is 2026-02-10 01:00 there
    reseller = ResellerFactory(timezone="Pacific/Auckland")
    subscription = SubscriptionFactory(account=AccountFactory(reseller=reseller))
    charge, created = post(subscription, day=date(2026, 2, 9), usage_date=date(2026, 2, 10))
    assert created and charge.period_from == date(2026, 2, 10)


# --- repeat safety -----------------------------------------------------------------------------


def test_the_same_external_id_twice_creates_one_charge_and_changes_nothing_the_second_time(subscription):
    first, created = post(subscription, external_id="usage-42")
    assert created
    before = snapshot()
    second, created_again = post(subscription, external_id=" usage-42 ", quantity="3", day=date(2026, 2, 10))
    assert (second.pk, created_again) == (first.pk, False)
    assert second.quantity == 1_500
    assert snapshot() == before
    assert Event.objects.filter(type="charge.created", subject_type="charge", subject_id=first.pk).count() == 1


def test_the_same_external_id_on_another_subscription_is_another_charge(subscription):
    other = SubscriptionFactory(account=subscription.account, start_date=date(2026, 2, 11))
    first, _ = post(subscription, external_id="usage-42")
    second, created = post(other, external_id="usage-42", day=date(2026, 2, 12), usage_date=date(2026, 2, 11))
    assert created and second.pk != first.pk


def test_without_external_id_every_call_creates_a_charge(subscription):
    post(subscription)
    post(subscription)
    assert Charge.objects.filter(subscription=subscription, kind=Charge.Kind.USAGE).count() == 2


# --- validation (R47) --------------------------------------------------------------------------


@pytest.mark.parametrize("quantity", ["0", "-1", "abc", "1.0005", "NaN", "Infinity", None, ""])
def test_R47_a_bad_quantity_is_refused_by_name(subscription, quantity):
    post_refused("CHARGE-0001", subscription, quantity=quantity, pointer="/quantity")


@pytest.mark.parametrize("unit_price", [-1, "10.00", 1.5, True, None])
def test_R47_a_bad_unit_price_is_refused_by_name(subscription, unit_price):
    post_refused("CHARGE-0001", subscription, unit_price=unit_price, pointer="/unit_price")


@pytest.mark.parametrize(
    "usage_date",
    [date(2026, 2, 11), date(2026, 1, 31), "2026-02-09", None, datetime(2026, 2, 9, 10, 0)],
    ids=["future", "before-start", "string", "missing", "datetime"],
)
def test_R47_a_bad_usage_date_is_refused_by_name(subscription, usage_date):
    post_refused("CHARGE-0001", subscription, usage_date=usage_date, pointer="/date")


def test_the_usage_date_may_be_the_subscription_start(subscription):
    charge, created = post(subscription, usage_date=FEB_1)
    assert created and charge.period_from == FEB_1


@pytest.mark.parametrize("description", ["", "   ", None, 42, "x" * 256])
def test_R47_a_bad_description_is_refused_by_name(subscription, description):
    post_refused("CHARGE-0001", subscription, description=description, pointer="/description")


@pytest.mark.parametrize("external_id", ["", "   ", "x" * 256])
def test_R47_a_bad_external_id_is_refused_by_name(subscription, external_id):
    post_refused("CHARGE-0001", subscription, external_id=external_id, pointer="/external_id")
