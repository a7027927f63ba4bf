"""Finance settings: the switch that hands the reseller's Postpay invoices to an ERP (R1, R10)."""

from django import forms
from django.contrib import messages
from django.shortcuts import redirect
from django.urls import path

from arrears.core import clock
from arrears.panels.forms import PanelForm
from arrears.panels.operator.access import ADMIN, operator_view
from arrears.panels.operator.pages import page
from arrears.tenants.services import set_external_invoices


class FinanceSettingsForm(PanelForm):
    external_invoices = forms.BooleanField(
        label="External system generates Invoices",
        required=False,
        help_text="Invoices of the Postpay model are approved, numbered and confirmed by your ERP through the API. "
        "The switch applies to invoices closing from now on; invoices already closed keep their mode.",
    )


@operator_view()
def finance_settings(request):
    operator = request.operator
    reseller = operator.reseller
    form = FinanceSettingsForm(initial={"external_invoices": reseller.external_invoices})
    if request.method == "POST":
        operator.require(ADMIN)
        form = FinanceSettingsForm(request.POST)
        if form.is_valid():
            enabled = form.cleaned_data["external_invoices"]
            set_external_invoices(reseller, enabled, actor=operator.actor, now=clock.wall_clock())
            messages.success(
                request,
                "Finance settings updated: "
                + (
                    "an external system generates the invoices that close from now on."
                    if enabled
                    else "Arrears issues the invoices that close from now on."
                ),
            )
            return redirect("operator:finance_settings")
    if not operator.is_admin:
        form.fields["external_invoices"].disabled = True
    return page(request, "operator/finance_settings.html", section="finance", title="Finance settings", form=form)


urlpatterns = [path("settings/finance/", finance_settings, name="finance_settings")]
