from django.conf import settings
from django.db import models


class AccountClass(models.Model):
    """Terms shared by many accounts: when payments expire and how long blocking waits."""

    reseller = models.ForeignKey("tenants.Reseller", on_delete=models.PROTECT, related_name="account_classes")
    name = models.CharField(max_length=200)
    payment_expiration_days = models.PositiveIntegerField(default=10)
    grace_days = models.PositiveIntegerField(default=0)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["reseller", "name"], name="account_class_unique_name"),
            models.CheckConstraint(
                condition=models.Q(payment_expiration_days__gte=1), name="account_class_expiration_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Account(models.Model):
    reseller = models.ForeignKey("tenants.Reseller", on_delete=models.PROTECT, related_name="accounts")
    account_class = models.ForeignKey(AccountClass, on_delete=models.PROTECT, related_name="accounts")
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True, default="")
    address = models.TextField(blank=True, default="")
    # Denormalized sum of the ledger below, changed only together with a new ledger entry.
    balance = models.BigIntegerField(default=0)
    created_at = models.DateTimeField()
    # Every change of the row (its balance too) sets it: the ERP's incremental sync reads filter[updated_at][gt].
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class BalanceEntry(models.Model):
    """Append-only balance ledger: the balance is always the sum of these amounts."""

    class Kind(models.TextChoices):
        TOP_UP = "top_up"
        PAYMENT = "payment"
        # A gateway charged a payment that was already settled: the second success is credited, not lost.
        DUPLICATE_SUCCESS = "duplicate_success"

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="balance_entries")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    amount = models.BigIntegerField()
    payment = models.ForeignKey("payments.Payment", null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]


class CustomerUser(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner"
        BILLING = "billing"
        TECHNICAL = "technical"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="customer")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="users")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.OWNER)
    created_at = models.DateTimeField()
