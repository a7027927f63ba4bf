"""Who may call the API and how often, and what ``/openapi.json`` and ``/api/docs`` tell about it.

Auth: ``X-Api-Token``; missing, unknown or revoked → 401 AUTH-0001 naming the header; a token without the
operation's scope → 403 AUTH-0003. Throttling: ``ARREARS_API_THROTTLE`` requests per period and token →
429 RATE-0429 with ``Retry-After``. Rules: R46, R47.
"""

import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.staticfiles import finders

from arrears.tenants.models import ApiToken, Manager
from arrears.tenants.tokens import hash_secret, revoke_api_token
from tests.api.conftest import ApiClient, refused_over_http, token_for
from tests.conftest import MANAGER, at
from tests.service_support import APPROVAL_DAY, closed_erp_invoice, reload

NOW = at(APPROVAL_DAY)


@pytest.fixture(autouse=True)
def today():
    """The API reads the wall clock: the calls happen on the approval day of the January story."""
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def invoice(erp_reseller):
    return closed_erp_invoice(erp_reseller)


def invoices_path(reseller) -> str:
    return f"/api/v3/resellers/{reseller.pk}/invoices"


def approve(client: ApiClient, invoice, **headers):
    return client.post(
        f"/api/v3/resellers/{invoice.reseller_id}/invoices/{invoice.pk}/approve",
        {"document_id": "NS2000015", "billing_date": invoice.billing_date.isoformat()},
        **headers,
    )


def token_of(secret: str) -> ApiToken:
    return ApiToken.objects.get(secret_hash=hash_secret(secret))


# --- Throttling ----------------------------------------------------------------------------------------------


@pytest.fixture
def three_a_minute(settings):
    settings.ARREARS_API_THROTTLE = "3/m"


def test_the_request_after_the_budget_answers_429_with_retry_after(three_a_minute, erp_reseller, api_for):
    # Given a budget of 3 requests a minute per token, and a token that spent it
    erp = api_for(erp_reseller)
    for _ in range(3):
        assert erp.get(invoices_path(erp_reseller)).status_code == 200
    # When it sends a 4th request
    error = refused_over_http(lambda: erp.get(invoices_path(erp_reseller)), 429, "RATE-0429")
    response = erp.get(invoices_path(erp_reseller))
    # Then it is told when to retry, in whole seconds
    assert response.status_code == 429
    assert re.fullmatch(r"[1-9][0-9]*", response["Retry-After"]), response["Retry-After"]
    assert int(response["Retry-After"]) <= 60
    assert "source" not in error
    # While another token of the same reseller has a budget of its own
    assert api_for(erp_reseller).get(invoices_path(erp_reseller)).status_code == 200


def test_the_budget_comes_back_after_the_period(three_a_minute, erp_reseller, api_for):
    erp = api_for(erp_reseller)
    for _ in range(3):
        erp.get(invoices_path(erp_reseller))
    assert erp.get(invoices_path(erp_reseller)).status_code == 429
    with time_machine.travel(NOW + timedelta(seconds=61), tick=False):
        assert erp.get(invoices_path(erp_reseller)).status_code == 200


def test_throttling_counts_posts_and_refuses_them_unchanged(three_a_minute, invoice, api_for):
    erp = api_for(invoice.reseller)
    for _ in range(3):
        erp.get(invoices_path(invoice.reseller))
    refused_over_http(lambda: approve(erp, invoice), 429, "RATE-0429")
    assert not reload(invoice).approved


# --- Authentication ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header", [None, "", "arr_unknown-secret", "not-even-our-prefix"], ids=["no header", "empty", "unknown", "foreign"]
)
def test_a_call_without_a_valid_token_answers_401(invoice, header):
    # Given a client without a valid token
    client = ApiClient(None)
    headers = {} if header is None else {"X-Api-Token": header}
    # When it reads or approves, Then it is refused naming the header, and nothing changes
    for call in (
        lambda: client.get(invoices_path(invoice.reseller), **headers),
        lambda: approve(client, invoice, **headers),
    ):
        error = refused_over_http(call, 401, "AUTH-0001")
        assert error["source"] == {"header": "X-Api-Token"}


