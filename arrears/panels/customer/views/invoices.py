"""A customer's invoices: the list, the invoice page with its charges and payment, and its document (the ERP's
file, the ERP's link, or the standard PDF, R24; none before an ERP invoice is approved, R25)."""

from urllib.parse import urlsplit

import django_tables2 as tables
from django.contrib import messages
from django.db.models import OuterRef, Subquery, Sum
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html

from arrears.charges.models import Charge
from arrears.core import clock
from arrears.core.downloads import attachment_disposition
from arrears.invoices.documents import invoice_document_for_download
from arrears.invoices.errors import DocumentNotAvailable, DocumentNotReady
from arrears.invoices.models import Invoice
from arrears.invoices.selectors import invoice_of_account, invoices_of_account
from arrears.panels.customer.access import customer_view
from arrears.panels.customer.pages import page
from arrears.panels.customer.tables import TABLE_ATTRS, cell
from arrears.panels.customer.templatetags.customer_panel import period
from arrears.panels.lists import page_number, page_size
from arrears.panels.pagination import IdsFirstPaginator
from arrears.panels.templatetags.panels import badge, day, format_money
from arrears.payments import state


def charges_total():
    """The sum of an invoice's charges: an open invoice's total so far (its own total is set when it closes)."""
    return Subquery(
        Charge.objects.filter(invoice_id=OuterRef("pk"))
        .order_by()
        .values("invoice_id")
        .annotate(total=Sum("amount"))
        .values("total")[:1]
    )


def invoice_label(invoice: Invoice) -> str:
    return invoice.document_id or "Current period"


def being_prepared(invoice: Invoice) -> bool:
    """An ERP invoice the ERP has not approved yet: its number, due date and document are still to come (R25)."""
    return invoice.status == Invoice.Status.CLOSED and invoice.managed_externally and not invoice.approved


def invoice_badge(invoice: Invoice):
    if invoice.status == Invoice.Status.OPEN:
        return badge("open", "Open")
    if being_prepared(invoice):
        return badge("not_approved", "Being prepared")
    return badge("closed", "Issued")


def payment_badge(invoice: Invoice):
    payment = getattr(invoice, "payment", None)
    if payment is None:
        return format_html(
            '<span class="muted">{}</span>', "Nothing to pay" if invoice.status == "closed" else "Not yet"
        )
    return badge(payment.status)


class InvoiceTable(tables.Table):
    number = tables.Column(
        verbose_name="Invoice",
        accessor="document_id",
        empty_values=(),
        order_by=("document_id", "id"),
        attrs=cell("Invoice", nowrap=True),
    )
    total = tables.Column(verbose_name="Total", order_by=("total", "id"), attrs=cell("Total", num=True))
    payment = tables.Column(
        verbose_name="Payment",
        accessor="payment__status",
        empty_values=(),
        order_by=("payment__status", "id"),
        attrs=cell("Payment"),
    )
    due_date = tables.Column(
        verbose_name="Due date",
        accessor="payment__due_date",
        empty_values=(),
        order_by=("payment__due_date", "id"),
        attrs=cell("Due date"),
    )
    period = tables.Column(
        verbose_name="Period", accessor="billing_date", order_by=("billing_date", "id"), attrs=cell("Period")
    )
    status = tables.Column(
        verbose_name="Status", empty_values=(), order_by=("status", "approved", "id"), attrs=cell("Status")
    )

    class Meta:
        attrs = TABLE_ATTRS
        orderable = True
        empty_text = "No invoice yet."

    caption = "Invoices"
    noun_plural = "invoices"
    empty_hint = "Your first invoice is issued the day after your first billing period ends."

    def render_number(self, record):
        return format_html('<a href="{}">{}</a>', reverse("customer:invoice", args=[record.pk]), invoice_label(record))

    def render_period(self, record):
        return period(record.from_date, record.to_date)

    def render_status(self, record):
        return invoice_badge(record)

    def render_total(self, record):
        if record.status == Invoice.Status.OPEN:
            return format_html(
                '{}<span class="sub">so far</span>', format_money(record.charges_so_far or 0, record.currency)
            )
        total = format_money(record.total, record.currency)
        if record.external_total is None:
            return total
        return format_html(
            '{}<span class="sub">ERP invoice: {}</span>',
            total,
            format_money(record.external_total, record.external_currency),
        )

    def render_due_date(self, record):
        payment = getattr(record, "payment", None)
        if payment is None or payment.due_date is None:
            return format_html('<span class="muted">{}</span>', "—")
        return day(payment.due_date)

    def render_payment(self, record):
        return payment_badge(record)


