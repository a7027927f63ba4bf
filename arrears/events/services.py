"""Writing events: one row per state change, in the transaction of the change (R45)."""

import json
from datetime import datetime

from arrears.core import sql
from arrears.core.actors import Actor
from arrears.events.models import Event


def record_event(event_type: str, *, subject, reseller_id: int, account_id: int | None, payload: dict,
                 actor: Actor, now: datetime) -> Event:
    return Event.objects.create(
        type=event_type,
        reseller_id=reseller_id,
        account_id=account_id,
        subject_type=subject._meta.model_name,
        subject_id=subject.pk,
        payload=payload,
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_label=actor.label,
        occurred_at=now,
    )


def record_events_in_bulk(event_type: str, subject_type: str, rows: list[tuple[int, int, int | None, dict]], *,
                          actor: Actor, now: datetime) -> None:
    """Insert many events at once; ``rows`` are ``(reseller_id, subject_id, account_id, payload)``."""
    occurred_at = sql.db_datetime(now)
    sql.execute_many(
        f"INSERT INTO {sql.table(Event)} (type, reseller_id, account_id, subject_type, subject_id, payload,"
        " actor_kind, actor_id, actor_label, occurred_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [
            (event_type, reseller_id, account_id, subject_type, subject_id, json.dumps(payload), actor.kind,
             actor.id, actor.label, occurred_at)
            for reseller_id, subject_id, account_id, payload in rows
        ],
    )
