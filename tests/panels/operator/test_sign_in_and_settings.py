"""Signing in to the Operator Control Panel (django-axes lockout), switching resellers, and Finance settings."""

import pytest
from django.test import Client

from arrears.core.actors import SYSTEM
from arrears.customers.services import create_customer_user
from arrears.events.models import Event
from arrears.tenants.models import Manager, Reseller
from arrears.tenants.services import create_manager
from tests.factories import T0, AccountFactory, ResellerFactory

PASSWORD = "correct horse battery"


@pytest.fixture
def manager(db):
    return create_manager(
        reseller=ResellerFactory(),
        email="billing@example.com",
        password=PASSWORD,
        role=Manager.Role.ADMIN,
        actor=SYSTEM,
        now=T0,
    )


def sign_in(client, email, password, **extra):
    return client.post("/operator/login/", {"email": email, "password": password, **extra})


def form_error_codes(response) -> list[str]:
    return [error.code for error in response.context["form"].non_field_errors().as_data()]


def test_a_manager_signs_in_with_email_and_password_and_lands_where_they_wanted(manager):
    client = Client()
    response = sign_in(client, "Billing@Example.com", PASSWORD, next="/operator/invoices/")
    assert response.status_code == 302 and response["Location"] == "/operator/invoices/"
    assert client.get("/operator/").status_code == 200


def test_a_next_address_outside_the_panel_is_ignored(manager):
    response = sign_in(Client(), manager.user.email, PASSWORD, next="https://evil.example/operator/")
    assert response["Location"] == "/operator/"


@pytest.mark.parametrize(("email", "password"), [("billing@example.com", "wrong"), ("nobody@example.com", PASSWORD)])
def test_a_wrong_email_or_password_is_refused_on_the_form(manager, email, password):
    client = Client()
    response = sign_in(client, email, password)
    assert response.status_code == 400
    assert form_error_codes(response) == ["AUTH-0401"]
    assert client.get("/operator/").status_code == 302


def test_a_customer_user_cannot_sign_in_to_the_operator_panel(db):
    account = AccountFactory()
    create_customer_user(account=account, email="customer@example.com", password=PASSWORD, actor=SYSTEM, now=T0)
    response = sign_in(Client(), "customer@example.com", PASSWORD)
    assert response.status_code == 400 and form_error_codes(response) == ["AUTH-0401"]


def test_repeated_failures_lock_the_sign_in_out_even_with_the_right_password(manager, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, manager.user.email, "wrong")
    response = sign_in(client, manager.user.email, PASSWORD)
    assert response.status_code == 429
    assert b"AUTH-0429" in response.content
    assert client.get("/operator/").status_code == 302


def test_bad_input_on_the_sign_in_form_names_the_field(manager):
    response = sign_in(Client(), "not-an-email", "")
    errors = response.context["form"].errors
    assert response.status_code == 400 and set(errors) == {"email", "password"}


def test_signing_out_takes_a_post(manager):
    client = Client()
    sign_in(client, manager.user.email, PASSWORD)
    assert client.get("/operator/logout/")["Location"] == "/operator/"
    assert client.post("/operator/logout/")["Location"] == "/operator/login/"
    assert client.get("/operator/").status_code == 302


def test_a_manager_of_a_parent_switches_to_a_child_but_never_to_a_stranger(db):
    parent = ResellerFactory(name="Parent")
    child = ResellerFactory(name="Child", parent=parent)
    stranger = ResellerFactory(name="Stranger")
    client = Client()
    manager = create_manager(reseller=parent, email="p@example.com", actor=SYSTEM, now=T0)
    client.force_login(manager.user)

    assert client.post("/operator/switch-reseller/", {"reseller": child.pk}).status_code == 302
    assert client.get("/operator/settings/finance/").context["reseller"] == child
    assert client.post("/operator/switch-reseller/", {"reseller": stranger.pk}).status_code == 404
    assert client.post("/operator/switch-reseller/", {"reseller": "x"}).status_code == 404
    assert client.get("/operator/settings/finance/").context["reseller"] == child

    child_manager = create_manager(reseller=child, email="c@example.com", actor=SYSTEM, now=T0)
    child_client = Client()
    child_client.force_login(child_manager.user)
    assert child_client.post("/operator/switch-reseller/", {"reseller": parent.pk}).status_code == 404


def test_an_admin_turns_erp_mode_on_in_finance_settings(manager):
    client = Client()
    client.force_login(manager.user)
    page = client.get("/operator/settings/finance/")
    assert b"External system generates Invoices" in page.content and b">Update</button>" in page.content

    response = client.post("/operator/settings/finance/", {"external_invoices": "on"})
    assert response.status_code == 302
    assert Reseller.objects.get(pk=manager.reseller_id).external_invoices is True
    event = Event.objects.filter(type="reseller.settings_changed", reseller_id=manager.reseller_id).get()
    assert event.actor_kind == "manager" and event.payload["changes"] == {"external_invoices": [False, True]}


@pytest.mark.parametrize("role", [Manager.Role.BILLING_MANAGER, Manager.Role.VIEWER])
def test_only_an_admin_may_change_finance_settings(db, role):
    reseller = ResellerFactory()
    client = Client()
    client.force_login(
        create_manager(reseller=reseller, email=f"{role}@example.com", role=role, actor=SYSTEM, now=T0).user
    )
    page = client.get("/operator/settings/finance/")
    assert page.status_code == 200 and b">Update</button>" not in page.content
    assert client.post("/operator/settings/finance/", {"external_invoices": "on"}).status_code == 403
    assert Reseller.objects.get(pk=reseller.pk).external_invoices is False


def test_every_panel_page_carries_a_strict_content_security_policy(manager):
    client = Client()
    client.force_login(manager.user)
    policy = client.get("/operator/")["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy and "unsafe-inline" not in policy
