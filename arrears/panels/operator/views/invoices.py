"""Invoices: the list with its filters and CSV export, the invoice page, manual approval, revoke, download."""

import base64
from datetime import date
from typing import TypedDict

import django_filters
import django_tables2 as tables
from django import forms
from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from arrears.core import clock
from arrears.core.downloads import attachment_disposition
from arrears.core.errors import ArrearsError
from arrears.events.selectors import timeline_of
from arrears.invoices import selectors
from arrears.invoices.attachments import MAX_ATTACHMENT_BYTES
from arrears.invoices.documents import invoice_document_for_download
from arrears.invoices.errors import AttachmentInvalid, DocumentNotAvailable, DocumentNotReady
from arrears.invoices.models import Invoice
from arrears.invoices.services import approve_invoice, revoke_invoice_approval
from arrears.panels.forms import MoneyField, PanelForm
from arrears.panels.lists import CSV_CHUNK, csv_amount, csv_date, csv_response, page_number, page_size
from arrears.panels.operator.access import BILL, operator_view
from arrears.panels.operator.pages import page
from arrears.panels.pagination import IdsFirstPaginator
from arrears.panels.templatetags.panels import badge, day, format_money
from arrears.payments.models import Payment

# --- The list ----------------------------------------------------------------------------------------------


