"""The outbox: events of a type something subscribed to wait in it, written in the transaction of the change;
one dispatch is asked for per transaction; a dispatch hands each subscriber the events of its types."""

import pytest
from django.db import transaction

from arrears.core.actors import SYSTEM
from arrears.events import outbox
from arrears.events import services as event_services
from arrears.events.models import Event, PendingDispatch
from arrears.events.outbox import dispatch_pending_events
from arrears.events.services import record_event, record_events_in_bulk
from arrears.invoices.models import InvoiceDocument
from arrears.notifications.catalog import NOTIFIABLE_EVENTS
from tests.conftest import at
from tests.factories import AccountFactory
from tests.service_support import APPROVAL_DAY, approved, closed_erp_invoice, invoice_of

NOW = at(APPROVAL_DAY)


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


# --- the subscribers ------------------------------------------------------------------------------------------


@pytest.fixture
def listener():
    """A subscriber of its own event type, which records what it is handed and for which resellers it reacts."""
    handed: list[list[int]] = []
    reacting_for: set[int] = set()
    outbox.subscribe(
        "test listener",
        ["test.happened"],
        lambda events, *, now: handed.append([event.pk for event in events]),
        reacts_for=lambda reseller_id, event_type: reseller_id in reacting_for,
    )
    yield handed, reacting_for
    outbox.unsubscribe("test listener")


def record(account, event_type: str) -> int:
    return record_event(
        event_type,
        subject=account,
        reseller_id=account.reseller_id,
        account_id=account.pk,
        payload={},
        actor=SYSTEM,
        now=NOW,
    )


def test_an_event_type_is_queued_once_something_subscribes_to_it_and_handed_to_that_subscriber(reseller, listener):
    handed, _ = listener
    account = AccountFactory(reseller=reseller)
    # Given an event nobody reacts to, and one of the listener's type
    unheard = record(account, "test.unheard")
    heard = record(account, "test.happened")

    # Then only the listener's is in the outbox
    assert not PendingDispatch.objects.filter(event_id=unheard).exists()
    assert PendingDispatch.objects.filter(event_id=heard).exists()

    # When the outbox is dispatched, the listener gets exactly its event, and the outbox is empty
    dispatch_pending_events(now=NOW)
    assert handed == [[heard]]
    assert not PendingDispatch.objects.exists()


def test_a_subscriber_that_fails_leaves_its_batch_in_the_outbox(reseller):
    def failing(events, *, now):
        raise RuntimeError("the receiving side is broken")

    outbox.subscribe("failing", ["test.happened"], failing)
    try:
        event_id = record(AccountFactory(reseller=reseller), "test.happened")
        with pytest.raises(RuntimeError):
            dispatch_pending_events(now=NOW)
    finally:
        outbox.unsubscribe("failing")

    # Then the event waits for the next dispatch
    assert PendingDispatch.objects.filter(event_id=event_id).exists()


def test_anyone_reacts_to_asks_the_subscribers_of_the_type(reseller, listener):
    _, reacting_for = listener
    assert not outbox.anyone_reacts_to(reseller.pk, "test.happened")
    reacting_for.add(reseller.pk)
    assert outbox.anyone_reacts_to(reseller.pk, "test.happened")
    assert not outbox.anyone_reacts_to(reseller.pk, "test.unheard")


def test_subscribing_again_under_the_same_name_replaces_the_subscriber(reseller, listener):
    handed, _ = listener
    replaced: list[int] = []
    outbox.subscribe("test listener", ["test.happened"], lambda events, *, now: replaced.extend(e.pk for e in events))
    event_id = record(AccountFactory(reseller=reseller), "test.happened")

    dispatch_pending_events(now=NOW)

    assert handed == [] and replaced == [event_id]


def test_dispatching_invoice_events_asks_for_the_invoice_documents(reseller):
    # Given a closed default-mode invoice, its event waiting in the outbox
    invoice = invoice_of(AccountFactory(reseller=reseller))

    # When it is dispatched
    dispatch_pending_events(now=NOW)

    # Then its standard PDF is due for rendering
    document = InvoiceDocument.objects.get(invoice=invoice)
    assert document.rendered_version < document.version
