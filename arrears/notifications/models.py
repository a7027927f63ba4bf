"""The notification system's rows: webhook endpoints, event handlers, and the deliveries of events to them.

The tables keep the names they had when these models lived in ``arrears.events`` (``db_table``): the split into
an app of its own moved the code, not the data (``migrations/0001_initial``).
"""

from django.db import models


class WebhookEndpoint(models.Model):
    """Where a reseller's webhook handlers post, signed with Standard Webhooks (``secret`` is ``whsec_…``).

    ``consecutive_failures`` counts events whose delivery gave up, back to back; at the limit the endpoint is
    disabled (``disabled_at``) and its delivery log kept. A success resets the count.
    """

    reseller = models.ForeignKey("tenants.Reseller", on_delete=models.PROTECT, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    secret = models.CharField(max_length=200)
    description = models.CharField(max_length=200, blank=True, default="")
    active = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "events_webhookendpoint"
        ordering = ["id"]


class EventHandler(models.Model):
    """ "When event E happens and condition Q holds, send template T by channel C" (domain §1, R42, R43).

    ``reseller`` NULL is a platform default: it serves every reseller that neither it nor an ancestor has
    handlers of its own for the same event and channel. ``recipients``, ``subject`` and ``body`` are Liquid
    templates; ``condition`` is a Liquid expression (empty: always). A webhook handler posts the event's
    placeholders as JSON to ``endpoint``; its subject and body are not used.
    """

    class Channel(models.TextChoices):
        EMAIL = "email"
        WEBHOOK = "webhook"

    reseller = models.ForeignKey("tenants.Reseller", null=True, on_delete=models.PROTECT, related_name="event_handlers")
    event = models.CharField(max_length=64)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    name = models.CharField(max_length=200)
    recipients = models.TextField(blank=True, default="{{ account.email }}")
    subject = models.TextField(blank=True, default="")
    body = models.TextField(blank=True, default="")
    condition = models.TextField(blank=True, default="")
    endpoint = models.ForeignKey(WebhookEndpoint, null=True, on_delete=models.PROTECT, related_name="handlers")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "events_eventhandler"
        ordering = ["id"]
        indexes = [models.Index(fields=["event", "channel", "reseller"], name="handler_lookup_idx")]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(channel="email", endpoint__isnull=True)
                    | models.Q(channel="webhook", endpoint__isnull=False)
                ),
                name="handler_endpoint_only_for_webhooks",
            ),
        ]


class Delivery(models.Model):
    """One (event, handler, recipient): unique, so a repeated dispatch sends nothing twice."""

    class Status(models.TextChoices):
        PENDING = "pending"  # not tried yet, or waiting for its next attempt
        SENT = "sent"
        FAILED = "failed"  # gave up after the last attempt
        CANCELLED = "cancelled"  # its endpoint was disabled before it could be sent

    event = models.ForeignKey("events.Event", on_delete=models.PROTECT, related_name="deliveries")
    handler = models.ForeignKey(EventHandler, on_delete=models.PROTECT, related_name="deliveries")
    channel = models.CharField(max_length=10, choices=EventHandler.Channel.choices)
    recipient = models.CharField(max_length=2000)  # an e-mail address, or the endpoint's URL
    # Rendered at dispatch, so that a retry or a replay sends what the event said when it happened.
    subject = models.TextField(blank=True, default="")
    body = models.TextField(blank=True, default="")  # the e-mail's text, or the webhook's JSON
    endpoint = models.ForeignKey(WebhookEndpoint, null=True, on_delete=models.PROTECT, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True)
    last_error = models.TextField(blank=True, default="")
    sent_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "events_delivery"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "handler", "recipient"], name="delivery_once_per_recipient"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due_idx")]


class DeliveryAttempt(models.Model):
    """The delivery log: every try, kept when an endpoint is disabled."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="log")
    attempted_at = models.DateTimeField()
    succeeded = models.BooleanField()
    status_code = models.PositiveSmallIntegerField(null=True)
    error = models.TextField(blank=True, default="")
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "events_deliveryattempt"
        ordering = ["id"]
