"""The billing-day engine (domain §3), set-based, in account chunks that several workers bill at once.

A day of one reseller runs in three parts. **Planning** (``plan_billing_day``), one short transaction under the
reseller's lock: the reseller's accounts are split into consecutive id ranges (``BillingChunk``), the invoices each
chunk will close today and the payments it will create are counted, and the day's document numbers are reserved
in one go, each chunk getting its own consecutive range; ``Reseller.billed_through`` moves to the day, so writes
from now on treat it as billed and cannot change those counts. **Chunks** (``run_billing_chunk``), each one
durable transaction over its accounts, in any order, in any number of workers: every step of the day is a handful
of SQL statements over the chunk's accounts, each a conditional change whose ``RETURNING`` rows are exactly what
changed, and those rows become the events. A chunk killed half-way leaves nothing (its transaction rolls back)
and is simply run again; a chunk already finished is skipped. **Completion**: the chunk that finishes last writes
the day's ``BillingRun`` with the summed counts, in its own transaction.

So the rows, the numbers and the events do not depend on the number of workers, on the order in which chunks
run, or on how often a crashed one is re-run. Python never holds more than one chunk, so memory stays flat.

Business time is the start of the billing date in the reseller's time zone, so running forty days at once writes
the same rows and events as running them one by one. The engine reads no clock: the run's wall-clock stamps
come from the caller (the task layer), as a function it calls when it needs one.
"""

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Min

from arrears.billing.errors import BillingPlanMismatch
from arrears.billing.models import BillingChunk, BillingDayPlan, BillingRun
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
from arrears.subscriptions.services import refresh_subscription_blocks
from arrears.tenants.locks import lock_for_billing_day, mark_billing_begun
from arrears.tenants.models import Reseller
from arrears.tenants.services import reserve_numbers

log = logging.getLogger(__name__)

BILLABLE_STATUSES = "('active', 'blocked')"
# The counts every day reports, in this order (a day without accounts reports them as zeros).
COUNTS = (
    "charges_created",
    "charges_closed",
    "invoices_closed",
    "payments_created",
    "payments_paid_from_balance",
    "payments_expired",
    "subscriptions_blocked",
    "subscriptions_unblocked",
    "due_date_reminders",
    "billing_day_reminders",
)
# The reseller's settings a day runs with, read when it is planned (R10).
PLANNED_SETTINGS = ("currency", "timezone", "external_invoices", "invoice_number_prefix", "payment_number_prefix")

Progress = Callable[[str, int, int], None]
WallClock = Callable[[], datetime]


def _no_progress(step: str, done: int, total: int) -> None:
    pass


@dataclass
class DayResult:
    reseller_id: int
    date: date
    skipped: bool  # the day was complete already, or another process completed it

    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class ChunkResult:
    reseller_id: int
    date: date
    day_finished: bool  # this chunk was the day's last: its BillingRun is written


# --- scheduling -------------------------------------------------------------------------------------


def last_billed_date(reseller_id: int) -> date | None:
    """The last completed billing day (its ``BillingRun``); a day after it may be planned and running."""
    return BillingRun.objects.filter(reseller_id=reseller_id).aggregate(last=Max("date"))["last"]


def dates_to_bill(reseller: Reseller, until: date) -> list[date]:
    """Every date after the last completed run up to ``until`` (the first of them may be planned and half-billed);
    a new reseller starts at its first subscription's start."""
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
    wall_clock: WallClock | None = None,
    until: date | None = None,
    reseller_ids: list[int] | None = None,
    progress: Progress = _no_progress,
    on_day: Callable[[Reseller, DayResult], None] | None = None,
) -> list[DayResult]:
    """Run every due billing day of every reseller (or the given ones), each on its own calendar, in this process.
    ``wall_now`` decides the due days; the runs' stamps come from ``wall_clock`` (default: ``wall_now``)."""
    stamps = wall_clock or (lambda: wall_now)
    resellers = Reseller.objects.order_by("id")
    if reseller_ids is not None:
        resellers = resellers.filter(pk__in=reseller_ids)
    results = []
    for reseller in resellers:
        last_day = until or clock.local_date(wall_now, reseller.timezone)
        for day in dates_to_bill(reseller, last_day):
            result = run_billing_day(reseller, day, wall_clock=stamps, progress=progress)
            results.append(result)
            if on_day:
                on_day(reseller, result)
    return results


