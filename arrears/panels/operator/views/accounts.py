"""Accounts: the list with search, the account page (balance and its ledger, invoices, payments, subscriptions)
and a manager's top-up of the balance."""

import django_filters
import django_tables2 as tables
from django import forms
from django.contrib import messages
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html

from arrears.core import clock
from arrears.core.errors import ArrearsError
from arrears.core.money import parse_amount
from arrears.customers import selectors
from arrears.customers.models import Account, AccountClass, BalanceEntry
from arrears.invoices.selectors import invoices_of
from arrears.panels.forms import MoneyField, PanelForm
from arrears.panels.lists import page_number, page_size
from arrears.panels.operator.access import BILL, operator_view
from arrears.panels.operator.pages import page
from arrears.panels.templatetags.panels import day, format_money
from arrears.payments.errors import PaymentFieldInvalid
from arrears.payments.models import Payment, PaymentMethod
from arrears.payments.selectors import payments_of
from arrears.payments.services import top_up_balance
from arrears.subscriptions.models import Subscription

UNPAID = (Payment.Status.WAITING_FOR_PAYMENT, Payment.Status.EXPIRED)
RECENT = 20  # rows per section of the account page
LEDGER_ROWS = 50

# --- The list ----------------------------------------------------------------------------------------------


class AccountFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(label="Search", method="filter_search")
    account_class = django_filters.ModelChoiceFilter(
        label="Account class", queryset=AccountClass.objects.none(), empty_label="Any"
    )
    unpaid = django_filters.ChoiceFilter(
        label="Unpaid",
        choices=(("yes", "With unpaid payments"), ("no", "Nothing unpaid")),
        method="filter_unpaid",
        empty_label="Any",
    )

    class Meta:
        model = Account
        fields: list[str] = []

    def __init__(self, *args, reseller, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["account_class"].queryset = AccountClass.objects.filter(reseller=reseller).order_by("name")
        self.form.fields["q"].widget.attrs.update({"type": "search", "placeholder": "Name, e-mail or id"})

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        condition = Q(name__icontains=value) | Q(email__icontains=value)
        digits = value.lstrip("#")
        if digits.isdigit():
            condition |= Q(pk=int(digits))
        return queryset.filter(condition)

    def filter_unpaid(self, queryset, name, value):
        return queryset.filter(unpaid_count__gt=0) if value == "yes" else queryset.filter(unpaid_count=0)


def _name_cell(record):
    return format_html(
        '<a href="{}">{}</a><span class="sub">#{}</span>',
        reverse("operator:account", args=[record.pk]),
        record.name,
        record.pk,
    )


class AccountTable(tables.Table):
    name = tables.Column(verbose_name="Name", order_by=("name", "id"))
    email = tables.Column(verbose_name="E-mail", order_by=("email", "id"))
    account_class = tables.Column(
        verbose_name="Account class", accessor="account_class__name", order_by=("account_class__name", "id")
    )
    balance = tables.Column(
        verbose_name="Balance", attrs={"td": {"class": "num"}, "th": {"class": "num"}}, order_by=("balance", "id")
    )
    unpaid = tables.Column(
        verbose_name="Unpaid",
        accessor="unpaid_amount",
        empty_values=(),
        attrs={"td": {"class": "num"}, "th": {"class": "num"}},
        order_by=("unpaid_amount", "id"),
    )
    subscriptions = tables.Column(
        verbose_name="Subscriptions",
        accessor="subscription_count",
        attrs={"td": {"class": "num"}, "th": {"class": "num"}},
        order_by=("subscription_count", "id"),
    )
    created_at = tables.Column(verbose_name="Created", order_by=("created_at", "id"))

    class Meta:
        attrs = {"class": "data"}
        order_by = ("name",)
        empty_text = "No account matches."
        orderable = True

    noun_plural = "accounts"
    empty_hint = "Search by a part of the name or e-mail, or by the account id; or reset the filters."

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency

    def render_name(self, record):
        return _name_cell(record)

    def render_email(self, value):
        return value or "—"

    def render_balance(self, value):
        return format_money(value, self.currency)

    def render_unpaid(self, record):
        if not record.unpaid_count:
            return format_html('<span class="muted">{}</span>', "Nothing")
        return format_html(
            '{}<span class="sub">{} payment{}</span>',
            format_money(record.unpaid_amount, self.currency),
            record.unpaid_count,
            "" if record.unpaid_count == 1 else "s",
        )

    def render_created_at(self, value):
        return day(value.date())


def _account_rows(reseller):
    """The reseller's accounts with their unpaid payments and subscriptions counted in the same query (subqueries,
    so that neither count multiplies the other)."""
    unpaid = Payment.objects.filter(account=OuterRef("pk"), status__in=UNPAID).order_by().values("account")
    subscriptions = Subscription.objects.filter(account=OuterRef("pk")).order_by().values("account")
    return (
        selectors.accounts_of(reseller)
        .select_related("account_class")
        .annotate(
            unpaid_count=Coalesce(
                Subquery(unpaid.annotate(n=Count("id")).values("n"), output_field=IntegerField()), Value(0)
            ),
            unpaid_amount=Coalesce(
                Subquery(unpaid.annotate(s=Sum("total")).values("s"), output_field=IntegerField()), Value(0)
            ),
            subscription_count=Coalesce(
                Subquery(subscriptions.annotate(n=Count("id")).values("n"), output_field=IntegerField()), Value(0)
            ),
        )
    )


@operator_view()
def account_list(request):
    reseller = request.operator.reseller
    account_filter = AccountFilter(request.GET, queryset=_account_rows(reseller), reseller=reseller)
    table = AccountTable(
        account_filter.qs if account_filter.is_valid() else Account.objects.none(),
        request=request,
        currency=reseller.currency,
    )
    table.paginate(page=page_number(request), per_page=page_size(request))
    template = "operator/accounts_results.html" if request.htmx else "operator/accounts.html"
    return page(request, template, section="accounts", title="Accounts", filter=account_filter, table=table)


# --- The account page --------------------------------------------------------------------------------------


def usable_payment_methods(reseller):
    """Active manual methods of the reseller or an ancestor: those ``top_up_balance`` accepts."""
    ancestor_ids = [int(part) for part in reseller.path.strip("/").split("/") if part.isdigit()] or [reseller.pk]
    return PaymentMethod.objects.filter(
        reseller_id__in=ancestor_ids, active=True, kind=PaymentMethod.Kind.MANUAL
    ).order_by("name", "id")


class TopUpForm(PanelForm):
    amount = MoneyField(
        label="Amount", max_length=30, help_text="The money received, e.g. 100.00; it is added to the balance at once."
    )
    payment_method = forms.ModelChoiceField(
        label="Payment method",
        required=False,
        queryset=PaymentMethod.objects.none(),
        empty_label="None",
        help_text="How the money arrived (optional).",
    )

    pointers = {"/amount": "amount", "/payment_method_id": "payment_method"}

    def __init__(self, *args, reseller, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = reseller.currency
        self.fields["payment_method"].queryset = usable_payment_methods(reseller)
        amount = self.fields["amount"]
        amount.help_text = f"The money received in {self.currency}, e.g. 100.00; it is added to the balance at once."

    def clean_amount(self):
        text = self.cleaned_data["amount"]
        try:
            amount = parse_amount(text, self.currency)
        except ValueError:
            raise forms.ValidationError(
                f"Give the amount as a number in {self.currency}, e.g. 100.00.", code=PaymentFieldInvalid.code
            ) from None
        if amount <= 0:
            raise forms.ValidationError("The amount must be more than zero.", code=PaymentFieldInvalid.code)
        return amount


def _account(request, account_id: int) -> Account:
    """The account within the manager's current reseller: another reseller's id is a 404."""
    return selectors.account_of(request.operator.reseller, account_id)


def _account_page(request, account: Account, *, top_up_form=None, status=200):
    reseller = request.operator.reseller
    account = Account.objects.select_related("account_class").get(pk=account.pk)
    ledger = list(BalanceEntry.objects.filter(account=account).select_related("payment").order_by("-id")[:LEDGER_ROWS])
    ledger_count = BalanceEntry.objects.filter(account=account).count()
    invoices = list(invoices_of(reseller).filter(account=account).order_by("-id")[:RECENT])
    payments = list(
        payments_of(reseller)
        .filter(account=account)
        .select_related("invoice", "payment_method")
        .order_by("-id")[:RECENT]
    )
    unpaid = (
        payments_of(reseller)
        .filter(account=account, status__in=UNPAID)
        .aggregate(count=Count("id"), amount=Sum("total"))
    )
    subscriptions = list(Subscription.objects.filter(account=account).select_related("plan").order_by("id"))
    can_top_up = request.operator.can_bill
    return page(
        request,
        "operator/account.html",
        section="accounts",
        title=account.name,
        status=status,
        account=account,
        account_class=account.account_class,
        currency=reseller.currency,
        ledger=ledger,
        ledger_count=ledger_count,
        ledger_more=ledger_count > len(ledger),
        invoices=invoices,
        payments=payments,
        unpaid=unpaid,
        subscriptions=subscriptions,
        tz=reseller.timezone,
        can_top_up=can_top_up,
        top_up_form=top_up_form or TopUpForm(reseller=reseller),
        invoices_url=f"{reverse('operator:invoices')}?account={account.pk}",
        show_top_up=top_up_form is not None and bool(top_up_form.errors),
    )


@operator_view()
def account_detail(request, account_id: int):
    return _account_page(request, _account(request, account_id))


@operator_view(BILL)
def account_top_up(request, account_id: int):
    account = _account(request, account_id)
    if request.method != "POST":
        return redirect("operator:account", account_id=account.pk)
    reseller = request.operator.reseller
    form = TopUpForm(request.POST, reseller=reseller)
    if form.is_valid():
        try:
            payment = top_up_balance(
                account,
                form.cleaned_data["amount"],
                payment_method=form.cleaned_data["payment_method"],
                actor=request.operator.actor,
                now=clock.wall_clock(),
            )
        except ArrearsError as error:
            form.add_service_error(error)
        else:
            account.refresh_from_db(fields=["balance"])
            messages.success(
                request,
                f"{format_money(payment.total, payment.currency)} added to the balance "
                f"(payment {payment.document_id}); the balance is now "
                f"{format_money(account.balance, reseller.currency)}.",
            )
            return redirect("operator:account", account_id=account.pk)
    return _account_page(request, account, top_up_form=form, status=400)


urlpatterns = [
    path("accounts/", account_list, name="accounts"),
    path("accounts/<int:account_id>/", account_detail, name="account"),
    path("accounts/<int:account_id>/top-up/", account_top_up, name="account_top_up"),
]
