"""Browser-only middleware, skipped on the token-authenticated API.

The v3 API authenticates every request by its ``X-Api-Token`` and never reads a session, a CSRF cookie, the
logged-in user or a flash message. Django's middleware for those still runs on every request it sees: it
reads settings, cookies and signers and builds lazy objects, about a tenth of a small API read's CPU. Each
class here is one of them, skipped under ``TOKEN_API_PREFIX``. They are subclasses, so that the admin's
checks still find the middleware they need.
"""

from axes.middleware import AxesMiddleware
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django_htmx.middleware import HtmxMiddleware

TOKEN_API_PREFIX = "/api/v3/"


def is_token_api(request) -> bool:
    return request.path_info.startswith(TOKEN_API_PREFIX)


class _SkippedOnTokenApi:
    def __call__(self, request):
        if is_token_api(request):
            return self.get_response(request)
        return super().__call__(request)


class SessionMiddlewareNotOnApi(_SkippedOnTokenApi, SessionMiddleware):
    pass


class AuthenticationMiddlewareNotOnApi(_SkippedOnTokenApi, AuthenticationMiddleware):
    pass


class MessageMiddlewareNotOnApi(_SkippedOnTokenApi, MessageMiddleware):
    pass


class CsrfViewMiddlewareNotOnApi(_SkippedOnTokenApi, CsrfViewMiddleware):
    """CSRF protection guards cookies; a request that authenticates by a header has none to guard. Django
    runs the check in ``process_view``, so that is skipped too."""

    def process_view(self, request, callback, callback_args, callback_kwargs):
        if is_token_api(request):
            return None
        return super().process_view(request, callback, callback_args, callback_kwargs)


class AxesMiddlewareNotOnApi(_SkippedOnTokenApi, AxesMiddleware):
    pass


class HtmxMiddlewareNotOnApi(_SkippedOnTokenApi, HtmxMiddleware):
    pass


class ApiResponsesNotStored:
    """Every answer under ``/api/`` (data, errors, the framework's own refusals) carries ``Cache-Control:
    no-store``: a billing API's answers hold customers' money and must not sit in a proxy's or a browser's cache."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path_info.startswith("/api/"):
            response["Cache-Control"] = "no-store"
        return response
