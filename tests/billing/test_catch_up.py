"""§3: running the billing after days of downtime processes every missed day in order, and the
result is the very same — rows, events, their order and their business times — as running each day
on time.

Two resellers are built identically in the same database (same inputs, usage posted before any run
so both see it); one is billed in one call, the other day by day, a third in irregular steps. Their
worlds are compared with ids replaced by their rank within the reseller (``world_snapshot``), so
equal snapshots also mean rows and events were written in the same order.
"""

from datetime import date

import pytest

from tests.billing.helpers import BUSY_FIRST, BUSY_LAST, bill_day_by_day, build_busy_world, world_snapshot
from tests.conftest import bill


@pytest.mark.parametrize("erp", [False, True], ids=["default", "erp"])
def test_catch_up_in_one_call_equals_billing_day_by_day(db, erp):
    # Given three identical worlds
    in_one_call, day_by_day, in_steps = build_busy_world(erp), build_busy_world(erp), build_busy_world(erp)

    # When one is billed through 15 March in one call, one day by day, one in irregular steps
    results = bill(in_one_call, BUSY_LAST)
    bill_day_by_day(day_by_day, BUSY_FIRST, BUSY_LAST)
    for until in (date(2026, 1, 9), date(2026, 2, 2), date(2026, 2, 3), date(2026, 3, 13), BUSY_LAST):
        bill(in_steps, until)

    # Then all three hold the same rows and the same events in the same order
    expected = world_snapshot(in_one_call)
    assert world_snapshot(day_by_day) == expected
    assert world_snapshot(in_steps) == expected

    # and the scenario really exercised the engine
    assert [r.date for r in results] == [r["date"] for r in expected["BillingRun"]]
    assert len(results) == 74
    statuses = sorted({payment["status"] for payment in expected["Payment"] if payment["type"] == "rendered_services"})
    events = {event["type"] for event in expected["Event"]}
    assert {"invoice.opened", "charge.created", "charges.closed", "invoice.closed", "payment.created"} <= events
    assert sorted(e["subject_id"] for e in expected["Event"] if e["type"] == "invoice.opened") == [
        invoice["id"] for invoice in expected["Invoice"]
    ]
    if erp:
        assert statuses == ["waiting_for_payment"]
    else:
        assert statuses == ["expired", "paid_from_balance"]
        assert {"payment.received", "payment.expired", "subscription.blocked"} <= events
        assert any(invoice["total"] == 0 and invoice["status"] == "closed" for invoice in expected["Invoice"])
