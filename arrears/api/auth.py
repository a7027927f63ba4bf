"""Who calls the API: the ``X-Api-Token`` header, the token's scopes, and throttling per token."""

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyHeader
from ninja.throttling import SimpleRateThrottle

from arrears.api.errors import ScopeMissing
from arrears.core import clock
from arrears.core.actors import Actor
from arrears.core.principals import Principal
from arrears.tenants.models import Reseller
from arrears.tenants.selectors import reseller_visible_to
from arrears.tenants.tokens import authenticate_token

TOKEN_META_KEY = "HTTP_X_API_TOKEN"


class TokenAuth(APIKeyHeader):
    """A manager's API token (R46): the principal reaches the manager's reseller and its descendants."""

    param_name = "X-Api-Token"

    def _get_key(self, request: HttpRequest) -> str | None:
        # The header straight from META: ninja's request.headers builds a mapping of every header first.
        return request.META.get(TOKEN_META_KEY)

    def authenticate(self, request: HttpRequest, key: str | None) -> Principal | None:
        token = authenticate_token(key, now=clock.wall_clock())
        if token is None:
            return None
        manager = token.manager
        return Principal(
            actor=Actor.api_token(token.pk, f"{token.name} ({token.prefix}…, {manager.user.email})"),
            home_reseller=manager.reseller,
            scopes=frozenset(token.scopes),
            token_id=token.pk,
        )


def caller_reseller(request: HttpRequest, reseller_id: int, scope: str) -> Reseller:
    """The path's reseller, if the calling token holds ``scope`` and reaches that reseller; else 403 / 404."""
    principal: Principal = request.auth
    if scope not in principal.scopes:
        raise ScopeMissing(f"this operation needs a token with the {scope!r} scope")
    return reseller_visible_to(principal, reseller_id)


class TokenThrottle(SimpleRateThrottle):
    """``ARREARS_API_THROTTLE`` requests per period and token (e.g. ``50/s``), read on every request so that
    a changed setting applies at once. Counted in Django's cache: several workers share one budget only
    when the cache is shared (``ARREARS_CACHE_URL``)."""

    def __init__(self):
        self.rate = None

    def allow_request(self, request: HttpRequest) -> bool:
        rate = settings.ARREARS_API_THROTTLE
        if not rate:
            return True
        if rate != self.rate:
            self.rate = rate
            self.num_requests, self.duration = self.parse_rate(rate)
        return super().allow_request(request)

    def get_cache_key(self, request: HttpRequest) -> str | None:
        principal = getattr(request, "auth", None)
        return f"arrears-throttle-{principal.token_id}" if principal else None
