"""Two ``arrears billing run`` processes started together on the same database bill nothing twice.

The test runs against a real, separate database — a fresh SQLite file, or a fresh PostgreSQL
database on the test server when the session runs on PostgreSQL — built, billed and inspected only
through the ``arrears`` command and small scripts in their own processes, exactly as an operator
would run two overlapping cron jobs.
"""

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.db import connection

from tests.separate_databases import postgres_database, run_command, run_python

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
UNTIL = date(2026, 2, 17)
DAYS = (UNTIL - date(2026, 1, 1)).days + 1
RESELLERS = {"Default mode": (False, 200), "ERP mode": (True, 100)}  # name: (external_invoices, accounts)

SETUP = """
import json
import sys
from datetime import date, datetime, timezone

import django

django.setup()

from arrears.catalog.services import create_plan
from arrears.core.actors import Actor
from arrears.customers.services import create_account, create_account_class
from arrears.payments.services import top_up_balance
from arrears.subscriptions.services import create_subscription
from arrears.tenants.services import create_reseller

SETUP = Actor.system("setup script")
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
for name, (erp, accounts) in json.loads(sys.argv[1]).items():
    reseller = create_reseller(name=name, currency="EUR", external_invoices=erp, actor=SETUP, now=T0)
    short_terms = create_account_class(reseller=reseller, name="Short", payment_expiration_days=3, actor=SETUP,
                                       now=T0)
    monthly = create_plan(reseller=reseller, name="Monthly", fee=10_000, billing_day=1, tax_rate_bp=2000,
                          actor=SETUP, now=T0)
    mid_month = create_plan(reseller=reseller, name="Mid-month", fee=4_500, billing_day=15, actor=SETUP, now=T0)
    for n in range(accounts):
        account = create_account(reseller=reseller, name=f"Account {n}",
                                 account_class=short_terms if n % 3 == 0 else None, actor=SETUP, now=T0)
        if n % 2:
            top_up_balance(account, 15_000, actor=SETUP, now=T0)
        create_subscription(account=account, plan=monthly, start_date=date(2026, 1, 1), actor=SETUP, now=T0)
        create_subscription(account=account, plan=mid_month, start_date=date(2026, 1, 10), actor=SETUP, now=T0)
"""

STATS = """
import json
from collections import Counter

import django

django.setup()

from django.db.models import F

from arrears.billing.models import BillingRun
from arrears.charges.models import Charge
from arrears.events.models import Event
from arrears.invoices.models import Invoice
from arrears.payments.models import Payment
from arrears.tenants.models import Reseller

stats = {}
for reseller in Reseller.objects.order_by("id"):
    runs = list(BillingRun.objects.filter(reseller=reseller).order_by("date").values_list("date", "counts"))
    run_totals = Counter()
    for _, counts in runs:
        run_totals.update(counts)
    invoices = Invoice.objects.filter(reseller=reseller)
    closed = invoices.filter(status="closed")
    payments = Payment.objects.filter(reseller=reseller)
    rendered = payments.filter(type="rendered_services")
    # (the daily announcements repeat per subject by design, once per date and days left: see
    # tests/billing/test_reminders.py)
    engine_events = list(Event.objects.filter(reseller=reseller, actor_label="billing engine").exclude(
        type__in=["payment.due_date_coming", "billing_day.coming"]).values_list("type", "subject_type", "subject_id"))
    stats[reseller.name] = {
        "run_dates": [day.isoformat() for day, _ in runs],
        "run_totals": dict(run_totals),
        "invoices": invoices.count(),
        "invoice_numbers": sorted(closed.values_list("number", flat=True)),
        "invoice_document_ids": len(set(closed.values_list("document_id", flat=True))),
        "charges": Charge.objects.filter(reseller=reseller).count(),
        "recurring_periods": len(set(Charge.objects.filter(reseller=reseller, kind="recurring").values_list(
            "subscription_id", "period_from"))),
        "payment_numbers": sorted(payments.values_list("number", flat=True)),
        "rendered_payments": rendered.count(),
        "invoices_with_payment": len(set(rendered.values_list("invoice_id", flat=True))),
        "payment_matches_invoice": rendered.filter(invoice__total=F("total")).count(),
        "payments_by_status": dict(Counter(rendered.values_list("status", flat=True))),
        "engine_events_by_type": dict(Counter(event_type for event_type, _, _ in engine_events)),
        "engine_events_distinct": len(set(engine_events)),
        "engine_events": len(engine_events),
    }
print(json.dumps(stats))
"""


