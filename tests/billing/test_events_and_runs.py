"""R45 and §3: every change the engine makes writes an event row stamped with the system actor and
the business time of the billed day; every billed day leaves one ``BillingRun`` with its counts."""

from datetime import UTC, date, datetime

import pytest

from arrears.billing.engine import last_billed_date, run_billing
from arrears.billing.models import BillingRun
from arrears.charges.models import Charge
from arrears.core import clock
from arrears.core.actors import Actor
from arrears.events.models import Event
from arrears.invoices.models import Invoice
from arrears.invoices.services import post_usage_charge
from arrears.payments.models import Payment
from tests.billing.helpers import business_time, events
from tests.conftest import at, bill
from tests.factories import ResellerFactory

ENGINE_EVENTS = (
    "invoice.opened",
    "charge.created",
    "charges.closed",
    "invoice.closed",
    "payment.created",
    "payment.received",
    "payment.expired",
    "subscription.blocked",
    "subscription.unblocked",
)


@pytest.fixture
def berlin_reseller(db):
    return ResellerFactory(timezone="Europe/Berlin")


def test_R45_every_engine_change_writes_an_event_with_subject_and_system_actor(
    berlin_reseller, make_account, make_subscription
):
    reseller = berlin_reseller
    # Given a paying account and a non-paying account (5-day terms, no grace)
    payer = make_account(reseller=reseller, expiration_days=5, balance=10_000)
    debtor = make_account(reseller=reseller, expiration_days=5)
    make_subscription(account=payer, fee=10_000, billing_day=1, start_date=date(2026, 1, 1))
    debtor_subscription = make_subscription(account=debtor, fee=8_000, billing_day=1, start_date=date(2026, 1, 1))
    setup_events = Event.objects.count()

    # When January is billed through the debtor's expiry on 7 February
    bill(reseller, date(2026, 2, 7))

    # Then the engine wrote exactly these events, all as the system, at the start of the billed day
    jan_payer, jan_debtor = Invoice.objects.filter(billing_date=date(2026, 1, 1), reseller=reseller).order_by("id")
    feb_payer, feb_debtor = Invoice.objects.filter(billing_date=date(2026, 2, 1), reseller=reseller).order_by("id")
    charges = list(Charge.objects.filter(reseller=reseller).order_by("id"))
    payer_payment, debtor_payment = Payment.objects.filter(reseller=reseller, type="rendered_services").order_by("id")
    day = {d: business_time(reseller, d) for d in clock.date_range(date(2026, 1, 1), date(2026, 2, 7))}
    expected = [
        ("invoice.opened", "invoice", jan_payer.pk, payer.pk, day[date(2026, 1, 1)]),
        ("invoice.opened", "invoice", jan_debtor.pk, debtor.pk, day[date(2026, 1, 1)]),
        ("charge.created", "charge", charges[0].pk, payer.pk, day[date(2026, 1, 1)]),
        ("charge.created", "charge", charges[1].pk, debtor.pk, day[date(2026, 1, 1)]),
        ("invoice.opened", "invoice", feb_payer.pk, payer.pk, day[date(2026, 2, 1)]),
        ("invoice.opened", "invoice", feb_debtor.pk, debtor.pk, day[date(2026, 2, 1)]),
        ("charge.created", "charge", charges[2].pk, payer.pk, day[date(2026, 2, 1)]),
        ("charge.created", "charge", charges[3].pk, debtor.pk, day[date(2026, 2, 1)]),
        ("charges.closed", "invoice", jan_payer.pk, payer.pk, day[date(2026, 2, 1)]),
        ("charges.closed", "invoice", jan_debtor.pk, debtor.pk, day[date(2026, 2, 1)]),
        ("invoice.closed", "invoice", jan_payer.pk, payer.pk, day[date(2026, 2, 2)]),
        ("invoice.closed", "invoice", jan_debtor.pk, debtor.pk, day[date(2026, 2, 2)]),
        ("payment.created", "payment", payer_payment.pk, payer.pk, day[date(2026, 2, 2)]),
        ("payment.created", "payment", debtor_payment.pk, debtor.pk, day[date(2026, 2, 2)]),
        ("payment.received", "payment", payer_payment.pk, payer.pk, day[date(2026, 2, 6)]),
        ("payment.expired", "payment", debtor_payment.pk, debtor.pk, day[date(2026, 2, 7)]),
        ("subscription.blocked", "subscription", debtor_subscription.pk, debtor.pk, day[date(2026, 2, 7)]),
    ]
    # (the daily announcements of due dates and billing days are checked in tests/billing/test_reminders.py)
    written = (
        Event.objects.filter(reseller=reseller)
        .exclude(type__in=["payment.due_date_coming", "billing_day.coming"])
        .order_by("id")[setup_events:]
    )
    assert [(e.type, e.subject_type, e.subject_id, e.account_id, e.occurred_at) for e in written] == expected
    assert {(e.actor_kind, e.actor_id, e.actor_label) for e in written} == {("system", None, "billing engine")}
    # the business time is local midnight: 1 January 00:00 in Berlin is 31 December 23:00 UTC
    assert day[date(2026, 1, 1)].isoformat() == "2026-01-01T00:00:00+01:00"


