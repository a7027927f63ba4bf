"""The Customer Control Panel's routes, under ``/customer/``. Each area's module owns its ``urlpatterns``."""

from arrears.panels.customer.views import auth, balance, invoices, overview, payments

app_name = "customer"

urlpatterns = [
    *auth.urlpatterns,
    *overview.urlpatterns,
    *invoices.urlpatterns,
    *payments.urlpatterns,
    *balance.urlpatterns,
]
