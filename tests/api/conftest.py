"""Shared Given-steps of the API tests: tokens, a client that speaks JSON:API, and the R47 check over HTTP."""

import json

import pytest
from django.test import Client

from arrears.api.models import IdempotencyKey
from arrears.tenants.models import Manager
from arrears.tenants.services import create_manager
from arrears.tenants.tokens import create_api_token
from tests.conftest import MANAGER
from tests.factories import T0
from tests.service_support import snapshot

MEDIA_TYPE = "application/vnd.api+json"


def token_for(reseller, *, scopes=None, role: str = Manager.Role.ADMIN) -> str:
    """A new manager of ``reseller`` with an API token; returns the token's secret."""
    manager = create_manager(
        reseller=reseller,
        email=f"erp-{reseller.pk}-{Manager.objects.count()}@example.com",
        role=role,
        actor=MANAGER,
        now=T0,
    )
    _, secret = create_api_token(manager=manager, scopes=scopes, actor=MANAGER, now=T0)
    return secret


class ApiClient:
    """Django's test client with the token header, JSON bodies and parsed JSON:API answers."""

    def __init__(self, secret: str | None):
        self.client = Client(**({"HTTP_X_API_TOKEN": secret} if secret else {}))

    def get(self, path: str, params: dict | None = None, **headers):
        return self.client.get(path, params or {}, headers=headers)

    def post(self, path: str, body=None, *, raw: bytes | str | None = None, content_type: str = MEDIA_TYPE, **headers):
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.client.post(path, data, content_type=content_type, headers=headers)


def api_snapshot() -> dict:
    return {**snapshot(), "idempotency": list(IdempotencyKey.objects.order_by("pk").values())}


def refused_over_http(call, status: int, code: str, *, pointer: str | None = None, parameter: str | None = None):
    """R47 over HTTP: the call answers ``status`` with ``code`` first (naming ``pointer`` or ``parameter``) and
    changes nothing. Returns the parsed error object."""
    before = api_snapshot()
    response = call()
    assert response.status_code == status, response.content
    assert response["Content-Type"] == MEDIA_TYPE
    error = response.json()["errors"][0]
    assert error["code"] == code, error
    assert error["status"] == str(status)
    if pointer is not None:
        assert error.get("source", {}).get("pointer") == pointer, error
    if parameter is not None:
        assert error.get("source", {}).get("parameter") == parameter, error
    assert api_snapshot() == before, "a refused call changed data (R47)"
    return error


@pytest.fixture
def api_for():
    def make(reseller, **token_options) -> ApiClient:
        return ApiClient(token_for(reseller, **token_options))

    return make