def test_R45_engine_event_payloads_describe_the_change(reseller, make_account, make_subscription):
    # Given one account billed until its January payment expired
    account = make_account(reseller=reseller, expiration_days=5)
    subscription = make_subscription(account=account, fee=10_000, billing_day=1, start_date=date(2026, 1, 1))
    bill(reseller, date(2026, 2, 7))
    invoice = Invoice.objects.get(account=account, billing_date=date(2026, 1, 1))
    charge = subscription.charges.get(period_from=date(2026, 1, 1))
    payment = invoice.payment

    # Then each event's payload names what changed
    assert events("invoice.opened", subject=invoice)[0].payload == {
        "billing_date": "2026-01-01",
        "to_date": "2026-02-01",
        "changes": {"status": [None, "open"]},
    }
    assert events("charge.created", subject=charge)[0].payload == {
        "kind": "recurring",
        "invoice_id": invoice.pk,
        "amount": 10_000,
        "changes": {"status": [None, "blocked"]},
    }
    assert events("charges.closed", subject=invoice)[0].payload == {
        "charge_ids": [charge.pk],
        "count": 1,
        "amount": 10_000,
        "changes": {"charge_status": ["blocked", "closed"]},
    }
    assert events("invoice.closed", subject=invoice)[0].payload == {
        "document_id": "INV00000001",
        "total": 10_000,
        "currency": "EUR",
        "billing_date": "2026-01-01",
        "managed_externally": False,
        "payment_id": payment.pk,
        "changes": {"status": ["open", "closed"]},
    }
    assert events("payment.created", subject=payment)[0].payload == {
        "document_id": payment.document_id,
        "type": "rendered_services",
        "invoice_id": invoice.pk,
        "total": 10_000,
        "due_date": "2026-02-06",
        "changes": {"status": [None, "waiting_for_payment"]},
    }
    assert events("payment.expired", subject=payment)[0].payload == {
        "document_id": payment.document_id,
        "invoice_id": invoice.pk,
        "changes": {"status": ["waiting_for_payment", "expired"]},
    }
    assert events("subscription.blocked", subject=subscription)[0].payload == {
        "changes": {"status": ["active", "blocked"]}
    }


