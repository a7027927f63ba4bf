"""Payment gateway connectors and the attempts to pay through them (connector protocol v1,
docs/payment-connectors.md)."""

from django.db import models


class PaymentConnector(models.Model):
    """An external payment service reached over HTTP. Messages both ways are signed with ``secret`` (Standard
    Webhooks); during a rotation ``previous_secret`` is accepted too, until ``previous_secret_valid_until``."""

    reseller = models.ForeignKey("tenants.Reseller", on_delete=models.PROTECT, related_name="payment_connectors")
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    # HMAC keys must be kept readable to sign and verify; they are shown to an admin once and never again.
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True, default="")
    previous_secret_valid_until = models.DateTimeField(null=True, blank=True)
    processing_minutes = models.PositiveIntegerField(default=30)
    currencies = models.JSONField(default=list)  # ISO 4217 codes the connector charges in
    # The reference gateway that `arrears serve` starts beside the web server (the demo's Demo Gateway): serve
    # picks it a free port on loopback and points ``url`` there.
    runs_with_serve = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["reseller", "name"], name="connector_unique_name"),
            models.CheckConstraint(
                condition=models.Q(processing_minutes__gte=1, processing_minutes__lte=10080),
                name="connector_processing_minutes_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PaymentAttempt(models.Model):
    """One try to pay one payment through one connector. While it is open the payment is ``processing``."""

    class Status(models.TextChoices):
        OPEN = "open"
        SUCCEEDED = "succeeded"
        DECLINED = "declined"
        CANCELLED = "cancelled"
        TIMED_OUT = "timed_out"
        FAILED = "failed"  # the checkout could not be created; nothing was charged

    public_id = models.CharField(max_length=40, unique=True)  # att_…, also the checkout's idempotency key
    reseller = models.ForeignKey("tenants.Reseller", on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey("customers.Account", on_delete=models.PROTECT, related_name="+")
    payment = models.ForeignKey("payments.Payment", on_delete=models.PROTECT, related_name="attempts")
    payment_method = models.ForeignKey("payments.PaymentMethod", on_delete=models.PROTECT, related_name="+")
    connector = models.ForeignKey(PaymentConnector, on_delete=models.PROTECT, related_name="attempts")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    previous_status = models.CharField(max_length=20)  # the payment's status before it became processing
    amount = models.BigIntegerField()  # what the connector charges: the external total when the ERP set one
    currency = models.CharField(max_length=3)
    checkout_id = models.CharField(max_length=200, blank=True, default="")
    redirect_url = models.TextField(blank=True, default="")
    late = models.BooleanField(default=False)  # succeeded after it had timed out
    # Successes the connector posted. The first one after a status read is that success confirmed; any further one
    # (a second webhook-id) is a second charge, credited to the balance.
    callback_successes = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    deadline_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # No double charge: a payment has at most one open attempt, whatever races.
            models.UniqueConstraint(
                fields=["payment"], condition=models.Q(status="open"), name="attempt_one_open_per_payment"
            ),
        ]
        indexes = [models.Index(fields=["status", "deadline_at"], name="attempt_open_deadline_idx")]

    def __str__(self) -> str:
        return self.public_id


class AttemptLogEntry(models.Model):
    """What happened to an attempt, in order, with every message sent or received (secrets redacted)."""

    class Step(models.TextChoices):
        STARTED = "started"
        REDIRECTED = "redirected"
        START_FAILED = "start_failed"
        SUCCEEDED = "succeeded"
        DECLINED = "declined"
        CANCELLED = "cancelled"
        TIMED_OUT = "timed_out"
        LATE_SUCCESS = "late_success"
        DUPLICATE_SUCCESS = "duplicate_success"
        STATUS_CHECKED = "status_checked"
        REFUSED = "refused"

    class Direction(models.TextChoices):
        SENT = "sent"
        RECEIVED = "received"
        NONE = ""

    attempt = models.ForeignKey(PaymentAttempt, on_delete=models.CASCADE, related_name="log")
    connector = models.ForeignKey(PaymentConnector, on_delete=models.PROTECT, related_name="+")
    step = models.CharField(max_length=20, choices=Step.choices)
    direction = models.CharField(max_length=10, choices=Direction.choices, blank=True, default="")
    # A callback's webhook-id, claimed once per connector: a replay finds it taken and changes nothing.
    webhook_id = models.CharField(max_length=200, null=True, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    message = models.JSONField(null=True, blank=True)
    detail = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "webhook_id"],
                condition=models.Q(webhook_id__isnull=False),
                name="attempt_log_unique_webhook_id",
            ),
        ]
