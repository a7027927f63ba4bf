"""One reseller cannot stop the others: the quarter-hourly sweep bills each reseller in a task of its own; a
reseller whose day raises is logged, recorded as a ``billing.failed`` event and retried, and the others are billed."""

from datetime import UTC, date, datetime

import pytest
import time_machine
from huey.contrib.djhuey import HUEY

from arrears.billing import engine
from arrears.billing.models import BillingRun
from arrears.billing.tasks import bill_due_days_periodically
from arrears.events.models import Event
from tests.factories import AccountFactory, ResellerFactory, SubscriptionFactory


@pytest.fixture
def immediate_huey():
    """Tasks run where they are enqueued (a retry is scheduled, not run), as one worker would run them."""
    HUEY.immediate = True
    try:
        yield HUEY
    finally:
        HUEY.immediate = False


def test_a_failing_reseller_is_recorded_and_retried_while_the_others_are_billed(db, immediate_huey, monkeypatch):
    failing, healthy = ResellerFactory(name="Broken"), ResellerFactory(name="Healthy")
    for reseller in (failing, healthy):
        SubscriptionFactory(account=AccountFactory(reseller=reseller), start_date=date(2026, 3, 1))
    real_run = engine._BillingDay.run

    def run(day):
        if day.reseller.pk == failing.pk:
            raise RuntimeError("a plan of this reseller has no price")
        return real_run(day)

    monkeypatch.setattr(engine._BillingDay, "run", run)
    with time_machine.travel(datetime(2026, 3, 2, 12, tzinfo=UTC), tick=False):
        bill_due_days_periodically.call_local()

    assert list(BillingRun.objects.filter(reseller=healthy).values_list("date", flat=True)) == [
        date(2026, 3, 1),
        date(2026, 3, 2),
    ]
    assert not BillingRun.objects.filter(reseller=failing).exists()
    failure = Event.objects.get(type="billing.failed")
    assert failure.reseller_id == failing.pk and "has no price" in failure.payload["error"]
    retries = immediate_huey.scheduled()
    assert [task.args[0] for task in retries] == [failing.pk], "the failing reseller's chunk is retried on its own"
    assert all(task.name.endswith("bill_chunk") for task in retries)

    monkeypatch.setattr(engine._BillingDay, "run", real_run)
    with time_machine.travel(datetime(2026, 3, 2, 12, 15, tzinfo=UTC), tick=False):
        bill_due_days_periodically.call_local()
    assert BillingRun.objects.filter(reseller=failing).count() == 2
