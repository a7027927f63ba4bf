"""Sending the deliveries: e-mails through the configured mail backend, webhooks as signed POSTs.

``deliver`` sends one delivery: claimed first by a conditional UPDATE, sent with no transaction open (a slow mail
server must not hold the database), its outcome written with one attempt row in the log. A failure is retried on
``RETRY_DELAYS``; after the last attempt the delivery has FAILED, and a webhook endpoint whose deliveries failed for
``DISABLE_AFTER_FAILED_EVENTS`` events in a row is disabled.
"""

import math
import time
from datetime import UTC, datetime, timedelta

import httpx
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F, Q
from standardwebhooks.webhooks import Webhook

from arrears.core.actors import SYSTEM
from arrears.events.services import record_event
from arrears.notifications.models import Delivery, DeliveryAttempt, EventHandler, WebhookEndpoint

# Waits after the 1st … 7th failed attempt: 8 attempts over 29 h 36 min, so a receiver down for a day still gets
# everything.
RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=12),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
DISABLE_AFTER_FAILED_EVENTS = 10
# How long a claimed delivery stays claimed: far longer than one try (webhook timeout, SMTP timeout), so that a
# worker that died mid-send lets another one retry it, but no live worker loses its claim.
CLAIM_DURATION = timedelta(minutes=15)
WEBHOOK_TIMEOUT_SECONDS = 10
# The longest error text a delivery keeps.
ERROR_TEXT_LIMIT = 500


def _due(now: datetime) -> Q:
    return Q(status=Delivery.Status.PENDING) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))


def deliver_due(*, now: datetime, limit: int = 200) -> int:
    """Try the deliveries whose next attempt is due, oldest first; returns how many were tried."""
    due = Delivery.objects.filter(_due(now)).order_by("next_attempt_at", "id")
    return sum(
        deliver(delivery_id, now=now) != "skipped" for delivery_id in list(due.values_list("pk", flat=True)[:limit])
    )


def deliver(delivery_id: int, *, now: datetime) -> str:
    """Try one delivery if it is due; returns its status afterwards, or "skipped" when it was not due (sent,
    waiting for a later attempt, or claimed by another worker)."""
    claim = now + CLAIM_DURATION
    claimed = Delivery.objects.filter(_due(now), pk=delivery_id).update(next_attempt_at=claim, updated_at=now)
    if not claimed:
        return "skipped"
    delivery = Delivery.objects.select_related("endpoint").get(pk=delivery_id)
    if delivery.endpoint is not None and not delivery.endpoint.active:
        Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING, next_attempt_at=claim).update(
            status=Delivery.Status.CANCELLED, next_attempt_at=None, updated_at=now
        )
        return Delivery.Status.CANCELLED
    started = time.monotonic()
    status_code, error = _send(delivery, now=now)
    duration_ms = round((time.monotonic() - started) * 1000)
    return _record_attempt(delivery, claim, status_code=status_code, error=error, duration_ms=duration_ms, now=now)


def _send(delivery: Delivery, *, now: datetime) -> tuple[int | None, str]:
    """Send once; returns (HTTP status or None, error text or "")."""
    try:
        if delivery.channel == EventHandler.Channel.EMAIL:
            EmailMessage(
                subject=delivery.subject,
                body=delivery.body,
                to=[delivery.recipient],
                headers={"Auto-Submitted": "auto-generated"},
            ).send()
            return None, ""
        response = _post_webhook(delivery, now=now)
    # Whatever went wrong is this attempt's failure, recorded and retried: an exception escaping here would
    # leave the delivery claimed and untried until the claim ran out, again and again.
    except Exception as exc:  # noqa: BLE001
        return None, f"{type(exc).__name__}: {exc}"[:ERROR_TEXT_LIMIT]
    if response.is_success:
        return response.status_code, ""
    return response.status_code, f"HTTP {response.status_code}: {response.text}"[:ERROR_TEXT_LIMIT]