def test_R45_every_engine_change_has_exactly_one_event(reseller, make_account, make_subscription):
    # Given accounts on two billing days with and without money
    for balance, expiration_days in ((0, 5), (50_000, 10), (0, 10)):
        account = make_account(reseller=reseller, balance=balance, expiration_days=expiration_days)
        make_subscription(account=account, fee=10_000, billing_day=1, start_date=date(2026, 1, 1))
        make_subscription(account=account, fee=2_000, billing_day=12, start_date=date(2026, 1, 5))

    # When three months are billed
    bill(reseller, date(2026, 3, 31))

    # Then every row the engine created or changed has its one event
    invoices = Invoice.objects.filter(reseller=reseller)
    payments = Payment.objects.filter(reseller=reseller, type="rendered_services")
    assert sorted(subject_ids_of("invoice.opened", reseller)) == sorted(invoices.values_list("id", flat=True))
    assert sorted(subject_ids_of("charge.created", reseller)) == sorted(
        Charge.objects.filter(reseller=reseller).values_list("id", flat=True)
    )
    closed = sorted(invoices.filter(status="closed").values_list("id", flat=True))
    assert sorted(subject_ids_of("invoice.closed", reseller)) == closed
    assert sorted(subject_ids_of("charges.closed", reseller)) == closed
    assert sorted(subject_ids_of("payment.created", reseller)) == sorted(payments.values_list("id", flat=True))
    assert sorted(subject_ids_of("payment.expired", reseller)) == sorted(
        payments.filter(status="expired").values_list("id", flat=True)
    )
    assert sorted(subject_ids_of("payment.received", reseller, how="balance_on_due_date")) == sorted(
        payments.filter(status="paid_from_balance").values_list("id", flat=True)
    )


def subject_ids_of(event_type, reseller, how=None):
    return [e.subject_id for e in events(event_type, reseller=reseller) if how is None or e.payload.get("how") == how]


def test_billing_run_is_recorded_once_per_reseller_and_day_with_counts(reseller, make_account, make_subscription):
    # Given two accounts of one reseller, and another reseller
    payer = make_account(reseller=reseller, expiration_days=5, balance=10_000)
    debtor = make_account(reseller=reseller, expiration_days=5)
    for account in (payer, debtor):
        make_subscription(account=account, fee=10_000, billing_day=1, start_date=date(2026, 1, 1))
    other = ResellerFactory()
    make_subscription(account=make_account(reseller=other), fee=1_000, billing_day=1, start_date=date(2026, 1, 10))

    # When both are billed through 7 February
    bill(reseller, date(2026, 2, 7))
    bill(other, date(2026, 2, 7))

    # Then each reseller has one run per day, from its first subscription's start, in order
    runs = {run.date: run for run in BillingRun.objects.filter(reseller=reseller)}
    assert sorted(runs) == list(clock.date_range(date(2026, 1, 1), date(2026, 2, 7)))
    assert list(BillingRun.objects.filter(reseller=other).values_list("date", flat=True)) == list(
        clock.date_range(date(2026, 1, 10), date(2026, 2, 7))
    )
    # and each run counts what that day did
    zero = {
        "charges_created": 0,
        "charges_closed": 0,
        "invoices_closed": 0,
        "payments_created": 0,
        "payments_paid_from_balance": 0,
        "payments_expired": 0,
        "subscriptions_blocked": 0,
        "subscriptions_unblocked": 0,
        "due_date_reminders": 0,
        "billing_day_reminders": 0,
    }
    assert runs[date(2026, 1, 1)].counts == {**zero, "charges_created": 2}
    assert runs[date(2026, 1, 15)].counts == zero
    assert runs[date(2026, 1, 25)].counts == {**zero, "billing_day_reminders": 2}
    assert runs[date(2026, 2, 1)].counts == {**zero, "charges_created": 2, "charges_closed": 2}
    assert runs[date(2026, 2, 2)].counts == {
        **zero,
        "invoices_closed": 2,
        "payments_created": 2,
        "due_date_reminders": 2,
    }
    assert runs[date(2026, 2, 6)].counts == {**zero, "payments_paid_from_balance": 1, "due_date_reminders": 1}
    assert runs[date(2026, 2, 7)].counts == {**zero, "payments_expired": 1, "subscriptions_blocked": 1}
    assert all(run.started_at <= run.finished_at for run in runs.values())


