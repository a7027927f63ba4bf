"""Payments: the list with its filters and CSV export, the payment page, approval, cancelling, paying from the
balance (R8, R18, R21, R30–R35)."""

from zoneinfo import ZoneInfo

import django_filters
import django_tables2 as tables
from django import forms
from django.contrib import messages
from django.db.models import Q
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html

from arrears.core import clock
from arrears.core.errors import ArrearsError
from arrears.customers.models import BalanceEntry
from arrears.events.selectors import timeline_of
from arrears.gateways.selectors import attempts_of
from arrears.panels.forms import PanelForm
from arrears.panels.lists import CSV_CHUNK, PAGE_SIZES, csv_amount, csv_date, csv_response, page_number, page_size
from arrears.panels.operator.access import BILL, operator_view
from arrears.panels.operator.pages import page
from arrears.panels.templatetags.panels import badge, day, format_money, status_label
from arrears.payments import selectors, state
from arrears.payments.errors import PaymentMethodInvalid, PaymentNotFound
from arrears.payments.models import Payment
from arrears.payments.services import approve_payment, cancel_payment, pay_from_balance

S = Payment.Status
TYPE_LABELS: dict[str, str] = {Payment.Type.RENDERED_SERVICES: "Rendered services", Payment.Type.TOP_UP: "Top-up"}

# --- The list ----------------------------------------------------------------------------------------------


class PaymentFilter(django_filters.FilterSet):
    """The filter bar of the payments list; its state lives in the URL, and the CSV export reads the same."""

    number = django_filters.CharFilter(label="Number", method="filter_number")
    status = django_filters.ChoiceFilter(label="Status", choices=Payment.Status.choices, empty_label="Any")
    type = django_filters.ChoiceFilter(label="Type", choices=tuple(TYPE_LABELS.items()), empty_label="Any")
    due_from = django_filters.DateFilter(
        label="Due from", field_name="due_date", lookup_expr="gte", widget=forms.DateInput(attrs={"type": "date"})
    )
    due_to = django_filters.DateFilter(
        label="Due to", field_name="due_date", lookup_expr="lte", widget=forms.DateInput(attrs={"type": "date"})
    )
    account = django_filters.NumberFilter(label="Account id", field_name="account_id")
    method = django_filters.ChoiceFilter(label="Method", method="filter_method", empty_label="Any")

    class Meta:
        model = Payment
        fields: list[str] = []

    def __init__(self, *args, reseller, **kwargs):
        super().__init__(*args, **kwargs)
        methods = [(str(method.pk), method.name) for method in selectors.payment_methods_of(reseller)]
        self.filters["method"].extra["choices"] = [("none", "No method"), *methods]

    def filter_number(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(document_id=value) | Q(document_id__startswith=value) | Q(invoice__document_id=value))

    def filter_method(self, queryset, name, value):
        if value == "none":
            return queryset.filter(payment_method__isnull=True)
        return queryset.filter(payment_method_id=int(value))


def _num(**extra):
    return {"td": {"class": "num"}, "th": {"class": "num"}, **extra}


