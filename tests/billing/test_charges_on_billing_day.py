"""R2 and §2.1: charges are blocked during their period and close on the billing day; the new
period's recurring fee is created blocked at the period start, prorated by days when a
subscription starts mid-period."""

from datetime import date

import pytest

from arrears.charges.models import Charge
from arrears.core.actors import SYSTEM
from arrears.invoices.models import Invoice
from arrears.invoices.services import post_usage_charge
from tests.billing.helpers import business_time
from tests.conftest import at, bill


def test_R2_billing_day_closes_blocked_charges_of_the_ended_period(any_mode_reseller, make_account, make_subscription):
    # Given a subscription billed since 1 January with a usage charge posted during January
    account = make_account(reseller=any_mode_reseller)
    subscription = make_subscription(account=account, fee=10_000, billing_day=1, start_date=date(2026, 1, 1))
    bill(any_mode_reseller, date(2026, 1, 20))
    usage, _ = post_usage_charge(
        subscription,
        description="Storage",
        quantity="2.5",
        unit_price=400,
        usage_date=date(2026, 1, 19),
        actor=SYSTEM,
        now=at(date(2026, 1, 20)),
    )
    january = Charge.objects.filter(subscription=subscription, close_date=date(2026, 2, 1))

    # When the last day of the period is billed
    bill(any_mode_reseller, date(2026, 1, 31))

    # Then the period's charges are still blocked
    assert sorted(january.values_list("kind", "status")) == [("recurring", "blocked"), ("usage", "blocked")]

    # When the billing day is billed
    bill(any_mode_reseller, date(2026, 2, 1))

    # Then every blocked charge of the ended period is closed, stamped with the billing day
    assert sorted(january.values_list("kind", "status")) == [("recurring", "closed"), ("usage", "closed")]
    assert set(january.values_list("closed_at", flat=True)) == {business_time(any_mode_reseller, date(2026, 2, 1))}
    usage.refresh_from_db()
    assert usage.amount == 1000


def test_R2_charges_of_another_billing_day_stay_blocked(any_mode_reseller, make_account, make_subscription):
    # Given an account with a billing-day-1 and a billing-day-15 subscription
    account = make_account(reseller=any_mode_reseller)
    make_subscription(account=account, fee=10_000, billing_day=1, start_date=date(2026, 1, 1))
    fifteenth = make_subscription(account=account, fee=5_000, billing_day=15, start_date=date(2026, 1, 15))

    # When billing day 1 of February is billed
    bill(any_mode_reseller, date(2026, 2, 1))

    # Then the billing-day-15 charge, whose period has not ended, is untouched
    assert list(fifteenth.charges.values_list("status", flat=True)) == ["blocked"]


def test_R2_new_period_charges_are_created_blocked_at_the_period_start(
    any_mode_reseller, make_account, make_subscription
):
    # Given a subscription billed through January
    account = make_account(reseller=any_mode_reseller)
    subscription = make_subscription(
        account=account, fee=10_000, billing_day=1, tax_rate_bp=2000, start_date=date(2026, 1, 1)
    )
    bill(any_mode_reseller, date(2026, 1, 31))
    assert not subscription.charges.filter(period_from=date(2026, 2, 1)).exists()

    # When the billing day starts the February period
    bill(any_mode_reseller, date(2026, 2, 1))

    # Then February's recurring fee exists, blocked, on a new open invoice of that period
    february = subscription.charges.get(period_from=date(2026, 2, 1))
    assert february.kind == Charge.Kind.RECURRING
    assert february.status == Charge.Status.BLOCKED
    assert (february.period_to, february.close_date) == (date(2026, 3, 1), date(2026, 3, 1))
    assert (february.net_amount, february.tax_amount, february.amount) == (10_000, 2_000, 12_000)
    assert february.created_at == business_time(any_mode_reseller, date(2026, 2, 1))
    invoice = february.invoice
    assert invoice.status == Invoice.Status.OPEN
    assert (invoice.billing_day, invoice.billing_date, invoice.from_date, invoice.to_date) == (
        1,
        date(2026, 2, 1),
        date(2026, 2, 1),
        date(2026, 3, 1),
    )
    assert invoice.document_id is None


@pytest.mark.parametrize(
    ("fee", "tax_rate_bp", "billing_day", "start", "net", "tax", "gross"),
    [
        # 15 of 31 January days of 30.00 = 14.516… -> 14.52; 20 % tax = 2.904 -> 2.90
        (3000, 2000, 1, date(2026, 1, 17), 1452, 290, 1742),
        # 15 of 30 April days of 10.01 = 5.005 -> 5.01 (half-up, not half-even)
        (1001, 0, 1, date(2026, 4, 16), 501, 0, 501),
        # 15 of 30 days of 10.10 = 5.05 exactly; 10 % tax = 0.505 -> 0.51 (half-up again)
        (1010, 1000, 1, date(2026, 4, 16), 505, 51, 556),
        # 9 of 28 February days of 28.00 = 9.00
        (2800, 0, 1, date(2026, 2, 20), 900, 0, 900),
        # billing day 15: period 15 Dec – 14 Jan (31 days), 5 days used: 16.129… -> 16.13
        (10_000, 0, 15, date(2026, 1, 10), 1613, 0, 1613),
        # billing day 28, start on the 30th: 29 of 31 days of 30.00 = 28.064… -> 28.06; 7 % = 1.9642 -> 1.96
        (3000, 700, 28, date(2026, 1, 30), 2806, 196, 3002),
    ],
)
def test_R2_mid_period_start_is_prorated_by_days_half_up(
    any_mode_reseller, make_account, make_subscription, fee, tax_rate_bp, billing_day, start, net, tax, gross
):
    # Given a subscription that starts in the middle of its billing period
    account = make_account(reseller=any_mode_reseller)
    subscription = make_subscription(
        account=account, fee=fee, billing_day=billing_day, tax_rate_bp=tax_rate_bp, start_date=start
    )

    # When its start date is billed
    bill(any_mode_reseller, start)

    # Then the first period's fee is charged for the days used, rounded half-up to the cent
    charge = subscription.charges.get()
    assert (charge.net_amount, charge.tax_amount, charge.amount) == (net, tax, gross)
    assert (charge.quantity, charge.unit_price) == (1000, net)
    assert charge.status == Charge.Status.BLOCKED
    assert charge.period_from == start
    assert charge.invoice.from_date == start
    assert charge.close_date == charge.period_to == charge.invoice.to_date
    assert charge.period_to.day == billing_day


def test_R2_prorated_first_period_closes_at_the_next_billing_day_then_full_fee(
    any_mode_reseller, make_account, make_subscription
):
    # Given a subscription starting on 17 January on billing day 1
    account = make_account(reseller=any_mode_reseller)
    subscription = make_subscription(account=account, fee=3100, billing_day=1, start_date=date(2026, 1, 17))

    # When February's billing day and the day after are billed
    bill(any_mode_reseller, date(2026, 2, 2))

    # Then the prorated January line (15/31 of 31.00) closed and February is charged in full
    january, february = subscription.charges.order_by("period_from")
    assert (january.amount, january.status) == (1500, Charge.Status.CLOSED)
    assert (february.amount, february.status) == (3100, Charge.Status.BLOCKED)
    assert january.invoice.status == Invoice.Status.CLOSED
    assert january.invoice.total == 1500
