"""The event handlers pages of the Operator Control Panel: the list (own, inherited, platform default), the
editor, preview on a real invoice or payment, Send test, enable and disable."""

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from arrears.events.models import Event
from arrears.invoices.models import Invoice
from arrears.notifications.handlers import create_event_handler, create_webhook_endpoint, handlers_for
from arrears.notifications.models import Delivery, EventHandler
from arrears.notifications.selectors import handler_overview
from arrears.tenants.models import Manager
from tests.conftest import MANAGER
from tests.factories import T0, ResellerFactory
from tests.panels.conftest import billed_account

SUBJECT = "Invoice {{ invoice.document_number }}"
BODY = "Hello {{ account.name }},\nyour total is {{ invoice.total }}."


def own_handler(reseller, event="invoice.closed", **fields):
    fields = {"channel": "email", "name": "Own mail", "subject": SUBJECT, "body": BODY, **fields}
    return create_event_handler(reseller, event=event, actor=MANAGER, now=T0, **fields)


def form(**changes) -> dict:
    data = {
        "event": "invoice.closed",
        "channel": "email",
        "name": "Closed, ERP style",
        "recipients": "{{ account.email }}",
        "subject": SUBJECT,
        "body": BODY,
        "condition": "",
        "active": "on",
        "endpoint": "",
        "handler_id": "",
    }
    return {**data, **changes}


@pytest.fixture
def family(db):
    """A parent reseller with a handler for closed invoices, and its child with a billed account."""
    parent = ResellerFactory(name="Parent Cloud")
    child = ResellerFactory(name="Child Hosting", parent=parent)
    inherited = own_handler(parent, name="Parent's closed mail")
    return {"parent": parent, "child": child, "inherited": inherited, "account": billed_account(child)}


def platform_default(event: str) -> EventHandler:
    return EventHandler.objects.get(reseller=None, event=event, channel="email")


# --- the list ------------------------------------------------------------------------------------------------


def test_the_list_marks_own_inherited_and_default_handlers_with_the_reference_event_names(family, sign_in):
    # Given the child's own handler for approved invoices, the parent's for closed ones, defaults elsewhere
    own = own_handler(family["child"], event="invoice.approved", name="Child's approval mail")
    client = sign_in(family["child"], Manager.Role.VIEWER)

    # When the child's manager opens the list
    response = client.get("/operator/event-handlers/")

    # Then every event is there by the reference's name, and each handler says where it comes from
    assert response.status_code == 200
    body = response.content.decode()
    for label in (
        "Invoice closed",
        "The Invoice was approved",
        "The Invoice was revoked",
        "Payment due date is coming",
        "Payment has been received",
        "Payment expired",
        "Billing day for account&#x27;s subscription has come",
    ):
        assert label in body
    assert "Child&#x27;s approval mail" in body and "badge--own" in body
    assert "Parent&#x27;s closed mail" in body and "from Parent Cloud" in body
    assert 'badge--default">Platform default' in body
    rows = {row.handler.pk: row for rows in handler_overview(family["child"]).values() for row in rows}
    assert rows[own.pk].origin == "own" and rows[own.pk].serving
    assert rows[family["inherited"].pk].origin == "inherited" and rows[family["inherited"].pk].serving
    # the default for closed invoices is replaced by the parent's handler; the approval default by the own one
    assert not rows[platform_default("invoice.closed").pk].in_force
    assert not rows[platform_default("invoice.approved").pk].in_force
    assert rows[platform_default("payment.expired").pk].serving
    # and a viewer sees no buttons
    assert "Disable</button>" not in body and "New event handler" not in body


def test_the_list_never_shows_a_siblings_handlers(family, sign_in):
    sibling = ResellerFactory(name="Sibling", parent=family["parent"])
    own_handler(sibling, name="Sibling's secret mail")
    body = sign_in(family["child"]).get("/operator/event-handlers/").content.decode()
    assert "Sibling&#x27;s secret mail" not in body


def test_the_list_filters_by_event_and_channel_in_the_url(family, sign_in):
    body = sign_in(family["child"]).get("/operator/event-handlers/?event=invoice.closed&channel=webhook")
    assert [group["event"] for group in body.context["groups"]] == ["invoice.closed"]
    assert "No handler matches these filters." in body.content.decode()


def test_the_query_count_of_the_list_does_not_grow_with_the_number_of_handlers(family, sign_in):
    client = sign_in(family["child"])
    counts = []
    for extra in (2, 20):
        for index in range(extra):
            own_handler(
                family["child"],
                event="payment.expired",
                name=f"Extra {extra}-{index}",
                subject="{{ payment.document_number }}",
                body="{{ payment.total }}",
            )
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/operator/event-handlers/").status_code == 200
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]


