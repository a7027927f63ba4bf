"""Architecture rule 8: the engine bills a day in chunks of accounts; how the accounts fall into chunks must
not change what it writes."""

from datetime import date

import pytest

from arrears.billing import engine
from arrears.billing.errors import BillingPlanMismatch
from arrears.customers.models import AccountClass
from arrears.invoices.models import Invoice
from arrears.payments.models import Payment
from tests.billing.helpers import BUSY_LAST, build_busy_world, refreshed, world_snapshot
from tests.conftest import at, bill


def _events_in_a_stable_order(snapshot: dict) -> dict:
    """Chunks emit their events chunk by chunk, so only the order of events within a day may differ."""
    events = [{key: value for key, value in event.items() if key != "id"} for event in snapshot.pop("Event")]
    snapshot["Event"] = sorted(events, key=lambda e: (e["occurred_at"], e["type"], e["subject_type"], e["subject_id"]))
    return snapshot


def test_one_account_chunks_write_the_same_rows_and_events_as_one_big_chunk(db, settings):
    # Given two identical worlds
    whole, in_pieces = build_busy_world(erp=False), build_busy_world(erp=False)

    # When one is billed with the usual chunk size and the other with chunks of a single account
    bill(whole, BUSY_LAST)
    settings.ARREARS_BILLING_CHUNK_ACCOUNTS = 1
    bill(in_pieces, BUSY_LAST)

    # Then both hold the same rows, numbers, totals, statuses and events
    assert _events_in_a_stable_order(world_snapshot(in_pieces)) == _events_in_a_stable_order(world_snapshot(whole))


@pytest.mark.parametrize("chunk_accounts", [5_000, 1])
def test_R21_same_day_payments_are_taken_oldest_first_whatever_the_chunks(
    reseller, make_account, make_subscription, settings, chunk_accounts
):
    # Given an account with a 60.00 and a 30.00 payment both due on 11 February, and 40.00 on its balance (after
    # another account, so that with one-account chunks it is not the first chunk's)
    make_subscription(account=make_account(reseller=reseller), fee=1_000, billing_day=1, start_date=date(2026, 1, 1))
    account = make_account(reseller=reseller, expiration_days=10, balance=4_000)
    make_subscription(account=account, fee=6_000, billing_day=1, start_date=date(2026, 1, 1))
    make_subscription(account=account, fee=3_000, billing_day=5, start_date=date(2026, 1, 5))
    bill(reseller, date(2026, 2, 5))
    # an operator shortens the class's expiration period before the day-5 invoice closes on the 6th
    AccountClass.objects.filter(pk=account.account_class_id).update(payment_expiration_days=6)
    bill(reseller, date(2026, 2, 10))
    older, newer = Payment.objects.filter(account=account, type="rendered_services").order_by("id")
    assert (older.due_date, newer.due_date) == (date(2026, 2, 11), date(2026, 2, 11))

    # When the due date is billed, with the payments falling into one chunk or into separate ones
    settings.ARREARS_BILLING_CHUNK_ACCOUNTS = chunk_accounts
    bill(reseller, date(2026, 2, 11))

    # Then the balance pays oldest first while the running total fits: the older payment does not
    # fit, so neither is paid, however the rows were chunked
    assert (refreshed(older).status, refreshed(newer).status) == ("waiting_for_payment", "waiting_for_payment")
    assert refreshed(account).balance == 4_000


def test_a_chunk_that_finds_other_work_than_its_plan_counted_writes_nothing(reseller, make_account, make_subscription):
    # Given a day planned to close one invoice (numbered 1) and create its payment
    account = make_account(reseller=reseller)
    make_subscription(account=account, fee=5_000, billing_day=1, start_date=date(2026, 1, 1))
    bill(reseller, date(2026, 2, 1))
    plan = engine.plan_billing_day(reseller.pk, date(2026, 2, 2), now=at(date(2026, 2, 2)))
    chunk = plan.chunks.get()
    assert (chunk.invoice_count, chunk.payment_count) == (1, 1)

    # When something closes that invoice behind the engine's back before the chunk runs
    Invoice.objects.filter(account=account, status="open", to_date=date(2026, 2, 1)).update(status="closed")

    # Then the chunk refuses, and writes nothing: no payment, no number given, the chunk still to run
    with pytest.raises(BillingPlanMismatch):
        engine.run_billing_chunk(chunk.pk, wall_clock=lambda: at(date(2026, 2, 2)))
    assert not Payment.objects.filter(account=account).exists()
    assert refreshed(chunk).finished_at is None
    assert not Invoice.objects.filter(account=account).exclude(number=None).exists()
