"""Reads of the audit log: the events of some subjects, and the change feed. The audit log knows no domain, so the
scope — a reseller, a subtree of resellers — comes from the caller."""

from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from arrears.core import sql
from arrears.events.errors import FeedParameterInvalid
from arrears.events.models import Event


def events_of_subject(subject):
    return Event.objects.filter(subject_type=subject._meta.model_name, subject_id=subject.pk).order_by("id")


def timeline_of(reseller_id: int, *subjects) -> list[Event]:
    """Every event of the given objects (an invoice and its payment, say) within the reseller ``reseller_id``,
    newest first: the log the operator panel shows (R45)."""
    condition = Q()
    for subject in subjects:
        if subject is not None:
            condition |= Q(subject_type=subject._meta.model_name, subject_id=subject.pk)
    if not condition:
        return []
    return list(Event.objects.filter(condition, reseller_id=reseller_id).order_by("-occurred_at", "-id"))


def feed_after(
    reseller_ids: QuerySet[Any, int],
    after: int,
    *,
    limit: int,
    event_type: str | None = None,
    account_id: int | None = None,
) -> list[Event]:
    """The change feed of the resellers ``reseller_ids`` — a query of their ids, a reseller's subtree
    (``Reseller.subtree_ids``), read as a subquery however many they are — after the event ``after`` (0: from the
    start), gap-free.

    SQLite serializes writers, so ids commit in order and the feed is simply ordered by id. On PostgreSQL
    ids are drawn before commit and a later id can commit first; there the feed is ordered by
    (transaction id, id) and shows only transactions older than every one still running (``tx_id``, see
    the events migration), so nothing can later appear before a position a reader has passed.
    """
    if after and not Event.objects.filter(pk=after, reseller_id__in=reseller_ids).exists():
        raise FeedParameterInvalid(f"after={after} is not an event of this feed", parameter="after")
    scope, scope_params = reseller_ids.order_by().query.sql_with_params()  # an IN list has no order to keep
    conditions = [f"reseller_id IN ({scope})"]
    params: list = list(scope_params)
    if connection.vendor == "postgresql":
        # The reader's own uncommitted events are visible to it too (tests, and a task reading what it wrote).
        conditions.append(
            "(tx_id < pg_snapshot_xmin(pg_current_snapshot()) OR tx_id = pg_current_xact_id_if_assigned())"
        )
        order = "tx_id, id"
        if after:
            conditions.append(f"(tx_id, id) > ((SELECT tx_id FROM {sql.table(Event)} WHERE id = %s), %s)")
            params += [after, after]
    else:
        order = "id"
        conditions.append("id > %s")
        params.append(after)
    if event_type:
        conditions.append("type = %s")
        params.append(event_type)
    if account_id:
        conditions.append("account_id = %s")
        params.append(account_id)
    query = f"SELECT * FROM {sql.table(Event)} WHERE {' AND '.join(conditions)} ORDER BY {order} LIMIT %s"
    return list(Event.objects.raw(query, [*params, limit]))