def test_a_revoked_token_answers_401(invoice):
    # Given a token that worked, then was revoked
    secret = token_for(invoice.reseller)
    erp = ApiClient(secret)
    assert erp.get(invoices_path(invoice.reseller)).status_code == 200
    revoke_api_token(token_of(secret), actor=MANAGER, now=NOW)
    # When it calls again, Then it is refused, and nothing changes
    error = refused_over_http(lambda: approve(erp, invoice), 401, "AUTH-0001")
    assert error["source"] == {"header": "X-Api-Token"}
    refused_over_http(lambda: erp.get(invoices_path(invoice.reseller)), 401, "AUTH-0001")


def test_a_call_records_when_the_token_was_last_used(erp_reseller):
    secret = token_for(erp_reseller)
    assert token_of(secret).last_used_at is None
    assert ApiClient(secret).get(invoices_path(erp_reseller)).status_code == 200
    assert token_of(secret).last_used_at == NOW


def test_a_failed_call_still_counts_as_a_use(erp_reseller):
    secret = token_for(erp_reseller)
    ApiClient(secret).get(f"{invoices_path(erp_reseller)}/999999")
    assert token_of(secret).last_used_at == NOW


# --- Scopes --------------------------------------------------------------------------------------------------


def test_a_viewer_reads_but_cannot_approve(invoice):
    # Given a viewer manager's token: its scopes are read only
    secret = token_for(invoice.reseller, role=Manager.Role.VIEWER)
    assert token_of(secret).scopes == ["read"]
    viewer = ApiClient(secret)
    # When it approves, Then it is refused for its scopes, and nothing changes
    refused_over_http(lambda: approve(viewer, invoice), 403, "AUTH-0003")
    # When it reads the invoice, Then it gets it
    response = viewer.get(f"{invoices_path(invoice.reseller)}/{invoice.pk}")
    assert response.status_code == 200
    assert response.json()["data"]["attributes"]["approved"] is False


def test_each_operation_needs_its_scope(invoice, api_for):
    reseller = invoice.reseller
    erp_only, read_only = api_for(reseller, scopes=["erp"]), api_for(reseller, scopes=["read"])
    # A token without "read" cannot read
    refused_over_http(lambda: erp_only.get(invoices_path(reseller)), 403, "AUTH-0003")
    # A token without "platform" cannot create accounts
    refused_over_http(
        lambda: erp_only.post(f"/api/v3/resellers/{reseller.pk}/accounts", {"name": "New"}), 403, "AUTH-0003"
    )
    refused_over_http(
        lambda: read_only.post(f"/api/v3/resellers/{reseller.pk}/accounts", {"name": "New"}), 403, "AUTH-0003"
    )
    # While "erp" is all an approval needs
    assert approve(erp_only, invoice).status_code == 200


# --- The OpenAPI document and the interactive docs -----------------------------------------------------------

APPROVE_CODES = {
    "INVOICE-0001",
    "INVOICE-0005",
    "INVOICE-0010",
    "INVOICE-0011",
    "INVOICE-0012",
    "INVOICE-0017",
    "PAYMENT-0409",
    "INVOICE-0101",
    "INVOICE-0105",
    "INVOICE-0106",
    "INVOICE-0107",
    "INVOICE-0108",
    "INVOICE-0109",
}
COMPLETE_CODES = {
    "INVOICE-0001",
    "INVOICE-0005",
    "INVOICE-0006",
    "INVOICE-0010",
    "INVOICE-0011",
    "INVOICE-0012",
    "INVOICE-0017",
    "PAYMENT-0409",
    "INVOICE-0102",
    "INVOICE-0103",
    "INVOICE-0105",
}
REVOKE_CODES = COMPLETE_CODES | {"PAYMENT-0101"}
BY_ACCOUNT = {"INVOICE-0104"}
ERP_OPERATIONS = {
    "/invoices/{invoice_id}/approve": APPROVE_CODES,
    "/accounts/{account_id}/approve_invoices": APPROVE_CODES | BY_ACCOUNT,
    "/invoices/{invoice_id}/complete": COMPLETE_CODES,
    "/accounts/{account_id}/complete_invoices": COMPLETE_CODES | BY_ACCOUNT,
    "/invoices/{invoice_id}/revoke": REVOKE_CODES,
    "/accounts/{account_id}/revoke_invoices": REVOKE_CODES | BY_ACCOUNT,
}


