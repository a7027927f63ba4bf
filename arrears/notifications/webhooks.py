"""Webhook endpoints as an operator looks after them: their delivery log, resending one delivery, a signed test
message, and enabling an endpoint the dispatcher disabled.

The test message is a direct signed POST, not a ``Delivery``: a delivery belongs to a real event and a handler
(both required), is retried for 29 h and counts towards disabling its endpoint. A test must answer once and now,
and must neither appear in the delivery log as if an event had happened nor move the failure count; its outcome
is shown to the operator and kept as a ``webhook_endpoint.tested`` event in the log of the endpoint.
"""

import json
import math
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import httpx
from django.db import transaction
from django.db.models import OuterRef, Q, QuerySet, Subquery
from standardwebhooks.webhooks import Webhook

from arrears.core.actors import Actor
from arrears.core.errors import NotFound
from arrears.events.services import record_event
from arrears.notifications.errors import DeliveryChanged, WebhookEndpointDisabled, WebhookEndpointNotDisabled
from arrears.notifications.models import Delivery, WebhookEndpoint
from arrears.notifications.sending import ERROR_TEXT_LIMIT, WEBHOOK_TIMEOUT_SECONDS
from arrears.notifications.tasks import enqueue_sending
from arrears.tenants.models import Reseller

TEST_EVENT_TYPE = "test"


# --- reads ------------------------------------------------------------------------------------------------


def endpoints_of(reseller: Reseller) -> QuerySet[WebhookEndpoint]:
    """The reseller's own endpoints, each with its latest delivery's time and status (two subqueries, no N+1)."""
    latest = Delivery.objects.filter(endpoint_id=OuterRef("pk")).order_by("-id")
    return WebhookEndpoint.objects.filter(reseller=reseller).annotate(
        last_delivery_at=Subquery(latest.values("created_at")[:1]),
        last_delivery_status=Subquery(latest.values("status")[:1]),
    )


def endpoint_of(reseller: Reseller, endpoint_id: int) -> WebhookEndpoint:
    try:
        return WebhookEndpoint.objects.get(reseller=reseller, pk=endpoint_id)
    except WebhookEndpoint.DoesNotExist:
        raise NotFound(f"no webhook endpoint {endpoint_id}") from None


def deliveries_of(reseller: Reseller) -> QuerySet[Delivery]:
    """Every delivery of the reseller's events, by e-mail and webhook."""
    return Delivery.objects.filter(event__reseller=reseller)


def delivery_of(reseller: Reseller, delivery_id: int) -> Delivery:
    """A delivery of one of the reseller's events, or to one of its endpoints (an inherited handler posts a
    descendant's events there)."""
    try:
        return Delivery.objects.select_related("event", "endpoint").get(
            Q(event__reseller=reseller) | Q(endpoint__reseller=reseller), pk=delivery_id
        )
    except Delivery.DoesNotExist:
        raise NotFound(f"no delivery {delivery_id}") from None


# --- services -----------------------------------------------------------------------------------------------


def resend_delivery(delivery: Delivery, *, actor: Actor, now: datetime) -> Delivery:
    """Send ``delivery`` again whatever its status, from a fresh retry schedule (as a replay does): it is pending
    and due now, and its sending is enqueued once committed. Its earlier attempts stay in the log. A delivery to a
    disabled endpoint is refused (WEBHOOK-0002): enabling the endpoint again is a decision of its own."""
    with transaction.atomic(durable=True):
        if (
            delivery.endpoint_id is not None
            and not WebhookEndpoint.objects.filter(pk=delivery.endpoint_id, active=True).exists()
        ):
            raise WebhookEndpointDisabled("the endpoint is disabled; enable it again before resending its deliveries")
        previous, attempts = Delivery.objects.values_list("status", "attempts").get(pk=delivery.pk)
        resent = Delivery.objects.filter(pk=delivery.pk, status=previous, attempts=attempts).update(
            status=Delivery.Status.PENDING, attempts=0, next_attempt_at=now, updated_at=now
        )
        if not resent:
            raise DeliveryChanged("the delivery was being sent just now; look at its log and try again")
        record_event(
            "delivery.resent",
            subject=delivery,
            reseller_id=delivery.event.reseller_id,
            account_id=delivery.event.account_id,
            payload={
                "channel": delivery.channel,
                "recipient": delivery.recipient,
                "previous_status": previous,
                "previous_attempts": attempts,
                "event_id": delivery.event_id,
                "event_type": delivery.event.type,
            },
            actor=actor,
            now=now,
        )
        transaction.on_commit(partial(enqueue_sending, [delivery.pk]), robust=True)
    return Delivery.objects.select_related("event", "endpoint").get(pk=delivery.pk)


