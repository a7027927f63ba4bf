"""Writing events: one row per state change, in the transaction of the change (R45).

An event of a type something subscribed to (``arrears.events.outbox``) also gets a ``PendingDispatch`` row — the
outbox — and its transaction, once committed, asks the task queue to hand the outbox to the subscribers.
"""

import functools
import json
import time
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction

from arrears.core import sql
from arrears.core.actors import Actor
from arrears.events import outbox
from arrears.events.models import Event, PendingDispatch
from arrears.events.tasks import dispatch_events

_COLUMNS = (
    "type",
    "reseller_id",
    "account_id",
    "subject_type",
    "subject_id",
    "payload",
    "actor_kind",
    "actor_id",
    "actor_label",
    "occurred_at",
)


# Dispatches asked for by this process are coalesced: the first commit schedules one a moment ahead, and commits
# before it runs only rely on it (it fans out the whole outbox). So a busy API process writes the task queue about
# once a second, not once per approve. ``_scheduled_until`` is when the scheduled one will run (monotonic clock).
DISPATCH_COALESCE_SECONDS = 1.0
_scheduled_until = 0.0


def _enqueue_dispatch() -> None:
    global _scheduled_until
    if settings.HUEY.immediate:  # tests that run tasks in-process: no scheduler to wait for
        dispatch_events()
        return
    moment = time.monotonic()
    # A margin: a dispatch about to start might read the outbox just before this commit's rows are visible.
    if moment < _scheduled_until - 0.25:
        return
    dispatch_events.schedule(delay=DISPATCH_COALESCE_SECONDS)
    _scheduled_until = moment + DISPATCH_COALESCE_SECONDS


def _dispatch_after_commit() -> None:
    """Ask for one dispatch when the current transaction commits, however many events it wrote.

    The registered callbacks of the transaction are few (this is usually the only one), so looking for ours costs
    less than any bookkeeping of our own, and stays right when a savepoint rolls back and drops it. ``robust``: the
    change is committed by then; a queue that is down must not turn it into an error, and the periodic dispatch
    picks the outbox up anyway.
    """
    # Each entry is (savepoint ids, callback, robust); the stubs know only the first two, hence the index.
    if not any(entry[1] is _enqueue_dispatch for entry in connection.run_on_commit):
        transaction.on_commit(_enqueue_dispatch, robust=True)


@functools.cache
def _insert_event_statement() -> str:
    return (
        f"INSERT INTO {sql.table(Event)} ({', '.join(_COLUMNS)}) VALUES ({', '.join(['%s'] * len(_COLUMNS))})"
        " RETURNING id"
    )


def record_event(
    event_type: str, *, subject, reseller_id: int, account_id: int | None, payload: dict, actor: Actor, now: datetime
) -> int:
    """One event row, written with a plain INSERT: every service call writes one or two, and compiling the ORM's
    INSERT costs more than running it. Returns the event's id."""
    row = sql.fetch_all(
        _insert_event_statement(),
        [
            event_type,
            reseller_id,
            account_id,
            subject._meta.model_name,
            subject.pk,
            json.dumps(payload),
            actor.kind,
            actor.id,
            actor.label,
            sql.db_datetime(now),
        ],
    )
    event_id = row[0][0]
    if outbox.is_queued(event_type):
        sql.execute(f"INSERT INTO {sql.table(PendingDispatch)} (event_id) VALUES (%s)", [event_id])
        _dispatch_after_commit()
    return event_id


# Events per INSERT statement: one multi-row statement costs far less than as many single-row ones
# (a round trip each on PostgreSQL); 500 rows x 10 parameters stays under SQLite's limit.
EVENTS_PER_STATEMENT = 500
# On PostgreSQL a statement's rows travel as one JSON array, one parameter the server unnests: it parses and plans
# in the same time whatever its rows, and the client encodes it in one json.dumps instead of escaping every text
# element of per-column arrays (which cost more than the server's insert).
EVENT_ROWS_PER_DOCUMENT = 10_000
EVENT_COLUMNS = (
    "type, reseller_id, account_id, subject_type, subject_id, payload, actor_kind, actor_id, actor_label, occurred_at"
)


def _insert_events(
    event_type: str, subject_type: str, actor: Actor, occurred_at, rows: list[tuple[int, int, int | None, dict]]
) -> list[tuple[int, int]]:
    """Insert ``rows`` ``(reseller_id, subject_id, account_id, payload)`` in their order, so that event ids ascend
    as given."""
    constants = [event_type, subject_type, actor.kind, actor.id, actor.label, occurred_at]
    if sql.is_postgres():
        return sql.fetch_all(
            f"INSERT INTO {sql.table(Event)} ({EVENT_COLUMNS}) SELECT CAST(%s AS text), CAST(r->>0 AS bigint),"
            " CAST(r->>2 AS bigint), CAST(%s AS text), CAST(r->>1 AS bigint), r->3, CAST(%s AS text),"
            " CAST(%s AS bigint), CAST(%s AS text), CAST(%s AS timestamptz)"
            " FROM jsonb_array_elements(CAST(%s AS jsonb)) WITH ORDINALITY AS given (r, position)"
            " ORDER BY position RETURNING id, subject_id",
            [*constants, json.dumps(rows)],
        )
    return sql.fetch_all(
        f"INSERT INTO {sql.table(Event)} ({EVENT_COLUMNS}) VALUES "
        + ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
        + " RETURNING id, subject_id",
        [
            value
            for reseller_id, subject_id, account_id, payload in rows
            for value in (
                event_type,
                reseller_id,
                account_id,
                subject_type,
                subject_id,
                json.dumps(payload),
                actor.kind,
                actor.id,
                actor.label,
                occurred_at,
            )
        ],
    )


def _queue_for_dispatch(event_ids: list[int]) -> None:
    if sql.is_postgres():
        sql.execute(
            f"INSERT INTO {sql.table(PendingDispatch)} (event_id) SELECT unnest(CAST(%s AS bigint[]))", [event_ids]
        )
    else:
        sql.execute(
            f"INSERT INTO {sql.table(PendingDispatch)} (event_id) VALUES " + ", ".join(["(%s)"] * len(event_ids)),
            event_ids,
        )


def record_events_in_bulk(
    event_type: str, subject_type: str, rows: list[tuple[int, int, int | None, dict]], *, actor: Actor, now: datetime
) -> list[tuple[int, int]]:
    """Insert many events at once, in the order given; ``rows`` are ``(reseller_id, subject_id, account_id,
    payload)``. Returns ``(event id, subject id)`` of each."""
    occurred_at = sql.db_datetime(now)
    queued = outbox.is_queued(event_type)
    written: list[tuple[int, int]] = []
    per_statement = EVENT_ROWS_PER_DOCUMENT if sql.is_postgres() else EVENTS_PER_STATEMENT
    for start in range(0, len(rows), per_statement):
        inserted = _insert_events(event_type, subject_type, actor, occurred_at, rows[start : start + per_statement])
        written += inserted
        if queued:
            _queue_for_dispatch([event_id for event_id, _ in inserted])
    if queued and rows:
        _dispatch_after_commit()
    return written
