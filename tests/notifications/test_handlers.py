"""R42, R43: event handlers — which serve a reseller, what they render, and how they are validated when saved."""

import base64
from datetime import date

import pytest

from arrears.core.errors import ArrearsError
from arrears.core.liquid import TemplateRenderFailed, check_template
from arrears.events.models import Event
from arrears.invoices.services import revoke_invoice_approval
from arrears.notifications.catalog import EVENTS_WITHOUT_DEFAULT, MANAGER_EVENTS, NOTIFIABLE_EVENTS, PLACEHOLDERS
from arrears.notifications.handlers import (
    condition_holds_for,
    create_event_handler,
    create_webhook_endpoint,
    handlers_for,
    message_for,
    update_event_handler,
)
from arrears.notifications.models import EventHandler
from arrears.notifications.placeholders import placeholders_for
from tests.conftest import ERP, MANAGER, at, bill
from tests.factories import T0, AccountFactory, ResellerFactory, SubscriptionFactory
from tests.service_support import APPROVAL_DAY, approved, invoice_of

SUBJECT = "Invoice {{ invoice.document_number }}"
BODY = "Hello {{ account.name }},\nyour total is {{ invoice.total }}."


def email_handler(reseller, event="invoice.closed", **fields):
    fields = {"channel": "email", "name": "Mail", "subject": SUBJECT, "body": BODY, **fields}
    return create_event_handler(reseller, event=event, actor=MANAGER, now=T0, **fields)


def platform_default(event: str) -> EventHandler:
    return EventHandler.objects.get(reseller=None, event=event, channel="email")


@pytest.fixture
def tree(db):
    """Operator O with a child P, whose child is G."""
    operator = ResellerFactory(name="Operator")
    parent = ResellerFactory(name="Partner", parent=operator)
    return operator, parent, ResellerFactory(name="Grandchild", parent=parent)


# --- R43: which handlers serve a reseller -------------------------------------------------------------


def test_R43_a_reseller_without_handlers_of_its_own_is_served_by_the_platform_default(tree):
    _, _, grandchild = tree
    assert handlers_for(grandchild.pk, "invoice.approved") == [platform_default("invoice.approved")]


def test_R43_an_ancestors_handler_replaces_the_default_for_its_whole_subtree(tree):
    operator, parent, grandchild = tree
    # Given the partner's own e-mail handler for closed invoices
    own = email_handler(parent)

    # Then it serves the partner and its child, while the operator keeps the default
    assert handlers_for(grandchild.pk, "invoice.closed") == [own]
    assert handlers_for(parent.pk, "invoice.closed") == [own]
    assert handlers_for(operator.pk, "invoice.closed") == [platform_default("invoice.closed")]
    # and other events keep their defaults
    assert handlers_for(grandchild.pk, "payment.expired") == [platform_default("payment.expired")]


def test_R43_the_nearest_level_wins_and_an_inactive_handler_switches_the_inherited_one_off(tree):
    operator, parent, grandchild = tree
    # Given the operator's handler, and the partner's own handler switched off
    operator_handler = email_handler(operator)
    email_handler(parent, active=False)

    # Then nobody mails the partner's subtree, and the operator's handler still serves the operator
    assert handlers_for(parent.pk, "invoice.closed") == []
    assert handlers_for(grandchild.pk, "invoice.closed") == []
    assert handlers_for(operator.pk, "invoice.closed") == [operator_handler]


def test_R43_channels_are_resolved_separately_and_a_level_may_have_several_handlers(tree):
    operator, parent, grandchild = tree
    # Given the operator's webhook and the grandchild's two e-mail handlers
    endpoint = create_webhook_endpoint(operator, url="https://erp.example.com/hooks", actor=MANAGER, now=T0)
    webhook = create_event_handler(
        operator, event="invoice.closed", channel="webhook", name="ERP feed", endpoint=endpoint, actor=MANAGER, now=T0
    )
    to_customer = email_handler(grandchild)
    to_accounting = email_handler(grandchild, recipients="accounting@example.com")

    # Then the grandchild gets its own mails and the inherited webhook
    assert handlers_for(grandchild.pk, "invoice.closed") == [webhook, to_customer, to_accounting]
    # and the partner the default mail and the webhook
    assert handlers_for(parent.pk, "invoice.closed") == [platform_default("invoice.closed"), webhook]


# --- rendering -----------------------------------------------------------------------------------------


