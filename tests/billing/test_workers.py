"""Billing days fanned out over real worker processes: 1, 2 or 4 ``arrears run_huey`` consumers, or a consumer
killed with SIGKILL in the middle of the days and a new one started, bill exactly what one process billing the
days one after another bills — the same rows, the same document numbers, the same events.

Every variant runs on its own copy of one database built through the services (a fresh SQLite file, or a
PostgreSQL database made from the built one as its template when the session runs on PostgreSQL), with the task
queue of a real deployment: SQLite's queue file beside it, or Redis under a queue name of its own. Chunks of 12
accounts, so that every day of every reseller is several chunks billed by whichever worker takes them.

Ids are allotted in the order rows are written, which differs between workers, so the rows are compared by their
natural keys: an invoice by (account, billing day, billing date), a recurring charge by (subscription, period), a
payment by its invoice, an event by its type and subject; ids inside event payloads likewise.
"""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path

import pytest
from django.db import connection

from tests.separate_databases import postgres_database, run_command, run_python

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
UNTIL = date(2026, 2, 8)
RESELLERS = {"Default mode": (False, 40), "ERP mode": (True, 22)}  # name: (external_invoices, accounts)
CHUNK_ACCOUNTS = "12"
WAIT_SECONDS = 240

SETUP = """
import json
import sys
from datetime import date, datetime, timezone

import django

django.setup()

from arrears.catalog.services import create_plan
from arrears.invoices.services import post_usage_charge
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
    free = create_plan(reseller=reseller, name="Free", fee=0, billing_day=5, actor=SETUP, now=T0)
    for n in range(accounts):
        account = create_account(reseller=reseller, name=f"Account {n}",
                                 account_class=short_terms if n % 3 == 0 else None, actor=SETUP, now=T0)
        if n % 2:
            top_up_balance(account, 15_000, actor=SETUP, now=T0)
        first = create_subscription(account=account, plan=monthly, start_date=date(2026, 1, 20), actor=SETUP, now=T0)
        create_subscription(account=account, plan=mid_month, start_date=date(2026, 1, 21), actor=SETUP, now=T0)
        if n % 5 == 0:
            create_subscription(account=account, plan=free, start_date=date(2026, 1, 22), actor=SETUP, now=T0)
        if n % 4 == 1:
            post_usage_charge(first, description="Traffic", quantity=f"{n}.5", unit_price=37,
                              usage_date=date(2026, 1, 20), actor=SETUP,
                              now=datetime(2026, 1, 20, 12, tzinfo=timezone.utc))
"""

ENQUEUE = """
import sys

import django

django.setup()

from arrears.billing.tasks import bill_reseller
from arrears.tenants.models import Reseller

for reseller_id in Reseller.objects.order_by("id").values_list("pk", flat=True):
    bill_reseller(reseller_id, sys.argv[1])
"""

