from django.db import models


class PaymentMethod(models.Model):
    class Kind(models.TextChoices):
        MANUAL = "manual"
        GATEWAY = "gateway"

    reseller = models.ForeignKey("tenants.Reseller", on_delete=models.PROTECT, related_name="payment_methods")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.MANUAL)
    name = models.CharField(max_length=200)
    # Set exactly when kind is gateway: the connector this method pays through.
    connector = models.ForeignKey(
        "gateways.PaymentConnector", null=True, blank=True, on_delete=models.PROTECT, related_name="payment_methods"
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="manual", connector__isnull=True)
                | models.Q(kind="gateway", connector__isnull=False),
                name="payment_method_connector_only_for_gateway",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Payment(models.Model):
    """Money owed or paid. A payment for rendered services belongs to exactly one invoice (R5)."""

    class Type(models.TextChoices):
        RENDERED_SERVICES = "rendered_services"
        TOP_UP = "top_up"

    class Status(models.TextChoices):
        WAITING_FOR_PAYMENT = "waiting_for_payment"
        EXPIRED = "expired"
        PROCESSING = "processing"
        COMPLETED = "completed"
        PAID_FROM_BALANCE = "paid_from_balance"
        CANCELLED = "cancelled"

    reseller = models.ForeignKey("tenants.Reseller", on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey("customers.Account", on_delete=models.PROTECT, related_name="payments")
    invoice = models.OneToOneField("invoices.Invoice", null=True, on_delete=models.PROTECT, related_name="payment")
    type = models.CharField(max_length=20, choices=Type.choices)
    status = models.CharField(max_length=20, choices=Status.choices)
    number = models.BigIntegerField()
    document_id = models.CharField(max_length=100)
    total = models.BigIntegerField()
    initial_total = models.BigIntegerField()
    amount_paid_from_balance = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    due_date = models.DateField(null=True)
    expiration_date = models.DateField(null=True)
    external_total = models.BigIntegerField(null=True)
    external_currency = models.CharField(max_length=3, null=True)
    # The invoice's mode, fixed when it closed (R10), kept on the payment too: the operator panel's board counts
    # the ERP's unpaid and unapproved payments from one index, without reading their invoices.
    managed_externally = models.BooleanField(default=False, db_default=False)
    payment_method = models.ForeignKey(PaymentMethod, null=True, on_delete=models.PROTECT, related_name="+")
    comment = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(type="rendered_services", invoice__isnull=False)
                | models.Q(type="top_up", invoice__isnull=True),
                name="payment_invoice_only_for_rendered_services",
            ),
            models.CheckConstraint(
                condition=models.Q(due_date__isnull=True, expiration_date__isnull=True)
                | models.Q(due_date__isnull=False, expiration_date__isnull=False),
                name="payment_due_and_expiration_together",
            ),
            models.UniqueConstraint(fields=["reseller", "document_id"], name="payment_unique_document_id"),
        ]
        indexes = [
            models.Index(fields=["reseller", "status", "due_date"], name="payment_due_idx"),
            models.Index(fields=["account", "status"], name="payment_account_status_idx"),
            # The dashboard: awaiting the ERP (no due date, oldest first) and approved but unpaid, index-only.
            models.Index(
                fields=["reseller", "status", "managed_externally", "due_date", "created_at", "total"],
                name="payment_erp_board_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.document_id

    @property
    def balance_payment_allowed(self) -> bool:
        """R18: a differing external total or currency rules out the balance; top-ups never use it."""
        if self.type != self.Type.RENDERED_SERVICES:
            return False
        if self.external_total is None:
            return True
        return self.external_total == self.total and self.external_currency == self.currency