@pytest.fixture
def closed_placeholders(reseller):
    account = AccountFactory(reseller=reseller, name="Ada", email="ada@example.com")
    invoice = invoice_of(account)
    event = Event.objects.get(type="invoice.closed", subject_id=invoice.pk)
    return placeholders_for([event], now=at(date(2026, 2, 2)))[event.pk]


def test_message_renders_subject_body_and_the_recipients_split_deduplicated_and_checked(reseller, closed_placeholders):
    handler = email_handler(
        reseller, recipients="{{ account.email }}, billing@example.com;\n{{ account.email }} not-an-address"
    )

    message = message_for(handler, closed_placeholders)

    assert message.recipients == ["ada@example.com", "billing@example.com"]
    assert message.subject == "Invoice INV00000001"
    assert message.body == "Hello Ada,\nyour total is 100.00."


def test_rendering_is_strict_a_placeholder_missing_at_render_time_is_an_error(reseller, closed_placeholders):
    handler = email_handler(reseller)
    del closed_placeholders["invoice"]["document_number"]

    with pytest.raises(TemplateRenderFailed):
        message_for(handler, closed_placeholders)


def test_the_condition_decides_and_an_empty_condition_always_holds(reseller, closed_placeholders):
    assert condition_holds_for(email_handler(reseller), closed_placeholders)
    assert condition_holds_for(email_handler(reseller, condition='invoice.total == "100.00"'), closed_placeholders)
    assert not condition_holds_for(email_handler(reseller, condition="invoice.approved"), closed_placeholders)


# --- validation when saved -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "source", "line", "name"),
    [
        ("body", "Hello {{ account.name }},\n\nyour invoice {{ invoice.numbr }} is ready.", 3, "invoice.numbr"),
        ("subject", "Invoice {{ invoce.document_number }}", 1, "invoce"),
        ("body", "Hello,\n{% if invoice.approved %}\napproved\n", 2, None),  # unclosed block: the line opening it
        ("body", "Hello,\nline two\n{{ invoice.total | no_such_filter }}", 3, "no_such_filter"),
        ("recipients", "{{ account.mail }}", 1, "account.mail"),
    ],
)
def test_a_template_with_an_unknown_placeholder_or_a_syntax_error_is_refused_with_the_line(
    reseller, field, source, line, name
):
    with pytest.raises(ArrearsError) as refused:
        email_handler(reseller, **{field: source})

    assert refused.value.code == "TEMPLATE-0001"
    assert refused.value.line == line
    assert refused.value.name == name
    assert refused.value.pointer == f"/{field}"
    assert f"line {line}" in refused.value.detail
    assert not EventHandler.objects.filter(reseller=reseller).exists()


def test_placeholders_are_checked_against_the_event_payment_placeholders_on_an_invoice_event_are_refused(reseller):
    with pytest.raises(ArrearsError) as refused:
        email_handler(reseller, event="invoice.approved", body="Due in {{ payment.days_left }} days")
    assert (refused.value.code, refused.value.name) == ("TEMPLATE-0001", "payment")

    email_handler(reseller, event="payment.due_date_coming", body="Due in {{ payment.days_left }} days")


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        ({"event": "invoice.paid"}, "/event"),
        ({"channel": "sms"}, "/channel"),
        ({"name": "  "}, "/name"),
        ({"subject": ""}, "/subject"),
        ({"recipients": " "}, "/recipients"),
        ({"condition": "payment.days_left == 3"}, "/condition"),  # no payment on an invoice event
        ({"condition": "{{ invoice.approved }}"}, "/condition"),
        ({"condition": "invoice.approved and"}, "/condition"),
        ({"channel": "webhook"}, "/endpoint"),
    ],
)
def test_invalid_handler_fields_are_refused_naming_the_field(reseller, fields, pointer):
    with pytest.raises(ArrearsError) as refused:
        email_handler(reseller, **fields)

    assert refused.value.code in ("HANDLER-0001", "TEMPLATE-0001")
    assert refused.value.pointer == pointer
    assert not EventHandler.objects.filter(reseller=reseller).exists()


def test_a_webhook_handler_needs_an_endpoint_of_its_reseller_or_an_ancestor(tree):
    operator, parent, grandchild = tree
    sibling = ResellerFactory(name="Sibling", parent=operator)
    parents_endpoint = create_webhook_endpoint(parent, url="https://hooks.example.com/p", actor=MANAGER, now=T0)

    handler = create_event_handler(
        grandchild,
        event="payment.received",
        channel="webhook",
        name="Feed",
        endpoint=parents_endpoint,
        condition='payment.status == "completed"',
        actor=MANAGER,
        now=T0,
    )
    assert (handler.endpoint, handler.recipients, handler.subject, handler.body) == (parents_endpoint, "", "", "")

    with pytest.raises(ArrearsError) as refused:
        create_event_handler(
            sibling,
            event="payment.received",
            channel="webhook",
            name="Feed",
            endpoint=parents_endpoint,
            actor=MANAGER,
            now=T0,
        )
    assert (refused.value.code, refused.value.pointer) == ("HANDLER-0001", "/endpoint")
    with pytest.raises(ArrearsError) as refused:
        email_handler(parent, endpoint=parents_endpoint)
    assert (refused.value.code, refused.value.pointer) == ("HANDLER-0001", "/endpoint")


