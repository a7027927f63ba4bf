from django.contrib import admin
from django.urls import path

from arrears.api.app import api
from arrears.core.views import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("", api.urls),
]

handler404 = "arrears.api.views.not_found"
handler500 = "arrears.api.views.server_error"
