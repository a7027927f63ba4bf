"""Managers act on invoices and payments from the command line through the same services."""

import io
import json
from datetime import date

import pytest
from django.core.management import CommandError, call_command

from arrears.core.actors import SYSTEM
from arrears.events.models import Event
from arrears.payments.models import Payment
from arrears.tenants.models import Manager
from arrears.tenants.services import create_manager
from tests.conftest import bill, closed_invoice
from tests.factories import T0, AccountFactory, ResellerFactory, SubscriptionFactory


def run(*args) -> dict | list:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture
def erp_setup(db):
    reseller = ResellerFactory(erp=True)
    manager = create_manager(reseller=reseller, email="billing@erp.example", actor=SYSTEM, now=T0)
    account = AccountFactory(reseller=reseller, balance=50_000)
    SubscriptionFactory(account=account, fee=12_000, start_date=date(2026, 1, 1))
    bill(reseller, date(2026, 2, 2))
    return reseller, manager, closed_invoice(account)


def test_invoice_list_filters_unapproved_erp_invoices(erp_setup):
    reseller, _, invoice = erp_setup

    listed = run("invoice", "list", "--reseller", str(reseller.pk), "--approved", "no")

    assert [row["id"] for row in listed] == [invoice.pk]
    assert listed[0]["payment"]["due_date"] is None


def test_R13_R27_manager_approves_then_completes_from_the_cli(erp_setup):
    _, manager, invoice = erp_setup

    approved = run(
        "invoice",
        "approve",
        str(invoice.pk),
        "--manager",
        manager.user.email,
        "--document-id",
        "ERP-1",
        "--billing-date",
        "2026-01-01",
        "--due-date",
        "2099-01-31",
    )
    completed = run(
        "invoice",
        "complete",
        str(invoice.pk),
        "--manager",
        manager.user.email,
        "--document-id",
        "ERP-1",
        "--billing-date",
        "2026-01-01",
    )

    assert approved["approved"] is True and approved["document_id"] == "ERP-1"
    assert approved["payment"]["due_date"] == "2099-01-31"
    assert completed["payment"]["status"] == Payment.Status.COMPLETED
    event = Event.objects.get(type="invoice.approved", subject_id=invoice.pk)
    assert (event.actor_kind, event.actor_label) == ("manager", "billing@erp.example")


def test_R47_cli_errors_carry_the_code_and_the_field(erp_setup):
    _, manager, invoice = erp_setup

    with pytest.raises(CommandError, match="INVOICE-0005.*billing_date"):
        run(
            "invoice",
            "approve",
            str(invoice.pk),
            "--manager",
            manager.user.email,
            "--document-id",
            "ERP-1",
            "--billing-date",
            "2026-02-01",
        )


def test_a_manager_cannot_reach_another_resellers_invoice(erp_setup):
    _, _, invoice = erp_setup
    stranger = create_manager(reseller=ResellerFactory(), email="other@elsewhere.example", actor=SYSTEM, now=T0)

    with pytest.raises(CommandError, match=f"invoice {invoice.pk} does not exist"):
        run(
            "invoice",
            "approve",
            str(invoice.pk),
            "--manager",
            stranger.user.email,
            "--document-id",
            "X",
            "--billing-date",
            "2026-01-01",
        )


def test_top_up_then_cancel_an_unapproved_erp_payment(erp_setup):
    _, manager, invoice = erp_setup

    top_up = run(
        "payment", "top-up", "--account", str(invoice.account_id), "--amount", "25.50", "--manager", manager.user.email
    )
    cancelled = run(
        "payment",
        "cancel",
        str(invoice.payment.pk),
        "--manager",
        manager.user.email,
        "--comment",
        "ERP will never bill this",
    )

    assert top_up["total"] == "25.50" and top_up["status"] == Payment.Status.COMPLETED
    assert cancelled["status"] == Payment.Status.CANCELLED


def test_R8_pay_from_balance_of_an_unapproved_erp_payment_is_refused(erp_setup):
    _, manager, invoice = erp_setup

    with pytest.raises(CommandError, match="PAYMENT-0102"):
        run("payment", "pay-from-balance", str(invoice.payment.pk), "--manager", manager.user.email)


@pytest.mark.parametrize(
    "command",
    [
        ("invoice", "approve", "{invoice}", "--document-id", "V-1", "--billing-date", "2026-01-01"),
        ("payment", "cancel", "{payment}"),
        ("payment", "pay-from-balance", "{payment}"),
        ("payment", "top-up", "--account", "{account}", "--amount", "10.00"),
    ],
    ids=["approve", "cancel", "pay-from-balance", "top-up"],
)
def test_a_viewer_is_refused_every_action_from_the_cli_as_in_the_panel(erp_setup, command):
    reseller, _, invoice = erp_setup
    viewer = create_manager(
        reseller=reseller, email="viewer@erp.example", role=Manager.Role.VIEWER, actor=SYSTEM, now=T0
    )
    ids = {"invoice": invoice.pk, "payment": invoice.payment.pk, "account": invoice.account_id}
    events_before = Event.objects.count()

    with pytest.raises(CommandError, match="viewer@erp.example .*may not do this"):
        run(*(part.format(**ids) for part in command), "--manager", viewer.user.email)

    assert Event.objects.count() == events_before
    invoice.refresh_from_db()
    assert invoice.approved is False and invoice.payment.status == Payment.Status.WAITING_FOR_PAYMENT


def test_a_deactivated_manager_is_refused_from_the_cli(erp_setup):
    _, manager, invoice = erp_setup
    manager.user.is_active = False
    manager.user.save(update_fields=["is_active"])

    with pytest.raises(CommandError, match="deactivated"):
        run(
            "invoice",
            "approve",
            str(invoice.pk),
            "--manager",
            manager.user.email,
            "--document-id",
            "D-1",
            "--billing-date",
            "2026-01-01",
        )
    assert Event.objects.filter(type="invoice.approved").count() == 0