@pytest.fixture
def separate_database(tmp_path):
    """Environment for subprocesses that points at a new, migrated database of the session's kind."""
    if connection.vendor == "postgresql":
        url, drop = postgres_database("arrears_concurrency")
    else:
        url, drop = f"sqlite:///{tmp_path / 'concurrent.sqlite3'}", lambda: None
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "ARREARS_DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "arrears.settings",
    }
    try:
        run_command([str(BIN / "arrears"), "migrate", "-v", "0"], env)
        yield env
    finally:
        drop()


def test_two_billing_processes_started_together_bill_nothing_twice(separate_database):
    env = separate_database
    # Given 300 accounts with two subscriptions each (billing days 1 and 15), under two resellers
    run_python(SETUP, env, json.dumps(RESELLERS))

    # When two billing processes are started at the same moment for the same date
    command = [str(BIN / "arrears"), "billing", "run", "--date", UNTIL.isoformat()]
    processes = [
        subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        outputs = [process.communicate(timeout=180) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    # Then both succeed, and between them every day of every reseller was billed exactly once
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr
    summaries = [json.loads(stdout) for stdout, _ in outputs]
    assert sum(summary["days_billed"] for summary in summaries) == DAYS * len(RESELLERS)

    stats = json.loads(run_python(STATS, env))
    assert sorted(stats) == sorted(RESELLERS)
    for name, (erp, accounts) in RESELLERS.items():
        seen = stats[name]
        top_ups = accounts // 2
        # one BillingRun per (reseller, date), for every date
        assert seen["run_dates"] == [(date(2026, 1, 1) + timedelta(days=n)).isoformat() for n in range(DAYS)]
        # per account: invoices for billing day 1 (Jan, Feb) and 15 (Dec–Jan prorated, Jan–Feb, Feb–Mar),
        # of which Jan (day 1), Dec–Jan and Jan–Feb (day 15) are closed, each with one payment
        assert seen["invoices"] == 5 * accounts
        assert seen["charges"] == seen["recurring_periods"] == 5 * accounts
        assert seen["invoice_numbers"] == list(range(1, 3 * accounts + 1))
        assert seen["invoice_document_ids"] == 3 * accounts
        assert seen["rendered_payments"] == seen["invoices_with_payment"] == 3 * accounts
        assert seen["payment_matches_invoice"] == 3 * accounts
        assert seen["payment_numbers"] == list(range(1, 3 * accounts + top_ups + 1))
        # what the runs counted is exactly what the tables hold
        totals = seen["run_totals"]
        assert totals["charges_created"] == 5 * accounts
        assert totals["invoices_closed"] == totals["payments_created"] == 3 * accounts
        statuses = seen["payments_by_status"]
        assert totals["payments_paid_from_balance"] == statuses.get("paid_from_balance", 0)
        assert totals["payments_expired"] == statuses.get("expired", 0)
        # and every engine event was written once
        assert seen["engine_events"] == seen["engine_events_distinct"]
        by_type = seen["engine_events_by_type"]
        assert by_type["invoice.opened"] == 5 * accounts
        assert by_type["charge.created"] == 5 * accounts
        assert by_type["charges.closed"] == by_type["invoice.closed"] == by_type["payment.created"] == 3 * accounts
        assert by_type.get("payment.received", 0) == totals["payments_paid_from_balance"]
        assert by_type.get("payment.expired", 0) == totals["payments_expired"]
        assert by_type.get("subscription.blocked", 0) == totals["subscriptions_blocked"]
        if not erp:
            assert totals["payments_paid_from_balance"] and totals["payments_expired"]
            assert totals["subscriptions_blocked"]
