"""``arrears handler`` and ``arrears webhook``: event handlers and webhook endpoints from the command line."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from arrears.events.models import Event
from arrears.notifications.catalog import EVENTS_WITHOUT_DEFAULT, NOTIFIABLE_EVENTS
from arrears.notifications.models import EventHandler
from tests.factories import ResellerFactory


def run(*args) -> dict | list:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture
def parent_and_child(db):
    parent = ResellerFactory(name="Partner")
    return parent, ResellerFactory(name="Child", parent=parent)


def test_handler_create_reads_the_body_from_a_file_and_prints_the_handler(parent_and_child, tmp_path):
    parent, _ = parent_and_child
    body = tmp_path / "reminder.liquid"
    body.write_text(
        "Hello {{ account.name }},\npayment {{ payment.document_number }} is due on {{ payment.due_date }}.\n"
    )

    created = run(
        "handler",
        "create",
        "--reseller",
        str(parent.pk),
        "--event",
        "payment.due_date_coming",
        "--name",
        "Reminder a week ahead",
        "--subject",
        "Due in {{ payment.days_left }} days",
        "--body-file",
        str(body),
        "--condition",
        "payment.days_left == 7",
    )

    assert created["reseller_id"] == parent.pk
    assert (created["channel"], created["active"], created["recipients"]) == ("email", True, "{{ account.email }}")
    assert created["body"] == body.read_text()
    assert created["condition"] == "payment.days_left == 7"
    assert Event.objects.filter(type="event_handler.created", subject_id=created["id"]).exists()


def test_handler_create_refuses_an_unknown_placeholder_naming_the_line_and_the_field(parent_and_child):
    parent, _ = parent_and_child

    refusal = r"TEMPLATE-0001: line 2: unknown placeholder 'invoice.numbr' \(field body\)"
    with pytest.raises(CommandError, match=refusal):
        run(
            "handler",
            "create",
            "--reseller",
            str(parent.pk),
            "--event",
            "invoice.approved",
            "--name",
            "Mail",
            "--subject",
            "Invoice",
            "--body",
            "Hello,\n{{ invoice.numbr }}",
        )
    assert not EventHandler.objects.filter(reseller=parent).exists()


def test_handler_list_marks_what_serves_the_reseller_and_set_switches_a_handler_off(parent_and_child):
    parent, child = parent_and_child
    own = run(
        "handler",
        "create",
        "--reseller",
        str(parent.pk),
        "--event",
        "invoice.approved",
        "--name",
        "Mine",
        "--subject",
        "{{ invoice.document_number }}",
        "--body",
        "Approved.",
    )

    listed = run("handler", "list", "--reseller", str(child.pk), "--event", "invoice.approved")

    assert [(row["reseller_id"], row["serves"]) for row in listed] == [(None, False), (parent.pk, True)]
    switched_off = run("handler", "set", str(own["id"]), "--active", "off")
    assert switched_off["active"] is False
    listed = run("handler", "list", "--reseller", str(child.pk), "--event", "invoice.approved")
    assert [(row["reseller_id"], row["serves"]) for row in listed] == [(None, False), (parent.pk, False)]
    # all events are listed without --event: one platform default each, but for the gateway's attempt events
    listed = run("handler", "list", "--reseller", str(child.pk))
    defaults = [row["event"] for row in listed if row["reseller_id"] is None]
    assert sorted(defaults) == sorted(set(NOTIFIABLE_EVENTS) - EVENTS_WITHOUT_DEFAULT) and len(defaults) == 8


def test_webhook_create_prints_the_secret_once_and_a_webhook_handler_uses_the_endpoint(parent_and_child):
    parent, child = parent_and_child

    endpoint = run(
        "webhook",
        "create",
        "--reseller",
        str(parent.pk),
        "--url",
        "https://erp.example.com/hooks",
        "--description",
        "ERP",
    )
    handler = run(
        "handler",
        "create",
        "--reseller",
        str(child.pk),
        "--event",
        "invoice.closed",
        "--channel",
        "webhook",
        "--name",
        "To the ERP",
        "--endpoint",
        str(endpoint["id"]),
    )

    assert endpoint["secret"].startswith("whsec_")
    assert (handler["channel"], handler["endpoint_id"]) == ("webhook", endpoint["id"])
    listed = run("webhook", "list", "--reseller", str(parent.pk))
    assert [row["url"] for row in listed] == ["https://erp.example.com/hooks"]
    assert "secret" not in listed[0]
    with pytest.raises(CommandError, match="HANDLER-0001.*https"):
        run("webhook", "create", "--reseller", str(parent.pk), "--url", "http://erp.example.com/hooks")
