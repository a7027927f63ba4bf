"""The outbox and the fan-out: notifiable events wait in the outbox, dispatch writes one delivery per
(event, handler, recipient) and sends nothing twice (R42, R43)."""

from datetime import date, timedelta

import pytest
from django.core import mail
from django.db import transaction

from arrears.core.actors import SYSTEM
from arrears.events import services as event_services
from arrears.events.catalog import NOTIFIABLE_EVENTS
from arrears.events.dispatch import deliver_due, dispatch_pending_events
from arrears.events.handlers import create_event_handler
from arrears.events.models import Delivery, Event, EventHandler, PendingDispatch
from arrears.events.services import record_event, record_events_in_bulk
from arrears.invoices.models import InvoiceDocument
from arrears.payments.services import top_up_balance
from arrears.tenants.models import Reseller
from tests.conftest import ERP, MANAGER, at
from tests.factories import AccountFactory, ResellerFactory
from tests.service_support import APPROVAL_DAY, approved, closed_erp_invoice, invoice_of

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


# --- the outbox ------------------------------------------------------------------------------------------


def test_a_notifiable_event_waits_in_the_outbox_and_others_do_not(erp_reseller):
    # Given an ERP invoice closed by the billing engine (bulk events)
    invoice = closed_erp_invoice(erp_reseller)
    closed = Event.objects.get(type="invoice.closed", subject_id=invoice.pk)
    opened = Event.objects.get(type="invoice.opened", subject_id=invoice.pk)

    # When the ERP approves it (a single event)
    approved(invoice)

    # Then the notifiable events are in the outbox, the others are not
    approval = Event.objects.get(type="invoice.approved", subject_id=invoice.pk)
    outbox = set(PendingDispatch.objects.values_list("event_id", flat=True))
    assert {closed.pk, approval.pk} <= outbox
    assert opened.pk not in outbox
    assert set(Event.objects.filter(pk__in=outbox).values_list("type", flat=True)) <= set(NOTIFIABLE_EVENTS)


def test_record_event_costs_one_more_insert_and_registers_one_dispatch_per_transaction(
    erp_reseller, django_assert_num_queries, django_capture_on_commit_callbacks
):
    account = AccountFactory(reseller=erp_reseller)
    with django_capture_on_commit_callbacks() as callbacks:
        with transaction.atomic():
            # When a transaction writes several notifiable events, singly and in bulk
            with django_assert_num_queries(2):  # the event and its outbox row; no SELECT
                record_event(
                    "payment.expired",
                    subject=account,
                    reseller_id=erp_reseller.pk,
                    account_id=account.pk,
                    payload={},
                    actor=SYSTEM,
                    now=NOW,
                )
            with django_assert_num_queries(1):
                record_event(
                    "account.updated",
                    subject=account,
                    reseller_id=erp_reseller.pk,
                    account_id=account.pk,
                    payload={},
                    actor=SYSTEM,
                    now=NOW,
                )
            with django_assert_num_queries(2):
                record_events_in_bulk(
                    "payment.expired",
                    "account",
                    [(erp_reseller.pk, account.pk, account.pk, {})] * 3,
                    actor=SYSTEM,
                    now=NOW,
                )

    # Then all four are in the outbox and one dispatch is asked for, after the commit
    assert PendingDispatch.objects.filter(event__type="payment.expired", event__subject_id=account.pk).count() == 4
    assert callbacks == [event_services._enqueue_dispatch]


def test_a_rolled_back_savepoint_drops_its_dispatch_and_the_next_event_asks_again(
    erp_reseller, django_capture_on_commit_callbacks
):
    account = AccountFactory(reseller=erp_reseller)
    with django_capture_on_commit_callbacks() as callbacks:
        with transaction.atomic():
            with pytest.raises(RuntimeError), transaction.atomic():
                record_event(
                    "payment.expired",
                    subject=account,
                    reseller_id=erp_reseller.pk,
                    account_id=account.pk,
                    payload={},
                    actor=SYSTEM,
                    now=NOW,
                )
                raise RuntimeError("rolled back")
            record_event(
                "payment.expired",
                subject=account,
                reseller_id=erp_reseller.pk,
                account_id=account.pk,
                payload={},
                actor=SYSTEM,
                now=NOW,
            )

    assert callbacks == [event_services._enqueue_dispatch]
    assert PendingDispatch.objects.filter(event__subject_id=account.pk, event__type="payment.expired").count() == 1


def test_commits_within_a_second_share_one_scheduled_dispatch(monkeypatch, settings):
    # Given a process whose clock we hold, and a queue that records what is scheduled
    from types import SimpleNamespace

    from arrears.events import tasks

    scheduled = []
    moment = SimpleNamespace(value=1000.0)
    monkeypatch.setattr(settings.HUEY, "immediate", False)
    monkeypatch.setattr(tasks.dispatch_events, "schedule", lambda delay: scheduled.append(delay))
    monkeypatch.setattr(event_services, "time", SimpleNamespace(monotonic=lambda: moment.value))
    monkeypatch.setattr(event_services, "_scheduled_until", 0.0)

    # When three transactions commit within the coalescing window, then one after it
    event_services._enqueue_dispatch()
    moment.value += 0.3
    event_services._enqueue_dispatch()
    moment.value += 0.3
    event_services._enqueue_dispatch()
    first_window = list(scheduled)
    moment.value += 0.3  # 0.1 s before the scheduled dispatch runs: too close to rely on it
    event_services._enqueue_dispatch()

    # Then the first three share one dispatch scheduled a moment ahead, and the late one schedules its own
    assert first_window == [event_services.DISPATCH_COALESCE_SECONDS]
    assert scheduled == [event_services.DISPATCH_COALESCE_SECONDS] * 2


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


def test_dispatching_invoice_events_asks_for_the_invoice_documents(reseller):
    # Given a closed default-mode invoice, its event waiting in the outbox
    invoice = invoice_of(AccountFactory(reseller=reseller))

    # When it is dispatched
    dispatch_pending_events(now=NOW)

    # Then its standard PDF is due for rendering
    document = InvoiceDocument.objects.get(invoice=invoice)
    assert document.rendered_version < document.version
