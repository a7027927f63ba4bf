"""The fan-out: the outbox hands the notifiable events over, and the dispatch writes one delivery per
(event, handler, recipient) and sends nothing twice (R42, R43). The outbox itself: tests/events/test_outbox.py."""

from datetime import date, timedelta

from django.core import mail

from arrears.events.models import Event, PendingDispatch
from arrears.events.outbox import dispatch_pending_events
from arrears.notifications.handlers import create_event_handler
from arrears.notifications.models import Delivery, EventHandler
from arrears.notifications.sending import deliver_due
from arrears.payments.services import top_up_balance
from arrears.tenants.models import Reseller
from tests.conftest import ERP, MANAGER, at
from tests.factories import AccountFactory, ResellerFactory
from tests.service_support import APPROVAL_DAY, approved, closed_erp_invoice

NOW = at(APPROVAL_DAY)


def dispatch_and_send(now=NOW) -> None:
    dispatch_pending_events(now=now)
    deliver_due(now=now)


def own_handler(reseller: Reseller, event: str = "payment.received", **fields) -> EventHandler:
    fields = {
        "channel": "email",
        "name": "ours",
        "subject": "Paid: {{ payment.total }}",
        "body": "Thanks, {{ account.name }}",
    } | fields
    return create_event_handler(reseller, event=event, actor=MANAGER, now=NOW, **fields)


def mails_to(address: str) -> list:
    return [message for message in mail.outbox if message.to == [address]]


# --- fan-out ---------------------------------------------------------------------------------------------


def test_dispatching_twice_sends_nothing_twice(erp_reseller):
    # Given an approved invoice whose events were dispatched and sent
    invoice = approved(closed_erp_invoice(erp_reseller, email="ann@example.com"))
    dispatch_and_send()
    sent = Delivery.objects.count()
    assert len(mails_to("ann@example.com")) == 1  # the default "approved" mail; "closed" is not for ERP mode
    approval = Event.objects.get(type="invoice.approved", subject_id=invoice.pk)

    # When the approval is dispatched again (as after a lost task) and the sweep runs twice more
    PendingDispatch.objects.create(event=approval)
    dispatch_and_send()
    dispatch_and_send(NOW + timedelta(days=2))

    # Then nothing new was written or sent
    assert Delivery.objects.count() == sent
    assert len(mails_to("ann@example.com")) == 1
    assert not PendingDispatch.objects.exists()


def test_the_default_approval_mail_renders_the_invoice(erp_reseller):
    invoice = approved(
        closed_erp_invoice(erp_reseller, email="ann@example.com", name="Ann's Shop"),
        document_id="NS-77",
        due_date=date(2026, 2, 20),
    )

    dispatch_and_send()

    [message] = mails_to("ann@example.com")
    assert message.subject == f"Your invoice NS-77 from {erp_reseller.name}"
    assert "Hello Ann's Shop" in message.body
    assert "Please pay by: 2026-02-20" in message.body
    delivery = Delivery.objects.get(event__type="invoice.approved", event__subject_id=invoice.pk)
    assert (delivery.status, delivery.attempts, delivery.log.count()) == ("sent", 1, 1)


def test_a_condition_that_does_not_hold_sends_nothing(reseller):
    # Given a handler for large payments only
    own_handler(reseller, condition='payment.total == "500.00"')
    big, small = AccountFactory(reseller=reseller), AccountFactory(reseller=reseller)

    # When two top-ups are received
    top_up_balance(big, 50_000, actor=MANAGER, now=NOW)
    top_up_balance(small, 10_000, actor=MANAGER, now=NOW)
    dispatch_and_send()

    # Then only the large one is announced, by the reseller's handler in place of the platform default
    assert [m.to for m in mail.outbox] == [[big.email]]
    assert mail.outbox[0].subject == "Paid: 500.00"


def test_R43_a_sub_reseller_inherits_its_parents_handler_and_can_switch_it_off(reseller):
    # Given a parent handler, a child without one and a child with an inactive one of its own
    own_handler(reseller, subject="From the parent")
    inheriting = ResellerFactory(parent=reseller)
    opted_out = ResellerFactory(parent=reseller)
    own_handler(opted_out, active=False)
    accounts = [AccountFactory(reseller=owner) for owner in (reseller, inheriting, opted_out)]

    for account in accounts:
        top_up_balance(account, 1_000, actor=MANAGER, now=NOW)
    dispatch_and_send()

    # Then the parent's handler serves itself and the inheriting child; the opted-out child gets no mail at all
    assert sorted(m.to[0] for m in mail.outbox) == sorted(a.email for a in accounts[:2])
    assert {m.subject for m in mail.outbox} == {"From the parent"}


def test_a_template_that_fails_to_render_makes_a_failed_delivery_and_the_batch_goes_on(reseller):
    # Given a handler that names the invoice, which a top-up payment does not have
    own_handler(reseller, body="For invoice {{ invoice.document_number }}")
    own_handler(reseller, event="payment.expired")  # an unrelated handler, to show nothing else is affected
    first, second = AccountFactory(reseller=reseller), AccountFactory(reseller=reseller)
    top_up_balance(first, 1_000, actor=MANAGER, now=NOW)
    top_up_balance(second, 1_000, actor=MANAGER, now=NOW)

    # When the batch is dispatched
    assert dispatch_pending_events(now=NOW) >= 2

    # Then each event has one failed delivery carrying the error, nothing is sent, the outbox is empty
    failed = Delivery.objects.filter(event__type="payment.received")
    assert [d.status for d in failed] == ["failed", "failed"]
    assert all("invoice" in d.last_error for d in failed)
    assert deliver_due(now=NOW) == 0
    assert mail.outbox == []
    assert not PendingDispatch.objects.exists()


def test_an_account_without_an_e_mail_address_gets_no_delivery(reseller):
    account = AccountFactory(reseller=reseller, email="")
    top_up_balance(account, 1_000, actor=ERP, now=NOW)

    dispatch_and_send()

    assert not Delivery.objects.filter(event__account_id=account.pk).exists()
