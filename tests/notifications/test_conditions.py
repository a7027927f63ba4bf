"""Handler conditions in the reference platform's query syntax: translated to Liquid in one place
(``arrears.notifications.conditions.to_liquid``), used by the services, the CLI and the panel alike."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from arrears.core.liquid import TemplateInvalid, check_condition, condition_holds
from arrears.notifications.catalog import PLACEHOLDERS
from arrears.notifications.conditions import is_reference_syntax, to_liquid
from arrears.notifications.handlers import create_event_handler, update_event_handler
from tests.conftest import MANAGER
from tests.factories import T0, ResellerFactory


@pytest.mark.parametrize(
    ("reference", "liquid"),
    [
        (
            "payment.days_left = 3 AND invoice.has_attached = true",
            "payment.days_left == 3 and invoice.has_attached == true",
        ),
        (
            "payment.days_left = 3 and invoice.has_attached = true",
            "payment.days_left == 3 and invoice.has_attached == true",
        ),
        ('account.email include? "@example.com"', 'account.email contains "@example.com"'),
        ("payment.days_left = 7 OR payment.days_left = 1", "payment.days_left == 7 or payment.days_left == 1"),
        ("payment.days_left = 7 or payment.days_left <= 1", "payment.days_left == 7 or payment.days_left <= 1"),
        (
            "invoice.status != 'open' AND invoice.approved = TRUE",
            "invoice.status != 'open' and invoice.approved == true",
        ),
        ("invoice.approval_date = NULL", "invoice.approval_date == nil"),
        ("payment.days_left > 0 AND payment.days_left < 4", "payment.days_left > 0 and payment.days_left < 4"),
        ("payment.days_left >= -1 AND x = 1", "payment.days_left >= -1 and x == 1"),
        # AND binds tighter than OR: Liquid, which groups from the right, gets the parentheses it needs
        ("a = 1 AND b = 2 OR c = 3", "(a == 1 and b == 2) or c == 3"),
        ("a = 1 OR b = 2 AND c = 3", "a == 1 or b == 2 and c == 3"),
        ("(a = 1 OR b = 2) AND c = 3", "(a == 1 or b == 2) and c == 3"),
        ("a = 1 AND (b = 2 OR c = 3) AND d = 4", "a == 1 and (b == 2 or c == 3) and d == 4"),
        ('account.name = "AND = OR"', 'account.name == "AND = OR"'),  # strings are left alone
    ],
)
def test_a_reference_query_is_translated_to_liquid(reference, liquid):
    assert is_reference_syntax(reference)
    assert to_liquid(reference) == liquid


@pytest.mark.parametrize(
    "liquid",
    [
        "payment.days_left == 3 and invoice.approved",
        "invoice.managed_externally and invoice.external_total",
        'account.email contains "@example.com"',
        "a == 1 and b or c",  # Liquid's own grouping, kept exactly
        "",
    ],
)
def test_a_liquid_condition_is_unchanged(liquid):
    assert not is_reference_syntax(liquid)
    assert to_liquid(liquid) == liquid


@pytest.mark.parametrize(("a", "b", "c"), [(x, y, z) for x in (0, 1) for y in (0, 1) for z in (0, 1)])
def test_the_translation_keeps_and_before_or_whatever_the_values(a, b, c):
    placeholders = {"a": a, "b": b, "c": c}
    known = {"a": None, "b": None, "c": None}
    for reference, meaning in (
        ("a = 1 AND b = 1 OR c = 1", (a and b) or c),
        ("a = 1 OR b = 1 AND c = 1", a or (b and c)),
        ("(a = 1 OR b = 1) AND c = 1", (a or b) and c),
    ):
        checked = check_condition(to_liquid(reference), known)
        assert condition_holds(checked, placeholders) is bool(meaning), reference


@pytest.mark.parametrize(
    "bad",
    [
        "payment.days_left = 3 AND",
        "(payment.days_left = 3 AND invoice.approved = true",
        "payment.days_left = 3 AND invoice.approved = true)",
        "payment.days_left = = 3",
        "payment.days_left = 3 AND # invoice",
        "account.email matches? 'x'",
    ],
)
def test_a_bad_reference_query_is_refused_with_its_code(bad):
    with pytest.raises(TemplateInvalid) as refused:
        to_liquid(bad)
    assert refused.value.code == "TEMPLATE-0001"
    assert refused.value.pointer == "/condition"
    assert refused.value.detail.startswith("line 1: ")


def test_the_services_store_the_liquid_form_and_check_its_placeholders(db):
    reseller = ResellerFactory()
    handler = create_event_handler(
        reseller,
        event="payment.due_date_coming",
        channel="email",
        name="Reminder",
        subject="{{ payment.document_number }}",
        body="{{ payment.total }}",
        condition="payment.days_left = 3 AND invoice.has_attached = true",
        actor=MANAGER,
        now=T0,
    )
    assert handler.condition == "payment.days_left == 3 and invoice.has_attached == true"
    changed = update_event_handler(
        handler, condition="payment.days_left = 1 OR payment.days_left = 0", actor=MANAGER, now=T0
    )
    assert changed.condition == "payment.days_left == 1 or payment.days_left == 0"
    with pytest.raises(TemplateInvalid) as refused:
        update_event_handler(handler, condition="payment.days_lef = 1", actor=MANAGER, now=T0)
    assert "unknown placeholder 'payment.days_lef'" in refused.value.detail
    assert PLACEHOLDERS["payment.due_date_coming"]["payment"]["days_left"] is None


def test_the_cli_accepts_a_reference_query(db):
    reseller = ResellerFactory()
    out = StringIO()
    call_command(
        "handler",
        "create",
        "--reseller",
        str(reseller.pk),
        "--event",
        "invoice.approved",
        "--name",
        "ERP",
        "--subject",
        "{{ invoice.document_number }}",
        "--body",
        "{{ invoice.total }}",
        "--condition",
        'invoice.has_attached = true AND account.email include? "@example.com"',
        stdout=out,
    )
    assert json.loads(out.getvalue())["condition"] == (
        'invoice.has_attached == true and account.email contains "@example.com"'
    )