@customer_view
def invoice_list(request):
    rows = (
        invoices_of_account(request.customer.account)
        .annotate(charges_so_far=charges_total())
        .order_by("-billing_date", "-id")
    )
    table = InvoiceTable(rows, request=request)
    table.paginate(paginator_class=IdsFirstPaginator, page=page_number(request), per_page=page_size(request))
    return page(request, "customer/invoices.html", section="invoices", title="Invoices", table=table)


def document_of(invoice: Invoice) -> dict:
    """What the invoice's Download gives, in words, or why there is none yet."""
    if invoice.status != Invoice.Status.CLOSED:
        return {
            "available": False,
            "text": "Available once the invoice is issued, the day after its period ends.",
            "why": "This invoice is still open: you can download it once it is issued, the day after its period ends.",
        }
    if being_prepared(invoice):
        return {
            "available": False,
            "text": "Available once your invoice is issued.",
            "why": "Your invoice is being prepared: you can download it once it is issued.",
        }
    if invoice.attachment_kind == Invoice.AttachmentKind.FILE:
        return {"available": True, "text": f"File: {invoice.attachment_name}"}
    if invoice.attachment_kind == Invoice.AttachmentKind.LINK:
        return {
            "available": True,
            "text": f"Link to {urlsplit(invoice.attachment_url).hostname or 'the invoice'}",
            "external": True,
        }
    return {"available": True, "text": "PDF"}


def _tax_lines(charges) -> list[dict]:
    lines: dict[int, dict] = {}
    for charge in charges:
        line = lines.setdefault(charge.tax_rate_bp, {"rate_bp": charge.tax_rate_bp, "net": 0, "tax": 0})
        line["net"] += charge.net_amount
        line["tax"] += charge.tax_amount
    return sorted(lines.values(), key=lambda line: line["rate_bp"])


@customer_view
def invoice_detail(request, invoice_id: int):
    invoice = invoice_of_account(request.customer.account, invoice_id)
    charges = list(invoice.charges.select_related("subscription__plan").order_by("id"))
    subscriptions = sorted({charge.subscription for charge in charges}, key=lambda subscription: subscription.pk)
    payment = getattr(invoice, "payment", None)
    issued_on = None
    if invoice.status == Invoice.Status.CLOSED and not being_prepared(invoice):
        issued_on = invoice.approval_date or (
            None if invoice.closed_at is None else clock.local_date(invoice.closed_at, request.customer.tz)
        )
    payable = payment is not None and payment.status in state.PAYABLE and payment.due_date is not None
    title = f"Invoice {invoice.document_id}" if invoice.document_id else "Current period"
    return page(
        request,
        "customer/invoice.html",
        section="invoices",
        title=title,
        invoice=invoice,
        payment=payment,
        payable=payable,
        issued_on=issued_on,
        charges=charges,
        subscriptions=subscriptions,
        tax_lines=_tax_lines(charges),
        total=invoice.total if invoice.status == Invoice.Status.CLOSED else sum(c.amount for c in charges),
        any_blocked=any(subscription.status == "blocked" for subscription in subscriptions),
        document=document_of(invoice),
        being_prepared=being_prepared(invoice),
        status_badge=invoice_badge(invoice),
    )


@customer_view
def invoice_download(request, invoice_id: int):
    invoice = invoice_of_account(request.customer.account, invoice_id)
    try:
        download = invoice_document_for_download(invoice)
    except DocumentNotReady:
        messages.info(request, "Your invoice's PDF is being prepared. Please try again in a minute.")
        return redirect("customer:invoice", invoice_id=invoice.pk)
    except DocumentNotAvailable:
        messages.info(request, document_of(invoice)["why"])
        return redirect("customer:invoice", invoice_id=invoice.pk)
    if download.url:
        return HttpResponseRedirect(download.url)  # the ERP's link: Arrears never fetches it (R23)
    response = HttpResponse(download.data, content_type=download.content_type or "application/octet-stream")
    response["Content-Disposition"] = attachment_disposition(download.name)
    return response


urlpatterns = [
    path("invoices/", invoice_list, name="invoices"),
    path("invoices/<int:invoice_id>/", invoice_detail, name="invoice"),
    path("invoices/<int:invoice_id>/download/", invoice_download, name="invoice_download"),
]