def test_creating_and_changing_a_handler_records_events(reseller):
    handler = email_handler(reseller)

    changed = update_event_handler(
        handler, active=False, subject="New {{ invoice.document_number }}", actor=MANAGER, now=at(date(2026, 1, 2))
    )

    assert (changed.active, changed.subject, changed.updated_at) == (
        False,
        "New {{ invoice.document_number }}",
        at(date(2026, 1, 2)),
    )
    created, updated = Event.objects.filter(subject_type="eventhandler", subject_id=handler.pk).order_by("id")
    assert created.type == "event_handler.created"
    assert created.payload["subject"] == SUBJECT
    assert updated.type == "event_handler.updated"
    assert updated.payload["changes"] == {
        "active": [True, False],
        "subject": [SUBJECT, "New {{ invoice.document_number }}"],
    }
    assert (updated.actor_kind, updated.actor_label) == ("manager", MANAGER.label)


def test_a_change_is_validated_like_a_creation_and_the_platform_defaults_are_read_only(reseller):
    handler = email_handler(reseller)

    with pytest.raises(ArrearsError) as refused:
        update_event_handler(handler, body="{{ invoice.nope }}", actor=MANAGER, now=T0)
    assert (refused.value.code, refused.value.pointer, refused.value.line) == ("TEMPLATE-0001", "/body", 1)
    with pytest.raises(ArrearsError) as refused:
        update_event_handler(handler, reseller=None, actor=MANAGER, now=T0)
    assert refused.value.code == "HANDLER-0001"
    with pytest.raises(ArrearsError) as refused:
        update_event_handler(platform_default("invoice.closed"), active=False, actor=MANAGER, now=T0)
    assert refused.value.code == "HANDLER-0002"
    handler.refresh_from_db()
    assert handler.body == BODY


# --- webhook endpoints -------------------------------------------------------------------------------


def test_a_webhook_endpoint_gets_a_standard_webhooks_secret_which_its_event_does_not_record(reseller):
    endpoint = create_webhook_endpoint(
        reseller, url="https://erp.example.com/hooks", description="ERP", actor=MANAGER, now=T0
    )

    assert endpoint.secret.startswith("whsec_")
    assert len(base64.b64decode(endpoint.secret.removeprefix("whsec_"))) == 24
    event = Event.objects.get(type="webhook_endpoint.created", subject_id=endpoint.pk)
    assert event.payload == {"url": "https://erp.example.com/hooks", "description": "ERP"}
    assert endpoint.secret not in str(event.payload)


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://erp.example.com/hooks", True),
        ("http://127.0.0.1:8123/hooks", True),
        ("http://localhost:8123/hooks", True),
        ("http://erp.example.com/hooks", False),
        ("ftp://erp.example.com/hooks", False),
        ("not a url", False),
    ],
)
def test_webhook_urls_must_be_https_except_on_loopback(reseller, url, accepted):
    if accepted:
        assert create_webhook_endpoint(reseller, url=url, actor=MANAGER, now=T0).url == url
    else:
        with pytest.raises(ArrearsError) as refused:
            create_webhook_endpoint(reseller, url=url, actor=MANAGER, now=T0)
        assert (refused.value.code, refused.value.pointer) == ("HANDLER-0001", "/url")


# --- the defaults that ship -----------------------------------------------------------------------------


def test_every_event_has_a_default_email_to_the_customer_or_the_managers_that_passes_the_template_check(db):
    defaults = {handler.event: handler for handler in EventHandler.objects.filter(reseller=None)}
    # The gateway's attempt events are notifiable but send nothing unless a reseller attaches a handler
    assert EVENTS_WITHOUT_DEFAULT == {"payment.attempt_started", "payment.attempt_ended"}
    assert set(defaults) == set(NOTIFIABLE_EVENTS) - EVENTS_WITHOUT_DEFAULT
    assert MANAGER_EVENTS == {"payment.duplicate_success"}
    for event, handler in defaults.items():
        recipients = "{{ reseller.manager_emails }}" if event in MANAGER_EVENTS else "{{ account.email }}"
        assert (handler.channel, handler.active, handler.recipients) == ("email", True, recipients)
        for source in (handler.recipients, handler.subject, handler.body):
            check_template(source, PLACEHOLDERS[event])
    assert defaults["payment.due_date_coming"].condition == "payment.days_left == 3"
    assert defaults["billing_day.coming"].condition == "billing_day_left == 3"