SNAPSHOT = """
import json

import django

django.setup()

from arrears.billing.models import BillingRun, Reminder
from arrears.charges.models import Charge
from arrears.customers.models import Account, BalanceEntry
from arrears.events.models import Event
from arrears.invoices.models import Invoice
from arrears.payments.models import Payment
from arrears.subscriptions.models import Subscription
from arrears.tenants.models import Reseller


def ordered(items):
    return sorted(items, key=lambda item: json.dumps(item, default=str, sort_keys=True))


def rows(model, *exclude):
    names = [f.attname for f in model._meta.concrete_fields if f.attname not in exclude]
    return list(model.objects.order_by("pk").values(*names))


invoice_key = {i.pk: [i.account_id, i.billing_day, str(i.billing_date)] for i in Invoice.objects.all()}
charge_key = {
    c.pk: [c.subscription_id, c.kind, str(c.period_from)] + ([] if c.kind == "recurring" else [c.pk])
    for c in Charge.objects.all()
}
payment_key = {
    p.pk: ["invoice", *invoice_key[p.invoice_id]] if p.invoice_id else ["payment", p.pk] for p in Payment.objects.all()
}
subject_key = {"invoice": invoice_key, "charge": charge_key, "payment": payment_key}
payload_key = {"invoice_id": invoice_key, "payment_id": payment_key, "charge_ids": charge_key}


def natural(row, **keys):
    out = dict(row)
    out.pop("id", None)
    for column, mapping in keys.items():
        if out.get(column) is not None:
            out[column] = mapping[out[column]]
    return out


def payload(value):
    return {
        key: ([payload_key[key][v] for v in item] if isinstance(item, list) else payload_key[key].get(item, item))
        if key in payload_key and item is not None else item
        for key, item in value.items()
    }


def events():
    found = []
    for row in rows(Event):
        row = natural(row)
        mapping = subject_key.get(row["subject_type"])
        row["subject_id"] = mapping[row["subject_id"]] if mapping else row["subject_id"]
        row["payload"] = payload(row["payload"])
        found.append(row)
    return found


reminder_subjects = {"payment.due_date_coming": payment_key}
snapshot = {
    "resellers": rows(Reseller),
    "accounts": rows(Account),
    "subscriptions": rows(Subscription),
    "invoices": ordered(natural(r) for r in rows(Invoice)),
    "charges": ordered(natural(r, invoice_id=invoice_key) for r in rows(Charge)),
    "payments": ordered(natural(r, invoice_id=invoice_key) for r in rows(Payment)),
    "balance_entries": ordered(natural(r, payment_id=payment_key) for r in rows(BalanceEntry)),
    "events": ordered(events()),
    "reminders": ordered(
        [r.kind, reminder_subjects.get(r.kind, {}).get(r.subject_id, r.subject_id), str(r.due_on), r.days_left]
        for r in Reminder.objects.all()
    ),
    "billing_runs": [[r.reseller_id, str(r.date), r.counts] for r in BillingRun.objects.order_by("reseller", "date")],
}
print(json.dumps(snapshot, default=str, sort_keys=True))
"""


class Database:
    """A built database of the session's kind, and copies of it for the variants."""

    def __init__(self, root: Path):
        self.root = root
        self.postgres = connection.vendor == "postgresql"
        self._drops = []

    def new(self, name: str) -> dict:
        """The environment of a fresh variant: its database, data directory and task queue."""
        data_dir = self.root / name
        data_dir.mkdir()
        env = {
            **os.environ,
            "ARREARS_DATA_DIR": str(data_dir),
            "DJANGO_SETTINGS_MODULE": "arrears.settings",
            "ARREARS_BILLING_CHUNK_ACCOUNTS": CHUNK_ACCOUNTS,
            "ARREARS_LOG_LEVEL": "WARNING",
        }
        env.pop("ARREARS_HUEY_IMMEDIATE", None)
        if self.postgres:
            # The deployment's queue: Redis, under a name no other test run shares.
            env["HUEY_URL"] = "redis://127.0.0.1:6379/0"
            env["ARREARS_QUEUE_NAME"] = f"arrears-test-{uuid.uuid4().hex[:12]}"
        else:
            env.pop("HUEY_URL", None)  # the queue file in the data directory
        return env

    def build(self) -> dict:
        env = self.new("built")
        if self.postgres:
            env["DATABASE_URL"], drop = postgres_database("arrears_workers")
            self._drops.append(drop)
        else:
            env["DATABASE_URL"] = f"sqlite:///{self.root / 'built' / 'arrears.sqlite3'}"
        run_command([str(BIN / "arrears"), "migrate", "-v", "0"], env)
        run_python(SETUP, env, json.dumps(RESELLERS))
        self.built = env
        return env

    def copy(self, name: str) -> dict:
        env = self.new(name)
        if self.postgres:
            import psycopg

            source = self.built["DATABASE_URL"].rsplit("/", 1)
            target = f"{source[1]}_{name}"
            with psycopg.connect(f"{source[0]}/postgres", autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source[1]}"')

            def drop(target=target):
                with psycopg.connect(f"{source[0]}/postgres", autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')

            self._drops.append(drop)
            env["DATABASE_URL"] = f"{source[0]}/{target}"
        else:
            built = Path(self.built["DATABASE_URL"].removeprefix("sqlite:///"))
            with sqlite3.connect(built) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            copied = self.root / name / "arrears.sqlite3"
            shutil.copyfile(built, copied)
            env["DATABASE_URL"] = f"sqlite:///{copied}"
        return env

    def value(self, env: dict, query: str):
        """One value read straight from the variant's database (no Django, no process start)."""
        url = env["DATABASE_URL"]
        if self.postgres:
            import psycopg

            with psycopg.connect(url, autocommit=True) as conn:
                return conn.execute(query).fetchone()[0]
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)
        try:
            return conn.execute(query).fetchone()[0]
        finally:
            conn.close()

    def drop_all(self) -> None:
        for drop in reversed(self._drops):
            drop()


