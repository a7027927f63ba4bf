"""Rendering an operator page: the navigation the manager's role allows, the section marked, the page's title."""

from django.shortcuts import render
from django.urls import reverse

from arrears.panels.operator.access import ADMIN, VIEW

# (section, label, URL name, permission) per group; the sidebar shows what the manager's role may open.
NAVIGATION = (
    ("", (("dashboard", "Dashboard", "operator:dashboard", VIEW),)),
    (
        "Billing",
        (
            ("invoices", "Invoices", "operator:invoices", VIEW),
            ("reconciliation", "Reconciliation", "operator:reconciliation", VIEW),
            ("payments", "Payments", "operator:payments", VIEW),
            ("accounts", "Accounts", "operator:accounts", VIEW),
            ("billing_runs", "Billing runs", "operator:billing_runs", VIEW),
        ),
    ),
    (
        "Notifications",
        (
            ("event_handlers", "Event handlers", "operator:event_handlers", VIEW),
            ("webhooks", "Webhook endpoints", "operator:webhooks", VIEW),
            ("deliveries", "Deliveries", "operator:deliveries", VIEW),
        ),
    ),
    (
        "Settings",
        (
            ("finance", "Finance", "operator:finance_settings", VIEW),
            ("payment_connectors", "Payment connectors", "operator:payment_connectors", ADMIN),
            ("payment_methods", "Payment methods", "operator:payment_methods", ADMIN),
            ("api_tokens", "API tokens", "operator:api_tokens", ADMIN),
            ("managers", "Managers", "operator:managers", ADMIN),
        ),
    ),
)


def _navigation(operator) -> list[dict]:
    groups = []
    for title, items in NAVIGATION:
        links = []
        for section, label, url_name, permission in items:
            if not operator.may(permission):
                continue
            links.append({"section": section, "label": label, "url": reverse(url_name)})
        if links:
            groups.append({"title": title, "items": links})
    return groups


def page(request, template: str, *, section: str, title: str, status: int = 200, **context):
    context.update(
        page_title=title,
        section=section,
        nav=_navigation(request.operator),
        operator=request.operator,
        reseller=request.operator.reseller,
    )
    return render(request, template, context, status=status)