def enable_webhook_endpoint(endpoint: WebhookEndpoint, *, actor: Actor, now: datetime) -> WebhookEndpoint:
    """Enable a disabled endpoint again: its failure count starts from zero. Deliveries cancelled when it was
    disabled stay cancelled; resend those that still matter. An active endpoint is refused (WEBHOOK-0001)."""
    with transaction.atomic(durable=True):
        enabled = WebhookEndpoint.objects.filter(pk=endpoint.pk, active=False).update(
            active=True, consecutive_failures=0, disabled_at=None, updated_at=now
        )
        if not enabled:
            raise WebhookEndpointNotDisabled("the endpoint is active already")
        record_event(
            "webhook_endpoint.enabled",
            subject=endpoint,
            reseller_id=endpoint.reseller_id,
            account_id=None,
            payload={
                "url": endpoint.url,
                "consecutive_failures": endpoint.consecutive_failures,
                "disabled_at": endpoint.disabled_at.isoformat() if endpoint.disabled_at else None,
            },
            actor=actor,
            now=now,
        )
    return WebhookEndpoint.objects.get(pk=endpoint.pk)


@dataclass(frozen=True)
class TestOutcome:
    message_id: str
    succeeded: bool
    status_code: int | None
    error: str
    duration_ms: int


def send_test_event(endpoint: WebhookEndpoint, *, actor: Actor, now: datetime) -> TestOutcome:
    """POST one signed message of type ``test`` to ``endpoint`` (disabled ones too: that is how an operator checks
    a receiver before enabling it again), with no transaction open; the outcome is recorded as a
    ``webhook_endpoint.tested`` event. Nothing is retried, and neither the delivery log nor the failure count
    changes."""
    message_id = f"msg_arrears_test_{secrets.token_hex(8)}"
    body = json.dumps(
        {
            "id": message_id,
            "type": TEST_EVENT_TYPE,
            "occurred_at": now.isoformat(),
            "data": {
                "endpoint": {"id": endpoint.pk, "url": endpoint.url},
                "message": "A test message from Arrears: the signature verifies with the endpoint's secret.",
            },
        },
        ensure_ascii=False,
    )
    timestamp = now.astimezone(UTC)
    headers = {
        "content-type": "application/json",
        "user-agent": "Arrears-Webhooks/1",
        "webhook-id": message_id,
        "webhook-timestamp": str(math.floor(timestamp.timestamp())),
        "webhook-signature": Webhook(endpoint.secret).sign(message_id, timestamp, body),
    }
    started = time.monotonic()
    status_code, error = None, ""
    try:
        response = httpx.post(endpoint.url, content=body.encode(), headers=headers, timeout=WEBHOOK_TIMEOUT_SECONDS)
    # Whatever went wrong is the test's answer, shown to the operator.
    except Exception as exc:  # noqa: BLE001
        error = f"{type(exc).__name__}: {exc}"[:ERROR_TEXT_LIMIT]
    else:
        status_code = response.status_code
        if not response.is_success:
            error = f"HTTP {response.status_code}: {response.text}"[:ERROR_TEXT_LIMIT]
    outcome = TestOutcome(
        message_id=message_id,
        succeeded=not error,
        status_code=status_code,
        error=error,
        duration_ms=round((time.monotonic() - started) * 1000),
    )
    with transaction.atomic(durable=True):
        record_event(
            "webhook_endpoint.tested",
            subject=endpoint,
            reseller_id=endpoint.reseller_id,
            account_id=None,
            payload={
                "url": endpoint.url,
                "webhook_id": message_id,
                "succeeded": outcome.succeeded,
                "status_code": status_code,
                "error": error,
                "duration_ms": outcome.duration_ms,
            },
            actor=actor,
            now=now,
        )
    return outcome
