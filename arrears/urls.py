from django.urls import include, path

from arrears.api.app import api
from arrears.core.views import healthz
from arrears.gateways.views import connector_callback

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("operator/", include("arrears.panels.operator.urls")),
    path("customer/", include("arrears.panels.customer.urls")),
    path("connectors/<int:connector_id>/callback", connector_callback, name="connector_callback"),
    path("", api.urls),
]

handler400 = "arrears.api.views.bad_request"
handler404 = "arrears.api.views.not_found"
handler500 = "arrears.api.views.server_error"
