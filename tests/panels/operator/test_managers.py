"""Managers page of the Operator Control Panel: invite by e-mail (a set-password link), change role, deactivate."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from arrears.core.actors import SYSTEM
from arrears.events.models import Event
from arrears.tenants.models import ApiToken, Manager
from arrears.tenants.services import create_manager
from arrears.tenants.tokens import create_api_token
from tests.factories import T0, ResellerFactory

PASSWORD = "a long enough passphrase"
LINK = re.compile(r"http://testserver(/operator/set-password/[^/\s]+/[^/\s]+/)")


def a_manager(reseller, email: str, role=Manager.Role.ADMIN, password: str | None = PASSWORD) -> Manager:
    return create_manager(reseller=reseller, email=email, role=role, password=password, actor=SYSTEM, now=T0)


def can_sign_in(email: str, password: str = PASSWORD) -> bool:
    response = Client().post("/operator/login/", {"email": email, "password": password})
    return response.status_code == 302


def state_of(reseller) -> list:
    return list(Manager.objects.filter(reseller=reseller).order_by("pk").values_list("pk", "role", "user__is_active"))


def invite(client, email="new@example.com", role=Manager.Role.BILLING_MANAGER):
    return client.post("/operator/managers/", {"email": email, "role": role})


def test_an_anonymous_visit_goes_to_the_sign_in_page(client):
    response = client.get("/operator/managers/")
    assert response.status_code == 302
    assert response["Location"].startswith("/operator/login/?next=/operator/managers/")


@pytest.mark.parametrize("role", [Manager.Role.VIEWER, Manager.Role.BILLING_MANAGER])
def test_a_non_admin_is_refused_the_page_and_every_action_and_nothing_changes(reseller, sign_in, role):
    # Given another admin of the reseller and a signed-in manager who is not an admin
    other = a_manager(reseller, "other@example.com")
    client = sign_in(reseller, role)
    before = state_of(reseller)
    # When they open the page, invite, change a role or deactivate, Then each answers 403
    assert client.get("/operator/managers/").status_code == 403
    assert invite(client).status_code == 403
    assert client.post(f"/operator/managers/{other.pk}/role/", {"role": "viewer"}).status_code == 403
    assert client.post(f"/operator/managers/{other.pk}/deactivate/").status_code == 403
    # And nothing changed, no mail went out
    assert state_of(reseller) == before
    assert mail.outbox == []


def test_the_list_shows_the_resellers_managers(reseller, sign_in):
    client = sign_in(reseller)
    a_manager(reseller, "billing@example.com", Manager.Role.BILLING_MANAGER)
    body = client.get("/operator/managers/").content.decode()
    assert "billing@example.com" in body
    assert re.search(r"<option value=\"billing_manager\" selected>Billing manager</option>", body)
    assert client.manager.user.email in body
    assert "2 managers" in body


def test_an_invitation_mails_a_link_that_sets_the_password_once_then_the_manager_signs_in(reseller, sign_in):
    # Given an admin
    client = sign_in(reseller)
    # When they invite a billing manager
    response = invite(client, "New@Example.com")
    assert response.status_code == 302
    # Then the manager exists without a usable password, and an event says who invited them
    manager = Manager.objects.select_related("user").get(user__email="new@example.com")
    assert manager.role == Manager.Role.BILLING_MANAGER and manager.reseller_id == reseller.pk
    assert not manager.user.has_usable_password()
    event = Event.objects.get(type="manager.invited")
    assert (event.actor_kind, event.actor_id, event.subject_id) == ("manager", client.manager.pk, manager.pk)
    assert not can_sign_in("new@example.com")
    # And one e-mail went to them with an absolute set-password link
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["new@example.com"]
    path = LINK.search(message.body).group(1)
    # When they open the link and choose a password
    invitee = Client()
    page = invitee.get(path, follow=True)
    assert page.status_code == 200
    body = page.content.decode()
    assert "New password" in body and "Confirm password" in body and ">Set password</button>" in body
    done = invitee.post(
        page.redirect_chain[-1][0] if page.redirect_chain else path,
        {"new_password1": PASSWORD, "new_password2": PASSWORD},
    )
    assert done.status_code == 302 and done["Location"] == "/operator/login/"
    # Then they can sign in
    assert can_sign_in("new@example.com")
    # And the link no longer works
    again = Client().get(path)
    assert again.status_code == 404
    assert "Link no longer valid" in again.content.decode()
    refused = Client().post(path, {"new_password1": "another passphrase", "new_password2": "another passphrase"})
    assert refused.status_code == 404
    assert can_sign_in("new@example.com")


def test_a_mismatched_or_short_password_is_refused_on_its_field_and_the_link_still_works(reseller, sign_in):
    client = sign_in(reseller)
    invite(client)
    path = LINK.search(mail.outbox[0].body).group(1)
    invitee = Client()
    mismatch = invitee.post(path, {"new_password1": PASSWORD, "new_password2": PASSWORD + "x"})
    assert mismatch.status_code == 400
    assert [e.code for e in mismatch.context["form"].errors.as_data()["new_password2"]] == ["password_mismatch"]
    short = invitee.post(path, {"new_password1": "short", "new_password2": "short"})
    assert short.status_code == 400
    assert "password_too_short" in [e.code for e in short.context["form"].errors.as_data()["new_password2"]]
    assert not get_user_model().objects.get(email="new@example.com").has_usable_password()
    assert invitee.get(path).status_code == 200


def test_a_made_up_link_is_refused(db):
    assert Client().get("/operator/set-password/MQ/abc-def/").status_code == 404
    assert Client().get("/operator/set-password/!!!/abc-def/").status_code == 404


@pytest.mark.parametrize(
    ("data", "field", "code"),
    [
        ({"email": "", "role": "viewer"}, "email", "required"),
        ({"email": "not-an-address", "role": "viewer"}, "email", "invalid"),
        ({"email": "x@example.com", "role": "owner"}, "role", "invalid_choice"),
        ({"email": "taken@example.com", "role": "viewer"}, "email", "MANAGER-0001"),
    ],
    ids=["no-email", "bad-email", "unknown-role", "email-taken"],
)
def test_a_refused_invitation_shows_the_error_on_its_field_and_changes_nothing(reseller, sign_in, data, field, code):
    client = sign_in(reseller)
    a_manager(reseller, "taken@example.com")
    before = state_of(reseller)
    response = client.post("/operator/managers/", data)
    assert response.status_code == 400
    assert [error.code for error in response.context["form"].errors.as_data()[field]] == [code]
    if "-" in code:
        assert f"· {code}" in response.content.decode()
    assert state_of(reseller) == before
    assert mail.outbox == []


def test_changing_a_role_writes_an_event_and_revokes_tokens_beyond_the_new_role(reseller, sign_in):
    # Given a billing manager with an erp token and a read-only token
    client = sign_in(reseller)
    billing = a_manager(reseller, "billing@example.com", Manager.Role.BILLING_MANAGER)
    erp, _ = create_api_token(manager=billing, scopes=["read", "erp"], actor=SYSTEM, now=T0)
    read, _ = create_api_token(manager=billing, scopes=["read"], actor=SYSTEM, now=T0)
    # When the admin makes them a viewer
    response = client.post(f"/operator/managers/{billing.pk}/role/", {"role": "viewer"}, follow=True)
    # Then the role is changed, the event written, and only the token doing more than a viewer may is revoked
    assert response.status_code == 200
    billing.refresh_from_db()
    assert billing.role == Manager.Role.VIEWER
    event = Event.objects.get(type="manager.role_changed")
    assert event.payload["changes"] == {"role": ["billing_manager", "viewer"]}
    assert event.payload["revoked_token_ids"] == [erp.pk]
    assert ApiToken.objects.get(pk=erp.pk).revoked_at is not None
    assert ApiToken.objects.get(pk=read.pk).revoked_at is None
    assert "is now viewer" in response.content.decode()


def test_an_unknown_role_is_refused_with_its_code(reseller, sign_in):
    client = sign_in(reseller)
    other = a_manager(reseller, "other@example.com")
    response = client.post(f"/operator/managers/{other.pk}/role/", {"role": "owner"}, follow=True)
    assert "MANAGER-0001" in response.content.decode()
    assert Manager.objects.get(pk=other.pk).role == Manager.Role.ADMIN


def test_deactivating_a_manager_stops_their_sign_in_their_session_and_their_tokens(reseller, sign_in):
    # Given a billing manager who is signed in and has a working token
    client = sign_in(reseller)
    billing = a_manager(reseller, "billing@example.com", Manager.Role.BILLING_MANAGER)
    _, secret = create_api_token(manager=billing, scopes=["read"], actor=SYSTEM, now=T0)
    their_session = Client()
    their_session.force_login(billing.user)
    assert their_session.get("/operator/").status_code == 200
    assert can_sign_in("billing@example.com")
    # When the admin deactivates them
    response = client.post(f"/operator/managers/{billing.pk}/deactivate/", follow=True)
    # Then they are inactive, cannot sign in, their session is over and their token is refused
    assert response.status_code == 200 and "is deactivated" in response.content.decode()
    assert not get_user_model().objects.get(pk=billing.user_id).is_active
    assert Event.objects.filter(type="manager.deactivated", subject_id=billing.pk).count() == 1
    assert not can_sign_in("billing@example.com")
    assert their_session.get("/operator/").status_code == 302
    api = Client().get(f"/api/v3/resellers/{reseller.pk}/invoices", headers={"X-Api-Token": secret})
    assert api.status_code == 401
    # And deactivating again is refused with its code
    again = client.post(f"/operator/managers/{billing.pk}/deactivate/", follow=True)
    assert "MANAGER-0102" in again.content.decode()


def test_the_deactivate_button_asks_for_confirmation_and_is_not_offered_on_ones_own_row(reseller, sign_in):
    client = sign_in(reseller)
    other = a_manager(reseller, "other@example.com")
    body = client.get("/operator/managers/").content.decode()
    assert f'action="/operator/managers/{other.pk}/deactivate/"' in body
    assert 'data-confirm="Deactivate other@example.com?' in body
    assert f'action="/operator/managers/{client.manager.pk}/deactivate/"' not in body


def test_an_admin_cannot_deactivate_or_demote_themselves(reseller, sign_in):
    client = sign_in(reseller)
    before = state_of(reseller)
    demote = client.post(f"/operator/managers/{client.manager.pk}/role/", {"role": "viewer"}, follow=True)
    assert "MANAGER-0101" in demote.content.decode()
    deactivate = client.post(f"/operator/managers/{client.manager.pk}/deactivate/", follow=True)
    assert "MANAGER-0101" in deactivate.content.decode()
    assert state_of(reseller) == before
    assert not Event.objects.filter(type__in=["manager.role_changed", "manager.deactivated"]).exists()


def test_a_siblings_manager_answers_404_and_stays_untouched(erp_world, sign_in):
    b_admin = a_manager(erp_world["b"], "b-admin@example.com")
    client = sign_in(erp_world["a"])
    for suffix in ("role/", "deactivate/"):
        assert client.get(f"/operator/managers/{b_admin.pk}/{suffix}").status_code == 404
        assert client.post(f"/operator/managers/{b_admin.pk}/{suffix}", {"role": "viewer"}).status_code == 404
    assert "b-admin@example.com" not in client.get("/operator/managers/").content.decode()
    assert state_of(erp_world["b"]) == [(b_admin.pk, Manager.Role.ADMIN, True)]


def test_the_query_count_of_the_list_does_not_grow_with_its_page_size(db, sign_in):
    reseller = ResellerFactory()
    client = sign_in(reseller)
    for i in range(30):
        a_manager(reseller, f"manager{i}@example.com", Manager.Role.VIEWER, password=None)
    counts = []
    for size in (25, 100):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/operator/managers/?per_page={size}")
            assert response.status_code == 200
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]
    assert "31 managers" in response.content.decode()