@pytest.fixture
def openapi(db, client) -> dict:
    """The OpenAPI document, fetched without a token."""
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(openapi: dict):
    for path, methods in openapi["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def codes(response: dict) -> set[str]:
    """The error codes a documented response names, in its examples and in its description alike."""
    examples = next(iter(response["content"].values()))["examples"]
    described = re.findall(r"`([A-Z]+(?:-[A-Z]+)*-\d{4})`", response["description"])
    assert sorted(described) == sorted(examples), response["description"]  # each code once, in both
    for code, example in examples.items():
        assert example["value"]["errors"][0]["code"] == code
    return set(examples)


def test_the_openapi_document_is_3_1_and_describes_every_route(openapi):
    assert re.fullmatch(r"3\.1\.\d+", openapi["openapi"])
    assert len(list(operations(openapi))) >= 22
    assert all(path.startswith("/api/v3/resellers/{reseller_id}") for path in openapi["paths"])


def test_every_operation_documents_auth_scope_not_found_and_throttling(openapi):
    for path, method, operation in operations(openapi):
        responses = operation["responses"]
        assert {"401", "403", "404", "429"} <= set(responses), (method, path)
        assert codes(responses["401"]) == {"AUTH-0001"}
        assert codes(responses["403"]) == {"AUTH-0003"}
        assert codes(responses["429"]) == {"RATE-0429"}
        assert responses["429"]["headers"]["Retry-After"]["schema"] == {"type": "integer"}
        # R46: every route answers 404 for a reseller out of the token's reach
        assert "RESELLER-0404" in codes(responses["404"]), (method, path)


def test_every_post_documents_the_idempotency_key(openapi):
    posts = [(path, operation) for path, method, operation in operations(openapi) if method == "post"]
    assert len(posts) == 9
    for path, operation in posts:
        responses = operation["responses"]
        assert "IDEMPOTENCY-0003" in codes(responses["400"]), path
        # and, for the ERP calls that change a payment, PAYMENT-0409 (it changed meanwhile)
        assert codes(responses["409"]) - {"PAYMENT-0409"} == {"IDEMPOTENCY-0002"}, path
        assert codes(responses["422"]) == {"IDEMPOTENCY-0001"}, path
        headers = [p for p in operation["parameters"] if p["in"] == "header" and p["name"] == "Idempotency-Key"]
        assert len(headers) == 1, path
        assert headers[0]["required"] is False
        assert headers[0]["schema"]["maxLength"] == 255


def test_each_erp_operation_documents_every_code_it_can_return(openapi):
    for suffix, expected in ERP_OPERATIONS.items():
        operation = openapi["paths"]["/api/v3/resellers/{reseller_id}" + suffix]["post"]
        documented = set().union(
            *(codes(response) for status, response in operation["responses"].items() if status.startswith("4"))
        )
        assert expected <= documented, (suffix, expected - documented)
        assert "INVOICE-0404" in codes(operation["responses"]["404"]), suffix
        assert {"application/json", "application/vnd.api+json"} <= set(operation["requestBody"]["content"])


def test_get_operations_take_no_idempotency_key(openapi):
    for path, method, operation in operations(openapi):
        if method == "get":
            assert "409" not in operation["responses"] and "422" not in operation["responses"], path
            assert all(p["name"] != "Idempotency-Key" for p in operation.get("parameters", [])), path


def test_the_interactive_docs_use_local_files_only(db, client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    # Then every stylesheet, script and icon it loads is one of our static files: no CDN
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert any(asset.endswith(".js") for asset in assets) and any(asset.endswith(".css") for asset in assets)
    for asset in assets:
        assert asset.startswith("/static/"), asset
        assert finders.find(asset.removeprefix("/static/")), asset
    assert not re.search(r"https?://", html)
    assert '"url": "/openapi.json"' in html
