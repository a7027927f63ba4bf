"""Settings → Payment connectors in the Operator Control Panel: admins only; the list; adding and editing a
connector with each field's error where it belongs and nothing changed; the shared secret shown once after it is
generated and never again; rotation with two secrets for 24 hours and ending it; another reseller's id is a 404."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from arrears.core.actors import SYSTEM
from arrears.events.models import Event
from arrears.gateways.models import PaymentConnector
from arrears.gateways.protocol import secrets_accepted
from arrears.gateways.services import create_connector, rotate_connector_secret
from arrears.tenants.models import Manager
from tests.factories import T0, ResellerFactory

SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]{20,}")
LIST = "/operator/settings/payment-connectors/"
ADD = "/operator/settings/payment-connectors/add/"
GOOD = {
    "name": "Card Gateway",
    "url": "https://pay.example.net/arrears",
    "processing_minutes": "30",
    "currencies": "eur, USD GBP",
    "active": "on",
}


def a_connector(reseller, name: str = "Card Gateway", **fields) -> tuple[PaymentConnector, str]:
    options = {"url": "https://pay.example.net/arrears", "processing_minutes": 30, "currencies": ["EUR"], **fields}
    return create_connector(reseller, name=name, **options, actor=SYSTEM, now=timezone.now())


def detail(connector) -> str:
    return f"/operator/settings/payment-connectors/{connector.pk}/"


def rows() -> list[dict]:
    return list(PaymentConnector.objects.order_by("pk").values())


def body_of(response) -> str:
    return response.content.decode()


def secret_in(response) -> str:
    match = SECRET.search(body_of(response))
    assert match, "no secret on the page"
    return match.group(0)


# --- Who may --------------------------------------------------------------------------------------------------


def test_an_anonymous_visit_goes_to_the_sign_in_page(client):
    response = client.get(LIST)
    assert response.status_code == 302 and response["Location"].startswith(f"/operator/login/?next={LIST}")


@pytest.mark.parametrize("role", [Manager.Role.VIEWER, Manager.Role.BILLING_MANAGER])
def test_a_non_admin_is_refused_every_page_and_action_and_nothing_changes(reseller, sign_in, role):
    # Given a connector and a signed-in manager who is not an admin
    connector, _ = a_connector(reseller)
    client = sign_in(reseller, role)
    before = rows()
    # Then neither the pages nor the actions are theirs
    for url in (LIST, ADD, detail(connector), f"{detail(connector)}secret/"):
        assert client.get(url).status_code == 403, url
    assert client.post(ADD, GOOD).status_code == 403
    assert client.post(detail(connector), {**GOOD, "name": "Renamed"}).status_code == 403
    assert client.post(f"{detail(connector)}rotate-secret/").status_code == 403
    assert client.post(f"{detail(connector)}end-rotation/").status_code == 403
    assert rows() == before
    # And the sidebar does not offer the page
    navigation = body_of(client.get("/operator/"))
    assert "Payment connectors" not in navigation and LIST not in navigation


def test_an_admin_finds_both_pages_under_settings(reseller, sign_in):
    navigation = body_of(sign_in(reseller).get("/operator/"))
    settings = navigation[navigation.index(">Settings<") :]
    assert 'href="/operator/settings/payment-connectors/">Payment connectors<' in settings
    assert 'href="/operator/settings/payment-methods/">Payment methods<' in settings


# --- The list -------------------------------------------------------------------------------------------------


def test_the_list_shows_name_url_currencies_period_state_and_rotation(reseller, sign_in):
    # Given an active connector in rotation, and an inactive one
    rotating, _ = a_connector(reseller, "Card Gateway", currencies=["EUR", "USD"], processing_minutes=45)
    rotating, new_secret = rotate_connector_secret(rotating, actor=SYSTEM, now=timezone.now())
    idle, first_secret = a_connector(reseller, "Wallet", url="https://wallet.example.org", processing_minutes=1)
    PaymentConnector.objects.filter(pk=idle.pk).update(active=False)
    # When the admin opens the list
    response = sign_in(reseller).get(LIST)
    body = body_of(response)
    # Then both are there with their settings
    assert response.status_code == 200
    assert "Card Gateway" in body and "https://pay.example.net/arrears" in body and "45 minutes" in body
    assert "Wallet" in body and "https://wallet.example.org" in body and "1 minute<" in body
    assert ">EUR<" in body and ">USD<" in body
    assert "Inactive" in body and "Active" in body
    assert "Rotating" in body and "previous valid until" in body and "One secret" in body
    assert f'href="{detail(rotating)}"' in body
    # And no secret at all
    assert new_secret not in body and first_secret not in body and not SECRET.search(body)


def test_the_list_says_what_to_do_when_there_is_no_connector(reseller, sign_in):
    body = body_of(sign_in(reseller).get(LIST))
    assert "No payment connector yet." in body and "Add connector" in body


def test_the_list_takes_a_fixed_number_of_queries(reseller, sign_in):
    client = sign_in(reseller)
    a_connector(reseller, "One")
    with CaptureQueriesContext(connection) as few:
        assert client.get(LIST).status_code == 200
    for number in range(12):
        a_connector(reseller, f"Gateway {number}")
    with CaptureQueriesContext(connection) as many:
        assert client.get(LIST).status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries) <= 10


# --- Create ---------------------------------------------------------------------------------------------------


def test_adding_a_connector_shows_its_secret_once_and_never_again(reseller, sign_in):
    # Given an admin
    client = sign_in(reseller)
    assert client.get(ADD).status_code == 200
    # When they add a connector
    response = client.post(ADD, GOOD)
    # Then it is stored with the settings typed (codes upper-cased) and an event
    connector = PaymentConnector.objects.get()
    assert (
        connector.reseller_id,
        connector.name,
        connector.url,
        connector.processing_minutes,
        connector.currencies,
        connector.active,
    ) == (reseller.pk, "Card Gateway", "https://pay.example.net/arrears", 30, ["EUR", "USD", "GBP"], True)
    assert Event.objects.filter(type="payment_connector.created", subject_id=connector.pk).count() == 1
    # And the browser goes to the secret's one display, which shows it with a warning and is not cached
    assert response.status_code == 302 and response["Location"] == f"{detail(connector)}secret/"
    shown = client.get(response["Location"])
    assert shown.status_code == 200 and shown["Cache-Control"] == "no-store"
    assert secret_in(shown) == connector.secret
    assert "Copy it now" in body_of(shown) and "shown this once" in body_of(shown)
    assert f"/connectors/{connector.pk}/callback" in body_of(shown)
    # And no later page shows it: not the same address again, not the connector, not the list
    again = client.get(f"{detail(connector)}secret/", follow=True)
    assert "shown once, right after it is generated" in body_of(again)
    for later in (again, client.get(detail(connector)), client.get(LIST), client.get(ADD)):
        assert connector.secret not in body_of(later) and not SECRET.search(body_of(later))


def test_a_connector_can_be_added_switched_off(reseller, sign_in):
    client = sign_in(reseller)
    response = client.post(ADD, {**GOOD, "active": ""})
    assert response.status_code == 302
    connector = PaymentConnector.objects.get()
    assert connector.active is False
    assert secret_in(client.get(response["Location"])) == connector.secret


@pytest.mark.parametrize(
    ("field", "value", "message", "code"),
    [
        ("name", "", "This field is required.", ""),
        ("name", "   ", "This field is required.", ""),
        ("url", "ftp://pay.example.net", "Url must be an http or https URL", "CONNECTOR-0004"),
        ("url", "https://pay.example.net/?key=1", "without query or fragment", "CONNECTOR-0004"),
        (
            "processing_minutes",
            "0",
            "The period for payment processing is a whole number of minutes from 1 to",
            "CONNECTOR-0004",
        ),
        ("processing_minutes", "10081", "The period for payment processing is a whole number", "CONNECTOR-0004"),
        ("processing_minutes", "half an hour", "Enter a whole number.", ""),
        ("currencies", "", "This field is required.", ""),
        ("currencies", "EUR, EURO", "is not an ISO 4217 currency code", "CONNECTOR-0004"),
        ("currencies", "EUR XXY", "is not an ISO 4217 currency code", "CONNECTOR-0004"),
    ],
)
def test_a_bad_field_is_named_under_it_keeps_what_was_typed_and_changes_nothing(
    reseller, sign_in, field, value, message, code
):
    client = sign_in(reseller)
    before = rows(), Event.objects.count()
    response = client.post(ADD, {**GOOD, field: value})
    assert response.status_code == 400
    body = body_of(response)
    assert f'id="id_{field}-error-1"' in body, "the error is not under its field"
    error = body[body.index(f'id="id_{field}-error-1"') :]
    assert message in error[:400]
    if code:
        assert f"· {code}" in error[:400]
    assert 'value="Card Gateway"' in body or field == "name"  # the form keeps what was typed
    assert (rows(), Event.objects.count()) == before
    assert not SECRET.search(body)


def test_a_name_taken_in_the_reseller_is_refused_on_the_name(reseller, sign_in):
    a_connector(reseller, "Card Gateway")
    client = sign_in(reseller)
    before = rows()
    response = client.post(ADD, {**GOOD, "name": "card gateway"})
    assert response.status_code == 400
    body = body_of(response)
    assert 'id="id_name-error-1"' in body and "Another connector of this reseller has this name" in body
    assert rows() == before


# --- Edit -----------------------------------------------------------------------------------------------------


def test_editing_a_connector_saves_every_field_and_records_the_change(reseller, sign_in):
    connector, secret = a_connector(reseller)
    client = sign_in(reseller)
    page = body_of(client.get(detail(connector)))
    assert 'value="Card Gateway"' in page and 'value="EUR"' in page and 'value="30"' in page
    assert secret not in page and f"/connectors/{connector.pk}/callback" in page
    response = client.post(
        detail(connector),
        {
            "name": "Cards",
            "url": "https://cards.example.net/",
            "processing_minutes": "90",
            "currencies": "USD,EUR",
            "active": "",
        },
    )
    assert response.status_code == 302 and response["Location"] == detail(connector)
    connector.refresh_from_db()
    assert (
        connector.name,
        connector.url,
        connector.processing_minutes,
        connector.currencies,
        connector.active,
        connector.secret,
    ) == ("Cards", "https://cards.example.net", 90, ["USD", "EUR"], False, secret)
    assert Event.objects.filter(type="payment_connector.updated", subject_id=connector.pk).count() == 1
    assert "The connector Cards is saved." in body_of(client.get(detail(connector)))


def test_a_bad_edit_is_named_on_its_field_and_changes_nothing(reseller, sign_in):
    connector, _ = a_connector(reseller)
    a_connector(reseller, "Wallet")
    client = sign_in(reseller)
    before = rows(), Event.objects.count()
    for field, value, message in (
        ("currencies", "EUR, ZZZ", "&#x27;ZZZ&#x27; is not an ISO 4217 currency code"),
        ("name", "Wallet", "Another connector of this reseller has this name"),
        ("url", "pay.example.net", "Url must be an http or https URL"),
    ):
        response = client.post(detail(connector), {**GOOD, field: value})
        assert response.status_code == 400
        body = body_of(response)
        assert message in body[body.index(f'id="id_{field}-error-1"') :][:300], field
    assert (rows(), Event.objects.count()) == before


# --- The secret: rotation -------------------------------------------------------------------------------------


def test_rotating_shows_the_new_secret_once_and_both_are_valid_for_24_hours(reseller, sign_in):
    # Given a connector whose secret the connector uses
    connector, old_secret = a_connector(reseller)
    client = sign_in(reseller)
    page = body_of(client.get(detail(connector)))
    assert "Rotate secret" in page and 'data-confirm="Rotate the secret of Card Gateway?' in page
    assert "End rotation" not in page
    # When the admin rotates it
    response = client.post(f"{detail(connector)}rotate-secret/")
    # Then the new secret is shown once and the page says both are valid for 24 hours
    assert response.status_code == 302 and response["Location"] == f"{detail(connector)}secret/"
    shown = client.get(response["Location"])
    connector.refresh_from_db()
    new_secret = secret_in(shown)
    assert new_secret == connector.secret != old_secret
    assert "Both the new and the previous secret are valid for 24 hours" in body_of(shown)
    assert old_secret not in body_of(shown)
    assert connector.previous_secret == old_secret
    now = timezone.now()
    assert timedelta(hours=23, minutes=59) < connector.previous_secret_valid_until - now <= timedelta(hours=24)
    assert secrets_accepted(connector, now=now) == [new_secret, old_secret]
    # And the connector's page shows the rotation and offers to end it, without either secret
    page = body_of(client.get(detail(connector)))
    assert "Rotation in progress" in page and "End rotation" in page
    assert new_secret not in page and old_secret not in page
    assert new_secret not in body_of(client.get(f"{detail(connector)}secret/", follow=True))
    assert "Rotating" in body_of(client.get(LIST))


def test_a_get_of_an_action_changes_nothing(reseller, sign_in):
    connector, _ = a_connector(reseller)
    client = sign_in(reseller)
    before = rows()
    assert client.get(f"{detail(connector)}rotate-secret/").status_code == 302
    assert client.get(f"{detail(connector)}end-rotation/").status_code == 302
    assert rows() == before


def test_ending_the_rotation_accepts_the_new_secret_only(reseller, sign_in):
    connector, old_secret = a_connector(reseller)
    connector, new_secret = rotate_connector_secret(connector, actor=SYSTEM, now=timezone.now())
    client = sign_in(reseller)
    response = client.post(f"{detail(connector)}end-rotation/", follow=True)
    assert "The rotation is ended" in body_of(response)
    connector.refresh_from_db()
    assert connector.previous_secret == "" and connector.previous_secret_valid_until is None
    assert secrets_accepted(connector, now=timezone.now()) == [new_secret]
    assert "Rotation in progress" not in body_of(client.get(detail(connector)))
    # Ending it again says there is none and changes nothing
    before = rows()
    again = client.post(f"{detail(connector)}end-rotation/", follow=True)
    assert "No rotation is in progress. · CONNECTOR-0004" in body_of(again)
    assert rows() == before


def test_a_rotation_past_its_24_hours_is_not_shown_as_one(reseller, sign_in):
    connector, _ = a_connector(reseller)
    rotate_connector_secret(connector, actor=SYSTEM, now=T0)  # long ago
    body = body_of(sign_in(reseller).get(detail(connector)))
    assert "Rotation in progress" not in body and "End rotation" not in body


# --- Tenancy --------------------------------------------------------------------------------------------------


def test_another_resellers_connector_is_a_404_everywhere_and_nothing_changes(reseller, sign_in):
    other = ResellerFactory(name="Elsewhere")
    theirs, secret = a_connector(other, "Their Gateway")
    client = sign_in(reseller)
    before = rows()
    for suffix in ("", "secret/", "rotate-secret/", "end-rotation/"):
        assert client.get(f"{detail(theirs)}{suffix}").status_code == 404, suffix
        assert client.post(f"{detail(theirs)}{suffix}", GOOD).status_code == 404, suffix
    assert client.get("/operator/settings/payment-connectors/999999/").status_code == 404
    assert rows() == before
    assert "Their Gateway" not in body_of(client.get(LIST))


def test_a_secret_waiting_for_one_connector_is_not_shown_on_anothers_page(reseller, sign_in):
    client = sign_in(reseller)
    first = client.post(ADD, GOOD)
    second, _ = a_connector(reseller, "Wallet")
    response = client.get(f"{detail(second)}secret/", follow=True)
    assert not SECRET.search(body_of(response))
    # … and it still waits for its own page
    assert secret_in(client.get(first["Location"])) == PaymentConnector.objects.get(name="Card Gateway").secret


def test_rotating_during_a_rotation_warns_that_the_oldest_secret_stops_at_once(reseller, sign_in):
    connector, _ = a_connector(reseller)
    rotate_connector_secret(connector, actor=SYSTEM, now=timezone.now())
    body = body_of(sign_in(reseller).get(detail(connector)))
    assert "A rotation is in progress: the secret before the current one stops being accepted at once." in body
