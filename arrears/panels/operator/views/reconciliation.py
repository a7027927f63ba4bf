"""Reconciliation: per billing period, the platform's total against the total the ERP stated for every approved
invoice, the differences, and the invoices whose stated total or currency blocks paying from the balance (R18)."""

import django_filters
import django_tables2 as tables
from django import forms
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from arrears.invoices import selectors
from arrears.invoices.models import Invoice
from arrears.panels.lists import CSV_CHUNK, csv_amount, csv_response, page_number, page_size
from arrears.panels.operator.access import operator_view
from arrears.panels.operator.pages import page
from arrears.panels.templatetags.panels import badge, format_money


class ReconciliationFilter(django_filters.FilterSet):
    """The filter bar; the period is a select of the billing dates that have approved invoices."""

    period = django_filters.ChoiceFilter(label="Billing period", method="filter_period", empty_label=None)
    differences = django_filters.ChoiceFilter(
        label="Show",
        choices=(("", "All approved invoices"), ("yes", "Only differences")),
        method="filter_differences",
        empty_label=None,
    )
    account = django_filters.NumberFilter(
        label="Account id", field_name="account_id", widget=forms.NumberInput(attrs={"min": 1})
    )

    class Meta:
        model = Invoice
        fields: list[str] = []

    def __init__(self, data, *, queryset, periods):
        data = data.copy()
        if periods and not data.get("period"):
            data["period"] = periods[0].isoformat()
        super().__init__(data, queryset=queryset)
        self.filters["period"].extra["choices"] = [(day.isoformat(), day.strftime("%d %b %Y")) for day in periods]
        self.form.fields["period"].choices = self.filters["period"].extra["choices"]

    def filter_period(self, queryset, name, value):
        return queryset  # applied by reconciliation_of

    def filter_differences(self, queryset, name, value):
        return queryset.filter(blocks_balance=True) if value == "yes" else queryset


def _number_cell(record):
    link = format_html('<a href="{}">{}</a>', reverse("operator:invoice", args=[record.pk]), record.document_id)
    return link


class ReconciliationTable(tables.Table):
    number = tables.Column(verbose_name="Number (ERP)", accessor="document_id", order_by=("document_id", "id"))
    original = tables.Column(
        verbose_name="Original number", accessor="original_document_id", order_by=("original_document_id", "id")
    )
    account = tables.Column(verbose_name="Account", accessor="account__name", order_by=("account__name", "id"))
    total = tables.Column(
        verbose_name="Platform total", attrs={"td": {"class": "num"}, "th": {"class": "num"}}, order_by=("total", "id")
    )
    stated_total = tables.Column(
        verbose_name="ERP total",
        empty_values=(),
        attrs={"td": {"class": "num"}, "th": {"class": "num"}},
        order_by=("stated_currency", "stated_total", "id"),
    )
    difference = tables.Column(
        verbose_name="Difference",
        empty_values=(),
        attrs={"td": {"class": "num"}, "th": {"class": "num"}},
        order_by=("same_currency", "difference", "id"),
    )
    blocks_balance = tables.Column(verbose_name="Balance", empty_values=(), order_by=("blocks_balance", "id"))

    class Meta:
        attrs = {"class": "data"}
        order_by = ("number",)
        empty_text = "No approved invoice matches these filters."
        orderable = True

    noun_plural = "approved invoices"

    def render_number(self, record):
        return _number_cell(record)

    def render_original(self, value):
        return value

    def render_account(self, record):
        return format_html(
            '<a href="{}">{}</a><span class="sub">#{}</span>',
            reverse("operator:account", args=[record.account_id]),
            record.account.name,
            record.account_id,
        )

    def render_total(self, record):
        return format_money(record.total, record.currency)

    def render_stated_total(self, record):
        if record.external_total is None:
            return mark_safe('<span class="muted">Same as platform</span>')  # noqa: S308 - a constant
        return format_money(record.external_total, record.external_currency)

    def render_difference(self, record):
        if not record.same_currency:
            return mark_safe('<span class="muted">Other currency</span>')  # noqa: S308 - a constant
        if not record.difference:
            return format_money(0, record.currency)
        sign = "+" if record.difference > 0 else "−"
        return f"{sign}{format_money(abs(record.difference), record.currency)}"

    def render_blocks_balance(self, record):
        if record.blocks_balance:
            return badge("expired", "Blocks balance")
        return badge("approved", "Balance allowed")