class PaymentTable(tables.Table):
    number = tables.Column(
        verbose_name="Number", accessor="document_id", order_by=("document_id", "id"), attrs={"td": {"class": "nowrap"}}
    )
    account = tables.Column(verbose_name="Account", accessor="account__name", order_by=("account__name", "id"))
    type = tables.Column(verbose_name="Type", order_by=("type", "id"))
    status = tables.Column(verbose_name="Status", order_by=("status", "id"), attrs={"td": {"class": "nowrap"}})
    due_date = tables.Column(verbose_name="Due date", empty_values=(), order_by=("due_date", "id"))
    method = tables.Column(
        verbose_name="Method", accessor="payment_method__name", empty_values=(), order_by=("payment_method__name", "id")
    )
    total = tables.Column(verbose_name="Total", attrs=_num(), order_by=("total", "id"))
    created_at = tables.Column(verbose_name="Created", order_by=("created_at", "id"))

    class Meta:
        attrs = {"class": "data"}
        empty_text = "No payment matches these filters."
        orderable = True

    noun_plural = "payments"
    empty_hint = "Payments appear when invoices close or a top-up is recorded; try resetting the filters."

    def __init__(self, *args, tz: str = "UTC", **kwargs):
        super().__init__(*args, **kwargs)
        self.tz = ZoneInfo(tz or "UTC")

    def render_number(self, record):
        link = format_html('<a href="{}">{}</a>', reverse("operator:payment", args=[record.pk]), record.document_id)
        if record.invoice_id is None:
            return link
        invoice = record.invoice
        return format_html(
            '{}<span class="sub">for <a href="{}">{}</a></span>',
            link,
            reverse("operator:invoice", args=[invoice.pk]),
            invoice.document_id or f"#{invoice.pk}",
        )

    def render_account(self, record):
        return format_html(
            '<a href="{}">{}</a>', reverse("operator:account", args=[record.account_id]), record.account.name
        )

    def render_type(self, record):
        return "Top-up" if record.type == Payment.Type.TOP_UP else "Services"

    def render_status(self, record):
        return badge(record.status)

    def render_due_date(self, record):
        if record.due_date is None:
            return "—"
        return format_html('{}<span class="sub">expires {}</span>', day(record.due_date), day(record.expiration_date))

    def render_method(self, value):
        return value or "—"

    def render_total(self, record):
        total = format_money(record.total, record.currency)
        if record.external_total is None:
            return total
        return format_html(
            '{}<span class="sub">External total {}</span>',
            total,
            format_money(record.external_total, record.external_currency),
        )

    def _local_day(self, moment):
        return day(moment.astimezone(self.tz).date())

    def render_created_at(self, record):
        if record.closed_at is None:
            return self._local_day(record.created_at)
        return format_html(
            '{}<span class="sub">closed {}</span>',
            self._local_day(record.created_at),
            self._local_day(record.closed_at),
        )


def _filtered(request) -> PaymentFilter:
    reseller = request.operator.reseller
    queryset = selectors.payments_of(reseller).select_related("account", "invoice", "payment_method").order_by("-id")
    return PaymentFilter(request.GET, queryset=queryset, reseller=reseller)


@operator_view()
def payment_list(request):
    payment_filter = _filtered(request)
    table = PaymentTable(
        payment_filter.qs if payment_filter.is_valid() else Payment.objects.none(),
        request=request,
        tz=request.operator.reseller.timezone,
    )
    table.paginate(page=page_number(request), per_page=page_size(request))
    template = "operator/payments_results.html" if request.htmx else "operator/payments.html"
    return page(
        request,
        template,
        section="payments",
        title="Payments",
        filter=payment_filter,
        table=table,
        page_sizes=PAGE_SIZES,
        per_page=page_size(request),
        export_url=f"{reverse('operator:payments_csv')}?{request.GET.urlencode()}",
    )


CSV_HEADER = [
    "id",
    "number",
    "account_id",
    "account",
    "invoice_id",
    "invoice_number",
    "type",
    "status",
    "total",
    "currency",
    "external_total",
    "external_currency",
    "due_date",
    "expiration_date",
    "payment_method",
    "created_at",
    "closed_at",
]
CSV_COLUMNS = (
    "pk",
    "document_id",
    "account_id",
    "account__name",
    "invoice_id",
    "invoice__document_id",
    "type",
    "status",
    "total",
    "currency",
    "external_total",
    "external_currency",
    "due_date",
    "expiration_date",
    "payment_method__name",
    "created_at",
    "closed_at",
)


def _csv_rows(queryset):
    for row in queryset.order_by("pk").values_list(*CSV_COLUMNS).iterator(chunk_size=CSV_CHUNK):
        v = dict(zip(CSV_COLUMNS, row, strict=True))
        yield [
            v["pk"],
            v["document_id"],
            v["account_id"],
            v["account__name"],
            v["invoice_id"] or "",
            v["invoice__document_id"] or "",
            v["type"],
            v["status"],
            csv_amount(v["total"], v["currency"]),
            v["currency"],
            csv_amount(v["external_total"], v["external_currency"]),
            v["external_currency"] or "",
            csv_date(v["due_date"]),
            csv_date(v["expiration_date"]),
            v["payment_method__name"] or "",
            csv_date(v["created_at"]),
            csv_date(v["closed_at"]),
        ]


@operator_view()
def payment_csv(request):
    """Exactly the filtered list, streamed row by row: memory stays flat however many payments match."""
    payment_filter = _filtered(request)
    queryset = payment_filter.qs if payment_filter.is_valid() else Payment.objects.none()
    return csv_response(CSV_HEADER, _csv_rows(queryset), f"payments-{request.operator.reseller.pk}.csv")


