"""Billing on request: a manager's "Run billing now" is queued, then a task bills the due days and reports.

The request row is the progress the panel shows. Every write here is a short durable transaction of its own, made
between billing days and their chunks, never inside one: a chunk is one transaction (on SQLite it holds the writer
lock, and a second connection of the same thread asking for it is refused).
"""

from collections.abc import Callable
from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction

from arrears.billing.errors import BillingRunAlreadyRequested
from arrears.billing.models import BillingRequest
from arrears.core import sql
from arrears.core.actors import SYSTEM, Actor
from arrears.events.services import record_event
from arrears.tenants.models import Reseller

S = BillingRequest.Status

# A queued or running request that has not written progress for this long was lost (the queue was flushed, the
# consumer killed mid-day): it no longer blocks a new request.
ABANDONED_AFTER = timedelta(hours=2)


def _event(event_type: str, request: BillingRequest, payload: dict, *, actor: Actor, now: datetime) -> None:
    record_event(
        event_type,
        subject=request,
        reseller_id=request.reseller_id,
        account_id=None,
        payload=payload,
        actor=actor,
        now=now,
    )


def request_billing_run(
    reseller: Reseller, *, actor: Actor, now: datetime, start: Callable[[int], object]
) -> BillingRequest:
    """Queue a run of every due billing day of ``reseller``; ``start(request_id)`` (the caller's task,
    ``billing.tasks.run_billing_request``: the tasks import this module, not the other way round) is called once
    this commits.

    Refused while another request of the reseller is queued or running (``BILLING-0101``)."""
    with transaction.atomic(durable=True):
        _abandon_lost_requests(reseller, now=now)
        if BillingRequest.objects.filter(reseller=reseller, status__in=BillingRequest.ACTIVE).exists():
            raise BillingRunAlreadyRequested(
                "billing is already queued or running for this reseller; wait until it is done"
            )
        try:
            with transaction.atomic():
                request = BillingRequest.objects.create(
                    reseller=reseller, requested_by=actor.label, requested_at=now, updated_at=now
                )
        except IntegrityError as exc:  # a concurrent request won the race (the partial unique constraint)
            raise BillingRunAlreadyRequested(
                "billing is already queued or running for this reseller; wait until it is done"
            ) from exc
        _event("billing_request.queued", request, {"changes": {"status": [None, S.QUEUED]}}, actor=actor, now=now)
        transaction.on_commit(lambda: start(request.pk), robust=True)
    return request


def _abandon_lost_requests(reseller: Reseller, *, now: datetime) -> None:
    lost = list(
        BillingRequest.objects.filter(
            reseller=reseller, status__in=BillingRequest.ACTIVE, updated_at__lt=now - ABANDONED_AFTER
        )
    )
    for request in lost:
        if _change(
            request, request.status, S.FAILED, now=now, finished_at=now, error="abandoned: no progress for two hours"
        ):
            _event(
                "billing_request.failed",
                request,
                {"error": "abandoned", "changes": {"status": [request.status, S.FAILED]}},
                actor=SYSTEM,
                now=now,
            )


def _change(request: BillingRequest, from_status: str, to_status: str, *, now: datetime, **values) -> bool:
    """Conditional UPDATE from ``from_status``: False when the request moved meanwhile."""
    return (
        sql.conditional_update(
            BillingRequest,
            where={"id": request.pk, "status": from_status},
            values={"status": to_status, "updated_at": now, **values},
        )
        == 1
    )


def start_billing_request(request: BillingRequest, *, dates: list[date], now: datetime) -> bool:
    """queued → running with the days it is going to bill; False when it is no longer queued (nothing to do)."""
    with transaction.atomic(durable=True):
        started = _change(
            request,
            S.QUEUED,
            S.RUNNING,
            now=now,
            started_at=now,
            days_total=len(dates),
            first_date=dates[0] if dates else None,
            last_date=dates[-1] if dates else None,
            current_step=_step_before(dates, 0),
        )
        if started:
            _event(
                "billing_request.started",
                request,
                {
                    "days_total": len(dates),
                    "first_date": dates[0].isoformat() if dates else None,
                    "last_date": dates[-1].isoformat() if dates else None,
                    "changes": {"status": [S.QUEUED, S.RUNNING]},
                },
                actor=SYSTEM,
                now=now,
            )
    return started


def _step_before(dates: list[date], done: int) -> str:
    if done >= len(dates):
        return "Finishing"
    return f"Billing {dates[done].isoformat()} (day {done + 1} of {len(dates)})"


def record_billing_progress(
    request: BillingRequest, *, dates: list[date], days_done: int, counts: dict, now: datetime
) -> None:
    """A billed day: the count of days done, the next step, the summed counts. No event: not a state change."""
    with transaction.atomic(durable=True):
        sql.conditional_update(
            BillingRequest,
            where={"id": request.pk, "status": S.RUNNING},
            values={
                "days_done": days_done,
                "counts": counts,
                "updated_at": now,
                "current_step": _step_before(dates, days_done),
            },
        )


def finish_billing_request(request: BillingRequest, *, counts: dict, error: str = "", now: datetime) -> None:
    """running → done, or → failed with the error (the days billed before it stay billed)."""
    to_status = S.FAILED if error else S.DONE
    with transaction.atomic(durable=True):
        current = BillingRequest.objects.values_list("status", flat=True).get(pk=request.pk)
        if current not in BillingRequest.ACTIVE:
            return
        if _change(
            request,
            current,
            to_status,
            now=now,
            finished_at=now,
            counts=counts,
            error=error[:2000],
            current_step="" if not error else "Stopped",
        ):
            _event(
                f"billing_request.{to_status}",
                request,
                {
                    "counts": counts,
                    **({"error": error[:500]} if error else {}),
                    "changes": {"status": [current, to_status]},
                },
                actor=SYSTEM,
                now=now,
            )


def record_billing_failure(reseller_id: int, *, error: str, now: datetime) -> None:
    """The scheduled billing of one reseller raised: an event the operator panel shows on Billing runs. The other
    resellers are billed by their own tasks; this one is retried by its task and by the next sweep."""
    reseller = Reseller.objects.get(pk=reseller_id)
    with transaction.atomic(durable=True):
        record_event(
            "billing.failed",
            subject=reseller,
            reseller_id=reseller.pk,
            account_id=None,
            payload={"error": error[:2000]},
            actor=SYSTEM,
            now=now,
        )


def add_counts(total: dict, counts: dict) -> dict:
    merged = dict(total)
    for name, value in counts.items():
        merged[name] = merged.get(name, 0) + value
    return merged
