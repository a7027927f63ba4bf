from django.conf import settings
from django.db import models


class Reseller(models.Model):
    """A tenant. The operator is the root; resellers form a tree kept as a materialized ``path``.

    The Finance settings live on the row itself (one reseller, one set of settings) so that the
    billing engine reads them with the reseller it locks.
    """

    name = models.CharField(max_length=200)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    path = models.CharField(max_length=255, db_index=True, editable=False, default="")
    currency = models.CharField(max_length=3)
    timezone = models.CharField(max_length=64, default="UTC")
    # Finance → Financial documents generation → "External system generates Invoices" (R1).
    external_invoices = models.BooleanField(default=False)
    invoice_number_prefix = models.CharField(max_length=20, default="INV")
    payment_number_prefix = models.CharField(max_length=20, default="PAY")
    next_invoice_number = models.BigIntegerField(default=1)
    next_payment_number = models.BigIntegerField(default=1)
    # The last date whose billing day has begun (its plan is written; its chunks may still be running). Writes
    # into the billing calendar (a new subscription's start, a usage charge's period) treat every date up to it
    # as billed, so what a running day decided before it began cannot change under it (tenants/locks.py).
    billed_through = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    def subtree_ids(self):
        return Reseller.objects.filter(path__startswith=self.path).values_list("id", flat=True)


class Manager(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin"
        BILLING_MANAGER = "billing_manager"
        VIEWER = "viewer"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="manager")
    reseller = models.ForeignKey(Reseller, on_delete=models.PROTECT, related_name="managers")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.ADMIN)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.user.email


class ApiToken(models.Model):
    """The credential of an ERP integration acting as a manager, sent as the ``X-Api-Token`` header.

    Only the sha256 of the secret is stored: a database leak does not leak working credentials.
    ``prefix`` keeps the secret's first characters so that a person can tell tokens apart in a list.
    """

    manager = models.ForeignKey(Manager, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=200)
    prefix = models.CharField(max_length=16)
    secret_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