# --- The payment page --------------------------------------------------------------------------------------


class ApprovePaymentForm(PanelForm):
    """Confirm that the money arrived. The method is offered from the reseller's active manual methods; whether
    one is needed is the service's rule (R30, R31), so an empty choice reaches it and its refusal lands here."""

    payment_method = forms.CharField(label="Payment method", required=False, widget=forms.Select)
    pointers = {"/payment_method_id": "payment_method"}

    def __init__(self, *args, methods, erp_payment: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.methods = {str(method.pk): method for method in methods}
        empty = "No method (the ERP's invoice)" if erp_payment else "Choose a method"
        field = self.fields["payment_method"]
        field.widget.choices = [("", empty), *((key, method.name) for key, method in self.methods.items())]
        field.help_text = (
            "Optional: the ERP approved the invoice, so no method is needed."
            if erp_payment
            else "How the money came in; required when the platform issues the invoices."
        )

    def clean_payment_method(self):
        value = self.cleaned_data.get("payment_method") or ""
        if value and value not in self.methods:  # refused with the service's code, not Django's generic one
            raise forms.ValidationError(
                "The payment method is inactive or belongs to another reseller.", code=PaymentMethodInvalid.code
            )
        return value

    @property
    def method(self):
        return self.methods.get(self.cleaned_data.get("payment_method") or "")


class CancelPaymentForm(PanelForm):
    comment = forms.CharField(
        label="Comment",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Optional: saved in the payment's comment and its log.",
    )
    pointers = {"/comment": "comment"}


class PayFromBalanceForm(PanelForm):
    pointers: dict[str, str] = {}


def _payment(request, payment_id: int) -> Payment:
    """The payment within the manager's current reseller, with its account, invoice and method: another
    reseller's id is a 404."""
    payment = (
        selectors.payments_of(request.operator.reseller)
        .select_related("account", "invoice", "payment_method")
        .filter(pk=payment_id)
        .first()
    )
    if payment is None:
        raise PaymentNotFound(f"no payment {payment_id} is visible here")
    return payment


def _is_erp_payment(payment: Payment) -> bool:
    return payment.invoice is not None and payment.invoice.managed_externally


def _can_approve(payment: Payment) -> bool:
    if payment.status not in state.PAYABLE:
        return False
    return payment.type == Payment.Type.TOP_UP or payment.due_date is not None


def _can_cancel(payment: Payment) -> bool:
    if payment.status != S.WAITING_FOR_PAYMENT:
        return False
    if payment.type == Payment.Type.TOP_UP:
        return True
    invoice = payment.invoice
    return invoice is not None and invoice.managed_externally and not invoice.approved


def _why_not_pay_from_balance(payment: Payment) -> str:
    """Empty when the payment can be paid from the balance now; otherwise why not, in plain words."""
    if payment.type != Payment.Type.RENDERED_SERVICES:
        return "A top-up is never paid from the balance."
    if payment.status not in state.PAYABLE:
        return f"The payment is {status_label(payment.status).lower()}: there is nothing left to pay."
    if payment.due_date is None:
        return "No due date yet: the payment can be paid once the ERP approves its invoice."
    if not payment.balance_payment_allowed:
        return (
            f"The ERP's external total ({format_money(payment.external_total, payment.external_currency)}) "
            f"differs from the payment's total, so the balance cannot pay it; use another payment method."
        )
    if payment.account.balance < payment.total:
        return (
            f"The balance ({format_money(payment.account.balance, payment.currency)}) is lower than the "
            f"total ({format_money(payment.total, payment.currency)}); top the account up first."
        )
    return ""


def _payment_page(request, payment: Payment, *, approve_form=None, cancel_form=None, pay_form=None, status=200):
    operator = request.operator
    methods = list(selectors.usable_payment_methods(operator.reseller))
    erp_payment = _is_erp_payment(payment)
    ledger = list(BalanceEntry.objects.filter(payment=payment, account_id=payment.account_id).order_by("-id"))
    why_not = _why_not_pay_from_balance(payment)
    can_bill = operator.can_bill
    subtitle_invoice = payment.invoice.document_id or f"#{payment.invoice.pk}" if payment.invoice else ""
    return page(
        request,
        "operator/payment.html",
        section="payments",
        title=payment.document_id,
        status=status,
        payment=payment,
        invoice=payment.invoice,
        account=payment.account,
        type_label=TYPE_LABELS[payment.type],
        erp_payment=erp_payment,
        subtitle_invoice=subtitle_invoice,
        ledger=ledger,
        attempts=attempts_of(payment),
        events=timeline_of(operator.reseller.pk, payment, payment.invoice),
        tz=operator.reseller.timezone,
        can_approve=_can_approve(payment) and can_bill,
        can_cancel=_can_cancel(payment) and can_bill,
        can_pay=not why_not and can_bill,
        why_not_pay=why_not,
        payable=payment.status in state.PAYABLE,
        balance_after=payment.account.balance - payment.total,
        approve_form=approve_form or ApprovePaymentForm(methods=methods, erp_payment=erp_payment),
        cancel_form=cancel_form or CancelPaymentForm(),
        pay_form=pay_form or PayFromBalanceForm(),
        show_approve=approve_form is not None and bool(approve_form.errors),
        show_cancel=cancel_form is not None and bool(cancel_form.errors),
        show_pay=pay_form is not None and bool(pay_form.errors),
    )


@operator_view()
def payment_detail(request, payment_id: int):
    return _payment_page(request, _payment(request, payment_id))


@operator_view(BILL)
def payment_approve(request, payment_id: int):
    payment = _payment(request, payment_id)
    if request.method != "POST":
        return redirect("operator:payment", payment_id=payment.pk)
    form = ApprovePaymentForm(
        request.POST,
        methods=list(selectors.usable_payment_methods(request.operator.reseller)),
        erp_payment=_is_erp_payment(payment),
    )
    if form.is_valid():
        try:
            approved = approve_payment(
                payment, payment_method=form.method, actor=request.operator.actor, now=clock.wall_clock()
            )
        except ArrearsError as error:
            form.add_service_error(error)
        else:
            how = f" by {approved.payment_method.name}" if approved.payment_method else ""
            messages.success(
                request,
                f"Payment {approved.document_id} of "
                f"{format_money(approved.total, approved.currency)} is approved{how}: "
                "it is completed.",
            )
            return redirect("operator:payment", payment_id=payment.pk)
    return _payment_page(request, payment, approve_form=form, status=400)


@operator_view(BILL)
def payment_cancel(request, payment_id: int):
    payment = _payment(request, payment_id)
    if request.method != "POST":
        return redirect("operator:payment", payment_id=payment.pk)
    form = CancelPaymentForm(request.POST)
    if form.is_valid():
        try:
            cancelled = cancel_payment(
                payment, comment=form.cleaned_data["comment"], actor=request.operator.actor, now=clock.wall_clock()
            )
        except ArrearsError as error:
            form.add_service_error(error)
        else:
            messages.success(
                request, f"Payment {cancelled.document_id} is cancelled; the customer will not be asked to pay it."
            )
            return redirect("operator:payment", payment_id=payment.pk)
    return _payment_page(request, payment, cancel_form=form, status=400)


@operator_view(BILL)
def payment_pay_from_balance(request, payment_id: int):
    payment = _payment(request, payment_id)
    if request.method != "POST":
        return redirect("operator:payment", payment_id=payment.pk)
    form = PayFromBalanceForm(request.POST)
    if form.is_valid():
        try:
            paid = pay_from_balance(payment, actor=request.operator.actor, now=clock.wall_clock())
        except ArrearsError as error:
            form.add_service_error(error)
        else:
            messages.success(
                request,
                f"Payment {paid.document_id} of {format_money(paid.total, paid.currency)} "
                f"is paid from the balance of {paid.account.name}; the balance is now "
                f"{format_money(paid.account.balance, paid.currency)}.",
            )
            return redirect("operator:payment", payment_id=payment.pk)
    return _payment_page(request, payment, pay_form=form, status=400)


urlpatterns = [
    path("payments/", payment_list, name="payments"),
    path("payments/export.csv", payment_csv, name="payments_csv"),
    path("payments/<int:payment_id>/", payment_detail, name="payment"),
    path("payments/<int:payment_id>/approve/", payment_approve, name="payment_approve"),
    path("payments/<int:payment_id>/cancel/", payment_cancel, name="payment_cancel"),
    path("payments/<int:payment_id>/pay-from-balance/", payment_pay_from_balance, name="payment_pay_from_balance"),
]
