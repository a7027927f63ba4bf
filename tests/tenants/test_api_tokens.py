"""API tokens: the secret is shown once and stored as its sha256; authentication is one query."""

import hashlib
import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command

from arrears.core.actors import SYSTEM, Actor
from arrears.events.models import Event
from arrears.tenants.models import ApiToken, Manager
from arrears.tenants.services import create_manager
from arrears.tenants.tokens import SCOPES, authenticate_token, create_api_token, hash_secret, revoke_api_token
from tests.factories import T0
from tests.service_support import refused


def make_manager(reseller, email="erp@acme.example", role=Manager.Role.ADMIN) -> Manager:
    return create_manager(reseller=reseller, email=email, role=role, actor=SYSTEM, now=T0)


@pytest.fixture
def manager(reseller):
    return make_manager(reseller)


@pytest.fixture
def viewer(reseller):
    return make_manager(reseller, email="viewer@acme.example", role=Manager.Role.VIEWER)


def new_token(manager, **fields) -> tuple[ApiToken, str]:
    return create_api_token(manager=manager, actor=Actor.manager(manager), now=T0, **fields)


def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return json.loads(out.getvalue())


# --- create_api_token -------------------------------------------------------------------------------


def test_the_secret_is_returned_once_and_only_its_sha256_is_stored(manager):
    token, secret = new_token(manager, name="ERP sync")

    assert secret.startswith("arr_") and len(secret) > 40
    row = ApiToken.objects.filter(pk=token.pk).values().get()
    assert row["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest() == hash_secret(secret)
    assert row["prefix"] == secret[:12]
    assert secret not in json.dumps(row, default=str)
    assert (row["name"], row["manager_id"], row["created_at"]) == ("ERP sync", manager.pk, T0)
    assert (row["last_used_at"], row["revoked_at"]) == (None, None)


def test_defaults_are_all_scopes_and_a_generic_name(manager):
    token, _ = new_token(manager)

    assert token.scopes == list(SCOPES) == ["read", "erp", "platform"]
    assert token.name == "API token"


def test_two_tokens_have_different_secrets(manager):
    (first, first_secret), (second, second_secret) = new_token(manager), new_token(manager)

    assert first_secret != second_secret
    assert first.secret_hash != second.secret_hash


def test_scopes_are_deduplicated_in_the_canonical_order(manager):
    token, _ = new_token(manager, scopes=["platform", "read", "platform"])

    assert token.scopes == ["read", "platform"]


@pytest.mark.parametrize("scopes", [["read", "admin"], [], "read", [None], ["READ"]])
def test_scopes_must_be_a_non_empty_list_of_known_scopes(manager, scopes):
    refused("TOKEN-0001", new_token, manager, scopes=scopes, pointer="/scopes")

    assert not ApiToken.objects.exists()


def test_a_viewer_may_only_hold_read(viewer):
    refused("TOKEN-0001", new_token, viewer, scopes=["read", "erp"], pointer="/scopes")
    assert not ApiToken.objects.exists()

    token, _ = new_token(viewer, scopes=["read"])

    assert token.scopes == ["read"]


def test_a_viewers_token_defaults_to_read(viewer):
    token, _ = new_token(viewer)

    assert token.scopes == ["read"]


@pytest.mark.parametrize("name", ["x" * 201, 42])
def test_a_name_must_be_a_string_of_at_most_200_characters(manager, name):
    refused("TOKEN-0001", new_token, manager, name=name, pointer="/name")

    assert not ApiToken.objects.exists()


def test_creation_records_an_event_without_the_secret(manager):
    token, secret = new_token(manager, name="ERP sync", scopes=["erp"])

    event = Event.objects.get(type="api_token.created", subject_id=token.pk)
    assert event.subject_type == "apitoken"
    assert event.reseller_id == manager.reseller_id
    assert (event.actor_kind, event.actor_id) == ("manager", manager.pk)
    assert event.payload == {
        "name": "ERP sync",
        "scopes": ["erp"],
        "manager_id": manager.pk,
        "prefix": secret[:12],
        "changes": {"name": [None, "ERP sync"], "scopes": [None, ["erp"]]},
    }
    text = json.dumps(event.payload)
    assert secret not in text and token.secret_hash not in text


# --- authenticate_token ------------------------------------------------------------------------------


def test_a_live_secret_authenticates_its_token_with_manager_reseller_and_user(manager, django_assert_num_queries):
    token, secret = new_token(manager)
    authenticate_token(secret, now=T0)

    with django_assert_num_queries(1):
        found = authenticate_token(secret, now=T0 + timedelta(seconds=1))
        assert found.pk == token.pk
        assert found.manager.reseller.pk == manager.reseller_id
        assert found.manager.user.email == "erp@acme.example"


@pytest.mark.parametrize("secret", [None, "", "arr_unknown-secret", "not-a-token"])
def test_missing_or_unknown_secrets_authenticate_nothing(manager, secret):
    new_token(manager)

    assert authenticate_token(secret, now=T0) is None


def test_a_revoked_token_authenticates_nothing(manager):
    token, secret = new_token(manager)
    revoke_api_token(token, actor=SYSTEM, now=T0)

    assert authenticate_token(secret, now=T0) is None


def test_the_token_of_a_deactivated_user_authenticates_nothing(manager):
    _, secret = new_token(manager)
    manager.user.is_active = False
    manager.user.save(update_fields=["is_active"])

    assert authenticate_token(secret, now=T0) is None


def last_used(token):
    return ApiToken.objects.values_list("last_used_at", flat=True).get(pk=token.pk)


def last_revoked_at(token):
    return ApiToken.objects.values_list("revoked_at", flat=True).get(pk=token.pk)


def test_the_first_use_records_last_used_at(manager, django_assert_num_queries):
    token, secret = new_token(manager)

    with django_assert_num_queries(2):
        found = authenticate_token(secret, now=T0 + timedelta(hours=1))

    assert found.last_used_at == last_used(token) == T0 + timedelta(hours=1)


def test_last_used_at_is_not_rewritten_within_a_minute(manager, django_assert_num_queries):
    token, secret = new_token(manager)
    authenticate_token(secret, now=T0)

    with django_assert_num_queries(1):
        authenticate_token(secret, now=T0 + timedelta(seconds=59))

    assert last_used(token) == T0


def test_last_used_at_is_rewritten_after_a_minute(manager):
    token, secret = new_token(manager)
    authenticate_token(secret, now=T0)

    found = authenticate_token(secret, now=T0 + timedelta(seconds=61))

    assert found.last_used_at == last_used(token) == T0 + timedelta(seconds=61)


# --- revoke_api_token --------------------------------------------------------------------------------


def test_revoke_stamps_revoked_at_and_records_an_event_without_the_secret(manager):
    token, secret = new_token(manager)

    revoked = revoke_api_token(token, actor=SYSTEM, now=T0 + timedelta(days=1))

    assert revoked.revoked_at == T0 + timedelta(days=1)
    event = Event.objects.get(type="api_token.revoked", subject_id=token.pk)
    assert event.reseller_id == manager.reseller_id
    assert event.actor_kind == "system"
    assert event.payload["changes"] == {"revoked_at": [None, (T0 + timedelta(days=1)).isoformat()]}
    assert event.payload["prefix"] == secret[:12]
    text = json.dumps(event.payload)
    assert secret not in text and token.secret_hash not in text


def test_revoking_twice_is_refused_and_changes_nothing(manager):
    token, _ = new_token(manager)
    revoke_api_token(token, actor=SYSTEM, now=T0)

    refused("TOKEN-0101", revoke_api_token, token, actor=SYSTEM, now=T0 + timedelta(days=1))

    assert last_revoked_at(token) == T0
    assert Event.objects.filter(type="api_token.revoked").count() == 1


def test_revoking_a_deleted_token_is_not_found(manager):
    token, _ = new_token(manager)
    ApiToken.objects.filter(pk=token.pk).delete()

    refused("TOKEN-0404", revoke_api_token, token, actor=SYSTEM, now=T0)


# --- the CLI -----------------------------------------------------------------------------------------


def test_cli_create_prints_the_secret_once_and_acts_as_the_manager(manager):
    created = run(
        "token",
        "create",
        "--manager",
        "ERP@acme.example",
        "--scope",
        "erp",
        "--scope",
        "read",
        "--name",
        "Nightly sync",
    )

    assert set(created) == {"id", "name", "manager", "reseller_id", "scopes", "prefix", "created_at", "token"}
    assert created["manager"] == "erp@acme.example"
    assert created["reseller_id"] == manager.reseller_id
    assert created["scopes"] == ["read", "erp"]
    assert created["name"] == "Nightly sync"
    assert created["prefix"] == created["token"][:12]
    assert authenticate_token(created["token"], now=T0).pk == created["id"]
    event = Event.objects.get(type="api_token.created", subject_id=created["id"])
    assert (event.actor_kind, event.actor_id) == ("manager", manager.pk)


def test_cli_list_shows_tokens_without_secret_or_hash(manager, reseller):
    other = make_manager(reseller, email="other@acme.example")
    created = run("token", "create", "--manager", "erp@acme.example")
    run("token", "create", "--manager", "other@acme.example")

    everything = run("token", "list")
    mine = run("token", "list", "--manager", "erp@acme.example")

    assert [row["manager"] for row in everything] == ["erp@acme.example", other.user.email]
    assert len(mine) == 1
    assert set(mine[0]) == {
        "id",
        "name",
        "manager",
        "reseller_id",
        "scopes",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
    }
    text = json.dumps(everything)
    assert created["token"] not in text
    assert hash_secret(created["token"]) not in text


def test_cli_revoke_prints_the_revoked_token_and_refuses_a_second_time(manager):
    created = run("token", "create", "--manager", "erp@acme.example")

    revoked = run("token", "revoke", str(created["id"]))

    assert revoked["id"] == created["id"]
    assert revoked["revoked_at"] is not None
    assert "token" not in revoked
    assert authenticate_token(created["token"], now=T0) is None
    with pytest.raises(CommandError, match="TOKEN-0101"):
        run("token", "revoke", str(created["id"]))


def test_cli_refuses_more_than_read_for_a_viewer(viewer):
    with pytest.raises(CommandError, match="TOKEN-0001.*scopes"):
        run("token", "create", "--manager", "viewer@acme.example", "--scope", "erp")

    assert not ApiToken.objects.exists()


def test_cli_names_an_unknown_manager_or_token(db):
    with pytest.raises(CommandError, match="no manager with e-mail nobody@acme.example"):
        run("token", "create", "--manager", "nobody@acme.example")
    with pytest.raises(CommandError, match="token 999 does not exist"):
        run("token", "revoke", "999")
