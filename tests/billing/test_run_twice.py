"""§3: billing jobs are idempotent — running a date again changes nothing and writes no event."""

from datetime import date

from arrears.billing.engine import run_billing, run_billing_day
from arrears.billing.models import BillingRun
from arrears.core import clock
from arrears.core.actors import SYSTEM
from arrears.invoices.services import post_usage_charge
from tests.billing.helpers import forget_billing_day, table_snapshot
from tests.conftest import at, bill

EVENTFUL_DAY = date(2026, 2, 7)


def _every_step_fires_on_the_eventful_day(reseller, make_account, make_subscription):
    """Accounts arranged so that on 7 February every engine step has work to do (in default mode)."""
    # billing day 7: February's charges are created and January's closed on the 7th
    make_subscription(account=make_account(reseller=reseller), fee=7_000, billing_day=7, start_date=date(2026, 1, 7))
    # billing day 10: its billing day is announced 3 days ahead, on the 7th
    make_subscription(account=make_account(reseller=reseller), fee=5_000, billing_day=10, start_date=date(2026, 1, 10))
    # billing day 6: the 6 January – 5 February invoice closes on the 7th
    make_subscription(account=make_account(reseller=reseller), fee=6_000, billing_day=6, start_date=date(2026, 1, 6))
    # closed on 2 February with a 6-day period: due on the 7th, and the balance covers it
    payer = make_account(reseller=reseller, expiration_days=6, balance=20_000)
    make_subscription(account=payer, fee=10_000, billing_day=1, start_date=date(2026, 1, 1))
    # closed on 2 February with a 5-day period: due on the 6th, unpaid, so expired and blocked on the 7th
    debtor = make_account(reseller=reseller, expiration_days=5)
    subscription = make_subscription(account=debtor, fee=10_000, billing_day=1, start_date=date(2026, 1, 1))
    # and usage posted during January
    post_usage_charge(
        subscription,
        description="Traffic",
        quantity="12.5",
        unit_price=80,
        usage_date=date(2026, 1, 20),
        actor=SYSTEM,
        now=at(date(2026, 1, 20)),
    )


def test_running_the_same_date_twice_changes_nothing(any_mode_reseller, make_account, make_subscription):
    # Given a reseller billed through a day on which every step had work
    _every_step_fires_on_the_eventful_day(any_mode_reseller, make_account, make_subscription)
    bill(any_mode_reseller, EVENTFUL_DAY)
    counts = BillingRun.objects.get(reseller=any_mode_reseller, date=EVENTFUL_DAY).counts
    if not any_mode_reseller.external_invoices:
        assert all(counts[step] for step in counts if step != "subscriptions_unblocked"), counts
    before = table_snapshot()

    # When that day, earlier days and the whole range are billed again
    again = [
        run_billing_day(any_mode_reseller, day, wall_clock=lambda: at(EVENTFUL_DAY))
        for day in (EVENTFUL_DAY, date(2026, 2, 2), date(2026, 2, 1), date(2026, 1, 1))
    ]
    again += bill(any_mode_reseller, EVENTFUL_DAY)
    again += run_billing(wall_now=at(EVENTFUL_DAY), reseller_ids=[any_mode_reseller.pk])

    # Then every run was skipped, and no row and no event changed
    assert all(result.skipped for result in again)
    assert table_snapshot() == before


def test_each_step_is_a_conditional_change_even_without_the_day_marker(
    any_mode_reseller, make_account, make_subscription
):
    # Given a reseller billed through a day on which every step had work
    _every_step_fires_on_the_eventful_day(any_mode_reseller, make_account, make_subscription)
    bill(any_mode_reseller, EVENTFUL_DAY)
    before = table_snapshot()

    # When the day's run record is lost and the day is billed again
    forget_billing_day(any_mode_reseller, EVENTFUL_DAY)
    result = run_billing_day(any_mode_reseller, EVENTFUL_DAY, wall_clock=lambda: at(EVENTFUL_DAY))

    # Then the steps found nothing left to do: no row and no event changed
    assert not result.skipped
    assert set(result.counts.values()) == {0}
    after = table_snapshot()
    del before["BillingRun"], after["BillingRun"]
    assert after == before


def test_days_are_billed_once_even_when_the_range_overlaps(reseller, make_account, make_subscription):
    # Given a reseller billed through 10 February
    make_subscription(account=make_account(reseller=reseller), fee=1_000, billing_day=1, start_date=date(2026, 1, 1))
    bill(reseller, date(2026, 2, 10))
    before = table_snapshot()

    # When an older date is billed
    older = run_billing_day(reseller, date(2026, 1, 15), wall_clock=lambda: at(date(2026, 2, 10)))
    results = bill(reseller, date(2026, 2, 1)) + [older]

    # Then nothing is billed again
    assert [r.skipped for r in results] == [True]
    assert table_snapshot() == before
    assert list(BillingRun.objects.filter(reseller=reseller).values_list("date", flat=True)) == list(
        clock.date_range(date(2026, 1, 1), date(2026, 2, 10))
    )