def webhook_message_id(delivery: Delivery) -> str:
    """The ``webhook-id``: the same on every retry of a delivery, so a receiver can drop a repeat."""
    return f"msg_arrears_{delivery.pk}"


def _post_webhook(delivery: Delivery, *, now: datetime) -> httpx.Response:
    endpoint = delivery.endpoint
    if endpoint is None:  # made from a webhook handler, which has one; the delivery table does not require it
        raise ValueError("the webhook delivery has no endpoint")
    message_id = webhook_message_id(delivery)
    timestamp = now.astimezone(UTC)
    signature = Webhook(endpoint.secret).sign(message_id, timestamp, delivery.body)
    headers = {
        "content-type": "application/json",
        "user-agent": "Arrears-Webhooks/1",
        "webhook-id": message_id,
        "webhook-timestamp": str(math.floor(timestamp.timestamp())),
        "webhook-signature": signature,
    }
    return httpx.post(endpoint.url, content=delivery.body.encode(), headers=headers, timeout=WEBHOOK_TIMEOUT_SECONDS)


def _record_attempt(
    delivery: Delivery, claim: datetime, *, status_code: int | None, error: str, duration_ms: int, now: datetime
) -> str:
    succeeded = not error
    attempts = delivery.attempts + 1
    outcome: dict[str, object]
    if succeeded:
        status = Delivery.Status.SENT
        outcome = {"sent_at": now, "next_attempt_at": None, "last_error": ""}
    elif attempts < MAX_ATTEMPTS:
        status = Delivery.Status.PENDING
        outcome = {"next_attempt_at": now + RETRY_DELAYS[attempts - 1], "last_error": error}
    else:
        status = Delivery.Status.FAILED
        outcome = {"next_attempt_at": None, "last_error": error}
    with transaction.atomic(durable=True):
        DeliveryAttempt.objects.create(
            delivery=delivery,
            attempted_at=now,
            succeeded=succeeded,
            status_code=status_code,
            error=error,
            duration_ms=duration_ms,
        )
        recorded = Delivery.objects.filter(
            pk=delivery.pk, status=Delivery.Status.PENDING, next_attempt_at=claim
        ).update(status=status, attempts=attempts, updated_at=now, **outcome)
        if not recorded:  # cancelled meanwhile (its endpoint was disabled): the attempt stays in the log
            return Delivery.objects.values_list("status", flat=True).get(pk=delivery.pk)
        if delivery.endpoint_id is not None:
            if succeeded:
                WebhookEndpoint.objects.filter(pk=delivery.endpoint_id, consecutive_failures__gt=0).update(
                    consecutive_failures=0, updated_at=now
                )
            elif status == Delivery.Status.FAILED:
                _count_failed_event(delivery.endpoint_id, now=now)
    return status


def _count_failed_event(endpoint_id: int, *, now: datetime) -> None:
    """One more event the endpoint never took; at the limit it is disabled, its waiting deliveries cancelled and
    its log kept."""
    WebhookEndpoint.objects.filter(pk=endpoint_id, active=True).update(
        consecutive_failures=F("consecutive_failures") + 1, updated_at=now
    )
    endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
    if endpoint.consecutive_failures < DISABLE_AFTER_FAILED_EVENTS:
        return
    if not WebhookEndpoint.objects.filter(pk=endpoint_id, active=True).update(
        active=False, disabled_at=now, updated_at=now
    ):
        return
    cancelled = Delivery.objects.filter(endpoint_id=endpoint_id, status=Delivery.Status.PENDING).update(
        status=Delivery.Status.CANCELLED, next_attempt_at=None, updated_at=now, last_error="the endpoint was disabled"
    )
    record_event(
        "webhook_endpoint.disabled",
        subject=endpoint,
        reseller_id=endpoint.reseller_id,
        account_id=None,
        payload={
            "url": endpoint.url,
            "consecutive_failures": endpoint.consecutive_failures,
            "deliveries_cancelled": cancelled,
        },
        actor=SYSTEM,
        now=now,
    )
