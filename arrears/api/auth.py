"""Who calls the API: the ``X-Api-Token`` header and the token's scopes (throttling: arrears.api.throttling)."""

from django.http import HttpRequest
from ninja.security import APIKeyHeader

from arrears.api.errors import ScopeMissing
from arrears.core import clock
from arrears.core.actors import Actor
from arrears.core.principals import Principal
from arrears.tenants.models import Reseller
from arrears.tenants.selectors import reseller_visible_to
from arrears.tenants.tokens import authenticate_token

TOKEN_META_KEY = "HTTP_X_API_TOKEN"
LOOKED_UP_TOKEN = "arrears_api_token"  # the request attribute that keeps the token once it was looked up


class TokenAuth(APIKeyHeader):
    """A manager's API token (R46): the principal reaches the manager's reseller and its descendants."""

    param_name = "X-Api-Token"

    def _get_key(self, request: HttpRequest) -> str | None:
        # The header straight from META: ninja's request.headers builds a mapping of every header first.
        return request.META.get(TOKEN_META_KEY)

    def authenticate(self, request: HttpRequest, key: str | None) -> Principal | None:
        token = looked_up_token(request)
        if token is None:
            return None
        manager = token.manager
        return Principal(
            actor=Actor.api_token(token.pk, f"{token.name} ({token.prefix}…, {manager.user.email})"),
            home_reseller=manager.reseller,
            scopes=frozenset(token.scopes),
            token_id=token.pk,
        )


def caller_principal(request: HttpRequest) -> Principal:
    """Who is calling: ninja runs TokenAuth before every operation and keeps what it returned as ``request.auth``
    (an attribute Django's request type does not declare)."""
    principal = getattr(request, "auth", None)
    assert isinstance(principal, Principal), "every operation of the API authenticates with TokenAuth"
    return principal


def caller_reseller(request: HttpRequest, reseller_id: int, scope: str) -> Reseller:
    """The path's reseller, if the calling token holds ``scope`` and reaches that reseller; else 403 / 404."""
    principal = caller_principal(request)
    if scope not in principal.scopes:
        raise ScopeMissing(f"this operation needs a token with the {scope!r} scope")
    return reseller_visible_to(principal, reseller_id)


def looked_up_token(request: HttpRequest):
    """The request's live token, looked up once a request: by the throttle, which runs first, and read again by
    the idempotency middleware and the operations' auth."""
    if hasattr(request, LOOKED_UP_TOKEN):
        return getattr(request, LOOKED_UP_TOKEN)
    token = authenticate_token(request.META.get(TOKEN_META_KEY), now=clock.wall_clock())
    setattr(request, LOOKED_UP_TOKEN, token)
    return token
