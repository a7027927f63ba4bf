"""From the outbox to the deliveries: the notifications' part of dispatching an event.

The outbox (``arrears.events.outbox``) hands the notifiable events over after their commit; ``fan_out`` finds the
handlers that serve each event's reseller (R43) and writes one ``Delivery`` per (event, handler, recipient),
rendered there and then, in the transaction that takes the events out of the outbox. The unique constraint makes a
repeated dispatch a no-op. Once that transaction commits, the sending of the new deliveries is enqueued
(``arrears.notifications.sending`` sends them).
"""

import json
from datetime import datetime
from functools import partial

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from arrears.core.liquid import TemplateRenderFailed
from arrears.events.models import Event
from arrears.notifications.handlers import condition_holds_for, handlers_for, message_for
from arrears.notifications.models import Delivery, EventHandler
from arrears.notifications.placeholders import placeholders_for
from arrears.notifications.sending import ERROR_TEXT_LIMIT
from arrears.notifications.tasks import enqueue_sending


def fan_out(events: list[Event], *, now: datetime) -> None:
    """Write the deliveries of ``events`` and, once committed, enqueue the sending of those waiting to be sent."""
    placeholders = placeholders_for(events, now=now)
    handlers: dict[tuple[int, str], list[EventHandler]] = {}
    deliveries = []
    for event in events:
        key = (event.reseller_id, event.type)
        if key not in handlers:
            handlers[key] = handlers_for(event.reseller_id, event.type)
        for handler in handlers[key]:
            deliveries += _deliveries_of(event, handler, placeholders[event.pk], now=now)
    Delivery.objects.bulk_create(deliveries, ignore_conflicts=True, batch_size=500)
    waiting = list(
        Delivery.objects.filter(event_id__in=[event.pk for event in events], status=Delivery.Status.PENDING, attempts=0)
        .order_by("id")
        .values_list("pk", flat=True)
    )
    transaction.on_commit(partial(enqueue_sending, waiting), robust=True)


def serves_anyone(reseller_id: int, event_type: str) -> bool:
    """Whether any handler would send something for an event of ``event_type`` of ``reseller_id``."""
    return bool(handlers_for(reseller_id, event_type))


def _deliveries_of(event: Event, handler: EventHandler, placeholders: dict, *, now: datetime) -> list[Delivery]:
    """The deliveries of one handler for one event: none when its condition does not hold, one FAILED delivery
    carrying the error when a template cannot be rendered (the batch goes on)."""
    endpoint = handler.endpoint
    common = {
        "event": event,
        "handler": handler,
        "channel": handler.channel,
        "endpoint": endpoint,
        "created_at": now,
        "updated_at": now,
    }
    try:
        if not condition_holds_for(handler, placeholders):
            return []
        if handler.channel == EventHandler.Channel.WEBHOOK:
            assert endpoint is not None, "the handler_endpoint_only_for_webhooks constraint gives webhooks one"
            if not endpoint.active:
                return []
            body = json.dumps(
                {
                    "id": event.pk,
                    "type": event.type,
                    "occurred_at": event.occurred_at.isoformat(),
                    "data": placeholders,
                },
                cls=DjangoJSONEncoder,
                ensure_ascii=False,
            )
            return [Delivery(recipient=endpoint.url, body=body, **common)]
        message = message_for(handler, placeholders)
    except TemplateRenderFailed as exc:
        return [
            Delivery(
                recipient=endpoint.url if endpoint else "",
                status=Delivery.Status.FAILED,
                last_error=f"template could not be rendered: {exc}"[:ERROR_TEXT_LIMIT],
                **common,
            )
        ]
    return [
        Delivery(recipient=address, subject=message.subject, body=message.body, **common)
        for address in message.recipients
    ]
