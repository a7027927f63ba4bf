"""Billing jobs for the Huey consumer. The task layer is where the wall clock is read.

The engine is idempotent and catches up every missed day, so the schedule can be frequent: a run that
finds nothing due costs a few queries per reseller, and a day that crossed midnight in one reseller's
time zone is billed within a quarter of an hour.
"""

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from arrears.billing.engine import run_billing
from arrears.core import clock
from arrears.core.tasks import RETRY_DELAY_SECONDS, TRANSIENT_RETRIES, retrying_transient_errors_only

log = logging.getLogger(__name__)


def _bill_due_days(reseller_ids: list[int] | None = None) -> None:
    results = run_billing(wall_now=clock.wall_clock(), reseller_ids=reseller_ids)
    billed = sum(not result.skipped for result in results)
    if results:
        log.info("billing: %d day(s) billed, %d skipped", billed, len(results) - billed)


@db_periodic_task(crontab(minute="*/15"))
def bill_due_days_periodically() -> None:
    # No retries: the next quarter-hour run is the retry, and it catches up whatever this one missed.
    _bill_due_days()


@db_task(retries=TRANSIENT_RETRIES, retry_delay=RETRY_DELAY_SECONDS)
def run_billing_now(reseller_ids: list[int] | None = None) -> None:
    """Bill every due day now, e.g. after downtime or on an operator's request."""
    with retrying_transient_errors_only(f"billing resellers {reseller_ids or 'all'}"):
        _bill_due_days(reseller_ids)
