from django.db import models


class Charge(models.Model):
    """One billable line of a subscription for a period. ``amount`` is gross (net + tax)."""

    class Kind(models.TextChoices):
        RECURRING = "recurring"
        USAGE = "usage"
        SETUP = "setup"

    class Status(models.TextChoices):
        NEW = "new"
        BLOCKED = "blocked"
        CLOSED = "closed"
        DELETED = "deleted"

    reseller = models.ForeignKey("tenants.Reseller", on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey("customers.Account", on_delete=models.PROTECT, related_name="charges")
    subscription = models.ForeignKey("subscriptions.Subscription", on_delete=models.PROTECT, related_name="charges")
    invoice = models.ForeignKey("invoices.Invoice", on_delete=models.PROTECT, related_name="charges")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    description = models.CharField(max_length=255)
    quantity = models.BigIntegerField(help_text="thousandths")
    unit_price = models.BigIntegerField()
    net_amount = models.BigIntegerField()
    tax_rate_bp = models.PositiveIntegerField(default=0)
    tax_amount = models.BigIntegerField()
    amount = models.BigIntegerField()
    period_from = models.DateField()
    period_to = models.DateField()
    close_date = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.BLOCKED)
    external_id = models.CharField(max_length=255, null=True)
    # Usage of a period whose charges had already closed when it was posted: it lands on the current period.
    late = models.BooleanField(default=False, db_default=False)
    created_at = models.DateTimeField()
    # Every change of the row sets it: the ERP's incremental sync reads filter[updated_at][gt].
    updated_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "period_from"],
                condition=models.Q(kind="recurring"),
                name="charge_one_recurring_per_period",
            ),
            models.UniqueConstraint(fields=["subscription", "external_id"], name="charge_unique_external_id"),
        ]
        indexes = [
            models.Index(fields=["invoice", "status"], name="charge_invoice_status_idx"),
            models.Index(fields=["reseller", "status", "close_date"], name="charge_closing_idx"),
        ]