def _periods(request) -> list:
    return selectors.approved_periods(request.operator.reseller)


def _filtered(request):
    """The bound filter and its queryset: the chosen period's approved invoices, filtered; none when no period."""
    periods = _periods(request)
    reseller = request.operator.reseller
    # Empty, but with the annotations the table sorts by.
    nothing = selectors.reconciliation_of(reseller, None).none()
    bound = ReconciliationFilter(request.GET, queryset=nothing, periods=periods)
    if not bound.is_valid() or not periods:
        return bound, periods, None, nothing
    period = next(day for day in periods if day.isoformat() == bound.form.cleaned_data["period"])
    bound.queryset = selectors.reconciliation_of(reseller, period).select_related("account")
    return bound, periods, period, bound.qs


@operator_view()
def reconciliation(request):
    bound, periods, period, queryset = _filtered(request)
    table = ReconciliationTable(queryset, request=request)
    table.paginate(page=page_number(request), per_page=page_size(request))
    totals = selectors.reconciliation_totals(queryset) if period is not None else []
    template = "operator/reconciliation_results.html" if request.htmx else "operator/reconciliation.html"
    query = request.GET.copy()
    if period is not None:
        query["period"] = period.isoformat()
    query.pop("page", None)
    return page(
        request,
        template,
        section="reconciliation",
        title="Reconciliation",
        filter=bound,
        table=table,
        periods=periods,
        period=period,
        totals=totals,
        export_url=f"{reverse('operator:reconciliation_csv')}?{query.urlencode()}",
    )


CSV_HEADER = [
    "id",
    "number",
    "original_number",
    "account_id",
    "account",
    "billing_date",
    "platform_total",
    "currency",
    "erp_total",
    "erp_currency",
    "difference",
    "blocks_balance",
]


def _csv_rows(queryset, ordering):
    columns = (
        "pk",
        "document_id",
        "original_document_id",
        "account_id",
        "account__name",
        "billing_date",
        "total",
        "currency",
        "external_total",
        "external_currency",
        "same_currency",
        "difference",
        "blocks_balance",
    )
    for row in queryset.order_by(*ordering).values_list(*columns).iterator(chunk_size=CSV_CHUNK):
        v = dict(zip(columns, row, strict=True))
        difference = csv_amount(v["difference"], v["currency"]) if v["same_currency"] else "other currency"
        yield [
            v["pk"],
            v["document_id"] or "",
            v["original_document_id"] or "",
            v["account_id"],
            v["account__name"],
            v["billing_date"].isoformat(),
            csv_amount(v["total"], v["currency"]),
            v["currency"],
            csv_amount(v["external_total"], v["external_currency"]),
            v["external_currency"] or "",
            difference,
            "yes" if v["blocks_balance"] else "no",
        ]


@operator_view()
def reconciliation_csv(request):
    """Exactly the filtered list, in the list's order, streamed row by row."""
    _bound, _periods_, period, queryset = _filtered(request)
    table = ReconciliationTable(queryset, request=request)
    ordering = list(table.data.data.query.order_by) or ["document_id", "id"]
    name = f"reconciliation-{request.operator.reseller.pk}-{period.isoformat() if period else 'none'}.csv"
    return csv_response(CSV_HEADER, _csv_rows(queryset, ordering), name)


urlpatterns = [
    path("reconciliation/", reconciliation, name="reconciliation"),
    path("reconciliation/export.csv", reconciliation_csv, name="reconciliation_csv"),
]
