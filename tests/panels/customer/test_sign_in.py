"""Signing in to the Customer Control Panel: only active customer users get in (a manager does not), a wrong
password is refused on the form, repeated failures lock the sign-in out (django-axes, 429), signing out takes a
POST, and an anonymous visit goes to the sign-in page."""

import pytest
from django.test import Client

from arrears.core.actors import SYSTEM
from arrears.customers.services import create_customer_user
from arrears.tenants.models import Manager
from arrears.tenants.services import create_manager
from tests.factories import T0, AccountFactory
from tests.panels.customer.conftest import PASSWORD


@pytest.fixture
def customer(db):
    return create_customer_user(
        account=AccountFactory(name="Globex"), email="ann@globex.example", password=PASSWORD, actor=SYSTEM, now=T0
    )


def sign_in(client, email, password, **extra):
    return client.post("/customer/login/", {"email": email, "password": password, **extra})


def form_error_codes(response) -> list[str]:
    return [error.code for error in response.context["form"].non_field_errors().as_data()]


def test_the_sign_in_page_has_email_password_sign_in_and_forgot_password(db):
    response = Client().get("/customer/login/")
    body = response.content.decode()
    assert response.status_code == 200
    assert '<label for="id_email">Email</label>' in body and '<label for="id_password">Password</label>' in body
    assert ">Sign in</button>" in body
    assert '<a href="/customer/password-reset/">Forgot password?</a>' in body
    assert "<title>Sign in · Customer Control Panel</title>" in body


def test_a_customer_signs_in_and_lands_on_the_overview(customer):
    client = Client()
    response = sign_in(client, "Ann@Globex.example", PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/customer/"
    overview = client.get("/customer/")
    assert overview.status_code == 200 and b"Globex" in overview.content


def test_an_anonymous_visit_goes_to_the_sign_in_page_and_back_after_it(customer):
    client = Client()
    response = client.get("/customer/invoices/")
    assert response.status_code == 302 and response["Location"] == "/customer/login/?next=/customer/invoices/"
    response = sign_in(client, customer.user.email, PASSWORD, next="/customer/invoices/")
    assert response["Location"] == "/customer/invoices/"


@pytest.mark.parametrize("target", ["https://evil.example/customer/", "/operator/", "//evil.example/customer/"])
def test_a_next_address_outside_the_panel_is_ignored(customer, target):
    assert sign_in(Client(), customer.user.email, PASSWORD, next=target)["Location"] == "/customer/"


@pytest.mark.parametrize(("email", "password"), [("ann@globex.example", "wrong"), ("nobody@example.com", PASSWORD)])
def test_a_wrong_email_or_password_is_refused_on_the_form(customer, email, password):
    client = Client()
    response = sign_in(client, email, password)
    assert response.status_code == 400 and form_error_codes(response) == ["AUTH-0401"]
    assert "The email or the password is not right." in response.content.decode()
    assert client.get("/customer/").status_code == 302


def test_bad_input_names_the_field(customer):
    response = sign_in(Client(), "not-an-email", "")
    assert response.status_code == 400 and set(response.context["form"].errors) == {"email", "password"}


def test_a_manager_cannot_sign_in_to_the_customer_panel(db):
    manager = create_manager(
        reseller=AccountFactory().reseller,
        email="boss@example.com",
        password=PASSWORD,
        role=Manager.Role.ADMIN,
        actor=SYSTEM,
        now=T0,
    )
    response = sign_in(Client(), manager.user.email, PASSWORD)
    assert response.status_code == 400 and form_error_codes(response) == ["AUTH-0401"]


def test_a_manager_signed_in_elsewhere_is_signed_out_not_let_in(db):
    manager = create_manager(
        reseller=AccountFactory().reseller,
        email="boss@example.com",
        password=PASSWORD,
        role=Manager.Role.ADMIN,
        actor=SYSTEM,
        now=T0,
    )
    client = Client()
    client.force_login(manager.user)
    response = client.get("/customer/")
    assert response.status_code == 302 and response["Location"].startswith("/customer/login/")
    assert client.get("/operator/").status_code == 302  # the manager's session ended


def test_a_deactivated_customer_user_cannot_sign_in(customer):
    customer.user.is_active = False
    customer.user.save()
    response = sign_in(Client(), customer.user.email, PASSWORD)
    assert response.status_code == 400 and form_error_codes(response) == ["AUTH-0401"]


def test_repeated_failures_lock_the_sign_in_out_even_with_the_right_password(customer, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, customer.user.email, "wrong")
    response = sign_in(client, customer.user.email, PASSWORD)
    assert response.status_code == 429
    assert [template.name for template in response.templates][0] == "customer/login.html"
    assert "Too many failed sign-ins" in response.content.decode() and b"AUTH-0429" in response.content
    assert client.get("/customer/").status_code == 302


def test_signing_out_takes_a_post(customer):
    client = Client()
    sign_in(client, customer.user.email, PASSWORD)
    assert client.get("/customer/logout/")["Location"] == "/customer/"
    response = client.post("/customer/logout/")
    assert response["Location"] == "/customer/login/"
    assert client.get("/customer/").status_code == 302
    assert "You are signed out." in client.get("/customer/login/").content.decode()