def test_catch_up_bills_every_missed_day_in_order(reseller, make_account, make_subscription):
    # Given a reseller billed through 10 January
    make_subscription(account=make_account(reseller=reseller), fee=1_000, billing_day=1, start_date=date(2026, 1, 1))
    bill(reseller, date(2026, 1, 10))

    # When the billing next runs on 5 February
    results = bill(reseller, date(2026, 2, 5))

    # Then it billed every day from 11 January to 5 February once, in order
    days = list(clock.date_range(date(2026, 1, 11), date(2026, 2, 5)))
    assert [(result.date, result.skipped) for result in results] == [(day, False) for day in days]
    billed = BillingRun.objects.filter(reseller=reseller).order_by("id").values_list("date", flat=True)
    assert list(billed)[-len(days) :] == days


def test_R45_invoice_opened_by_a_usage_charge_before_the_engine_run_is_recorded_once(
    reseller, make_account, make_subscription
):
    # Given a subscription billed through January
    account = make_account(reseller=reseller)
    subscription = make_subscription(account=account, fee=1_000, billing_day=1, start_date=date(2026, 1, 1))
    bill(reseller, date(2026, 1, 31))

    # When a connector posts usage on 1 February before that day's billing run, and the run follows
    connector = Actor.api_token(7, "metering connector")
    usage, _ = post_usage_charge(
        subscription,
        description="Traffic",
        quantity="3",
        unit_price=10,
        usage_date=date(2026, 2, 1),
        actor=connector,
        now=at(date(2026, 2, 1), hour=0),
    )
    bill(reseller, date(2026, 2, 1))

    # Then February's invoice, opened by the usage charge, has its one invoice.opened event
    february = usage.invoice
    assert list(february.charges.values_list("kind", flat=True)) == ["usage", "recurring"]
    (opened,) = events("invoice.opened", subject=february)
    assert (opened.actor_kind, opened.actor_id, opened.account_id) == ("api_token", 7, account.pk)
    assert opened.payload == {
        "billing_date": "2026-02-01",
        "to_date": "2026-03-01",
        "changes": {"status": [None, "open"]},
    }


def test_jobs_run_on_each_reseller_local_calendar_date(make_account, make_subscription):
    # Given resellers in Tokyo and in New York, each with a subscription from 1 January
    tokyo, new_york = ResellerFactory(timezone="Asia/Tokyo"), ResellerFactory(timezone="America/New_York")
    for reseller in (tokyo, new_york):
        make_subscription(
            account=make_account(reseller=reseller), fee=1_000, billing_day=1, start_date=date(2026, 1, 1)
        )

    # When the scheduled job runs at 1 February 20:00 UTC without a date
    run_billing(wall_now=datetime(2026, 2, 1, 20, tzinfo=UTC), reseller_ids=[tokyo.pk, new_york.pk])

    # Then Tokyo (already 2 February, 05:00) closed January, New York (1 February, 15:00) did not yet
    assert last_billed_date(tokyo.pk) == date(2026, 2, 2)
    assert last_billed_date(new_york.pk) == date(2026, 2, 1)
    assert Invoice.objects.get(reseller=tokyo, billing_date=date(2026, 1, 1)).status == Invoice.Status.CLOSED
    assert Invoice.objects.get(reseller=new_york, billing_date=date(2026, 1, 1)).status == Invoice.Status.OPEN
    # and each stamped its changes at its own local midnight
    (closed,) = events("invoice.closed", reseller=tokyo)
    assert closed.occurred_at == datetime(2026, 2, 1, 15, tzinfo=UTC)
    (new_york_charges_closed,) = events("charges.closed", reseller=new_york)
    assert new_york_charges_closed.occurred_at == datetime(2026, 2, 1, 5, tzinfo=UTC)
