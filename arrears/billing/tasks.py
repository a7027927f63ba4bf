"""Billing jobs for the Huey consumer. The task layer is where the wall clock is read.

The engine is idempotent and catches up every missed day, so the schedule can be frequent: a run that
finds nothing due costs a few queries per reseller, and a day that crossed midnight in one reseller's
time zone is billed within a quarter of an hour.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from django.core.cache import cache
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from arrears.billing import services
from arrears.billing.engine import dates_to_bill, plan_billing_day, run_billing, run_billing_chunk, run_billing_day
from arrears.billing.models import BillingRequest
from arrears.core import clock
from arrears.core.tasks import RETRY_DELAY_SECONDS, TRANSIENT_RETRIES, retrying_transient_errors_only
from arrears.tenants.models import Reseller

log = logging.getLogger(__name__)


def _bill_due_days(reseller_ids: list[int] | None = None) -> None:
    results = run_billing(wall_now=clock.wall_clock(), wall_clock=clock.wall_clock, reseller_ids=reseller_ids)
    billed = sum(not result.skipped for result in results)
    if results:
        log.info("billing: %d day(s) billed, %d skipped", billed, len(results) - billed)


@db_periodic_task(crontab(minute="*/15"))
def bill_due_days_periodically() -> None:
    """One task per reseller, so that a reseller whose day raises stops nobody else's billing (and the resellers
    are billed by as many workers as there are). The next quarter-hour run catches up whatever this one missed."""
    for reseller_id in Reseller.objects.order_by("id").values_list("pk", flat=True):
        bill_reseller(reseller_id)


@contextmanager
def _recording_failures(reseller_id: int, what: str) -> Iterator[None]:
    """A failure is logged and recorded as a ``billing.failed`` event, then raised so that Huey retries it."""
    try:
        yield
    except Exception as exc:
        log.exception("billing %s failed", what)
        services.record_billing_failure(reseller_id, error=f"{type(exc).__name__}: {exc}", now=clock.wall_clock())
        raise


@db_task(retries=TRANSIENT_RETRIES, retry_delay=RETRY_DELAY_SECONDS)
def bill_reseller(reseller_id: int, until: str | None = None) -> None:
    """Begin the reseller's next due billing day up to ``until`` (an ISO date; default: the reseller's today): plan
    it and queue its chunks, which any worker bills (on one machine or several); the chunk that completes the day
    queues this task again for the day after. A day already planned (a crashed worker's) is taken up where it
    stopped: its unfinished chunks are queued again, and a chunk queued twice is billed once. The engine's days are
    idempotent, so a retry bills only what is still due."""
    reseller = Reseller.objects.filter(pk=reseller_id).first()
    if reseller is None:
        return
    last_day = date.fromisoformat(until) if until else clock.local_date(clock.wall_clock(), reseller.timezone)
    with _recording_failures(reseller_id, f"reseller {reseller_id}"):
        for day in dates_to_bill(reseller, last_day):
            plan = plan_billing_day(reseller_id, day, now=clock.wall_clock())
            if plan is None:
                continue  # complete already, or nothing to bill
            for chunk_id in plan.chunks.filter(finished_at=None).order_by("position").values_list("pk", flat=True):
                bill_chunk(reseller_id, chunk_id, until)
            return


@db_task(retries=TRANSIENT_RETRIES, retry_delay=RETRY_DELAY_SECONDS)
def bill_chunk(reseller_id: int, chunk_id: int, until: str | None = None) -> None:
    """Bill one chunk of a planned day of the reseller; if it was the day's last, begin the next due day (up to
    ``until``, as ``bill_reseller``)."""
    with _recording_failures(reseller_id, f"chunk {chunk_id}"):
        result = run_billing_chunk(chunk_id, wall_clock=clock.wall_clock)
    if result.day_finished:
        bill_reseller(result.reseller_id, until)


@db_task(retries=TRANSIENT_RETRIES, retry_delay=RETRY_DELAY_SECONDS)
def run_billing_now(reseller_ids: list[int] | None = None) -> None:
    """Bill every due day now, e.g. after downtime or on an operator's request."""
    with retrying_transient_errors_only(f"billing resellers {reseller_ids or 'all'}"):
        _bill_due_days(reseller_ids)


# Within a billing day the engine reports its steps; the day is one transaction, so they go to the cache (shared
# when ARREARS_CACHE_URL names Redis), never to the database. Between days the request row gets the progress.
STEP_CACHE_SECONDS = 15 * 60


def step_cache_key(request_id: int) -> str:
    return f"billing-request:{request_id}:step"


@db_task()
def run_billing_request(request_id: int) -> None:
    """A manager's "Run billing now": bill the reseller's due days one by one, recording progress between days.
    No retries: a failure is shown on the request, and the manager (or the quarter-hourly run) tries again."""
    request = BillingRequest.objects.select_related("reseller").filter(pk=request_id).first()
    if request is None:
        return
    reseller = request.reseller
    dates = dates_to_bill(reseller, clock.local_date(clock.wall_clock(), reseller.timezone))
    if not services.start_billing_request(request, dates=dates, now=clock.wall_clock()):
        return
    counts: dict = {}

    def progress(step: str, done: int, total: int) -> None:
        cache.set(step_cache_key(request_id), f"{step}: {done} of {total}", STEP_CACHE_SECONDS)

    try:
        for index, day in enumerate(dates):
            result = run_billing_day(reseller, day, wall_clock=clock.wall_clock, progress=progress)
            counts = services.add_counts(counts, result.counts)
            services.record_billing_progress(
                request, dates=dates, days_done=index + 1, counts=counts, now=clock.wall_clock()
            )
    except Exception as exc:
        log.exception("billing request %s failed", request_id)
        services.finish_billing_request(
            request, counts=counts, error=f"{type(exc).__name__}: {exc}", now=clock.wall_clock()
        )
        return
    finally:
        cache.delete(step_cache_key(request_id))
    services.finish_billing_request(request, counts=counts, now=clock.wall_clock())
