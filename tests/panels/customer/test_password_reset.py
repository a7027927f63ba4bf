"""Forgot password? The reset e-mail goes through Django's real mail path to a real SMTP server on loopback
(aiosmtpd), its link sets a new password once, and the page never tells whether an address has an account."""

import re

import pytest
from django.test import Client

from arrears.core.actors import SYSTEM
from arrears.customers.services import create_customer_user
from arrears.tenants.models import Manager
from arrears.tenants.services import create_manager
from tests.factories import T0, AccountFactory, ResellerFactory
from tests.loopback import free_port, send_mail_to, smtp_server
from tests.panels.customer.conftest import PASSWORD

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def inbox(settings):
    with smtp_server() as (inbox, port):
        send_mail_to(settings, port)
        yield inbox


@pytest.fixture
def customer(db):
    reseller = ResellerFactory(name="Plain Hosting")
    return create_customer_user(
        account=AccountFactory(reseller=reseller), email="ann@globex.example", password=PASSWORD, actor=SYSTEM, now=T0
    )


def reset_link(message) -> str:
    [link] = re.findall(r"http://testserver(/customer/password-reset/[^/\s]+/[^/\s]+/)", message.get_content())
    return link


def test_the_reset_link_arrives_by_smtp_and_sets_a_new_password_once(customer, inbox):
    client = Client()
    assert client.get("/customer/password-reset/").status_code == 200
    response = client.post("/customer/password-reset/", {"email": "Ann@Globex.example"})
    assert response.status_code == 200
    assert "Check your e-mail" in response.content.decode()

    # Then the e-mail arrives at the SMTP server, with the absolute link
    [message] = inbox.messages
    assert message["X-Envelope-To"] == "ann@globex.example"
    assert message["Subject"] == "Reset your password for Plain Hosting"
    assert message["Auto-Submitted"] == "auto-generated"
    assert "the link works once" in message.get_content()
    link = reset_link(message)

    # When the customer follows it and chooses a new password
    page = client.get(link)
    assert page.status_code == 200 and "Choose a new password" in page.content.decode()
    assert page["Cache-Control"].startswith("max-age=0")
    mismatch = client.post(link, {"new_password1": NEW_PASSWORD, "new_password2": "something else"})
    assert mismatch.status_code == 400 and "new_password2" in mismatch.context["form"].errors
    response = client.post(link, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/customer/login/"

    # Then the new password signs in, the old one does not
    assert Client().post("/customer/login/", {"email": "ann@globex.example", "password": PASSWORD}).status_code == 400
    signed_in = Client()
    assert (
        signed_in.post("/customer/login/", {"email": "ann@globex.example", "password": NEW_PASSWORD})["Location"]
        == "/customer/"
    )

    # And the link no longer works
    again = Client().get(link)
    assert again.status_code == 404 and "Link no longer valid" in again.content.decode()
    assert Client().post(link, {"new_password1": "x" * 12, "new_password2": "x" * 12}).status_code == 404


def test_an_unknown_address_gets_the_same_answer_and_no_mail(customer, inbox):
    response = Client().post("/customer/password-reset/", {"email": "nobody@example.com"})
    assert response.status_code == 200 and "Check your e-mail" in response.content.decode()
    assert inbox.messages == []


def test_a_manager_or_a_deactivated_customer_gets_no_reset_mail(customer, inbox):
    create_manager(
        reseller=customer.account.reseller,
        email="boss@example.com",
        password=PASSWORD,
        role=Manager.Role.ADMIN,
        actor=SYSTEM,
        now=T0,
    )
    Client().post("/customer/password-reset/", {"email": "boss@example.com"})
    customer.user.is_active = False
    customer.user.save()
    Client().post("/customer/password-reset/", {"email": customer.user.email})
    assert inbox.messages == []


def test_a_made_up_link_is_not_found(customer):
    for link in ("/customer/password-reset/MQ/abc-123/", "/customer/password-reset/!!/x/"):
        assert Client().get(link).status_code == 404


def test_a_managers_set_password_link_does_not_work_here(customer):
    from arrears.tenants.services import invitation_link_parts, invite_manager

    manager = invite_manager(
        reseller=customer.account.reseller, email="new@example.com", role=Manager.Role.VIEWER, actor=SYSTEM, now=T0
    )
    uidb64, token = invitation_link_parts(manager)
    assert Client().get(f"/customer/password-reset/{uidb64}/{token}/").status_code == 404


def test_a_bad_address_is_refused_on_the_field(customer, inbox):
    response = Client().post("/customer/password-reset/", {"email": "not-an-address"})
    assert response.status_code == 400 and "email" in response.context["form"].errors
    assert inbox.messages == []


def test_a_mail_server_that_is_down_is_said_so(customer, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nothing listens there
    settings.EMAIL_TIMEOUT = 2
    response = Client().post("/customer/password-reset/", {"email": customer.user.email})
    assert response.status_code == 503
    assert "could not be sent" in response.content.decode()
