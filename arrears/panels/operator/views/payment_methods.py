"""Payment methods (admin only, Settings → Payment methods): how the reseller's customers pay — bank transfer (a
manager approves the payment when the money arrives) or through one of the reseller's connectors — with adding one
and switching one on or off. A parent reseller's methods are offered here too; they are shown, and changed there."""

import django_tables2 as tables
from django import forms
from django.contrib import messages
from django.middleware.csrf import get_token
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html

from arrears.core import clock
from arrears.core.errors import ArrearsError, NotFound
from arrears.gateways.errors import ConnectorNotFound
from arrears.gateways.selectors import connectors_of
from arrears.gateways.services import create_payment_method, set_payment_method_active
from arrears.panels.forms import PanelForm
from arrears.panels.lists import page_number, page_size
from arrears.panels.operator.access import ADMIN, operator_view
from arrears.panels.operator.pages import page
from arrears.panels.templatetags.panels import badge
from arrears.payments import selectors
from arrears.payments.models import PaymentMethod

SECTION = "payment_methods"
BANK_TRANSFER = "bank_transfer"
BANK_TRANSFER_LABEL = "Bank transfer (approved by a manager)"


def kind_label(method: PaymentMethod) -> str:
    if method.kind == PaymentMethod.Kind.GATEWAY and method.connector is not None:
        return f"Connector: {method.connector.name}"
    return BANK_TRANSFER_LABEL


