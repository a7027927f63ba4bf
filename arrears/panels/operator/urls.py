"""The Operator Control Panel's routes, under ``/operator/``. Each area's module owns its ``urlpatterns``."""

from arrears.panels.operator.views import (
    accounts,
    auth,
    billing_runs,
    connectors,
    dashboard,
    finance,
    handlers,
    invoices,
    managers,
    payment_methods,
    payments,
    reconciliation,
    tokens,
    webhooks,
)

app_name = "operator"

urlpatterns = [
    *auth.urlpatterns,
    *dashboard.urlpatterns,
    *finance.urlpatterns,
    *invoices.urlpatterns,
    *reconciliation.urlpatterns,
    *payments.urlpatterns,
    *accounts.urlpatterns,
    *billing_runs.urlpatterns,
    *handlers.urlpatterns,
    *webhooks.urlpatterns,
    *connectors.urlpatterns,
    *payment_methods.urlpatterns,
    *tokens.urlpatterns,
    *managers.urlpatterns,
]
