"""The billing-day engine (domain §3), set-based.

Each (reseller, date) runs in one durable transaction that first locks the reseller row: a second
process waits, then finds the day's ``BillingRun`` and skips it, so nothing is billed twice. Every
step is a handful of SQL statements over id-range chunks of the driving table; each statement is a
conditional change whose ``RETURNING`` rows are exactly what changed, and those rows become the
events. Python never holds more than one chunk, so memory stays flat as the data grows.

Business time is the start of the billing date in the reseller's time zone, so running forty days
at once writes the same rows and events as running them one by one.
"""

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import transaction
from django.db.models import Min

from arrears.billing.models import BillingRun
from arrears.billing.reminders import announce_billing_days, announce_due_dates
from arrears.catalog.models import Plan
from arrears.charges.models import Charge
from arrears.core import clock, money, sql
from arrears.core.actors import SYSTEM
from arrears.customers.models import Account, AccountClass, BalanceEntry
from arrears.events.services import record_events_in_bulk
from arrears.invoices.models import Invoice
from arrears.payments import terms
from arrears.payments.models import Payment
from arrears.subscriptions.models import Subscription
from arrears.subscriptions.services import last_billed_date, refresh_subscription_blocks
from arrears.tenants.locks import lock_for_billing_day
from arrears.tenants.models import Reseller
from arrears.tenants.services import reserve_numbers

log = logging.getLogger(__name__)

CHUNK_SIZE = 5_000
BILLABLE_STATUSES = "('active', 'blocked')"

Progress = Callable[[str, int, int], None]


def _no_progress(step: str, done: int, total: int) -> None:
    pass


@dataclass
class DayResult:
    reseller_id: int
    date: date
    skipped: bool
    counts: dict[str, int] = field(default_factory=dict)


# --- scheduling -------------------------------------------------------------------------------------


def dates_to_bill(reseller: Reseller, until: date) -> list[date]:
    """Every date after the last completed run up to ``until``; a new reseller starts at its first
    subscription's start."""
    last = last_billed_date(reseller.pk)
    if last is not None:
        first = last + timedelta(days=1)
    else:
        first = Subscription.objects.filter(reseller=reseller).aggregate(first=Min("start_date"))["first"]
        if first is None:
            return []
    return list(clock.date_range(first, until))


def run_billing(
    *,
    wall_now: datetime,
    until: date | None = None,
    reseller_ids: list[int] | None = None,
    progress: Progress = _no_progress,
    on_day: Callable[[Reseller, DayResult], None] | None = None,
) -> list[DayResult]:
    """Run every due billing day of every reseller (or the given ones), each on its own calendar."""
    resellers = Reseller.objects.order_by("id")
    if reseller_ids is not None:
        resellers = resellers.filter(pk__in=reseller_ids)
    results = []
    for reseller in resellers:
        last_day = until or clock.local_date(wall_now, reseller.timezone)
        for day in dates_to_bill(reseller, last_day):
            result = run_billing_day(reseller, day, progress=progress)
            results.append(result)
            if on_day:
                on_day(reseller, result)
    return results


def run_billing_day(reseller: Reseller, day: date, *, progress: Progress = _no_progress) -> DayResult:
    started_at = clock.wall_clock()
    with transaction.atomic(durable=True):
        # The lock serializes concurrent runs of this reseller; the settings read now decide the mode
        # of every invoice that closes today (R10).
        reseller = lock_for_billing_day(reseller.pk)
        if BillingRun.objects.filter(reseller=reseller, date__gte=day).exists():
            return DayResult(reseller.pk, day, skipped=True)
        day_run = _BillingDay(reseller, day, progress)
        counts = day_run.run()
        BillingRun.objects.create(
            reseller=reseller, date=day, counts=counts, started_at=started_at, finished_at=clock.wall_clock()
        )
    return DayResult(reseller.pk, day, skipped=False, counts=counts)


# --- one billing day --------------------------------------------------------------------------------