# --- enable and disable --------------------------------------------------------------------------------------


def test_disabling_an_inherited_handler_creates_an_inactive_own_one_and_the_reseller_no_longer_gets_it(family, sign_in):
    client = sign_in(family["child"], Manager.Role.BILLING_MANAGER)
    inherited = family["inherited"]
    assert handlers_for(family["child"].pk, "invoice.closed") == [inherited]

    response = client.post(f"/operator/event-handlers/{inherited.pk}/disable/")

    assert response.status_code == 302
    copy = EventHandler.objects.get(reseller=family["child"], event="invoice.closed")
    assert (copy.active, copy.subject, copy.body) == (False, inherited.subject, inherited.body)
    assert handlers_for(family["child"].pk, "invoice.closed") == []
    # the parent still sends it, and the inherited handler itself is unchanged
    assert handlers_for(family["parent"].pk, "invoice.closed") == [inherited]
    assert EventHandler.objects.get(pk=inherited.pk).active is True
    # enabling the copy sends the same message from the child's level
    assert client.post(f"/operator/event-handlers/{copy.pk}/enable/").status_code == 302
    assert handlers_for(family["child"].pk, "invoice.closed") == [EventHandler.objects.get(pk=copy.pk)]


def test_disabling_a_platform_default_switches_it_off_for_the_reseller_only(family, sign_in):
    client = sign_in(family["child"], Manager.Role.BILLING_MANAGER)
    default = platform_default("payment.expired")
    assert client.post(f"/operator/event-handlers/{default.pk}/disable/").status_code == 302
    assert handlers_for(family["child"].pk, "payment.expired") == []
    assert handlers_for(family["parent"].pk, "payment.expired") == [default]
    assert EventHandler.objects.get(pk=default.pk).active is True


def test_disabling_and_enabling_an_own_handler(family, sign_in):
    client = sign_in(family["child"], Manager.Role.BILLING_MANAGER)
    own = own_handler(family["child"])
    assert client.post(f"/operator/event-handlers/{own.pk}/disable/").status_code == 302
    assert EventHandler.objects.get(pk=own.pk).active is False
    assert EventHandler.objects.filter(reseller=family["child"]).count() == 1
    assert client.post(f"/operator/event-handlers/{own.pk}/enable/").status_code == 302
    assert EventHandler.objects.get(pk=own.pk).active is True


def test_a_viewer_is_refused_every_handler_action_and_nothing_changes(family, sign_in):
    client = sign_in(family["child"], Manager.Role.VIEWER)
    own = own_handler(family["child"])
    before = list(EventHandler.objects.order_by("id").values_list("id", "active", "name", "subject"))
    events = Event.objects.count()
    assert client.get("/operator/event-handlers/new/").status_code == 403
    assert client.post("/operator/event-handlers/new/", form()).status_code == 403
    assert client.post(f"/operator/event-handlers/{own.pk}/", form(name="Changed")).status_code == 403
    assert client.post(f"/operator/event-handlers/{own.pk}/disable/").status_code == 403
    assert client.post(f"/operator/event-handlers/{family['inherited'].pk}/disable/").status_code == 403
    assert client.post(f"/operator/event-handlers/{own.pk}/enable/").status_code == 403
    assert client.post("/operator/event-handlers/send-test/", form(test_to="x@example.com")).status_code == 403
    assert list(EventHandler.objects.order_by("id").values_list("id", "active", "name", "subject")) == before
    assert Event.objects.count() == events
    assert mail.outbox == []
    # a viewer may read the handler page, without a save button
    page = client.get(f"/operator/event-handlers/{own.pk}/")
    assert page.status_code == 200 and ">Save</button>" not in page.content.decode()


# --- the editor ------------------------------------------------------------------------------------------------


def test_creating_a_handler_with_a_reference_syntax_condition(family, sign_in):
    client = sign_in(family["child"], Manager.Role.BILLING_MANAGER)
    response = client.post(
        "/operator/event-handlers/new/",
        form(condition='invoice.has_attached = true AND account.email include? "@example.com"'),
    )
    assert response.status_code == 302
    handler = EventHandler.objects.get(reseller=family["child"], name="Closed, ERP style")
    assert response["Location"] == f"/operator/event-handlers/{handler.pk}/"
    assert handler.condition == 'invoice.has_attached == true and account.email contains "@example.com"'
    assert handlers_for(family["child"].pk, "invoice.closed") == [handler]