def run_billing_day(
    reseller: Reseller, day: date, *, wall_clock: WallClock, progress: Progress = _no_progress
) -> DayResult:
    """Plan the day (or find its plan) and bill its unfinished chunks one after another, in this process."""
    plan = plan_billing_day(reseller.pk, day, now=wall_clock())
    if plan is None:
        return DayResult(reseller.pk, day, skipped=True)
    pending = list(plan.chunks.filter(finished_at=None).order_by("position").values_list("pk", flat=True))
    done = plan.chunk_count - len(pending)
    progress("billing accounts", done, plan.chunk_count)
    completed = False
    for chunk_id in pending:
        completed = run_billing_chunk(chunk_id, wall_clock=wall_clock).day_finished or completed
        done += 1
        progress("billing accounts", done, plan.chunk_count)
    if not completed:
        # Another process billed the chunks this one found unfinished, and completed the day.
        return DayResult(reseller.pk, day, skipped=True)
    run = BillingRun.objects.get(reseller_id=reseller.pk, date=day)
    return DayResult(reseller.pk, day, skipped=False, counts=run.counts)


# --- planning ---------------------------------------------------------------------------------------


def plan_billing_day(reseller_id: int, day: date, *, now: datetime) -> BillingDayPlan | None:
    """The day's plan, written now if it has none; ``None`` when the day (or a later one) is complete.

    Days are billed in order: planning a day while another one is unfinished is refused."""
    with transaction.atomic(durable=True):
        reseller = lock_for_billing_day(reseller_id)
        if BillingRun.objects.filter(reseller=reseller, date__gte=day).exists():
            return None
        unfinished = BillingDayPlan.objects.filter(reseller=reseller, chunks_finished__lt=F("chunk_count"))
        plan = unfinished.first()
        if plan is not None:
            if plan.date != day:
                raise BillingPlanMismatch(f"{plan.date} is still being billed; {day} must wait for it")
            return plan
        plan = _write_plan(reseller, day, now)
        if plan.chunk_count == 0:
            # No accounts: the day is complete as soon as it is planned.
            BillingRun.objects.create(
                reseller=reseller, date=day, counts=dict.fromkeys(COUNTS, 0), started_at=now, finished_at=now
            )
            return None
        return plan


def _account_ranges(reseller_id: int) -> list[tuple[int, int]]:
    """The reseller's accounts as consecutive id ranges ``(lo, hi]`` of ARREARS_BILLING_CHUNK_ACCOUNTS accounts each
    (a chunk is one transaction and one task)."""
    size = settings.ARREARS_BILLING_CHUNK_ACCOUNTS
    bounds = [
        row[0]
        for row in sql.fetch_all(
            f"SELECT id FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS position, COUNT(*) OVER () AS total"
            f" FROM {sql.table(Account)} WHERE reseller_id = %s) AS ranked"
            " WHERE position %% %s = 0 OR position = total ORDER BY id",
            [reseller_id, size],
        )
    ]
    return list(zip([0, *bounds[:-1]], bounds, strict=True))


def _closing_invoices(alias: str) -> str:
    """The chunk's invoices that close today (R3): open, their period ended before today."""
    return f"{sql.in_accounts(alias)} AND {alias}.status = 'open' AND {alias}.to_date < %s"