def test_the_defaults_render_friendly_mail_from_real_events(erp_reseller):
    # Given an ERP account through approval, revoke, re-approval, reminders, expiry and a top-up, and another
    # account whose billing day 15 comes
    account = AccountFactory(reseller=erp_reseller, name="Ada Lovelace", email="ada@example.com", balance=2_500)
    other = AccountFactory(reseller=erp_reseller, name="Grace Hopper", email="grace@example.com")
    SubscriptionFactory(account=other, billing_day=15, start_date=date(2026, 1, 31))
    invoice = invoice_of(account)
    approval = {
        "due_date": date(2026, 2, 10),
        "amount": {"total": "123.45", "currency": "USD"},
        "link": {"name": "ERP-1.pdf", "data": "https://erp.example.com/ERP-1.pdf"},
    }
    approved(invoice, **approval)
    revoke_invoice_approval(
        invoice, document_id="ERP-1", billing_date=invoice.billing_date, actor=ERP, now=at(APPROVAL_DAY, 13)
    )
    approved(invoice, **approval)
    bill(erp_reseller, date(2026, 2, 12))
    events = list(Event.objects.filter(reseller=erp_reseller, type__in=list(NOTIFIABLE_EVENTS)))
    placeholders = placeholders_for(events, now=at(date(2026, 2, 12)))

    # When every default renders its events
    mails = {}
    for event in events:
        handler = platform_default(event.type)
        if condition_holds_for(handler, placeholders[event.pk]):
            mails.setdefault(event.type, []).append(message_for(handler, placeholders[event.pk]))

    # Then each event type that should mail did, to the customer, in plain words with the values filled in (no
    # gateway was used: tests/notifications/test_gateway_notifications.py has its events)
    customer_events = set(NOTIFIABLE_EVENTS) - MANAGER_EVENTS - EVENTS_WITHOUT_DEFAULT
    assert set(mails) == customer_events - {"invoice.closed"}  # ERP mode: the ERP issues the invoice
    assert all("{{" not in mail.body + mail.subject for sent in mails.values() for mail in sent)
    [billing_day] = mails.pop("billing_day.coming")
    assert billing_day.recipients == ["grace@example.com"]
    assert billing_day.subject == "Your billing day is in 3 days"
    assert billing_day.body.startswith("Hello Grace Hopper,") and "2026-02-15" in billing_day.body
    assert all(mail.recipients == ["ada@example.com"] for sent in mails.values() for mail in sent)
    assert all(mail.body.startswith("Hello Ada Lovelace,") for sent in mails.values() for mail in sent)
    approval_mail = mails["invoice.approved"][0]
    assert approval_mail.subject == f"Your invoice ERP-1 from {erp_reseller.name}"
    assert "Total: 123.45 USD" in approval_mail.body
    assert "Please pay by: 2026-02-10" in approval_mail.body
    assert "https://erp.example.com/ERP-1.pdf" in approval_mail.body
    [reminder] = mails["payment.due_date_coming"]  # only days_left == 3 mails
    assert reminder.subject.endswith("is due in 3 days")
    assert "is due on 2026-02-10" in reminder.body and "123.45 USD" in reminder.body
    assert mails["invoice.revoked"][0].subject == "Your invoice INV00000001 is being corrected"
    assert mails["payment.expired"][0].subject.endswith("is overdue")
    assert "Thank you: we received payment" in mails["payment.received"][0].subject


def test_the_default_closed_invoice_mail_goes_out_in_default_mode(reseller):
    account = AccountFactory(reseller=reseller, name="Ada", email="ada@example.com")
    invoice = invoice_of(account)
    event = Event.objects.get(type="invoice.closed", subject_id=invoice.pk)
    values = placeholders_for([event], now=at(date(2026, 2, 2)))[event.pk]
    handler = platform_default("invoice.closed")

    assert condition_holds_for(handler, values)
    mail = message_for(handler, values)
    assert mail.subject == f"Your invoice INV00000001 from {reseller.name}"
    assert "Total: 100.00 EUR\nPlease pay by: 2026-02-11" in mail.body