@pytest.mark.parametrize(
    ("changes", "field", "code", "text"),
    [
        (
            {"body": "Hello\n{{ account.name }}\nNumber {{ invoice.numbr }}"},
            "body",
            "TEMPLATE-0001",
            "Line 3: unknown placeholder &#x27;invoice.numbr&#x27;",
        ),
        ({"subject": "{{ invoice.total | shout }}"}, "subject", "TEMPLATE-0001", "unknown filter"),
        ({"condition": "payment.days_left = 3"}, "condition", "TEMPLATE-0001", "unknown placeholder"),
        (
            {"condition": "invoice.approved = true AND (invoice.has_attached = true"},
            "condition",
            "TEMPLATE-0001",
            "is not closed",
        ),
        ({"recipients": "{{ account.mail }}"}, "recipients", "TEMPLATE-0001", "account.mail"),
        ({"subject": ""}, "subject", "HANDLER-0001", "needs subject"),
        ({"channel": "webhook"}, "endpoint", "HANDLER-0001", "needs an endpoint"),
        ({"name": ""}, "name", "required", "required"),
    ],
    ids=[
        "placeholder-line-3",
        "filter",
        "condition-placeholder",
        "unclosed-paren",
        "recipients",
        "no-subject",
        "webhook-without-endpoint",
        "no-name",
    ],
)
def test_a_refused_handler_shows_the_error_on_its_field_and_nothing_is_created(
    family, sign_in, changes, field, code, text
):
    client = sign_in(family["child"], Manager.Role.BILLING_MANAGER)
    handlers, events = EventHandler.objects.count(), Event.objects.count()

    response = client.post("/operator/event-handlers/new/", form(**changes))

    assert response.status_code == 400
    errors = response.context["form"].errors.as_data()
    assert [error.code for error in errors[field]] == [code]
    body = response.content.decode()
    assert text in body
    if code != "required":
        assert f"· {code}" in body
    assert (EventHandler.objects.count(), Event.objects.count()) == (handlers, events)


def test_editing_an_own_handler(family, sign_in):
    client = sign_in(family["child"], Manager.Role.BILLING_MANAGER)
    own = own_handler(family["child"])
    page = client.get(f"/operator/event-handlers/{own.pk}/")
    assert page.status_code == 200 and "invoice.document_number" in page.content.decode()
    response = client.post(
        f"/operator/event-handlers/{own.pk}/", form(name="Renamed", active="", handler_id=str(own.pk))
    )
    assert response.status_code == 302
    own.refresh_from_db()
    assert (own.name, own.active) == ("Renamed", False)


def test_a_bad_edit_changes_nothing(family, sign_in):
    client = sign_in(family["child"], Manager.Role.BILLING_MANAGER)
    own = own_handler(family["child"])
    response = client.post(f"/operator/event-handlers/{own.pk}/", form(body="{{ invoice.numbr }}"))
    assert response.status_code == 400
    assert response.context["form"].errors.as_data()["body"][0].code == "TEMPLATE-0001"
    assert EventHandler.objects.get(pk=own.pk).body == BODY


def test_an_inherited_default_or_foreign_handler_answers_404_on_the_editor(family, sign_in):
    client = sign_in(family["child"])
    sibling = ResellerFactory(name="Sibling", parent=family["parent"])
    foreign = own_handler(sibling, name="Sibling's")
    for handler in (family["inherited"], platform_default("invoice.closed"), foreign):
        assert client.get(f"/operator/event-handlers/{handler.pk}/").status_code == 404
        assert client.post(f"/operator/event-handlers/{handler.pk}/", form(name="Hijacked")).status_code == 404
        assert client.post(f"/operator/event-handlers/{handler.pk}/enable/").status_code == 404
    # a sibling's handler cannot be disabled from here either, nor previewed as "the edited handler"
    assert client.post(f"/operator/event-handlers/{foreign.pk}/disable/").status_code == 404
    assert client.post("/operator/event-handlers/preview/", form(handler_id=str(foreign.pk))).status_code == 404
    assert EventHandler.objects.get(pk=foreign.pk).name == "Sibling's"
    assert not EventHandler.objects.filter(reseller=family["child"]).exists()


# --- preview and Send test -------------------------------------------------------------------------------------


def latest_closed_invoice(account) -> Invoice:
    return Invoice.objects.filter(account=account, status="closed").order_by("-id").first()


