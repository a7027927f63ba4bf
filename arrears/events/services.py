"""Writing events: one row per state change, in the transaction of the change (R45)."""

import json
from datetime import datetime

from arrears.core import sql
from arrears.core.actors import Actor
from arrears.events.models import Event

_COLUMNS = ("type", "reseller_id", "account_id", "subject_type", "subject_id", "payload", "actor_kind", "actor_id",
            "actor_label", "occurred_at")


def record_event(event_type: str, *, subject, reseller_id: int, account_id: int | None, payload: dict,
                 actor: Actor, now: datetime) -> Event:
    """One event row, written with a plain INSERT: every service call writes one or two, and compiling the ORM's
    INSERT costs more than running it."""
    values = (event_type, reseller_id, account_id, subject._meta.model_name, subject.pk, payload, actor.kind,
              actor.id, actor.label, now)
    row = sql.fetch_all(
        f"INSERT INTO {sql.table(Event)} ({', '.join(_COLUMNS)}) VALUES ({', '.join(['%s'] * len(_COLUMNS))})"
        " RETURNING id",
        [*values[:5], json.dumps(payload), *values[6:9], sql.db_datetime(now)],
    )
    return Event(id=row[0][0], **dict(zip(_COLUMNS, values, strict=True)))


# Events per INSERT statement: one multi-row statement costs far less than as many single-row ones
# (a round trip each on PostgreSQL); 500 rows x 10 parameters stays under both databases' limits.
EVENTS_PER_STATEMENT = 500


def record_events_in_bulk(event_type: str, subject_type: str, rows: list[tuple[int, int, int | None, dict]], *,
                          actor: Actor, now: datetime) -> None:
    """Insert many events at once, in the order given; ``rows`` are ``(reseller_id, subject_id, account_id,
    payload)``."""
    occurred_at = sql.db_datetime(now)
    values = [
        (event_type, reseller_id, account_id, subject_type, subject_id, json.dumps(payload), actor.kind, actor.id,
         actor.label, occurred_at)
        for reseller_id, subject_id, account_id, payload in rows
    ]
    for start in range(0, len(values), EVENTS_PER_STATEMENT):
        batch = values[start:start + EVENTS_PER_STATEMENT]
        sql.execute(
            f"INSERT INTO {sql.table(Event)} (type, reseller_id, account_id, subject_type, subject_id, payload,"
            " actor_kind, actor_id, actor_label, occurred_at) VALUES "
            + ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(batch)),
            [value for row in batch for value in row],
        )
