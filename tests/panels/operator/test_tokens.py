"""API tokens page of the Operator Control Panel: list with last use, create (secret shown once), revoke."""

import hashlib
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from arrears.core.actors import SYSTEM
from arrears.tenants.models import ApiToken, Manager
from arrears.tenants.services import create_manager
from arrears.tenants.tokens import create_api_token
from tests.factories import T0, ResellerFactory

SECRET = re.compile(r"arr_[A-Za-z0-9_\-]{40,}")


def invoices_api(reseller, secret: str):
    return Client().get(f"/api/v3/resellers/{reseller.pk}/invoices", headers={"X-Api-Token": secret})


def a_manager(reseller, email: str, role=Manager.Role.ADMIN) -> Manager:
    return create_manager(reseller=reseller, email=email, role=role, actor=SYSTEM, now=T0)


def test_an_anonymous_visit_goes_to_the_sign_in_page(client):
    response = client.get("/operator/api-tokens/")
    assert response.status_code == 302
    assert response["Location"].startswith("/operator/login/?next=/operator/api-tokens/")


@pytest.mark.parametrize("role", [Manager.Role.VIEWER, Manager.Role.BILLING_MANAGER])
def test_a_non_admin_is_refused_the_page_and_every_action_and_nothing_changes(reseller, sign_in, role):
    # Given a live token of the reseller and a signed-in manager who is not an admin
    owner = a_manager(reseller, "owner@example.com")
    token, _ = create_api_token(manager=owner, name="ERP", actor=SYSTEM, now=T0)
    client = sign_in(reseller, role)
    # When they open the page, create a token or revoke one, Then each answers 403
    assert client.get("/operator/api-tokens/").status_code == 403
    assert (
        client.post(
            "/operator/api-tokens/", {"name": "Mine", "scopes": ["read"], "owner": client.manager.pk}
        ).status_code
        == 403
    )
    assert client.post(f"/operator/api-tokens/{token.pk}/revoke/").status_code == 403
    # And nothing changed
    assert list(ApiToken.objects.values_list("pk", "revoked_at")) == [(token.pk, None)]


def test_the_list_shows_the_resellers_tokens_with_owner_scopes_and_last_use(reseller, sign_in):
    # Given a token that called the API, and one that never did
    client = sign_in(reseller)
    used, secret = create_api_token(
        manager=client.manager, name="ERP sync", scopes=["read", "erp"], actor=SYSTEM, now=T0
    )
    create_api_token(manager=client.manager, name="Idle", scopes=["read"], actor=SYSTEM, now=T0)
    assert invoices_api(reseller, secret).status_code == 200
    # When the admin opens the list
    body = client.get("/operator/api-tokens/").content.decode()
    # Then both are there with their prefix, owner and scopes; the idle one was never used
    assert "ERP sync" in body and "Idle" in body and f"{used.prefix}…" in body
    assert client.manager.user.email in body
    assert "Never" in body
    used.refresh_from_db()
    assert used.last_used_at is not None and used.last_used_at.isoformat() in body
    assert secret not in body


def test_creating_a_token_shows_its_secret_once_stores_only_its_hash_and_the_secret_works(reseller, sign_in):
    # Given an admin
    client = sign_in(reseller)
    # When they create a token with the read scope only
    response = client.post(
        "/operator/api-tokens/", {"name": "ERP sync", "scopes": ["read"], "owner": client.manager.pk}
    )
    # Then the answer shows the secret, with a curl example against the invoices route
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.content.decode()
    secret = SECRET.search(body).group(0)
    assert f"/api/v3/resellers/{reseller.pk}/invoices" in body and f"X-Api-Token: {secret}" in body
    # And the database holds its hash only, with the chosen scopes and owner
    token = ApiToken.objects.get()
    assert (token.name, token.scopes, token.manager_id) == ("ERP sync", ["read"], client.manager.pk)
    assert token.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiToken.objects.values().get())
    # And the secret is never shown again, nor kept in the session
    assert secret not in client.get("/operator/api-tokens/").content.decode()
    assert secret not in str(dict(client.session))
    # And it works against the API
    assert invoices_api(reseller, secret).status_code == 200


def test_the_owner_defaults_to_the_signed_in_admin_and_may_be_another_manager(reseller, sign_in):
    client = sign_in(reseller)
    billing = a_manager(reseller, "billing@example.com", Manager.Role.BILLING_MANAGER)
    page = client.get("/operator/api-tokens/").content.decode()
    assert re.search(rf'<option value="{client.manager.pk}" selected>', page)
    response = client.post(
        "/operator/api-tokens/", {"name": "Platform", "scopes": ["read", "platform"], "owner": billing.pk}
    )
    assert response.status_code == 200
    assert ApiToken.objects.get().manager_id == billing.pk