def test_the_preview_renders_on_a_real_invoice_and_says_whether_the_condition_holds(family, sign_in):
    client = sign_in(family["child"], Manager.Role.BILLING_MANAGER)
    invoice = latest_closed_invoice(family["account"])

    response = client.post(
        "/operator/event-handlers/preview/", form(condition='invoice.total = "0.00"'), headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert f"Invoice {invoice.document_id}" in body
    assert f"Hello {family['account'].name}," in body and "your total is 144.00." in body
    assert "Condition does not hold" in body
    assert "<html" not in body  # a fragment
    # and the same invoice chosen explicitly, with a condition that holds, without htmx: the whole page
    response = client.post(
        "/operator/event-handlers/preview/", form(condition='invoice.total == "144.00"', preview_on=str(invoice.pk))
    )
    assert response.status_code == 200
    assert "Condition holds" in response.content.decode() and "<html" in response.content.decode()


def test_the_preview_shows_template_errors_with_their_line(family, sign_in):
    client = sign_in(family["child"], Manager.Role.BILLING_MANAGER)
    response = client.post(
        "/operator/event-handlers/preview/", form(body="a\nb\n{{ invoice.numbr }}"), headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Line 3: unknown placeholder &#x27;invoice.numbr&#x27;" in body and "TEMPLATE-0001" in body


def test_the_preview_of_a_payment_event_renders_on_a_real_payment(family, sign_in):
    client = sign_in(family["child"], Manager.Role.BILLING_MANAGER)
    response = client.post(
        "/operator/event-handlers/preview/",
        form(
            event="payment.due_date_coming",
            subject="Pay {{ payment.document_number }}",
            body="{{ payment.total }}",
            condition='payment.days_left >= 0 OR payment.status = "waiting_for_payment"',
        ),
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Pay " in body and "144.00" in body
    assert "Condition holds" in body


def test_the_preview_refuses_a_foreign_invoice_quietly_and_uses_the_latest_own_one(erp_world, sign_in):
    client = sign_in(erp_world["a"], Manager.Role.BILLING_MANAGER)
    foreign = latest_closed_invoice(erp_world["account_b"])
    response = client.post(
        "/operator/event-handlers/preview/", form(preview_on=str(foreign.pk)), headers={"HX-Request": "true"}
    )
    body = response.content.decode()
    assert (
        foreign.document_id not in body
        or foreign.document_id == latest_closed_invoice(erp_world["account_a"]).document_id
    )
    assert erp_world["account_a"].name in body


def test_send_test_sends_the_rendered_mail_to_the_given_address_without_a_delivery(family, sign_in):
    client = sign_in(family["child"], Manager.Role.BILLING_MANAGER)
    invoice = latest_closed_invoice(family["account"])
    deliveries, events = Delivery.objects.count(), Event.objects.count()

    response = client.post("/operator/event-handlers/send-test/", form(test_to="qa@example.com"))

    assert response.status_code == 200
    assert "A test of “Closed, ERP style” was sent to qa@example.com." in response.content.decode()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["qa@example.com"]
    assert message.subject == f"[Test] Invoice {invoice.document_id}"
    assert "your total is 144.00." in message.body
    assert message.extra_headers["Auto-Submitted"] == "auto-generated"
    assert (Delivery.objects.count(), Event.objects.count()) == (deliveries, events)
    assert not EventHandler.objects.filter(reseller=family["child"]).exists()


def test_send_test_defaults_to_the_managers_address(family, sign_in):
    client = sign_in(family["child"], Manager.Role.BILLING_MANAGER)
    response = client.post("/operator/event-handlers/send-test/", form(), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert mail.outbox[0].to == [client.manager.user.email]
    assert f"Sent to {client.manager.user.email}" in response.content.decode()


def test_send_test_of_a_bad_template_sends_nothing(family, sign_in):
    client = sign_in(family["child"], Manager.Role.BILLING_MANAGER)
    response = client.post("/operator/event-handlers/send-test/", form(subject="{{ invoice.numbr }}"))
    assert response.status_code == 400
    assert response.context["form"].errors.as_data()["subject"][0].code == "TEMPLATE-0001"
    assert mail.outbox == []


def test_send_test_is_for_e_mail_handlers_only(family, sign_in):
    client = sign_in(family["child"], Manager.Role.BILLING_MANAGER)
    endpoint = create_webhook_endpoint(family["child"], url="https://erp.example.com/hooks", actor=MANAGER, now=T0)
    response = client.post("/operator/event-handlers/send-test/", form(channel="webhook", endpoint=str(endpoint.pk)))
    assert response.status_code == 400
    assert response.context["form"].errors.as_data()["test_to"][0].code == "HANDLER-0001"
    assert mail.outbox == []