def _write_plan(reseller: Reseller, day: date, now: datetime) -> BillingDayPlan:
    ranges = _account_ranges(reseller.pk)
    sql_day = sql.db_date(day)
    counted = []
    for lo, hi in ranges:
        # A closing invoice gets a payment when its total is positive (R5, R6); its total is the sum of its closed
        # charges, which are the ones closed now and those that close today (R2) — nothing else can close them now
        # that the day counts as billed.
        invoices, payments = sql.fetch_all(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN (SELECT COALESCE(SUM(c.amount), 0)"
            f" FROM {sql.table(Charge)} c WHERE c.invoice_id = i.id AND (c.status = 'closed'"
            "  OR (c.status = 'blocked' AND c.close_date <= %s))) > 0 THEN 1 ELSE 0 END), 0)"
            f" FROM {sql.table(Invoice)} i WHERE {_closing_invoices('i')}",
            [sql_day, reseller.pk, lo, hi, sql_day],
        )[0]
        counted.append((lo, hi, invoices, payments))
    first_invoice = reserve_numbers(reseller.pk, "invoice", sum(row[2] for row in counted))
    first_payment = reserve_numbers(reseller.pk, "payment", sum(row[3] for row in counted))
    mark_billing_begun(reseller.pk, day)
    plan = BillingDayPlan.objects.create(
        reseller=reseller,
        date=day,
        started_at=now,
        settings={name: getattr(reseller, name) for name in PLANNED_SETTINGS},
        chunk_count=len(counted),
    )
    chunks = []
    for position, (lo, hi, invoices, payments) in enumerate(counted):
        chunks.append(
            BillingChunk(
                plan=plan,
                position=position,
                after_account_id=lo,
                last_account_id=hi,
                first_invoice_number=first_invoice,
                invoice_count=invoices,
                first_payment_number=first_payment,
                payment_count=payments,
            )
        )
        first_invoice += invoices
        first_payment += payments
    BillingChunk.objects.bulk_create(chunks, batch_size=500)
    return plan


# --- chunks -----------------------------------------------------------------------------------------


def run_billing_chunk(chunk_id: int, *, wall_clock: WallClock) -> ChunkResult:
    """Bill one chunk's accounts for its day, in one durable transaction; the day's last chunk completes it."""
    with transaction.atomic(durable=True):
        # The chunk's row lock makes a second worker given the same chunk wait, then find it finished. Only the
        # chunk's row (of=self): locking the plan row joined to it too would run the day's chunks one at a time.
        chunk = BillingChunk.objects.select_for_update(of=("self",)).select_related("plan").get(pk=chunk_id)
        plan = chunk.plan
        if chunk.finished_at is not None:
            return ChunkResult(plan.reseller_id, plan.date, day_finished=False)
        reseller = Reseller(pk=plan.reseller_id, **plan.settings)
        counts = _BillingDay(reseller, plan.date, chunk).run()
        chunk.finished_at = wall_clock()
        chunk.counts = counts
        chunk.save(update_fields=["finished_at", "counts"])
        # One row every chunk of the day updates, last thing before its commit: the chunks' completions are
        # serialized there, so exactly one of them sees the day complete.
        finished = sql.fetch_all(
            f"UPDATE {sql.table(BillingDayPlan)} SET chunks_finished = chunks_finished + 1 WHERE id = %s"
            " RETURNING chunks_finished",
            [plan.pk],
        )[0][0]
        day_finished = finished == plan.chunk_count
        if day_finished:
            totals = dict.fromkeys(COUNTS, 0)
            for chunk_counts in BillingChunk.objects.filter(plan=plan).values_list("counts", flat=True):
                for name, value in chunk_counts.items():
                    totals[name] += value
            BillingRun.objects.create(
                reseller_id=plan.reseller_id,
                date=plan.date,
                counts=totals,
                started_at=plan.started_at,
                finished_at=chunk.finished_at,
            )
    return ChunkResult(plan.reseller_id, plan.date, day_finished=day_finished)


# --- one chunk of one billing day ------------------------------------------------------------------


class _BillingDay:
    """The day's steps over one chunk's accounts: every statement is scoped by ``sql.in_accounts``."""

    def __init__(self, reseller: Reseller, day: date, chunk: BillingChunk):
        self.reseller = reseller
        self.day = day
        self.chunk = chunk
        self.accounts = (chunk.after_account_id, chunk.last_account_id)
        self.scope = [reseller.pk, *self.accounts]  # the parameters of sql.in_accounts
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
            reseller_id=self.reseller.pk, today=self.day, accounts=self.accounts, actor=SYSTEM, now=self.now
        )
        # Last: only what is still unpaid after today's receipts and expiries is announced.
        counts["due_date_reminders"] = announce_due_dates(self.reseller, self.day, now=self.now, accounts=self.accounts)
        counts["billing_day_reminders"] = announce_billing_days(
            self.reseller, self.day, now=self.now, accounts=self.accounts
        )
        return counts

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
        starting_mid_period = [
            row[0]
            for row in sql.fetch_all(
                f"SELECT DISTINCT billing_day FROM {sql.table(Subscription)} WHERE {sql.in_accounts()}"
                f" AND start_date = %s AND status IN {BILLABLE_STATUSES} AND billing_day <> %s ORDER BY billing_day",
                [*self.scope, self.sql_day, self.day.day],
            )
        ]
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
        chunk = (
            f"{sql.in_accounts('s')} AND s.billing_day = %s AND s.{start_condition} AND s.status IN {BILLABLE_STATUSES}"
        )
        chunk_params = [*self.scope, billing_day, self.sql_day]
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
        return len(rows)

    # 2. the billing day closes the ended period's charges (R2) ---------------------------------------

    def close_ended_charges(self) -> int:
        rows = sql.fetch_all(
            f"UPDATE {sql.table(Charge)} SET status = 'closed', closed_at = %s, updated_at = %s"
            f" WHERE {sql.in_accounts()} AND status = 'blocked' AND close_date <= %s"
            " RETURNING id, invoice_id, account_id, amount",
            [self.stamp, self.stamp, *self.scope, self.sql_day],
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
        return len(rows)

    # 3. billing day + 1 closes the invoices and creates their payments (R3, R5–R7, R10, R20) --------

    def close_invoices(self) -> tuple[int, int]:
        closed = self._close_invoices()
        payments = self._create_payments()
        if len(closed) != self.chunk.invoice_count or len(payments) != self.chunk.payment_count:
            raise BillingPlanMismatch(
                f"chunk {self.chunk.pk} closed {len(closed)} invoices and created {len(payments)} payments;"
                f" its plan counted {self.chunk.invoice_count} and {self.chunk.payment_count}"
            )
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
        return len(closed), len(payments)

    def _close_invoices(self) -> list[tuple]:
        """Today's closing invoices of the chunk, numbered from the chunk's first number in account order."""
        invoice, charge = sql.table(Invoice), sql.table(Charge)
        document_id = sql.number_text("%s", "ranked.doc_number")
        return sql.fetch_all(
            "WITH ranked AS (SELECT i.id AS invoice_id,"
            "  %s + ROW_NUMBER() OVER (ORDER BY i.account_id, i.id) - 1 AS doc_number"
            f"  FROM {invoice} i WHERE {_closing_invoices('i')})"
            f" UPDATE {invoice} SET status = 'closed', closed_at = %s, updated_at = %s, managed_externally = %s,"
            f" number = ranked.doc_number, document_id = {document_id}, original_document_id = {document_id},"
            f" total = COALESCE((SELECT SUM(c.amount) FROM {charge} c WHERE c.invoice_id = ranked.invoice_id"
            "  AND c.status = 'closed'), 0)"
            f" FROM ranked WHERE {invoice}.id = ranked.invoice_id AND {invoice}.status = 'open'"
            f" RETURNING {invoice}.id, {invoice}.account_id, {invoice}.total, {invoice}.document_id,"
            f" {invoice}.billing_date",
            [
                self.chunk.first_invoice_number,
                *self.scope,
                self.sql_day,
                self.stamp,
                self.stamp,
                self.reseller.external_invoices,
                self.reseller.invoice_number_prefix,
                self.reseller.invoice_number_prefix,
            ],
        )

    def _create_payments(self) -> list[tuple]:
        """One payment for rendered services per invoice closed today with a positive total (R5, R6), numbered
        in account order: in default mode due on closing date + expiration period − 1 (R20), in ERP mode with
        none (R7)."""
        invoice, payment = sql.table(Invoice), sql.table(Payment)
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
            f"  %s + ROW_NUMBER() OVER (ORDER BY i.account_id, i.id) - 1 AS number, {due_date} AS due_date,"
            f"  {expiration_date} AS expiration_date FROM {invoice} i"
            f"  JOIN {sql.table(Account)} a ON a.id = i.account_id"
            f"  JOIN {sql.table(AccountClass)} ac ON ac.id = a.account_class_id"
            f"  WHERE {sql.in_accounts('i')} AND i.status = 'closed' AND i.closed_at = %s AND i.total > 0"
            f"  AND NOT EXISTS (SELECT 1 FROM {payment} p WHERE p.invoice_id = i.id) ORDER BY i.account_id, i.id"
            ") AS new_payments RETURNING id, invoice_id, account_id, total, due_date, document_id",
            [
                self.reseller.payment_number_prefix,
                self.stamp,
                self.stamp,
                self.chunk.first_payment_number,
                *dates,
                *self.scope,
                self.stamp,
            ],
        )

    # 4. default mode: the balance pays what falls due today (R21) ------------------------------------

    def pay_due_payments_from_balance(self) -> int:
        payment, invoice, account = sql.table(Payment), sql.table(Invoice), sql.table(Account)
        # Per account, payments are taken oldest first while the running total fits the balance; an account's
        # payments are all in its chunk.
        rows = sql.fetch_all(
            "WITH candidates AS (SELECT p.id AS payment_id, p.account_id AS payer_id,"
            "  SUM(p.total) OVER (PARTITION BY p.account_id ORDER BY p.id) AS running_total"
            f"  FROM {payment} p JOIN {invoice} i ON i.id = p.invoice_id"
            f"  WHERE {sql.in_accounts('p')} AND p.status = 'waiting_for_payment' AND p.due_date = %s"
            "  AND p.type = 'rendered_services' AND i.managed_externally = FALSE)"
            f" UPDATE {payment} SET status = 'paid_from_balance', amount_paid_from_balance = {payment}.total,"
            "  closed_at = %s, updated_at = %s"
            f" FROM candidates JOIN {account} a ON a.id = candidates.payer_id"
            f" WHERE {payment}.id = candidates.payment_id"
            f" AND candidates.running_total <= a.balance AND {payment}.status = 'waiting_for_payment'"
            f" RETURNING {payment}.id, {payment}.account_id, {payment}.total, {payment}.document_id,"
            f" {payment}.invoice_id",
            [*self.scope, self.sql_day, self.stamp, self.stamp],
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
        return len(rows)

    # 5. the day after the due date an unpaid payment expires (R22) -----------------------------------

    def expire_overdue_payments(self) -> int:
        rows = sql.fetch_all(
            f"UPDATE {sql.table(Payment)} SET status = 'expired', updated_at = %s WHERE {sql.in_accounts()}"
            " AND status = 'waiting_for_payment' AND due_date < %s RETURNING id, account_id, document_id, invoice_id",
            [self.stamp, *self.scope, self.sql_day],
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
        return len(rows)
