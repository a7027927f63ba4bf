"""A customer's balance: what it is, its ledger, and topping it up, through a payment service (a top-up payment
and a checkout, ``start_top_up_attempt``) or by bank transfer (a waiting top-up a manager approves when the money
arrives, ``request_top_up``)."""

import re

import django_tables2 as tables
from django import forms
from django.contrib import messages
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from arrears.core import clock, money
from arrears.core.errors import ArrearsError
from arrears.customers.models import BalanceEntry
from arrears.customers.selectors import balance_entries_of
from arrears.gateways.selectors import gateway_methods_of
from arrears.gateways.services import start_top_up_attempt
from arrears.panels.customer.access import customer_view
from arrears.panels.customer.pages import page
from arrears.panels.customer.tables import TABLE_ATTRS, cell
from arrears.panels.customer.views.overview import payment_summary
from arrears.panels.customer.views.payments import to_checkout
from arrears.panels.forms import PanelForm
from arrears.panels.lists import page_number, page_size
from arrears.panels.templatetags.panels import format_money, moment
from arrears.payments.errors import PaymentFieldInvalid
from arrears.payments.selectors import usable_payment_methods
from arrears.payments.services import request_top_up

BANK_TRANSFER = "bank_transfer"
# Digits, then optionally a point and more digits: what "amount in major units" means here. No sign, no grouping,
# no exponent; the currency's precision is checked when it is parsed.
_DECIMAL = re.compile(r"\d{1,13}(\.\d+)?")


def example_amount(currency: str) -> str:
    places = money.precision(currency)
    return "100" if not places else f"100.{'0' * places}"


