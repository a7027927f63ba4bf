"""Re-delivery for an operator who fixed what made deliveries fail (a broken mail server, a receiver down)."""

from datetime import datetime
from functools import partial

from django.db import transaction
from django.db.models import Count

from arrears.core.actors import Actor
from arrears.events.outbox import dispatch_pending_events
from arrears.events.services import record_event
from arrears.notifications.models import Delivery
from arrears.notifications.tasks import enqueue_sending
from arrears.tenants.models import Reseller


def replay_deliveries(
    *, since: datetime, reseller_id: int | None = None, include_sent: bool = False, now: datetime, actor: Actor
) -> dict[str, int]:
    """Send again the failed and cancelled deliveries (with ``include_sent`` the sent ones too) of the events since
    ``since`` — of ``reseller_id``'s subtree when given — from a fresh retry schedule; their earlier attempts stay
    in the log. Deliveries to a disabled endpoint are left alone: enabling it again is a decision of its own. Then
    fans out whatever the outbox still holds. Returns the counts."""
    statuses = [Delivery.Status.FAILED, Delivery.Status.CANCELLED]
    if include_sent:
        statuses.append(Delivery.Status.SENT)
    deliveries = Delivery.objects.filter(status__in=statuses, event__occurred_at__gte=since)
    if reseller_id is not None:
        deliveries = deliveries.filter(event__reseller_id__in=Reseller.objects.get(pk=reseller_id).subtree_ids())
    with transaction.atomic(durable=True):
        skipped = deliveries.filter(endpoint__active=False).count()
        replayable = deliveries.exclude(endpoint__active=False)
        per_reseller = dict(replayable.values_list("event__reseller_id").annotate(count=Count("id")).order_by())
        delivery_ids = list(replayable.order_by("id").values_list("pk", flat=True))
        Delivery.objects.filter(pk__in=delivery_ids).update(
            status=Delivery.Status.PENDING, attempts=0, next_attempt_at=now, updated_at=now
        )
        for replayed_reseller_id, count in sorted(per_reseller.items()):
            record_event(
                "deliveries.replayed",
                subject=Reseller(pk=replayed_reseller_id),
                reseller_id=replayed_reseller_id,
                account_id=None,
                payload={"since": since.isoformat(), "include_sent": include_sent, "deliveries": count},
                actor=actor,
                now=now,
            )
        transaction.on_commit(partial(enqueue_sending, delivery_ids), robust=True)
    dispatched = dispatch_pending_events(now=now)
    return {
        "deliveries_requeued": len(delivery_ids),
        "deliveries_skipped_endpoint_disabled": skipped,
        "events_dispatched": dispatched,
    }
