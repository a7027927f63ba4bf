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
