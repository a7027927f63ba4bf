"""R41: the billing day announces due dates and billing days coming, each (subject, date, days left) once."""

from datetime import date, timedelta

from arrears.billing.engine import run_billing_day
from arrears.billing.models import BillingRun, Reminder
from arrears.billing.reminders import BILLING_DAY_COMING, DUE_DATE_COMING
from arrears.events.models import Event, PendingDispatch
from arrears.invoices.services import revoke_invoice_approval
from arrears.notifications.handlers import create_event_handler
from tests.billing.helpers import forget_billing_day
from tests.conftest import ERP, MANAGER, at, bill
from tests.factories import T0, AccountFactory, SubscriptionFactory
from tests.service_support import approved, invoice_of


def announcements(event_type: str, reseller) -> list[tuple]:
    """(billed day, subject id, days left, date announced) of every announcement, in order."""
    return [
        (
            event.occurred_at.date(),
            event.subject_id,
            event.payload["days_left"],
            event.payload.get("due_date") or event.payload["billing_date"],
        )
        for event in Event.objects.filter(type=event_type, reseller=reseller).order_by("id")
    ]


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


# --- due dates -----------------------------------------------------------------------------------------


def test_R41_an_unpaid_payment_is_announced_every_day_from_closing_to_its_due_date(reseller):
    # Given a payment closed on 2 February with 10-day terms: due on 11 February, expiring on the 12th
    payment = invoice_of(AccountFactory(reseller=reseller)).payment
    assert payment.due_date == date(2026, 2, 11)

    # When the days through the expiry are billed
    bill(reseller, date(2026, 2, 14))

    # Then each day from closing to the due date announced the days left, and nothing after the expiry
    expected = [
        (day, payment.pk, (date(2026, 2, 11) - day).days, "2026-02-11")
        for day in days(date(2026, 2, 2), date(2026, 2, 11))
    ]
    assert announcements(DUE_DATE_COMING, reseller) == expected
    # with one reminder and one outbox row per event
    events = Event.objects.filter(type=DUE_DATE_COMING, reseller=reseller)
    assert sorted(
        Reminder.objects.filter(kind=DUE_DATE_COMING).values_list("due_on", "days_left", "event_id")
    ) == sorted((date(2026, 2, 11), event.payload["days_left"], event.pk) for event in events)
    assert PendingDispatch.objects.filter(event__in=events).count() == 10
    assert BillingRun.objects.get(reseller=reseller, date=date(2026, 2, 5)).counts["due_date_reminders"] == 1


def test_R41_a_payment_paid_on_its_due_date_is_not_announced_that_day(reseller):
    # Given a payer whose balance pays the payment on its due date
    payment = invoice_of(AccountFactory(reseller=reseller, balance=20_000)).payment

    bill(reseller, date(2026, 2, 12))

    assert [row[2] for row in announcements(DUE_DATE_COMING, reseller)] == list(range(9, 0, -1))
    payment.refresh_from_db()
    assert payment.status == "paid_from_balance"


def test_R41_due_dates_are_announced_at_most_30_days_ahead(reseller):
    # Given 40-day terms: the payment closed on 2 February is due on 13 March
    payment = invoice_of(AccountFactory(reseller=reseller, expiration_days=40)).payment
    assert payment.due_date == date(2026, 3, 13)

    bill(reseller, date(2026, 2, 12))

    assert announcements(DUE_DATE_COMING, reseller) == [
        (date(2026, 2, 11), payment.pk, 30, "2026-03-13"),
        (date(2026, 2, 12), payment.pk, 29, "2026-03-13"),
    ]


def test_R41_running_a_day_twice_announces_nothing_twice(reseller):
    # Given a day billed with due dates and billing days to announce
    account = AccountFactory(reseller=reseller)
    SubscriptionFactory(account=account, billing_day=5, start_date=date(2026, 1, 31))
    invoice_of(account)
    bill(reseller, date(2026, 2, 3))
    before = (list(Event.objects.values_list("id", "type")), list(Reminder.objects.values_list()))
    assert {DUE_DATE_COMING, BILLING_DAY_COMING} <= {event_type for _, event_type in before[0]}

    # When the day's run record is lost and the day runs again
    forget_billing_day(reseller, date(2026, 2, 3))
    again = run_billing_day(reseller, date(2026, 2, 3), wall_clock=lambda: at(date(2026, 2, 3)))

    # Then nothing was announced again
    assert (again.counts["due_date_reminders"], again.counts["billing_day_reminders"]) == (0, 0)
    assert (list(Event.objects.values_list("id", "type")), list(Reminder.objects.values_list())) == before


