from django.db import models


class BillingRun(models.Model):
    """One completed billing day of one reseller; the row is written in the day's own transaction."""

    reseller = models.ForeignKey("tenants.Reseller", on_delete=models.PROTECT, related_name="billing_runs")
    date = models.DateField()
    counts = models.JSONField(default=dict)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()

    class Meta:
        ordering = ["reseller", "date"]
        constraints = [models.UniqueConstraint(fields=["reseller", "date"], name="billing_run_once_per_day")]


class BillingRequest(models.Model):
    """A manager's "Run billing now": queued by the panel, run by a task that bills the reseller's due days one
    by one and writes its progress here between days, each write a short transaction of its own (a billing day is
    one long transaction; on SQLite it holds the writer lock, so nothing else of the task writes during it).

    At most one request per reseller is queued or running at a time (the partial unique constraint).
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    reseller = models.ForeignKey("tenants.Reseller", on_delete=models.PROTECT, related_name="billing_requests")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.CharField(max_length=255)  # the actor's label, as the events name it
    requested_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)
    updated_at = models.DateTimeField()  # the last progress write: a request silent for long is abandoned
    first_date = models.DateField(null=True)
    last_date = models.DateField(null=True)
    days_total = models.PositiveIntegerField(default=0)
    days_done = models.PositiveIntegerField(default=0)
    current_step = models.CharField(max_length=200, blank=True, default="")
    counts = models.JSONField(default=dict)  # the billed days' counts, summed
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["reseller"],
                condition=models.Q(status__in=["queued", "running"]),
                name="billing_request_one_active_per_reseller",
            ),
        ]

    @property
    def active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return (100 * self.days_done // self.days_total) if self.days_total else 0


class BillingDayPlan(models.Model):
    """A begun billing day of one reseller: its accounts split into chunks that workers bill independently.

    The plan and its chunks are written in one short transaction under the reseller's lock, which also reserves
    the day's document numbers: each chunk gets its own consecutive range, sized by counts taken then, so the
    numbers do not depend on how many workers bill the chunks, in what order, or how often a crashed chunk is
    re-run. The day is complete when every chunk is; the chunk that completes it writes the ``BillingRun``.
    """

    reseller = models.ForeignKey("tenants.Reseller", on_delete=models.PROTECT, related_name="billing_plans")
    date = models.DateField()
    started_at = models.DateTimeField()
    # The reseller's settings the whole day runs with, read when it began (R10: the mode of every invoice that
    # closes today is the mode in force when the day starts): currency, external_invoices, number prefixes, zone.
    settings = models.JSONField()
    chunk_count = models.PositiveIntegerField()
    chunks_finished = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["reseller", "date"]
        constraints = [models.UniqueConstraint(fields=["reseller", "date"], name="billing_plan_once_per_day")]


class BillingChunk(models.Model):
    """The accounts ``after_account_id < id <= last_account_id`` of a planned day, billed in one transaction."""

    plan = models.ForeignKey(BillingDayPlan, on_delete=models.CASCADE, related_name="chunks")
    position = models.PositiveIntegerField()
    after_account_id = models.BigIntegerField()
    last_account_id = models.BigIntegerField()
    # The invoices this chunk closes today, and the payments it creates for those with a positive total, are
    # numbered first_…_number onwards in account order; the counts were taken when the day was planned.
    first_invoice_number = models.BigIntegerField()
    invoice_count = models.PositiveIntegerField()
    first_payment_number = models.BigIntegerField()
    payment_count = models.PositiveIntegerField()
    finished_at = models.DateTimeField(null=True)
    counts = models.JSONField(default=dict)

    class Meta:
        ordering = ["plan", "position"]
        constraints = [models.UniqueConstraint(fields=["plan", "position"], name="billing_chunk_position_unique")]


class Reminder(models.Model):
    """A dated announcement already made: ``payment.due_date_coming`` for (payment, due date, days left) (R41)
    and ``billing_day.coming`` for (account, billing date, days left). Unique, so the daily sweep can run any
    number of times and each announcement is one event."""

    kind = models.CharField(max_length=64)
    subject_id = models.BigIntegerField()
    due_on = models.DateField()
    days_left = models.IntegerField()
    event = models.ForeignKey("events.Event", on_delete=models.CASCADE, related_name="+")

    class Meta:
        db_table = "events_reminder"  # where it was written before billing took the reminders over
        constraints = [
            models.UniqueConstraint(fields=["kind", "subject_id", "due_on", "days_left"], name="reminder_once"),
        ]
