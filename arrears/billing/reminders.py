"""The daily announcements of the billing day: due dates coming (R41) and billing days coming.

Each announcement is an event plus a ``Reminder`` row unique per (kind, subject, date, days left), so running a
day twice, or catching up many days at once, announces everything exactly once. A due date moved by a revoke and
a new approval is a new date and is announced again. The work is set-based like the engine's other steps: per
chunk one query finds what is not yet announced, one bulk insert writes the events (with their outbox rows) and
one more their reminders, named by the event ids the first returned. Nothing is announced to a reseller for whom
no subscriber of the outbox would react (no handler would send a reminder): the events would only fill the log.
"""

from datetime import date, datetime, timedelta

from arrears.billing.models import Reminder
from arrears.core import sql
from arrears.core.actors import SYSTEM
from arrears.events.outbox import anyone_reacts_to
from arrears.events.services import record_events_in_bulk
from arrears.payments.models import Payment
from arrears.subscriptions.models import Subscription
from arrears.tenants.models import Reseller

DUE_DATE_COMING = "payment.due_date_coming"
BILLING_DAY_COMING = "billing_day.coming"
# Due dates are announced from this many days ahead down to the day itself; handler conditions pick the days.
REMINDER_HORIZON_DAYS = 30
# Billing days are announced 1 to 7 days ahead.
BILLING_DAY_HORIZON_DAYS = 7


def _days_until(date_sql: str) -> str:
    """SQL for the whole days from the date parameter to the date expression ``date_sql``."""
    if sql.is_postgres():
        return f"(CAST({date_sql} AS date) - CAST(%s AS date))"
    return f"CAST(julianday({date_sql}) - julianday(%s) AS INTEGER)"


def _remember(kind: str, written: list[tuple[int, int]], due_on_of: dict[int, date], days_left_of: dict[int, int]):
    """The Reminder rows of the announcements just written, ``(event id, subject id)`` each."""
    Reminder.objects.bulk_create(
        [
            Reminder(
                kind=kind,
                subject_id=subject_id,
                due_on=due_on_of[subject_id],
                days_left=days_left_of[subject_id],
                event_id=event_id,
            )
            for event_id, subject_id in written
        ],
        batch_size=500,
    )


def announce_due_dates(reseller: Reseller, day: date, *, now: datetime, accounts: tuple[int, int]) -> int:
    """``payment.due_date_coming`` for the unpaid payments of the reseller's accounts ``lo < id <= hi`` (a billing
    chunk's) due 0..30 days after ``day``, each (payment, due date, days left) once."""
    if not anyone_reacts_to(reseller.pk, DUE_DATE_COMING):
        return 0
    payment, reminder = sql.table(Payment), sql.table(Reminder)
    sql_day = sql.db_date(day)
    horizon = sql.db_date(day + timedelta(days=REMINDER_HORIZON_DAYS))
    rows = sql.fetch_all(
        f"SELECT p.id, p.account_id, p.document_id, p.invoice_id, p.due_date FROM {payment} p"
        f" WHERE {sql.in_accounts('p')} AND p.status = 'waiting_for_payment'"
        " AND p.due_date >= %s AND p.due_date <= %s"
        f" AND NOT EXISTS (SELECT 1 FROM {reminder} r WHERE r.kind = %s AND r.subject_id = p.id"
        f"  AND r.due_on = p.due_date AND r.days_left = {_days_until('p.due_date')}) ORDER BY p.id",
        [reseller.pk, *accounts, sql_day, horizon, DUE_DATE_COMING, sql_day],
    )
    if not rows:
        return 0
    events, due_on_of, days_left_of = [], {}, {}
    for payment_id, account_id, document_id, invoice_id, due_date in rows:
        due_on_of[payment_id] = due_on = date.fromisoformat(str(due_date))
        days_left_of[payment_id] = (due_on - day).days
        events.append(
            (
                reseller.pk,
                payment_id,
                account_id,
                {
                    "document_id": document_id,
                    "invoice_id": invoice_id,
                    "due_date": due_on.isoformat(),
                    "days_left": days_left_of[payment_id],
                },
            )
        )
    written = record_events_in_bulk(DUE_DATE_COMING, "payment", events, actor=SYSTEM, now=now)
    _remember(DUE_DATE_COMING, written, due_on_of, days_left_of)
    return len(rows)


def announce_billing_days(reseller: Reseller, day: date, *, now: datetime, accounts: tuple[int, int]) -> int:
    """``billing_day.coming`` for each of the reseller's accounts ``lo < id <= hi`` with active subscriptions whose
    billing date is 1..7 days after ``day``, once per (account, billing date, days left)."""
    if not anyone_reacts_to(reseller.pk, BILLING_DAY_COMING):
        return 0
    subscription, reminder = sql.table(Subscription), sql.table(Reminder)
    announced = 0
    for days_left in range(1, BILLING_DAY_HORIZON_DAYS + 1):
        billing_date = day + timedelta(days=days_left)
        if billing_date.day > 28:  # billing days are 1..28
            continue
        sql_billing_date = sql.db_date(billing_date)
        account_ids = [
            row[0]
            for row in sql.fetch_all(
                f"SELECT DISTINCT s.account_id FROM {subscription} s WHERE {sql.in_accounts('s')}"
                " AND s.billing_day = %s AND s.status = 'active' AND s.start_date <= %s"
                f" AND NOT EXISTS (SELECT 1 FROM {reminder} r WHERE r.kind = %s AND r.subject_id = s.account_id"
                "  AND r.due_on = %s AND r.days_left = %s) ORDER BY s.account_id",
                [
                    reseller.pk,
                    *accounts,
                    billing_date.day,
                    sql.db_date(day),
                    BILLING_DAY_COMING,
                    sql_billing_date,
                    days_left,
                ],
            )
        ]
        if not account_ids:
            continue
        payload = {"billing_day": billing_date.day, "billing_date": billing_date.isoformat(), "days_left": days_left}
        written = record_events_in_bulk(
            BILLING_DAY_COMING,
            "account",
            [(reseller.pk, account_id, account_id, payload) for account_id in account_ids],
            actor=SYSTEM,
            now=now,
        )
        _remember(
            BILLING_DAY_COMING, written, dict.fromkeys(account_ids, billing_date), dict.fromkeys(account_ids, days_left)
        )
        announced += len(account_ids)
    return announced
