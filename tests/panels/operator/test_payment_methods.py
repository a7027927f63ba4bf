"""Settings → Payment methods in the Operator Control Panel: admins only; the list with each method's kind; adding
a bank transfer or a connector's method; activating and deactivating; a parent's methods shown but not changed;
another reseller's ids are 404s."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from arrears.core.actors import SYSTEM
from arrears.events.models import Event
from arrears.gateways.services import create_connector, create_payment_method
from arrears.payments.models import PaymentMethod
from arrears.tenants.models import Manager
from tests.factories import ResellerFactory

LIST = "/operator/settings/payment-methods/"


def a_connector(reseller, name: str = "Card Gateway"):
    connector, _ = create_connector(
        reseller,
        name=name,
        url="https://pay.example.net",
        processing_minutes=30,
        currencies=["EUR"],
        actor=SYSTEM,
        now=timezone.now(),
    )
    return connector


def a_method(reseller, name: str, connector=None) -> PaymentMethod:
    return create_payment_method(reseller, name=name, connector=connector, actor=SYSTEM, now=timezone.now())


def rows() -> list[dict]:
    return list(PaymentMethod.objects.order_by("pk").values())


def body_of(response) -> str:
    return response.content.decode()


@pytest.mark.parametrize("role", [Manager.Role.VIEWER, Manager.Role.BILLING_MANAGER])
def test_a_non_admin_is_refused_the_page_and_every_action_and_nothing_changes(reseller, sign_in, role):
    method = a_method(reseller, "Bank transfer")
    client = sign_in(reseller, role)
    before = rows()
    assert client.get(LIST).status_code == 403
    assert client.post(LIST, {"name": "Cash", "kind": "bank_transfer"}).status_code == 403
    assert client.post(f"{LIST}{method.pk}/deactivate/").status_code == 403
    assert client.post(f"{LIST}{method.pk}/activate/").status_code == 403
    assert rows() == before
    navigation = body_of(client.get("/operator/"))
    assert "Payment methods" not in navigation and LIST not in navigation


def test_the_list_names_each_kind_and_state(reseller, sign_in):
    # Given a bank transfer, a connector's method and an inactive one
    connector = a_connector(reseller)
    a_method(reseller, "Bank transfer")
    a_method(reseller, "Card", connector)
    cash = a_method(reseller, "Cash")
    PaymentMethod.objects.filter(pk=cash.pk).update(active=False)
    # When the admin opens the page
    response = sign_in(reseller).get(LIST)
    body = body_of(response)
    # Then each shows its kind in words and its state
    assert response.status_code == 200
    assert "Bank transfer (approved by a manager)" in body and "Connector: Card Gateway" in body
    assert body.count("badge--active") >= 2 and "Inactive" in body
    assert 'aria-label="Deactivate Card"' in body and 'aria-label="Activate Cash"' in body
    # And the create form offers bank transfer and the reseller's connectors
    assert '<option value="bank_transfer">Bank transfer (approved by a manager)</option>' in body
    assert f'<option value="{connector.pk}">Connector: Card Gateway</option>' in body


def test_the_list_says_what_to_do_when_empty(reseller, sign_in):
    body = body_of(sign_in(reseller).get(LIST))
    assert "No payment method yet." in body and "No payment connector yet" in body


def test_adding_a_bank_transfer_and_a_connectors_method(reseller, sign_in):
    connector = a_connector(reseller)
    client = sign_in(reseller)
    response = client.post(LIST, {"name": "Bank transfer", "kind": "bank_transfer"})
    assert response.status_code == 302 and response["Location"] == LIST
    response = client.post(LIST, {"name": "Card", "kind": str(connector.pk)}, follow=True)
    assert "The payment method Card is added: Connector: Card Gateway." in body_of(response)
    methods = list(
        PaymentMethod.objects.filter(reseller=reseller)
        .order_by("id")
        .values_list("name", "kind", "connector_id", "active")
    )
    assert methods == [("Bank transfer", "manual", None, True), ("Card", "gateway", connector.pk, True)]
    assert Event.objects.filter(type="payment_method.created").count() == 2


@pytest.mark.parametrize(
    ("data", "field", "message", "code"),
    [
        ({"name": "", "kind": "bank_transfer"}, "name", "This field is required.", ""),
        (
            {"name": "Bank transfer", "kind": "bank_transfer"},
            "name",
            "Another payment method of this reseller has this name",
            "PAYMENT-0001",
        ),
        ({"name": "Other", "kind": "cheque"}, "kind", "Select a valid choice.", ""),
        ({"name": "Other", "kind": ""}, "kind", "This field is required.", ""),
    ],
)
def test_a_bad_method_is_named_on_its_field_and_changes_nothing(reseller, sign_in, data, field, message, code):
    a_method(reseller, "Bank transfer")
    client = sign_in(reseller)
    before = rows(), Event.objects.count()
    response = client.post(LIST, data)
    assert response.status_code == 400
    body = body_of(response)
    error = body[body.index(f'id="create_{field}-error-1"') :][:400]
    assert message in error and (not code or f"· {code}" in error)
    assert (rows(), Event.objects.count()) == before


def test_deactivating_and_activating_a_method(reseller, sign_in):
    method = a_method(reseller, "Card", a_connector(reseller))
    client = sign_in(reseller)
    body = body_of(client.get(LIST))
    assert 'data-confirm="Deactivate the payment method Card? Customers can no longer choose it' in body
    response = client.post(f"{LIST}{method.pk}/deactivate/", follow=True)
    assert "The payment method Card is inactive." in body_of(response)
    method.refresh_from_db()
    assert method.active is False
    client.post(f"{LIST}{method.pk}/activate/")
    method.refresh_from_db()
    assert method.active is True
    assert list(
        Event.objects.filter(subject_id=method.pk, type__startswith="payment_method.a").values_list("type", flat=True)
    ) == ["payment_method.activated"]
    assert Event.objects.filter(subject_id=method.pk, type="payment_method.deactivated").count() == 1
    # A GET changes nothing
    assert client.get(f"{LIST}{method.pk}/deactivate/").status_code == 302
    method.refresh_from_db()
    assert method.active is True


def test_a_parents_methods_are_shown_but_not_changed_here(sign_in):
    parent = ResellerFactory(name="Parent Co")
    child = ResellerFactory(name="Child Co", parent=parent)
    inherited = a_method(parent, "Parent transfer")
    client = sign_in(child)
    body = body_of(client.get(LIST))
    assert "Parent transfer" in body and "from Parent Co" in body and "Changed by the parent reseller" in body
    assert client.post(f"{LIST}{inherited.pk}/deactivate/").status_code == 404
    inherited.refresh_from_db()
    assert inherited.active is True


def test_another_resellers_ids_are_404s_and_nothing_changes(reseller, sign_in):
    other = ResellerFactory(name="Elsewhere")
    their_connector = a_connector(other, "Their Gateway")
    theirs = a_method(other, "Their card", their_connector)
    client = sign_in(reseller)
    before = rows()
    for action in ("activate", "deactivate"):
        assert client.post(f"{LIST}{theirs.pk}/{action}/").status_code == 404
        assert client.get(f"{LIST}{theirs.pk}/{action}/").status_code == 404
    assert client.post(LIST, {"name": "Sneaky", "kind": str(their_connector.pk)}).status_code == 404
    assert client.post(LIST, {"name": "Sneaky", "kind": "999999"}).status_code == 404
    assert rows() == before
    body = body_of(client.get(LIST))
    assert "Their card" not in body and "Their Gateway" not in body


def test_the_list_takes_a_fixed_number_of_queries(reseller, sign_in):
    client = sign_in(reseller)
    a_method(reseller, "Bank transfer")
    with CaptureQueriesContext(connection) as few:
        assert client.get(LIST).status_code == 200
    for number in range(10):
        a_method(reseller, f"Card {number}", a_connector(reseller, f"Gateway {number}"))
    with CaptureQueriesContext(connection) as many:
        assert client.get(LIST).status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries) <= 10
