from django.db import models


class Subscription(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        BLOCKED = "blocked"
        STOPPED = "stopped"

    reseller = models.ForeignKey("tenants.Reseller", on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey("customers.Account", on_delete=models.PROTECT, related_name="subscriptions")
    plan = models.ForeignKey("catalog.Plan", on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    billing_day = models.PositiveSmallIntegerField()
    start_date = models.DateField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["reseller", "billing_day", "start_date"], name="subscription_billing_idx"),
            models.Index(fields=["reseller", "status"], name="subscription_status_idx"),
        ]