def test_R41_a_due_date_moved_by_a_revoke_and_a_new_approval_is_announced_again(erp_reseller):
    # Given an ERP invoice approved on 3 February with due date 10 February, announced through the 5th
    invoice = invoice_of(AccountFactory(reseller=erp_reseller))
    approved(invoice, due_date=date(2026, 2, 10))
    bill(erp_reseller, date(2026, 2, 5))
    payment_id = invoice.payment.pk
    assert announcements(DUE_DATE_COMING, erp_reseller) == [
        (date(2026, 2, 3), payment_id, 7, "2026-02-10"),
        (date(2026, 2, 4), payment_id, 6, "2026-02-10"),
        (date(2026, 2, 5), payment_id, 5, "2026-02-10"),
    ]

    # When the approval is revoked on the 5th and the invoice approved again, due on the 12th
    revoke_invoice_approval(
        invoice, document_id="ERP-1", billing_date=invoice.billing_date, actor=ERP, now=at(date(2026, 2, 5), 13)
    )
    approved(invoice, day=date(2026, 2, 5), due_date=date(2026, 2, 12))
    bill(erp_reseller, date(2026, 2, 7))

    # Then the new due date is announced, with days left already announced for the old one
    assert announcements(DUE_DATE_COMING, erp_reseller)[3:] == [
        (date(2026, 2, 6), payment_id, 6, "2026-02-12"),
        (date(2026, 2, 7), payment_id, 5, "2026-02-12"),
    ]


def test_R41_an_unapproved_erp_payment_has_no_due_date_and_is_not_announced(erp_reseller):
    invoice_of(AccountFactory(reseller=erp_reseller))

    bill(erp_reseller, date(2026, 2, 20))

    assert announcements(DUE_DATE_COMING, erp_reseller) == []


def test_R41_nothing_is_announced_when_no_handler_serves_the_event(reseller):
    # Given the reseller switched the default reminder off with an inactive handler of its own
    create_event_handler(
        reseller,
        event=DUE_DATE_COMING,
        channel="email",
        name="Off",
        subject="x",
        body="x",
        active=False,
        actor=MANAGER,
        now=T0,
    )
    invoice_of(AccountFactory(reseller=reseller))

    bill(reseller, date(2026, 2, 8))

    assert announcements(DUE_DATE_COMING, reseller) == []
    assert not Reminder.objects.filter(kind=DUE_DATE_COMING).exists()
    assert BillingRun.objects.get(reseller=reseller, date=date(2026, 2, 5)).counts["due_date_reminders"] == 0
    # while billing days, still served by the default, are announced
    assert announcements(BILLING_DAY_COMING, reseller)


# --- billing days --------------------------------------------------------------------------------------


def test_billing_days_are_announced_1_to_7_days_ahead_once_per_account(reseller, settings):
    # Given an account with two subscriptions on billing day 15 and another account on day 20;
    # chunks of one account, so the accounts are announced by different chunks
    settings.ARREARS_BILLING_CHUNK_ACCOUNTS = 1
    two = AccountFactory(reseller=reseller)
    SubscriptionFactory(account=two, billing_day=15, start_date=date(2026, 1, 1))
    SubscriptionFactory(account=two, billing_day=15, start_date=date(2026, 1, 1))
    other = AccountFactory(reseller=reseller)
    SubscriptionFactory(account=other, billing_day=20, start_date=date(2026, 1, 10))

    # When January is billed through the 16th
    bill(reseller, date(2026, 1, 16))

    # Then each account heard of its billing date on each of the 7 days before it, once a day
    assert sorted(announcements(BILLING_DAY_COMING, reseller)) == sorted(
        [
            (day, two.pk, (date(2026, 1, 15) - day).days, "2026-01-15")
            for day in days(date(2026, 1, 8), date(2026, 1, 14))
        ]
        + [(date(2026, 1, 13), other.pk, 7, "2026-01-20")]
        + [(date(2026, 1, 14), other.pk, 6, "2026-01-20")]
        + [
            (day, other.pk, (date(2026, 1, 20) - day).days, "2026-01-20")
            for day in days(date(2026, 1, 15), date(2026, 1, 16))
        ]
    )
    event = Event.objects.filter(type=BILLING_DAY_COMING, subject_id=two.pk).first()
    assert (event.subject_type, event.account_id) == ("account", two.pk)
    assert event.payload == {"billing_day": 15, "billing_date": "2026-01-15", "days_left": 7}
    assert BillingRun.objects.get(reseller=reseller, date=date(2026, 1, 13)).counts["billing_day_reminders"] == 2