class InvoiceFilter(django_filters.FilterSet):
    """The filter bar of the invoices list; its state lives in the URL, and the CSV export reads the same."""

    number = django_filters.CharFilter(label="Number", method="filter_number")
    status = django_filters.ChoiceFilter(label="Status", choices=Invoice.Status.choices, empty_label="Any")
    approved = django_filters.ChoiceFilter(
        label="Approved", choices=(("yes", "Yes"), ("no", "No")), method="filter_approved", empty_label="Any"
    )
    managed_externally = django_filters.ChoiceFilter(
        label="Managed externally", choices=(("yes", "Yes"), ("no", "No")), method="filter_external", empty_label="Any"
    )
    billing_date_from = django_filters.DateFilter(
        label="Period from",
        field_name="billing_date",
        lookup_expr="gte",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    billing_date_to = django_filters.DateFilter(
        label="Period to", field_name="billing_date", lookup_expr="lte", widget=forms.DateInput(attrs={"type": "date"})
    )
    account = django_filters.NumberFilter(label="Account id", field_name="account_id")
    payment = django_filters.ChoiceFilter(
        label="Payment",
        choices=(("unpaid", "Unpaid"), ("paid", "Paid"), ("cancelled", "Cancelled")),
        method="filter_payment",
        empty_label="Any",
    )
    overdue = django_filters.ChoiceFilter(
        label="Overdue", choices=(("yes", "Overdue only"),), method="filter_overdue", empty_label="Any"
    )

    class Meta:
        model = Invoice
        fields: list[str] = []

    def __init__(self, *args, today: date, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today

    def filter_number(self, queryset, name, value):
        value = value.strip()
        return selectors.numbered(queryset, value) if value else queryset

    def filter_approved(self, queryset, name, value):
        return queryset.filter(approved=value == "yes")

    def filter_external(self, queryset, name, value):
        return queryset.filter(managed_externally=value == "yes")

    def filter_payment(self, queryset, name, value):
        statuses = {
            "unpaid": [Payment.Status.WAITING_FOR_PAYMENT, Payment.Status.EXPIRED],
            "paid": [Payment.Status.COMPLETED, Payment.Status.PAID_FROM_BALANCE],
            "cancelled": [Payment.Status.CANCELLED],
        }[value]
        return queryset.filter(payment__status__in=statuses)

    def filter_overdue(self, queryset, name, value):
        if value != "yes":
            return queryset
        return queryset.filter(
            payment__due_date__lt=self.today,
            payment__status__in=[Payment.Status.WAITING_FOR_PAYMENT, Payment.Status.EXPIRED],
        )


def _number_cell(invoice: Invoice):
    label = invoice.document_id or "Open invoice"
    link = format_html('<a href="{}">{}</a>', reverse("operator:invoice", args=[invoice.pk]), label)
    if invoice.original_document_id and invoice.original_document_id != invoice.document_id:
        return format_html('{}<span class="sub">originally {}</span>', link, invoice.original_document_id)
    return link


class InvoiceTable(tables.Table):
    number = tables.Column(
        verbose_name="Number", accessor="document_id", order_by=("document_id", "id"), empty_values=()
    )
    account = tables.Column(verbose_name="Account", accessor="account__name", order_by=("account__name", "id"))
    total = tables.Column(
        verbose_name="Total", attrs={"td": {"class": "num"}, "th": {"class": "num"}}, order_by=("total", "id")
    )
    external_total = tables.Column(
        verbose_name="External total",
        empty_values=(),
        attrs={"td": {"class": "num"}, "th": {"class": "num"}},
        order_by=("external_total", "id"),
    )
    approved = tables.Column(verbose_name="Approved", empty_values=(), order_by=("approved", "id"))
    approval_date = tables.Column(verbose_name="Approval date", order_by=("approval_date", "id"))
    status = tables.Column(verbose_name="Status", order_by=("status", "id"))
    from_date = tables.Column(verbose_name="From", order_by=("from_date", "id"))
    to_date = tables.Column(verbose_name="To", order_by=("to_date", "id"))
    due_date = tables.Column(
        verbose_name="Due date", accessor="payment__due_date", empty_values=(), order_by=("payment__due_date", "id")
    )

    class Meta:
        attrs = {"class": "data"}
        empty_text = "No invoice matches these filters."
        orderable = True

    noun_plural = "invoices"

    def render_number(self, record):
        return _number_cell(record)

    def render_account(self, record):
        return format_html(
            '<a href="{}">{}</a>', reverse("operator:account", args=[record.account_id]), record.account.name
        )

    def render_total(self, record):
        return format_money(record.total, record.currency)

    def render_external_total(self, record):
        return format_money(record.external_total, record.external_currency) if record.external_total else "—"

    def render_approved(self, record):
        if not record.managed_externally:
            return mark_safe('<span class="muted">Platform</span>')  # noqa: S308 - a constant
        return badge("approved", "Approved") if record.approved else badge("not_approved", "Not approved")

    def render_approval_date(self, value):
        return day(value)

    def render_status(self, value):
        return badge(value)

    def render_from_date(self, value):
        return day(value)

    def render_to_date(self, value):
        return day(value)

    def render_due_date(self, value):
        return day(value)


def _invoice_rows(reseller):
    # Newest first until a header says otherwise (the table's own default names columns, and id is none).
    return selectors.invoices_of(reseller).select_related("account").order_by("-id")


def _filtered(request):
    operator = request.operator
    today = clock.local_date(clock.wall_clock(), operator.reseller.timezone)
    return InvoiceFilter(request.GET, queryset=_invoice_rows(operator.reseller), today=today)


@operator_view()
def invoice_list(request):
    invoice_filter = _filtered(request)
    table = InvoiceTable(invoice_filter.qs if invoice_filter.is_valid() else Invoice.objects.none(), request=request)
    table.paginate(paginator_class=IdsFirstPaginator, page=page_number(request), per_page=page_size(request))
    template = "operator/invoices_results.html" if request.htmx else "operator/invoices.html"
    return page(
        request,
        template,
        section="invoices",
        title="Invoices",
        filter=invoice_filter,
        table=table,
        export_url=f"{reverse('operator:invoices_csv')}?{request.GET.urlencode()}",
    )


CSV_HEADER = [
    "id",
    "number",
    "original_number",
    "account_id",
    "account",
    "status",
    "total",
    "currency",
    "managed_externally",
    "approved",
    "approval_date",
    "external_total",
    "external_currency",
    "billing_date",
    "from",
    "to",
    "due_date",
    "payment_status",
]


def _csv_rows(queryset):
    columns = (
        "pk",
        "document_id",
        "original_document_id",
        "account_id",
        "account__name",
        "status",
        "total",
        "currency",
        "managed_externally",
        "approved",
        "approval_date",
        "external_total",
        "external_currency",
        "billing_date",
        "from_date",
        "to_date",
        "payment__due_date",
        "payment__status",
    )
    for row in queryset.order_by("pk").values_list(*columns).iterator(chunk_size=CSV_CHUNK):
        values = dict(zip(columns, row, strict=True))
        yield [
            values["pk"],
            values["document_id"] or "",
            values["original_document_id"] or "",
            values["account_id"],
            values["account__name"],
            values["status"],
            csv_amount(values["total"], values["currency"]),
            values["currency"],
            "yes" if values["managed_externally"] else "no",
            "yes" if values["approved"] else "no",
            csv_date(values["approval_date"]),
            csv_amount(values["external_total"], values["external_currency"]),
            values["external_currency"] or "",
            csv_date(values["billing_date"]),
            csv_date(values["from_date"]),
            csv_date(values["to_date"]),
            csv_date(values["payment__due_date"]),
            values["payment__status"] or "",
        ]


@operator_view()
def invoice_csv(request):
    """Exactly the filtered list, streamed row by row: memory stays flat however many invoices match."""
    invoice_filter = _filtered(request)
    queryset = invoice_filter.qs if invoice_filter.is_valid() else Invoice.objects.none()
    return csv_response(CSV_HEADER, _csv_rows(queryset), f"invoices-{request.operator.reseller.pk}.csv")


# --- The invoice page --------------------------------------------------------------------------------------


class ApproveInvoiceForm(PanelForm):
    document_id = forms.CharField(
        label="Invoice number",
        max_length=100,
        help_text="The number of the invoice in your ERP; it replaces the platform's.",
    )
    due_date = forms.DateField(
        label="Due date",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Empty: today plus the account class's payment period.",
    )
    external_total = MoneyField(
        label="External total",
        required=False,
        max_length=30,
        help_text="Only when the ERP's invoice states another total, e.g. 1234.50.",
    )
    currency = forms.CharField(
        label="Currency", required=False, max_length=3, help_text="ISO 4217 code of the external total, e.g. EUR."
    )
    file = forms.FileField(
        label="File", required=False, help_text="The ERP's invoice: PDF, DOC, DOCX or XLSX, at most 10 MB."
    )
    link = forms.URLField(
        label="Link",
        required=False,
        max_length=2000,
        assume_scheme="https",
        help_text="Or a link to the ERP's invoice (https); Arrears never opens it.",
    )

    pointers = {
        "/document_id": "document_id",
        "/due_date": "due_date",
        "/amount": "external_total",
        "/amount/total": "external_total",
        "/amount/currency": "currency",
        "/file": "file",
        "/link": "link",
    }

    def clean(self):
        cleaned = super().clean()
        total, currency = cleaned.get("external_total"), (cleaned.get("currency") or "").strip().upper()
        cleaned["currency"] = currency
        if currency and not total:
            self.add_error(
                "external_total",
                forms.ValidationError("Give the external total that goes with the currency.", code="INVOICE-0106"),
            )
        if total and not currency:
            self.add_error(
                "currency", forms.ValidationError("Give the currency of the external total.", code="INVOICE-0106")
            )
        upload = cleaned.get("file")
        if upload is not None and upload.size > MAX_ATTACHMENT_BYTES:
            self.add_error("file", forms.ValidationError("The file is larger than 10 MB.", code=AttachmentInvalid.code))
        return cleaned

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        arguments = {"document_id": data["document_id"], "due_date": data.get("due_date")}
        if data.get("external_total"):
            arguments["amount"] = {"total": data["external_total"], "currency": data["currency"]}
        upload = data.get("file")
        if upload is not None:
            encoded = base64.b64encode(upload.read()).decode("ascii")
            arguments["file"] = {"name": upload.name, "data": f"data:application/octet-stream;base64,{encoded}"}
        if data.get("link"):
            arguments["link"] = {
                "name": data["link"].rstrip("/").rsplit("/", 1)[-1][:255] or data["document_id"],
                "data": data["link"],
            }
        return arguments


class RevokeApprovalForm(PanelForm):
    reason = forms.CharField(
        label="Reason",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Saved in the payment's comment and the invoice's log.",
    )
    pointers = {"/comment": "reason"}


def _invoice(request, invoice_id: int) -> Invoice:
    """The invoice within the manager's current reseller, with its payment: another reseller's id is a 404."""
    return selectors.invoice_of(request.operator.reseller, invoice_id)


class _TaxLine(TypedDict):
    rate_bp: int
    net: int
    tax: int


def _invoice_page(request, invoice: Invoice, *, approve_form=None, revoke_form=None, status=200):
    payment = getattr(invoice, "payment", None)
    charges = list(invoice.charges.select_related("subscription__plan").order_by("id"))
    subscriptions = sorted({charge.subscription for charge in charges}, key=lambda s: s.pk)
    tax_lines: dict[int, _TaxLine] = {}
    for charge in charges:
        line = tax_lines.setdefault(charge.tax_rate_bp, {"rate_bp": charge.tax_rate_bp, "net": 0, "tax": 0})
        line["net"] += charge.net_amount
        line["tax"] += charge.tax_amount
    can_approve = (
        invoice.status == Invoice.Status.CLOSED
        and invoice.managed_externally
        and not invoice.approved
        and invoice.total > 0
        and payment is not None
        and payment.due_date is None
        and payment.status == Payment.Status.WAITING_FOR_PAYMENT
    )
    can_revoke = (
        invoice.managed_externally
        and invoice.approved
        and payment is not None
        and payment.status in (Payment.Status.WAITING_FOR_PAYMENT, Payment.Status.EXPIRED)
    )
    downloadable = invoice.status == Invoice.Status.CLOSED and (not invoice.managed_externally or invoice.approved)
    return page(
        request,
        "operator/invoice.html",
        section="invoices",
        title=invoice.document_id or f"#{invoice.pk}",
        status=status,
        invoice=invoice,
        payment=payment,
        charges=charges,
        subscriptions=subscriptions,
        tax_lines=sorted(tax_lines.values(), key=lambda line: line["rate_bp"]),
        events=timeline_of(request.operator.reseller.pk, invoice, payment),
        tz=request.operator.reseller.timezone,
        can_approve=can_approve and request.operator.can_bill,
        can_revoke=can_revoke and request.operator.can_bill,
        downloadable=downloadable,
        approve_form=approve_form or ApproveInvoiceForm(initial={"currency": ""}),
        revoke_form=revoke_form or RevokeApprovalForm(),
        show_approve=approve_form is not None and approve_form.errors,
        show_revoke=revoke_form is not None and revoke_form.errors,
    )


@operator_view()
def invoice_detail(request, invoice_id: int):
    return _invoice_page(request, _invoice(request, invoice_id))


@operator_view(BILL)
def invoice_approve(request, invoice_id: int):
    invoice = _invoice(request, invoice_id)
    if request.method != "POST":
        return redirect("operator:invoice", invoice_id=invoice.pk)
    form = ApproveInvoiceForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            approved = approve_invoice(
                invoice,
                billing_date=invoice.billing_date,
                **form.service_arguments(),
                actor=request.operator.actor,
                now=clock.wall_clock(),
            )
        except ArrearsError as error:
            form.add_service_error(error)
        else:
            due_date = approved.payment.due_date
            assert due_date is not None, "approving an invoice gives its payment a due date"
            messages.success(
                request, f"Invoice {approved.document_id} is approved; its payment is due on {due_date.isoformat()}."
            )
            return redirect("operator:invoice", invoice_id=invoice.pk)
    return _invoice_page(request, invoice, approve_form=form, status=400)


@operator_view(BILL)
def invoice_revoke(request, invoice_id: int):
    invoice = _invoice(request, invoice_id)
    if request.method != "POST":
        return redirect("operator:invoice", invoice_id=invoice.pk)
    form = RevokeApprovalForm(request.POST)
    if form.is_valid():
        try:
            revoked = revoke_invoice_approval(
                invoice,
                document_id=invoice.document_id or "",
                billing_date=invoice.billing_date,
                comment=form.cleaned_data["reason"],
                actor=request.operator.actor,
                now=clock.wall_clock(),
            )
        except ArrearsError as error:
            form.add_service_error(error)
        else:
            messages.success(
                request,
                f"The approval is revoked: the invoice is {revoked.document_id} again and waits for a new approval.",
            )
            return redirect("operator:invoice", invoice_id=invoice.pk)
    return _invoice_page(request, invoice, revoke_form=form, status=400)


@operator_view()
def invoice_download(request, invoice_id: int):
    """The ERP's attached file, the ERP's link, or the standard PDF (R24); none before approval (R25)."""
    invoice = _invoice(request, invoice_id)
    try:
        download = invoice_document_for_download(invoice)
    except (DocumentNotAvailable, DocumentNotReady) as error:
        messages.error(request, f"{error.detail[:1].upper()}{error.detail[1:]}. · {error.code}")
        return redirect("operator:invoice", invoice_id=invoice.pk)
    if download.url:
        return HttpResponseRedirect(download.url)
    response = HttpResponse(download.data, content_type=download.content_type or "application/octet-stream")
    response["Content-Disposition"] = attachment_disposition(download.name)
    return response


urlpatterns = [
    path("invoices/", invoice_list, name="invoices"),
    path("invoices/export.csv", invoice_csv, name="invoices_csv"),
    path("invoices/<int:invoice_id>/", invoice_detail, name="invoice"),
    path("invoices/<int:invoice_id>/approve/", invoice_approve, name="invoice_approve"),
    path("invoices/<int:invoice_id>/revoke/", invoice_revoke, name="invoice_revoke"),
    path("invoices/<int:invoice_id>/download/", invoice_download, name="invoice_download"),
]