class TopUpForm(PanelForm):
    amount = forms.CharField(
        label="Amount",
        max_length=20,
        strip=True,
        error_messages={"required": "Give the amount to top up."},
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    # The button pressed: one "Top up with <connector>" per payment service, and "Top up by bank transfer".
    method = forms.ChoiceField(
        label="Pay with",
        widget=forms.HiddenInput,
        error_messages={"required": "Choose how to pay.", "invalid_choice": "Choose one of the ways to pay shown."},
    )

    pointers = {"/amount": "amount", "/payment_method_id": "method"}

    def __init__(self, *args, currency: str, methods: list, bank_transfer: bool, require_method: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency, self.bank_transfer = currency, bank_transfer
        self.gateway_methods = {str(method.pk): method for method in methods}
        self.buttons = [(key, f"Top up with {method.connector.name}") for key, method in self.gateway_methods.items()]
        if bank_transfer:
            self.buttons.append((BANK_TRANSFER, "Top up by bank transfer"))
        self.choice_field("method").choices = self.buttons
        self.fields["method"].required = require_method
        self.example = example_amount(currency)
        self.fields["amount"].label = f"Amount ({currency})"
        self.fields["amount"].help_text = f"In {currency}, e.g. {self.example}."

    def clean_amount(self) -> int:
        text = self.cleaned_data["amount"]
        places = money.precision(self.currency)
        if not _DECIMAL.fullmatch(text):
            raise forms.ValidationError(
                f"Give the amount as a number, e.g. {self.example}, without a currency sign or thousands separators.",
                code=PaymentFieldInvalid.code,
            )
        try:
            amount = money.parse_amount(text, self.currency)
        except ValueError:
            precision = (
                "are whole numbers"
                if not places
                else f"have {places} decimal place{'s' if places != 1 else ''} at most"
            )
            raise forms.ValidationError(
                f"{self.currency} amounts {precision}.", code=PaymentFieldInvalid.code
            ) from None
        if amount <= 0:
            raise forms.ValidationError("The amount must be more than zero.", code=PaymentFieldInvalid.code)
        return amount

    @property
    def chosen_method(self):
        return self.gateway_methods.get(self.cleaned_data.get("method", ""))


_KIND_LABELS = {
    BalanceEntry.Kind.TOP_UP: "Top-up",
    BalanceEntry.Kind.PAYMENT: "Payment",
    BalanceEntry.Kind.DUPLICATE_SUCCESS: "Second charge credited",
}


class LedgerTable(tables.Table):
    kind = tables.Column(verbose_name="What", orderable=False, attrs=cell("What"))
    created_at = tables.Column(verbose_name="When", orderable=False, attrs=cell("When"))
    amount = tables.Column(verbose_name="Amount", orderable=False, attrs=cell("Amount", num=True))
    balance_after = tables.Column(verbose_name="Balance after", orderable=False, attrs=cell("Balance after", num=True))

    class Meta:
        attrs = TABLE_ATTRS
        empty_text = "Nothing on your balance yet."

    caption = "Balance ledger"
    noun_plural = "entries"
    empty_hint = "Top up your balance to pay your invoices from it."

    def __init__(self, *args, tz: str, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.tz, self.currency = tz, currency

    def render_created_at(self, value):
        return moment(value, self.tz)

    def render_kind(self, record):
        label = _KIND_LABELS.get(record.kind, record.kind)
        if record.payment_id is None:
            return label
        link = format_html(
            '<a class="text-link" href="{}">{}</a>',
            reverse("customer:payment", args=[record.payment_id]),
            record.payment.document_id,
        )
        if record.kind == BalanceEntry.Kind.DUPLICATE_SUCCESS:
            return format_html(
                '{}<span class="sub">A payment service charged {} twice; the second charge is yours to use.</span>',
                label,
                link,
            )
        return format_html("{} {}", label, link)

    def render_amount(self, record):
        text = format_money(record.amount, self.currency)
        return f"+{text}" if record.amount > 0 else text

    def render_balance_after(self, value):
        return format_money(value, self.currency)


def _form(request, data=None, *, require_method: bool = True) -> TopUpForm:
    reseller = request.customer.reseller
    currency = reseller.currency
    # gateway_methods_of reads only methods of an active connector: each has one.
    methods = [
        method
        for method in gateway_methods_of(reseller)
        if method.connector is not None and currency in method.connector.currencies
    ]
    return TopUpForm(
        data,
        currency=currency,
        methods=methods,
        require_method=require_method,
        bank_transfer=usable_payment_methods(reseller).exists(),
    )


def _balance_page(request, form: TopUpForm, *, status: int = 200):
    customer = request.customer
    table = LedgerTable(
        balance_entries_of(customer.account), request=request, tz=customer.tz, currency=customer.reseller.currency
    )
    table.paginate(page=page_number(request), per_page=page_size(request))
    summary = payment_summary(customer.account)
    unpaid = summary["waiting_amount"] + summary["expired_amount"]
    shortfall = max(0, unpaid - customer.account.balance)
    return page(
        request,
        "customer/balance.html",
        section="balance",
        title="Balance",
        status=status,
        form=form,
        table=table,
        currency=customer.reseller.currency,
        summary=summary,
        unpaid=unpaid,
        shortfall=shortfall,
        shortfall_text=money.format_amount(shortfall, customer.reseller.currency),
    )


@customer_view
def balance(request):
    prefilled = request.GET.get("amount")
    if prefilled is None:
        return _balance_page(request, _form(request))
    # A link from a payment page prefills the amount it lacks: checked as strictly as a typed one.
    form = _form(request, {"amount": prefilled}, require_method=False)
    form.is_valid()
    return _balance_page(request, form)


@require_POST
@customer_view
def top_up(request):
    customer = request.customer
    form = _form(request, request.POST)
    if not form.is_valid():
        return _balance_page(request, form, status=400)
    amount, now = form.cleaned_data["amount"], clock.wall_clock()
    try:
        if form.cleaned_data["method"] == BANK_TRANSFER:
            payment = request_top_up(customer.account, amount, actor=customer.actor, now=now)
        else:
            return_url = (
                request.build_absolute_uri(reverse("customer:payments")) + "{payment_id}/return/?attempt={attempt_id}"
            )
            attempt = start_top_up_attempt(
                customer.account, amount, form.chosen_method, return_url=return_url, actor=customer.actor, now=now
            )
            return to_checkout(attempt)
    except ArrearsError as error:
        form.add_service_error(error)
        return _balance_page(request, form, status=error.status if error.status >= 400 else 400)
    messages.success(
        request,
        f"Top-up {payment.document_id} of {format_money(amount, payment.currency)} is "
        f"requested. Transfer {format_money(amount, payment.currency)} to "
        f"{customer.reseller.name} by bank, with {payment.document_id} as the reference: your "
        "balance is credited once the money arrives.",
    )
    return redirect("customer:payment", payment_id=payment.pk)


urlpatterns = [
    path("balance/", balance, name="balance"),
    path("balance/top-up/", top_up, name="top_up"),
]