class _BillingDay:
    def __init__(self, reseller: Reseller, day: date, progress: Progress):
        self.reseller = reseller
        self.day = day
        self.progress = progress
        self.now = clock.start_of_day(day, reseller.timezone)
        self.stamp = sql.db_datetime(self.now)
        self.sql_day = sql.db_date(day)

    def run(self) -> dict[str, int]:
        counts = {"charges_created": self.create_recurring_charges()}
        counts["charges_closed"] = self.close_ended_charges()
        counts["invoices_closed"], counts["payments_created"] = self.close_invoices()
        counts["payments_paid_from_balance"] = self.pay_due_payments_from_balance()
        counts["payments_expired"] = self.expire_overdue_payments()
        counts["subscriptions_blocked"], counts["subscriptions_unblocked"] = refresh_subscription_blocks(
            reseller_id=self.reseller.pk, today=self.day, actor=SYSTEM, now=self.now
        )
        # Last: only what is still unpaid after today's receipts and expiries is announced.
        counts["due_date_reminders"] = announce_due_dates(self.reseller, self.day, now=self.now, chunks=self._chunks)
        counts["billing_day_reminders"] = announce_billing_days(
            self.reseller, self.day, now=self.now, chunks=self._chunks
        )
        return counts

    def _chunks(self, model, where: str, params: list, step: str) -> Iterator[tuple[int, int]]:
        """Consecutive id ranges ``(lo, hi]`` each holding at most CHUNK_SIZE rows matching ``where``."""
        table = sql.table(model)
        total = sql.fetch_all(f"SELECT COUNT(*) FROM {table} WHERE {where}", params)[0][0]
        done, lo = 0, 0
        while done < total:
            count, hi = sql.fetch_all(
                f"SELECT COUNT(*), MAX(id) FROM (SELECT id FROM {table} WHERE {where} AND id > %s"
                f" ORDER BY id LIMIT %s) chunk",
                [*params, lo, CHUNK_SIZE],
            )[0]
            if not count:
                break
            yield lo, hi
            done += count
            lo = hi
            self.progress(step, done, total)

    def _events(self, event_type: str, subject_type: str, rows) -> None:
        record_events_in_bulk(event_type, subject_type, rows, actor=SYSTEM, now=self.now)

    # 1. recurring fees of the period that starts today ----------------------------------------------

    def create_recurring_charges(self) -> int:
        """Recurring-fee charges, ``blocked`` at the period start; a subscription starting mid-period
        pays its first period by days, rounded half-up to the minor unit."""
        created = 0
        if self.day.day <= 28:
            period = clock.period_containing(self.day, self.day.day)
            created += self._create_charges(self.day.day, period, "start_date <= %s", "pl.fee", "")
        starting_mid_period = (
            Subscription.objects.filter(reseller=self.reseller, start_date=self.day, status__in=["active", "blocked"])
            .exclude(billing_day=self.day.day)
            .values_list("billing_day", flat=True)
            .distinct()
            .order_by("billing_day")
        )
        for billing_day in starting_mid_period:
            period = clock.period_containing(self.day, billing_day)
            days_used = clock.days_between(self.day, period[1])
            days_in_period = clock.days_between(*period)
            fee = money.prorated_fee_sql("pl.fee", days_used, days_in_period)
            created += self._create_charges(
                billing_day, period, "start_date = %s", fee, f", prorated {days_used}/{days_in_period} days"
            )
        return created

    def _create_charges(
        self, billing_day: int, period: tuple[date, date], start_condition: str, fee_sql: str, note: str
    ) -> int:
        subscription, invoice, charge = sql.table(Subscription), sql.table(Invoice), sql.table(Charge)
        billing_date, to_date = sql.db_date(period[0]), sql.db_date(period[1])
        last_day = period[1] - timedelta(days=1)
        where = f"reseller_id = %s AND billing_day = %s AND {start_condition} AND status IN {BILLABLE_STATUSES}"
        where_params = [self.reseller.pk, billing_day, self.sql_day]
        created = 0
        for lo, hi in self._chunks(Subscription, where, where_params, "creating recurring charges"):
            chunk = (
                f"s.reseller_id = %s AND s.billing_day = %s AND s.{start_condition}"
                f" AND s.status IN {BILLABLE_STATUSES} AND s.id > %s AND s.id <= %s"
            )
            chunk_params = [*where_params, lo, hi]
            opened = sql.fetch_all(
                f"INSERT INTO {invoice} (reseller_id, account_id, billing_day, billing_date, from_date, to_date,"
                " status, payment_model, currency, total, managed_externally, approved, attachment_kind,"
                " attachment_name, attachment_url, attachment_content_type, created_at, updated_at)"
                f" SELECT %s, s.account_id, %s, %s, %s, %s, 'open', 'postpay', %s, 0, FALSE, FALSE, '', '', '',"
                f" '', %s, %s FROM {subscription} s WHERE {chunk} AND NOT EXISTS (SELECT 1 FROM {invoice} i"
                " WHERE i.account_id = s.account_id AND i.billing_day = %s AND i.billing_date = %s)"
                " GROUP BY s.account_id ORDER BY s.account_id RETURNING id, account_id",
                [
                    self.reseller.pk,
                    billing_day,
                    billing_date,
                    self.sql_day,
                    to_date,
                    self.reseller.currency,
                    self.stamp,
                    self.stamp,
                    *chunk_params,
                    billing_day,
                    billing_date,
                ],
            )
            self._events(
                "invoice.opened",
                "invoice",
                [
                    (
                        self.reseller.pk,
                        invoice_id,
                        account_id,
                        {
                            "billing_date": period[0].isoformat(),
                            "to_date": period[1].isoformat(),
                            "changes": {"status": [None, "open"]},
                        },
                    )
                    for invoice_id, account_id in sorted(opened)
                ],
            )
            description = f" ({self.day.isoformat()} – {last_day.isoformat()}{note})"
            tax = money.tax_amount_sql("net", "tax_rate_bp")
            rows = sql.fetch_all(
                f"INSERT INTO {charge} (reseller_id, account_id, subscription_id, invoice_id, kind, description,"
                " quantity, unit_price, net_amount, tax_rate_bp, tax_amount, amount, period_from, period_to,"
                " close_date, status, created_at, updated_at)"
                " SELECT reseller_id, account_id, id, invoice_id, 'recurring', description, 1000, net, net,"
                f" tax_rate_bp, {tax}, net + {tax},"
                " %s, %s, %s, 'blocked', %s, %s FROM ("
                f"  SELECT s.reseller_id, s.account_id, s.id, i.id AS invoice_id, pl.name || %s AS description,"
                f"  {fee_sql} AS net, pl.tax_rate_bp FROM {subscription} s"
                f"  JOIN {sql.table(Plan)} pl ON pl.id = s.plan_id"
                f"  JOIN {invoice} i ON i.account_id = s.account_id AND i.billing_day = %s AND i.billing_date = %s"
                f"  WHERE {chunk} AND NOT EXISTS (SELECT 1 FROM {charge} c WHERE c.subscription_id = s.id"
                "   AND c.kind = 'recurring' AND c.period_from = %s) ORDER BY s.id"
                ") AS new_charges RETURNING id, account_id, invoice_id, amount",
                [
                    self.sql_day,
                    to_date,
                    to_date,
                    self.stamp,
                    self.stamp,
                    description,
                    billing_day,
                    billing_date,
                    *chunk_params,
                    self.sql_day,
                ],
            )
            self._events(
                "charge.created",
                "charge",
                [
                    (
                        self.reseller.pk,
                        charge_id,
                        account_id,
                        {
                            "kind": "recurring",
                            "invoice_id": invoice_id,
                            "amount": amount,
                            "changes": {"status": [None, "blocked"]},
                        },
                    )
                    for charge_id, account_id, invoice_id, amount in sorted(rows)
                ],
            )
            created += len(rows)
        return created

    # 2. the billing day closes the ended period's charges (R2) ---------------------------------------

    def close_ended_charges(self) -> int:
        closed = 0
        # A chunk is an invoice-id range. Without statistics SQLite prefers charge_closing_idx and so
        # walks every blocked charge of the reseller once per chunk, which grows with the square of the
        # data; PostgreSQL picks the invoice index from its statistics.
        charges = sql.table(Charge) + ("" if sql.is_postgres() else " INDEXED BY charge_invoice_status_idx")
        where = "reseller_id = %s AND status = 'open' AND to_date <= %s"
        for lo, hi in self._chunks(Invoice, where, [self.reseller.pk, self.sql_day], "closing charges"):
            rows = sql.fetch_all(
                f"UPDATE {charges} SET status = 'closed', closed_at = %s, updated_at = %s"
                " WHERE reseller_id = %s AND invoice_id > %s AND invoice_id <= %s AND status = 'blocked'"
                " AND close_date <= %s RETURNING id, invoice_id, account_id, amount",
                [self.stamp, self.stamp, self.reseller.pk, lo, hi, self.sql_day],
            )
            per_invoice: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
            for charge_id, invoice_id, account_id, amount in rows:
                per_invoice[(invoice_id, account_id)].append((charge_id, amount))
            self._events(
                "charges.closed",
                "invoice",
                [
                    (
                        self.reseller.pk,
                        invoice_id,
                        account_id,
                        {
                            "charge_ids": sorted(charge_id for charge_id, _ in charges),
                            "count": len(charges),
                            "amount": sum(amount for _, amount in charges),
                            "changes": {"charge_status": ["blocked", "closed"]},
                        },
                    )
                    for (invoice_id, account_id), charges in sorted(per_invoice.items())
                ],
            )
            closed += len(rows)
        return closed

    # 3. billing day + 1 closes the invoices and creates their payments (R3, R5–R7, R10, R20) --------

    def close_invoices(self) -> tuple[int, int]:
        invoices_closed = payments_created = 0
        where = "reseller_id = %s AND status = 'open' AND to_date < %s"
        for lo, hi in self._chunks(Invoice, where, [self.reseller.pk, self.sql_day], "closing invoices"):
            closed = self._close_invoice_chunk(lo, hi)
            payments = self._create_payments(lo, hi, sum(1 for row in closed if row[2] > 0))
            payment_of = {invoice_id: payment_id for payment_id, invoice_id, *_ in payments}
            self._events(
                "invoice.closed",
                "invoice",
                [
                    (
                        self.reseller.pk,
                        invoice_id,
                        account_id,
                        {
                            "document_id": document_id,
                            "total": total,
                            "currency": self.reseller.currency,
                            "billing_date": str(billing_date),
                            "managed_externally": self.reseller.external_invoices,
                            "payment_id": payment_of.get(invoice_id),
                            "changes": {"status": ["open", "closed"]},
                        },
                    )
                    for invoice_id, account_id, total, document_id, billing_date in sorted(closed)
                ],
            )
            self._events(
                "payment.created",
                "payment",
                [
                    (
                        self.reseller.pk,
                        payment_id,
                        account_id,
                        {
                            "document_id": document_id,
                            "type": "rendered_services",
                            "invoice_id": invoice_id,
                            "total": total,
                            "due_date": None if due_date is None else str(due_date),
                            "changes": {"status": [None, "waiting_for_payment"]},
                        },
                    )
                    for payment_id, invoice_id, account_id, total, due_date, document_id in sorted(payments)
                ],
            )
            invoices_closed += len(closed)
            payments_created += len(payments)
        return invoices_closed, payments_created

    def _close_invoice_chunk(self, lo: int, hi: int) -> list[tuple]:
        invoice, charge = sql.table(Invoice), sql.table(Charge)
        count = sql.fetch_all(
            f"SELECT COUNT(*) FROM {invoice} WHERE reseller_id = %s AND status = 'open' AND to_date < %s"
            " AND id > %s AND id <= %s",
            [self.reseller.pk, self.sql_day, lo, hi],
        )[0][0]
        first_number = reserve_numbers(self.reseller.pk, "invoice", count)
        document_id = sql.number_text("%s", "ranked.doc_number")
        return sql.fetch_all(
            "WITH ranked AS (SELECT id AS invoice_id, %s + ROW_NUMBER() OVER (ORDER BY id) - 1 AS doc_number"
            f"  FROM {invoice} WHERE reseller_id = %s AND status = 'open' AND to_date < %s AND id > %s AND id <= %s)"
            f" UPDATE {invoice} SET status = 'closed', closed_at = %s, updated_at = %s, managed_externally = %s,"
            f" number = ranked.doc_number, document_id = {document_id}, original_document_id = {document_id},"
            f" total = COALESCE((SELECT SUM(c.amount) FROM {charge} c WHERE c.invoice_id = ranked.invoice_id"
            "  AND c.status = 'closed'), 0)"
            f" FROM ranked WHERE {invoice}.id = ranked.invoice_id AND {invoice}.status = 'open'"
            f" RETURNING {invoice}.id, {invoice}.account_id, {invoice}.total, {invoice}.document_id,"
            f" {invoice}.billing_date",
            [
                first_number,
                self.reseller.pk,
                self.sql_day,
                lo,
                hi,
                self.stamp,
                self.stamp,
                self.reseller.external_invoices,
                self.reseller.invoice_number_prefix,
                self.reseller.invoice_number_prefix,
            ],
        )

    def _create_payments(self, lo: int, hi: int, count: int) -> list[tuple]:
        """One payment for rendered services per closed invoice with a positive total (R5, R6): in
        default mode due on closing date + expiration period − 1 (R20), in ERP mode with none (R7)."""
        if not count:
            return []
        invoice, payment = sql.table(Invoice), sql.table(Payment)
        first_number = reserve_numbers(self.reseller.pk, "payment", count)
        if self.reseller.external_invoices:
            due_date = expiration_date = "CAST(NULL AS date)"
        else:
            due_date = terms.due_date_sql("%s", "ac.payment_expiration_days")
            expiration_date = terms.expiration_date_sql("%s", "ac.payment_expiration_days")
        dates = [] if self.reseller.external_invoices else [self.sql_day, self.sql_day]
        document_id = sql.number_text("%s", "number")
        return sql.fetch_all(
            f"INSERT INTO {payment} (reseller_id, account_id, invoice_id, type, status, number, document_id,"
            " total, initial_total, amount_paid_from_balance, currency, due_date, expiration_date, comment,"
            " created_at, updated_at, managed_externally)"
            f" SELECT reseller_id, account_id, invoice_id, 'rendered_services', 'waiting_for_payment', number,"
            f" {document_id}, total, total, 0, currency, due_date, expiration_date, '', %s, %s,"
            " managed_externally FROM ("
            f"  SELECT i.reseller_id, i.account_id, i.id AS invoice_id, i.total, i.currency, i.managed_externally,"
            f"  %s + ROW_NUMBER() OVER (ORDER BY i.id) - 1 AS number, {due_date} AS due_date,"
            f"  {expiration_date} AS expiration_date FROM {invoice} i"
            f"  JOIN {sql.table(Account)} a ON a.id = i.account_id"
            f"  JOIN {sql.table(AccountClass)} ac ON ac.id = a.account_class_id"
            "  WHERE i.reseller_id = %s AND i.id > %s AND i.id <= %s AND i.status = 'closed' AND i.total > 0"
            f"  AND NOT EXISTS (SELECT 1 FROM {payment} p WHERE p.invoice_id = i.id) ORDER BY i.id"
            ") AS new_payments RETURNING id, invoice_id, account_id, total, due_date, document_id",
            [
                self.reseller.payment_number_prefix,
                self.stamp,
                self.stamp,
                first_number,
                *dates,
                self.reseller.pk,
                lo,
                hi,
            ],
        )

    # 4. default mode: the balance pays what falls due today (R21) ------------------------------------

    def pay_due_payments_from_balance(self) -> int:
        payment, invoice, account = sql.table(Payment), sql.table(Invoice), sql.table(Account)
        due_today = (
            "reseller_id = %s AND status = 'waiting_for_payment' AND type = 'rendered_services' AND due_date = %s"
        )
        paid_total = 0
        for lo, hi in self._chunks(Payment, due_today, [self.reseller.pk, self.sql_day], "paying from balance"):
            # Per account, payments are taken oldest first while the running total fits the balance.
            # The running total also counts the account's payments due today that earlier chunks left
            # unpaid (they did not fit), so the outcome does not depend on where chunks split.
            rows = sql.fetch_all(
                "WITH candidates AS (SELECT p.id AS payment_id, p.account_id AS payer_id,"
                "  SUM(p.total) OVER (PARTITION BY p.account_id ORDER BY p.id) AS running_total"
                f"  FROM {payment} p JOIN {invoice} i ON i.id = p.invoice_id"
                "  WHERE p.reseller_id = %s AND p.status = 'waiting_for_payment' AND p.due_date = %s"
                "  AND p.type = 'rendered_services' AND i.managed_externally = FALSE AND p.id <= %s)"
                f" UPDATE {payment} SET status = 'paid_from_balance', amount_paid_from_balance = {payment}.total,"
                "  closed_at = %s, updated_at = %s"
                f" FROM candidates JOIN {account} a ON a.id = candidates.payer_id"
                f" WHERE {payment}.id = candidates.payment_id AND candidates.payment_id > %s"
                f" AND candidates.running_total <= a.balance AND {payment}.status = 'waiting_for_payment'"
                f" RETURNING {payment}.id, {payment}.account_id, {payment}.total, {payment}.document_id,"
                f" {payment}.invoice_id",
                [self.reseller.pk, self.sql_day, hi, self.stamp, self.stamp, lo],
            )
            rows.sort()
            sql.execute_many(
                f"INSERT INTO {sql.table(BalanceEntry)} (account_id, kind, amount, payment_id, created_at)"
                " VALUES (%s, 'payment', %s, %s, %s)",
                [(account_id, -total, payment_id, self.stamp) for payment_id, account_id, total, *_ in rows],
            )
            debits: dict[int, int] = defaultdict(int)
            for _, account_id, total, *_ in rows:
                debits[account_id] += total
            sql.execute_many(
                f"UPDATE {account} SET balance = balance - %s, updated_at = %s WHERE id = %s",
                [(amount, self.stamp, account_id) for account_id, amount in sorted(debits.items())],
            )
            self._events(
                "payment.received",
                "payment",
                [
                    (
                        self.reseller.pk,
                        payment_id,
                        account_id,
                        {
                            "document_id": document_id,
                            "total": total,
                            "invoice_id": invoice_id,
                            "how": "balance_on_due_date",
                            "changes": {"status": ["waiting_for_payment", "paid_from_balance"]},
                        },
                    )
                    for payment_id, account_id, total, document_id, invoice_id in rows
                ],
            )
            paid_total += len(rows)
        return paid_total

    # 5. the day after the due date an unpaid payment expires (R22) -----------------------------------

    def expire_overdue_payments(self) -> int:
        overdue = "reseller_id = %s AND status = 'waiting_for_payment' AND due_date < %s"
        expired = 0
        for lo, hi in self._chunks(Payment, overdue, [self.reseller.pk, self.sql_day], "expiring payments"):
            rows = sql.fetch_all(
                f"UPDATE {sql.table(Payment)} SET status = 'expired', updated_at = %s WHERE {overdue}"
                " AND id > %s AND id <= %s RETURNING id, account_id, document_id, invoice_id",
                [self.stamp, self.reseller.pk, self.sql_day, lo, hi],
            )
            self._events(
                "payment.expired",
                "payment",
                [
                    (
                        self.reseller.pk,
                        payment_id,
                        account_id,
                        {
                            "document_id": document_id,
                            "invoice_id": invoice_id,
                            "changes": {"status": ["waiting_for_payment", "expired"]},
                        },
                    )
                    for payment_id, account_id, document_id, invoice_id in sorted(rows)
                ],
            )
            expired += len(rows)
        return expired
