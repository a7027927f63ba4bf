from django.urls import include, path

from arrears.api.app import api
from arrears.core.views import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("operator/", include("arrears.panels.operator.urls")),
    path("", api.urls),
]

handler404 = "arrears.api.views.not_found"
handler500 = "arrears.api.views.server_error"
