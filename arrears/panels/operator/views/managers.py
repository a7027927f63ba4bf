"""Not built yet: each route answers 404 until its area lands."""

from django.http import Http404
from django.urls import path


def _pending(request, **kwargs):
    raise Http404("not built yet")


urlpatterns = [
    path("managers/", _pending, name="managers"),
]
