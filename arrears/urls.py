from django.contrib import admin
from django.urls import path

from arrears.api.app import api
from arrears.core.views import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("", api.urls),
]