class PaymentMethodTable(tables.Table):
    name = tables.Column(verbose_name="Name", order_by=("name", "id"))
    kind = tables.Column(verbose_name="Kind", order_by=("kind", "name", "id"))
    active = tables.Column(verbose_name="State", order_by=("-active", "name", "id"))
    actions = tables.Column(verbose_name="", empty_values=(), orderable=False)

    class Meta:
        attrs = {"class": "data compact"}
        order_by = ("name",)
        empty_text = "No payment method yet."
        orderable = True

    noun_plural = "payment methods"
    empty_hint = (
        "Add a bank transfer for payments a manager approves, or a connector's method so customers can pay online."
    )

    def __init__(self, *args, reseller, csrf_token: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.reseller, self.csrf_token = reseller, csrf_token

    def _own(self, record) -> bool:
        return record.reseller_id == self.reseller.pk

    def render_name(self, record):
        if self._own(record):
            return record.name
        return format_html('{}<span class="sub">from {}</span>', record.name, record.reseller.name)

    def render_kind(self, record):
        label = kind_label(record)
        if record.connector is not None and not record.connector.active:
            return format_html('{}<span class="sub">{}</span>', label, "the connector is inactive: not offered")
        return label

    def render_active(self, value):
        return badge("active", "Active") if value else badge("inactive", "Inactive")

    def render_actions(self, record):
        if not self._own(record):
            return format_html('<span class="small muted">{}</span>', "Changed by the parent reseller")
        if record.active:
            whom = (
                "customers can no longer choose it"
                if record.kind == PaymentMethod.Kind.GATEWAY
                else "managers can no longer approve payments with it"
            )
            return format_html(
                '<form method="post" action="{}" class="inline-form" data-confirm="Deactivate the payment method '
                '{}? {}; payments already made with it keep it." data-confirm-title="Deactivate payment method">'
                '<input type="hidden" name="csrfmiddlewaretoken" value="{}"><button type="submit" '
                'class="small danger" aria-label="Deactivate {}">Deactivate</button></form>',
                reverse("operator:payment_method_deactivate", args=[record.pk]),
                record.name,
                whom[:1].upper() + whom[1:],
                self.csrf_token,
                record.name,
            )
        return format_html(
            '<form method="post" action="{}" class="inline-form"><input type="hidden" name="csrfmiddlewaretoken" '
            'value="{}"><button type="submit" class="small" aria-label="Activate {}">Activate</button></form>',
            reverse("operator:payment_method_activate", args=[record.pk]),
            self.csrf_token,
            record.name,
        )


class PaymentMethodForm(PanelForm):
    name = forms.CharField(
        label="Name", max_length=200, help_text="As managers and customers see it, e.g. “Bank transfer” or “Card”."
    )
    kind = forms.ChoiceField(
        label="Kind",
        help_text="A bank transfer is approved by a manager when the money "
        "arrives; a connector's method lets customers pay online.",
    )

    pointers = {"/name": "name", "/connector_id": "kind", "/kind": "kind"}

    def __init__(self, *args, connectors, **kwargs):
        super().__init__(*args, auto_id="create_%s", **kwargs)
        self.connectors = {str(connector.pk): connector for connector in connectors}
        self.choice_field("kind").choices = [
            (BANK_TRANSFER, BANK_TRANSFER_LABEL),
            *(
                (key, f"Connector: {connector.name}{'' if connector.active else ' (inactive)'}")
                for key, connector in self.connectors.items()
            ),
        ]

    @property
    def connector(self):
        return self.connectors.get(self.cleaned_data["kind"])


def _list_page(request, *, form=None, status=200):
    operator = request.operator
    reseller = operator.reseller
    rows = selectors.payment_methods_of(reseller).select_related("connector", "reseller")
    table = PaymentMethodTable(rows, request=request, reseller=reseller, csrf_token=get_token(request))
    table.paginate(page=page_number(request), per_page=page_size(request))
    connectors = list(connectors_of(reseller))
    return page(
        request,
        "operator/payment_methods.html",
        section=SECTION,
        title="Payment methods",
        table=table,
        form=form or PaymentMethodForm(connectors=connectors),
        connectors=connectors,
        status=status,
    )


@operator_view(ADMIN)
def payment_method_list(request):
    if request.method != "POST":
        return _list_page(request)
    operator = request.operator
    form = PaymentMethodForm(request.POST, connectors=list(connectors_of(operator.reseller)))
    posted_kind = request.POST.get("kind", "")
    if posted_kind.isdigit() and posted_kind not in form.connectors:
        raise ConnectorNotFound(f"no connector {posted_kind} in this reseller")  # another reseller's: a 404
    if form.is_valid():
        try:
            method = create_payment_method(
                operator.reseller,
                name=form.cleaned_data["name"],
                connector=form.connector,
                actor=operator.actor,
                now=clock.wall_clock(),
            )
        except ArrearsError as error:
            form.add_service_error(error)
        else:
            messages.success(request, f"The payment method {method.name} is added: {kind_label(method)}.")
            return redirect("operator:payment_methods")
    return _list_page(request, form=form, status=400)


def _own_method(request, method_id: int) -> PaymentMethod:
    """One of the current reseller's own methods; anyone else's, a parent's included, is a 404 here."""
    reseller = request.operator.reseller
    method = (
        selectors.payment_methods_of(reseller)
        .filter(reseller=reseller, pk=method_id)
        .select_related("connector")
        .first()
    )
    if method is None:
        raise NotFound(f"no payment method {method_id} of this reseller")
    return method


def _set_active(request, method_id: int, active: bool):
    operator = request.operator
    method = _own_method(request, method_id)
    if request.method != "POST":
        return redirect("operator:payment_methods")
    try:
        method = set_payment_method_active(method, active, actor=operator.actor, now=clock.wall_clock())
    except ArrearsError as error:
        messages.error(request, f"{error.detail[:1].upper()}{error.detail[1:]}. · {error.code}")
    else:
        messages.success(request, f"The payment method {method.name} is {'active' if active else 'inactive'}.")
    return redirect("operator:payment_methods")


@operator_view(ADMIN)
def payment_method_activate(request, method_id: int):
    return _set_active(request, method_id, True)


@operator_view(ADMIN)
def payment_method_deactivate(request, method_id: int):
    return _set_active(request, method_id, False)


urlpatterns = [
    path("settings/payment-methods/", payment_method_list, name="payment_methods"),
    path("settings/payment-methods/<int:method_id>/activate/", payment_method_activate, name="payment_method_activate"),
    path(
        "settings/payment-methods/<int:method_id>/deactivate/",
        payment_method_deactivate,
        name="payment_method_deactivate",
    ),
]
