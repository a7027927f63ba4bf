from django.db import models


class Invoice(models.Model):
    """The Postpay invoice of one account for one billing period of one billing day.

    ``billing_date`` is the billing day that starts the period (what the ERP matches on, R11);
    ``to_date`` is exclusive and equals the next billing day. ``managed_externally`` is fixed when
    the invoice closes (R10); ``approved`` exists only for those invoices (R9).
    """

    class Status(models.TextChoices):
        OPEN = "open"
        CLOSED = "closed"

    class AttachmentKind(models.TextChoices):
        NONE = ""
        FILE = "file"
        LINK = "link"

    reseller = models.ForeignKey("tenants.Reseller", on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey("customers.Account", on_delete=models.PROTECT, related_name="invoices")
    billing_day = models.PositiveSmallIntegerField()
    billing_date = models.DateField()
    from_date = models.DateField()
    to_date = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    payment_model = models.CharField(max_length=10, default="postpay")
    currency = models.CharField(max_length=3)
    total = models.BigIntegerField(default=0)
    number = models.BigIntegerField(null=True)
    document_id = models.CharField(max_length=100, null=True)
    original_document_id = models.CharField(max_length=100, null=True)
    managed_externally = models.BooleanField(default=False)
    approved = models.BooleanField(default=False)
    approval_date = models.DateField(null=True)
    external_total = models.BigIntegerField(null=True)
    external_currency = models.CharField(max_length=3, null=True)
    attachment_kind = models.CharField(max_length=4, choices=AttachmentKind.choices, blank=True, default="")
    attachment_name = models.CharField(max_length=255, blank=True, default="")
    attachment_url = models.URLField(max_length=2000, blank=True, default="")
    attachment_content_type = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True)

    # Not a column: set by the selectors that read an invoice for its document (invoices.selectors), as
    # (charge id, subscription id, tax rate in basis points or None for a deleted charge).
    charge_refs: list[tuple[int, int, int | None]]

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "billing_day", "billing_date"], name="invoice_one_per_period"),
            models.UniqueConstraint(fields=["reseller", "document_id"], name="invoice_unique_document_id"),
            models.CheckConstraint(
                condition=models.Q(approved=False) | models.Q(managed_externally=True),
                name="invoice_approved_only_if_external",
            ),
        ]
        indexes = [
            models.Index(fields=["reseller", "status", "to_date"], name="invoice_closing_idx"),
            # Approval refuses a document_id that another invoice holds as its platform number (R15).
            models.Index(fields=["reseller", "original_document_id"], name="invoice_original_doc_idx"),
            # The operator panel's invoices list sorted by total walks this index instead of sorting them all.
            models.Index(fields=["reseller", "total", "id"], name="invoice_total_idx"),
            # The panel's approval filters (the dashboard links to "closed, not approved") count without the table.
            models.Index(fields=["reseller", "status", "approved", "managed_externally"], name="invoice_approval_idx"),
            # Reconciliation: the approved invoices of one billing period, and the list of periods that have any.
            # It holds every column the period's totals add up, so those sums never read the table.
            models.Index(
                fields=[
                    "reseller",
                    "billing_date",
                    "status",
                    "managed_externally",
                    "currency",
                    "external_currency",
                    "total",
                    "external_total",
                ],
                condition=models.Q(approved=True),
                name="invoice_reconciliation_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.document_id or f"open invoice #{self.pk}"

    @property
    def has_attached(self) -> bool:
        return bool(self.attachment_kind)


class InvoiceAttachmentFile(models.Model):
    """The bytes of an ERP-attached file, apart from the invoice row so lists stay light (R23)."""

    invoice = models.OneToOneField(Invoice, on_delete=models.CASCADE, related_name="attachment_file")
    data = models.BinaryField()


class InvoiceDocument(models.Model):
    """The standard PDF form of a closed invoice (R24), rendered by a task and stored through Django's storage.

    Every change the document must show bumps ``version``; a render stores the version it read as
    ``rendered_version``. The document is stale while ``rendered_version < version``, so a render that finishes
    after a newer change leaves it stale. A render claims the row until ``lease_expires_at`` so two workers do
    not render one document twice; one that fails records ``failed_version`` and is tried again at the next
    change, not every minute.
    """

    invoice = models.OneToOneField(Invoice, primary_key=True, on_delete=models.CASCADE, related_name="document")
    file = models.FileField(max_length=255, blank=True, default="")
    content_type = models.CharField(max_length=100, blank=True, default="")
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    version = models.PositiveIntegerField(default=1)
    rendered_version = models.PositiveIntegerField(default=0)
    failed_version = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    requested_at = models.DateTimeField()
    rendered_at = models.DateTimeField(null=True)
    lease_expires_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["invoice_id"]
        indexes = [
            # The sweep's selection: only stale documents are in it, so it stays small however many invoices.
            models.Index(
                fields=["requested_at"],
                condition=models.Q(rendered_version__lt=models.F("version")),
                name="invoice_document_stale_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"document of invoice #{self.invoice_id} v{self.version}"

    @property
    def stale(self) -> bool:
        return self.rendered_version < self.version


class InvoiceTemplate(models.Model):
    """A reseller's replacement for the standard invoice form: Liquid HTML, checked when saved. Resellers below
    it use it too, unless they have their own (the nearest one along ``Reseller.path`` wins)."""

    reseller = models.OneToOneField("tenants.Reseller", on_delete=models.CASCADE, related_name="invoice_template")
    source = models.TextField()
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"invoice template of reseller #{self.reseller_id}"
