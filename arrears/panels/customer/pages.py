"""Rendering a customer page: the sections of the sidebar, the current one marked, the page's title."""

from django.shortcuts import render
from django.urls import reverse

# (section, label, URL name)
NAVIGATION = (
    ("overview", "Overview", "customer:overview"),
    ("invoices", "Invoices", "customer:invoices"),
    ("payments", "Payments", "customer:payments"),
    ("balance", "Balance", "customer:balance"),
)


def page(request, template: str, *, section: str, title: str, status: int = 200, **context):
    customer = request.customer
    context.update(
        page_title=title,
        section=section,
        customer=customer,
        account=customer.account,
        reseller=customer.reseller,
        tz=customer.tz,
        nav=[{"section": key, "label": label, "url": reverse(url_name)} for key, label, url_name in NAVIGATION],
    )
    return render(request, template, context, status=status)
