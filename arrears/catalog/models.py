from django.db import models


class ServiceTerm(models.Model):
    reseller = models.ForeignKey("tenants.Reseller", on_delete=models.PROTECT, related_name="service_terms")
    name = models.CharField(max_length=200)
    billing_day = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(billing_day__gte=1, billing_day__lte=28), name="service_term_billing_day_1_28"
            ),
        ]


class Plan(models.Model):
    """What is sold: a recurring fee per billing period (net, minor units) plus tax."""

    reseller = models.ForeignKey("tenants.Reseller", on_delete=models.PROTECT, related_name="plans")
    service_term = models.ForeignKey(ServiceTerm, on_delete=models.PROTECT, related_name="plans")
    name = models.CharField(max_length=200)
    fee = models.BigIntegerField()
    tax_rate_bp = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()  # the ERP's incremental sync reads filter[updated_at][gt]

    class Meta:
        ordering = ["id"]
        constraints = [models.CheckConstraint(condition=models.Q(fee__gte=0), name="plan_fee_not_negative")]

    def __str__(self) -> str:
        return self.name
