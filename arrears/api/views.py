"""Answers Django gives outside the API's own routes, in the API's format under ``/api/``."""

from django.http import HttpRequest, HttpResponse
from django.views import defaults

from arrears.api.errors import InternalError, RouteNotFound
from arrears.api.jsonapi import render_error
from arrears.api.refusals import bad_request as api_bad_request


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith("/api/"):
        return render_error(RouteNotFound(f"no API route {request.path}"))
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return render_error(InternalError("the server failed; nothing was changed"))
    return defaults.server_error(request)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    return api_bad_request(request, exception) or defaults.bad_request(request, exception)