def _start_workers(count: int, env: dict) -> list[subprocess.Popen]:
    """Consumers of one worker thread each, logging to a file (a pipe nobody reads would fill and stall them)."""
    command = [str(BIN / "arrears"), "run_huey", "--workers", "1", "--no-periodic", "--delay", "0.01"]
    command += ["--max-delay", "0.1"]
    workers = []
    for _ in range(count):
        log = open(Path(env["ARREARS_DATA_DIR"]) / f"worker-{len(workers)}.log", "a+")  # noqa: SIM115
        workers.append(
            subprocess.Popen(command, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        )
        workers[-1].log = log
    return workers


def _stop(workers: list[subprocess.Popen], sig: int = signal.SIGTERM) -> None:
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, sig)
    for worker in workers:
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(30)
        worker.log.close()


def _wait_for(condition, workers: list[subprocess.Popen], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        for worker in workers:
            if worker.poll() is not None:
                worker.log.seek(0)
                raise AssertionError(f"a worker exited ({worker.returncode}) before {what}:\n{worker.log.read()}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _billed_through_until(database: Database, env: dict) -> bool:
    done = database.value(env, f"SELECT COUNT(*) FROM billing_billingrun WHERE date = '{UNTIL.isoformat()}'")
    return done == len(RESELLERS)


def _bill_with_workers(database: Database, env: dict, count: int) -> None:
    run_python(ENQUEUE, env, UNTIL.isoformat())
    workers = _start_workers(count, env)
    try:
        _wait_for(lambda: _billed_through_until(database, env), workers, "the days to be billed")
    finally:
        _stop(workers)


def _snapshot(env: dict) -> dict:
    return json.loads(run_python(SNAPSHOT, env))


@pytest.fixture(scope="module")
def database(tmp_path_factory, django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        database = Database(tmp_path_factory.mktemp("workers"))
        try:
            database.build()
            yield database
        finally:
            database.drop_all()


@pytest.fixture(scope="module")
def one_process(database):
    """What one process billing the days one after another writes: ``arrears billing run`` on a copy."""
    env = database.copy("one_process")
    run_command([str(BIN / "arrears"), "billing", "run", "--date", UNTIL.isoformat()], env)
    snapshot = _snapshot(env)
    # The data makes every step of the engine work, so the comparisons below compare something.
    totals: dict[str, int] = {}
    for _, _, counts in snapshot["billing_runs"]:
        for name, count in counts.items():
            totals[name] = totals.get(name, 0) + count
    assert all(totals[step] for step in totals if step != "subscriptions_unblocked"), totals
    return snapshot


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_any_number_of_workers_bill_what_one_process_bills(database, one_process, workers):
    # Given a copy of the database and its queue
    env = database.copy(f"workers_{workers}")

    # When the days are fanned out over that many worker processes
    _bill_with_workers(database, env, workers)

    # Then every row, number and event is the one the single process wrote
    assert _snapshot(env) == one_process


def test_a_worker_killed_mid_day_and_a_rerun_bill_what_one_process_bills(database, one_process):
    # Given two workers billing the days
    env = database.copy("killed")
    run_python(ENQUEUE, env, UNTIL.isoformat())
    workers = _start_workers(2, env)

    # When both are killed with SIGKILL while a day is half billed
    def half_way() -> bool:
        return (
            database.value(
                env,
                "SELECT COUNT(*) FROM billing_billingchunk c JOIN billing_billingdayplan p ON p.id = c.plan_id"
                " WHERE c.finished_at IS NOT NULL AND p.chunks_finished < p.chunk_count AND p.date > '2026-01-28'",
            )
            > 0
        )

    try:
        _wait_for(half_way, workers, "a day to be half billed")
    finally:
        _stop(workers, signal.SIGKILL)
    unfinished = database.value(env, "SELECT COUNT(*) FROM billing_billingdayplan WHERE chunks_finished < chunk_count")
    assert unfinished >= 1, "the kill came after the day was complete"
    assert not _billed_through_until(database, env)

    # And the sweep queues the resellers again for a new worker
    _bill_with_workers(database, env, 1)

    # Then the database holds exactly what an uninterrupted run writes
    assert _snapshot(env) == one_process