@pytest.mark.parametrize(
    ("data", "field", "code"),
    [
        ({"name": "No scope"}, "scopes", "TOKEN-0001"),
        ({"name": "x" * 201, "scopes": ["read"]}, "name", "max_length"),
        ({"name": "Unknown", "scopes": ["admin"]}, "scopes", "invalid_choice"),
    ],
    ids=["no-scope", "long-name", "unknown-scope"],
)
def test_bad_input_shows_the_error_on_its_field_and_creates_nothing(reseller, sign_in, data, field, code):
    client = sign_in(reseller)
    response = client.post("/operator/api-tokens/", {**data, "owner": client.manager.pk})
    assert response.status_code == 400
    assert [error.code for error in response.context["form"].errors.as_data()[field]] == [code]
    if "-" in code:
        assert f"· {code}" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_a_scope_the_owners_role_does_not_allow_is_refused_on_the_scopes_field(reseller, sign_in):
    # Given an admin and a viewer of the reseller
    client = sign_in(reseller)
    viewer = a_manager(reseller, "viewer@example.com", Manager.Role.VIEWER)
    # When the admin gives the viewer's token the erp scope
    response = client.post("/operator/api-tokens/", {"name": "ERP", "scopes": ["read", "erp"], "owner": viewer.pk})
    # Then the scopes field says so with the service's code, and no token exists
    assert response.status_code == 400
    assert [error.code for error in response.context["form"].errors.as_data()["scopes"]] == ["TOKEN-0001"]
    assert "· TOKEN-0001" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_revoking_makes_the_api_answer_401(reseller, sign_in):
    # Given a working token
    client = sign_in(reseller)
    token, secret = create_api_token(manager=client.manager, name="ERP", actor=SYSTEM, now=T0)
    assert invoices_api(reseller, secret).status_code == 200
    # When the admin revokes it
    response = client.post(f"/operator/api-tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    # Then it is marked revoked, the list says so, and the API refuses it
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert invoices_api(reseller, secret).status_code == 401
    body = client.get("/operator/api-tokens/?state=revoked").content.decode()
    assert "ERP" in body and "Revoked" in body
    # And revoking again is refused with its code, changing nothing
    again = client.post(f"/operator/api-tokens/{token.pk}/revoke/", follow=True)
    assert "TOKEN-0101" in again.content.decode()


def test_the_revoke_button_asks_for_confirmation(reseller, sign_in):
    client = sign_in(reseller)
    token, _ = create_api_token(manager=client.manager, name="ERP", actor=SYSTEM, now=T0)
    body = client.get("/operator/api-tokens/").content.decode()
    assert f'action="/operator/api-tokens/{token.pk}/revoke/"' in body
    assert 'data-confirm="Revoke the token ERP' in body


def test_a_siblings_token_and_manager_answer_404_and_stay_untouched(erp_world, sign_in):
    # Given a token of sibling B
    b_manager = a_manager(erp_world["b"], "b-admin@example.com")
    token, secret = create_api_token(manager=b_manager, name="B's ERP token", actor=SYSTEM, now=T0)
    client = sign_in(erp_world["a"])
    # When A's admin revokes it, or creates a token owned by B's manager, Then 404
    assert client.get(f"/operator/api-tokens/{token.pk}/revoke/").status_code == 404
    assert client.post(f"/operator/api-tokens/{token.pk}/revoke/").status_code == 404
    assert (
        client.post("/operator/api-tokens/", {"name": "Sneaky", "scopes": ["read"], "owner": b_manager.pk}).status_code
        == 404
    )
    # And A's list never shows it, and it still works
    assert "B&#x27;s ERP token" not in client.get("/operator/api-tokens/").content.decode()
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None
    assert ApiToken.objects.filter(manager__reseller=erp_world["a"]).count() == 0
    assert invoices_api(erp_world["b"], secret).status_code == 200


def test_the_query_count_of_the_list_does_not_grow_with_its_page_size(db, sign_in):
    reseller = ResellerFactory()
    client = sign_in(reseller)
    owners = [a_manager(reseller, f"owner{i}@example.com") for i in range(3)]
    for i in range(30):
        create_api_token(manager=owners[i % 3], name=f"Token {i}", actor=SYSTEM, now=T0)
    counts = []
    for size in (25, 100):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/operator/api-tokens/?per_page={size}")
            assert response.status_code == 200
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]
    assert "30 tokens" in response.content.decode()
