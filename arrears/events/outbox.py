"""The outbox: events that something above the audit log reacts to, queued in the transaction that wrote them and
handed to their subscribers once it has committed.

The audit log is the bottom layer and what reacts to its events sits above it — the notifications fan events out
to e-mails and webhooks, the invoices render their documents — so the outbox cannot call them by name. They
subscribe instead, from their ``AppConfig.ready``; an event of a type nobody subscribed to is written to the log and
queued nowhere.

``dispatch_pending_events`` hands the outbox over, ``limit`` events per transaction: each subscriber gets the
events of its types, in the transaction that deletes their outbox rows, so an event is handed over exactly when its
row goes (a subscriber that fails rolls the batch back, to be dispatched again).
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from django.db import transaction

from arrears.events.models import Event, PendingDispatch


class Reaction(Protocol):
    def __call__(self, events: list[Event], *, now: datetime) -> None: ...


@dataclass(frozen=True)
class Subscriber:
    event_types: frozenset[str]
    react: Reaction
    # Whether it would do anything about an event of this type of this reseller (reseller id, event type): what a
    # writer asks before announcing something only a subscriber cares about (the billing day's reminders).
    reacts_for: Callable[[int, str], bool]


def _always(reseller_id: int, event_type: str) -> bool:
    return True


_subscribers: dict[str, Subscriber] = {}
_queued_types: frozenset[str] = frozenset()


def subscribe(
    name: str,
    event_types: Iterable[str],
    react: Reaction,
    *,
    reacts_for: Callable[[int, str], bool] = _always,
) -> None:
    """Hand the events of ``event_types`` to ``react`` after their commit. ``name`` makes it idempotent: subscribing
    again under the same name replaces the subscriber (an app registry populated twice, a test's stand-in)."""
    global _queued_types
    _subscribers[name] = Subscriber(frozenset(event_types), react, reacts_for)
    _queued_types = frozenset().union(*(subscriber.event_types for subscriber in _subscribers.values()))


def unsubscribe(name: str) -> None:
    global _queued_types
    _subscribers.pop(name, None)
    _queued_types = frozenset().union(*(subscriber.event_types for subscriber in _subscribers.values()))


def is_queued(event_type: str) -> bool:
    """Whether an event of ``event_type`` goes into the outbox: some subscriber reacts to its type."""
    return event_type in _queued_types


def anyone_reacts_to(reseller_id: int, event_type: str) -> bool:
    """Whether a subscriber would do anything about an event of ``event_type`` of ``reseller_id``."""
    return any(
        event_type in subscriber.event_types and subscriber.reacts_for(reseller_id, event_type)
        for subscriber in _subscribers.values()
    )


def dispatch_pending_events(*, now: datetime, limit: int = 500) -> int:
    """Hand every outboxed event to its subscribers, ``limit`` per transaction, oldest first; returns how many were
    handed over."""
    dispatched = 0
    while True:
        with transaction.atomic(durable=True):
            # Two dispatchers on PostgreSQL take different batches; SQLite serializes them anyway.
            outbox = list(
                PendingDispatch.objects.select_related("event")
                .select_for_update(skip_locked=True, of=("self",))
                .order_by("event_id")[:limit]
            )
            if not outbox:
                return dispatched
            events = [row.event for row in outbox]
            for subscriber in list(_subscribers.values()):
                theirs = [event for event in events if event.type in subscriber.event_types]
                if theirs:
                    subscriber.react(theirs, now=now)
            PendingDispatch.objects.filter(pk__in=[event.pk for event in events]).delete()
        dispatched += len(events)
        if len(outbox) < limit:
            return dispatched
