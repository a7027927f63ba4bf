"""Benchmark one billing day of the engine against a raw-SQL floor.

Builds N accounts, each with one subscription, one open invoice for 2026-10-01..2026-11-01 and K
blocked charges closing on 2026-11-01, then:

* engine: ``run_billing_day`` for 2026-11-01 (closes the charges, R2) and 2026-11-02 (closes the
  invoices, numbers them and creates their payments), through Django, with every event row;
* floor: on an identical copy of the database, in this same process, only the state changes, as a
  handful of raw SQL statements through sqlite3 / psycopg, no events, no chunking.

It prints both times, their ratio and peak memory, and checks that the engine produced exactly the
rows the floor produced (and the counts and totals the data implies). See bench/README.md.

    .venv/bin/python bench/billing_day.py                       # 100,000 accounts on SQLite
    .venv/bin/python bench/billing_day.py --accounts 400000
    .venv/bin/python bench/billing_day.py --database-url postgres://postgres@127.0.0.1:5432/arrears_bench

The data is built in a child process so that the memory figures of this process cover the engine
and the floor, not the build.
"""

import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

BUILT_AT = datetime(2026, 9, 15, tzinfo=UTC)
PERIOD_START, PERIOD_END = date(2026, 10, 1), date(2026, 11, 1)
LAST_BILLED = date(2026, 10, 31)
CHARGES_DAY, INVOICES_DAY = date(2026, 11, 1), date(2026, 11, 2)
NEXT_PERIOD_END = date(2026, 12, 1)
PLAN_NAME, PLAN_FEE, TAX_RATE_BP = "Bench plan", 1_000, 2_000
BUILD_BATCH = 20_000  # accounts per build transaction


# --- charge amounts: deterministic, varied, computable on both sides -----------------------------


def charge_net_sql(account: str, line: str) -> str:
    return f"(100 + ({account} * 37 + {line} * 101) %% 9900)"


def expected_invoice_totals_sum(accounts: int, per_account: int) -> int:
    total = 0
    for account in range(1, accounts + 1):
        for line in range(1, per_account + 1):
            net = 100 + (account * 37 + line * 101) % 9900
            total += net + (net * TAX_RATE_BP + 5000) // 10000
    return total


# --- memory -------------------------------------------------------------------------------------


def _status_kb(field: str) -> int | None:
    try:
        match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def current_rss_mb() -> float:
    kb = _status_kb("VmRSS")
    return kb / 1024 if kb is not None else float("nan")


def reset_peak_rss() -> bool:
    """Linux: writing 5 to clear_refs resets the peak (VmHWM) to the current RSS."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    kb = _status_kb("VmHWM")
    if kb is None:
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024


def ru_maxrss_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU time (user + system) of this process: with SQLite that is all of the work, so it is a
    figure that other load on the machine disturbs less than wall time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load_average() -> str:
    return " ".join(f"{load:.1f}" for load in os.getloadavg())


# --- databases ----------------------------------------------------------------------------------


class Target:
    """Where the engine's database and the floor's copy live."""

    def __init__(self, database_url: str | None, workdir: Path, workers: int = 0):
        self.workdir = workdir
        if database_url is None:
            database_url = f"sqlite:///{workdir / 'engine.sqlite3'}"
        self.url = database_url
        parts = urlsplit(database_url)
        self.postgres = parts.scheme in ("postgres", "postgresql")
        if self.postgres:
            self.name = parts.path.lstrip("/")
            self.floor_name = f"{self.name}_floor"
            self.floor_url = urlunsplit(parts._replace(path=f"/{self.floor_name}"))
            # With --workers N: the 1-worker run bills NAME, the N-worker run a copy, NAME_workers.
            self.workers_name = f"{self.name}_workers" if workers > 1 else ""
            self.workers_url = urlunsplit(parts._replace(path=f"/{self.workers_name}"))
            self.admin_url = urlunsplit(parts._replace(path="/postgres"))
        elif parts.scheme == "sqlite":
            self.path = Path(database_url.removeprefix("sqlite:///")).resolve()
            self.floor_path = self.path.with_name(self.path.stem + "-floor" + self.path.suffix)
        else:
            raise SystemExit(f"--database-url must be sqlite:///… or postgres://…, got {database_url!r}")

    def _admin(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)

    def recreate(self, template: str | None = None) -> None:
        if self.postgres:
            self._admin(
                f'DROP DATABASE IF EXISTS "{self.floor_name}" WITH (FORCE)',
                f'DROP DATABASE IF EXISTS "{self.name}_workers" WITH (FORCE)',
                f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)',
                f'CREATE DATABASE "{self.name}"' + (f' TEMPLATE "{template}"' if template else ""),
            )
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            for path in (self.path, self.floor_path):
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)

    def copy_for_floor(self) -> None:
        """Called after every connection to the built database is closed."""
        if self.postgres:
            self._admin(f'CREATE DATABASE "{self.floor_name}" TEMPLATE "{self.name}"')
            if self.workers_name:
                self._admin(f'CREATE DATABASE "{self.workers_name}" TEMPLATE "{self.name}"')
        else:
            shutil.copyfile(self.path, self.floor_path)

    def drop(self) -> None:
        if self.postgres:
            self._admin(
                f'DROP DATABASE IF EXISTS "{self.floor_name}" WITH (FORCE)',
                f'DROP DATABASE IF EXISTS "{self.name}_workers" WITH (FORCE)',
                f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)',
            )
        else:
            for path in (self.path, self.floor_path):
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)

    def raw_connect(self, floor: bool, url: str | None = None):
        """A plain DB-API connection (no Django) in autocommit; the caller issues BEGIN/COMMIT."""
        if self.postgres:
            import psycopg

            return psycopg.connect(url or (self.floor_url if floor else self.url), autocommit=True)
        conn = sqlite3.connect(self.floor_path if floor else self.path, isolation_level=None, timeout=120)
        # The same pragmas the application's connections use (arrears/settings.py).
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def param(self, sql: str) -> str:
        """The floor and the checks write ``%s`` placeholders; sqlite3 wants ``?``."""
        return sql if self.postgres else sql.replace("%s", "?")


def setup_django(target: Target) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "arrears.settings"
    os.environ["DATABASE_URL"] = target.url
    os.environ["ARREARS_DATA_DIR"] = str(target.workdir)
    import django

    django.setup()


# --- build (runs in a child process) ------------------------------------------------------------


def build(target: Target, accounts: int, per_account: int, recurring: bool) -> None:
    from django.core.management import call_command
    from django.db import connection, transaction

    from arrears.billing.models import BillingRun
    from arrears.catalog.services import create_plan
    from arrears.core import sql
    from arrears.core.actors import SYSTEM
    from arrears.customers.models import AccountClass
    from arrears.tenants.models import Reseller
    from arrears.tenants.services import create_reseller

    started = time.perf_counter()

    def say(message: str) -> None:
        print(f"  [{time.perf_counter() - started:6.1f} s] {message}", flush=True)

    call_command("migrate", verbosity=0)
    say("migrated")
    reseller = create_reseller(name="Bench reseller", currency="EUR", actor=SYSTEM, now=BUILT_AT)
    plan = create_plan(
        reseller=reseller,
        name=PLAN_NAME,
        fee=PLAN_FEE,
        billing_day=1,
        tax_rate_bp=TAX_RATE_BP,
        actor=SYSTEM,
        now=BUILT_AT,
    )
    account_class = AccountClass.objects.get(reseller=reseller, is_default=True)
    BillingRun.objects.create(reseller=reseller, date=LAST_BILLED, counts={}, started_at=BUILT_AT, finished_at=BUILT_AT)
    Reseller.objects.filter(pk=reseller.pk).update(billed_through=LAST_BILLED)

    stamp = sql.db_datetime(BUILT_AT)
    start, end, close = sql.db_date(PERIOD_START), sql.db_date(PERIOD_END), sql.db_date(PERIOD_END)
    status = "active" if recurring else "stopped"
    with connection.cursor() as cursor:
        if target.postgres:
            cursor.execute("CREATE TEMP TABLE bench_seq (i bigint PRIMARY KEY)")
            cursor.execute("INSERT INTO bench_seq SELECT generate_series(1, %s)", [max(accounts, per_account)])
        else:
            cursor.execute("CREATE TEMP TABLE bench_seq (i INTEGER PRIMARY KEY)")
            cursor.execute(
                "INSERT INTO bench_seq WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                " WHERE i < %s) SELECT i FROM n",
                [max(accounts, per_account)],
            )
    net = charge_net_sql("a.i", "k.i")
    first_description = f"{PLAN_NAME} ({PERIOD_START.isoformat()} – {date(2026, 10, 31).isoformat()})"
    statements = [
        (
            "INSERT INTO customers_account (id, reseller_id, account_class_id, name, email, address, balance,"
            " created_at, updated_at) SELECT a.i, %s, %s, 'Account ' || a.i, 'customer' || a.i || '@example.com', '',"
            " 0, %s, %s FROM bench_seq a WHERE a.i BETWEEN %s AND %s",
            [reseller.pk, account_class.pk, stamp, stamp],
        ),
        (
            "INSERT INTO subscriptions_subscription (id, reseller_id, account_id, plan_id, status, billing_day,"
            " start_date, created_at, updated_at) SELECT a.i, %s, a.i, %s, %s, 1, %s, %s, %s"
            " FROM bench_seq a WHERE a.i BETWEEN %s AND %s",
            [reseller.pk, plan.pk, status, start, stamp, stamp],
        ),
        (
            "INSERT INTO invoices_invoice (id, reseller_id, account_id, billing_day, billing_date, from_date,"
            " to_date, status, payment_model, currency, total, managed_externally, approved, attachment_kind,"
            " attachment_name, attachment_url, attachment_content_type, created_at, updated_at)"
            " SELECT a.i, %s, a.i, 1, %s, %s, %s, 'open', 'postpay', 'EUR', 0, FALSE, FALSE, '', '', '', '', %s, %s"
            " FROM bench_seq a WHERE a.i BETWEEN %s AND %s",
            [reseller.pk, start, start, end, stamp, stamp],
        ),
        (
            "INSERT INTO charges_charge (id, reseller_id, account_id, subscription_id, invoice_id, kind, description,"
            " quantity, unit_price, net_amount, tax_rate_bp, tax_amount, amount, period_from, period_to, close_date,"
            " status, created_at, updated_at)"
            " SELECT id, %s, account_id, account_id, account_id, kind, description, 1000, net, net, %s,"
            " (net * %s + 5000) / 10000, net + (net * %s + 5000) / 10000, %s, %s, %s, 'blocked', %s, %s FROM ("
            f"  SELECT (a.i - 1) * %s + k.i AS id, a.i AS account_id, {net} AS net,"
            "  CASE WHEN k.i = 1 THEN 'recurring' ELSE 'usage' END AS kind,"
            "  CASE WHEN k.i = 1 THEN %s ELSE 'Usage line ' || k.i END AS description"
            "  FROM bench_seq a CROSS JOIN bench_seq k WHERE a.i BETWEEN %s AND %s AND k.i <= %s"
            "  ORDER BY a.i, k.i) AS lines",
            None,
        ),
    ]
    charge_params = [
        reseller.pk,
        TAX_RATE_BP,
        TAX_RATE_BP,
        TAX_RATE_BP,
        start,
        end,
        close,
        stamp,
        stamp,
        per_account,
        first_description,
    ]
    for lo in range(1, accounts + 1, BUILD_BATCH):
        hi = min(lo + BUILD_BATCH - 1, accounts)
        with transaction.atomic(), connection.cursor() as cursor:
            for statement, params in statements:
                if params is None:
                    cursor.execute(statement, [*charge_params, lo, hi, per_account])
                else:
                    cursor.execute(statement, [*params, lo, hi])
        say(f"built {hi:,}/{accounts:,} accounts ({hi * per_account:,} charges)")

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_seq")
        if target.postgres:
            for table in ("customers_account", "subscriptions_subscription", "invoices_invoice", "charges_charge"):
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), MAX(id)) FROM {table}")
            # A production database has statistics and visibility maps; a fresh bulk load has neither.
            cursor.execute("VACUUM ANALYZE")
            say("vacuumed and analyzed")
        else:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


# --- the engine ---------------------------------------------------------------------------------


def run_engine() -> tuple[float, list]:
    from django.db import connection

    from arrears.billing.engine import run_billing_day
    from arrears.tenants.models import Reseller

    reseller = Reseller.objects.get()
    connection.ensure_connection()
    started = time.perf_counter()

    def progress(step: str, done: int, total: int) -> None:
        if done == total:
            print(f"  [{time.perf_counter() - started:6.1f} s] {step}: {total:,}", flush=True)

    results = []
    for day in (CHARGES_DAY, INVOICES_DAY):
        results.append(run_billing_day(reseller, day, wall_clock=lambda: datetime.now(UTC), progress=progress))
        print(f"  [{time.perf_counter() - started:6.1f} s] billed {day}: {results[-1].counts}", flush=True)
    return time.perf_counter() - started, results


# --- what the server spends its time on (PostgreSQL, --profile) ---------------------------------


class ServerProfile:
    """Every statement of the engine's connection explained by the server itself: auto_explain with ANALYZE and
    BUFFERS (no per-node timing, which would slow the run), its plans sent to this client as notices and summed
    per statement (the first words of its text): server time, rows, and shared buffers hit / read / dirtied /
    written. The figures bench/README.md quotes."""

    def __init__(self):
        self.totals: dict[str, list[float]] = {}

    def attach(self, connection) -> None:
        with connection.cursor() as cursor:
            cursor.execute("LOAD 'auto_explain'")
            for name, value in (
                ("log_min_duration", "0"),
                ("log_analyze", "on"),
                ("log_buffers", "on"),
                ("log_timing", "off"),
                ("log_wal", "on"),
                ("log_level", "notice"),
            ):
                cursor.execute(f"SET auto_explain.{name} = {value}")
        connection.connection.add_notice_handler(self._notice)

    def _notice(self, diagnostic) -> None:
        text = diagnostic.message_primary or ""
        match = re.search(r"duration: ([0-9.]+) ms", text)
        query = re.search(r"Query Text: (.*)", text)
        if not match or not query:
            return
        words = " ".join(query.group(1).split())
        key = re.sub(r"\s+", " ", words)[:80]
        totals = self.totals.setdefault(key, [0, 0.0, 0, 0, 0, 0, 0, 0])
        totals[0] += 1
        totals[1] += float(match.group(1))
        top = re.search(r"\(actual rows=(\d+)", text)
        totals[2] += int(top.group(1)) if top else 0
        buffers = re.search(r"Buffers: shared ([^\n]*)", text)
        if buffers:
            for position, name in enumerate(("hit", "read", "dirtied", "written"), start=3):
                found = re.search(rf"{name}=(\d+)", buffers.group(1))
                totals[position] += int(found.group(1)) if found else 0
        wal = re.search(r"WAL: records=(\d+)(?: fpi=\d+)? bytes=(\d+)", text)
        if wal:
            totals[7] += int(wal.group(2))

    def report(self, wall_seconds: float) -> None:
        server = sum(t[1] for t in self.totals.values()) / 1000
        print(f"\nserver time by statement (auto_explain; {server:.1f} s of {wall_seconds:.1f} s wall):")
        print(f"  {'s':>7} {'share':>6} {'calls':>6} {'rows':>10} {'hit':>10} {'read':>8} {'dirtied':>8} {'WAL MB':>7}")
        for key, t in sorted(self.totals.items(), key=lambda item: -item[1][1])[:16]:
            print(
                f"  {t[1] / 1000:7.2f} {t[1] / 10 / wall_seconds:5.1f}% {t[0]:6d} {t[2]:10,d} {t[3]:10,d} {t[4]:8,d}"
                f" {t[5]:8,d} {t[7] / 1e6:7.1f}  {key}"
            )


# --- the engine in worker processes -------------------------------------------------------------


def _status_of(pid: int, field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(match.group(1)) if match else 0


def run_workers(target: Target, database_url: str, count: int) -> tuple[float, list[float]]:
    """Both days through the task queue: ``arrears run_huey`` consumers (one worker thread each) bill the chunks
    that ``bill_reseller`` fans out; timed from the enqueue until the second day's ``BillingRun`` is written.
    Returns the seconds and each consumer's peak RSS in MB."""
    import uuid

    import psycopg

    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "HUEY_URL": os.environ.get("HUEY_URL", "redis://127.0.0.1:6379/0"),
        "ARREARS_QUEUE_NAME": f"arrears-bench-{uuid.uuid4().hex[:12]}",
        "ARREARS_DATA_DIR": str(target.workdir),
        "ARREARS_LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "arrears.settings",
    }
    command = [str(Path(sys.executable).parent / "arrears"), "run_huey", "--workers", "1", "--no-periodic"]
    command += ["--delay", "0.01", "--max-delay", "0.1"]
    logs = [open(target.workdir / f"worker-{count}-{n}.log", "w") for n in range(count)]  # noqa: SIM115
    workers = [
        subprocess.Popen(command, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        for log in logs
    ]
    try:
        time.sleep(4)  # Django is loaded and the consumers poll before the clock starts
        for worker in workers:
            if worker.poll() is not None:
                raise SystemExit(f"a worker exited ({worker.returncode}): see {target.workdir}")
        enqueue = (
            "import django; django.setup()\n"
            "from arrears.billing.tasks import bill_reseller\n"
            "from arrears.tenants.models import Reseller\n"
            f"bill_reseller(Reseller.objects.get().pk, '{INVOICES_DAY.isoformat()}')\n"
        )
        conn = psycopg.connect(database_url, autocommit=True)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", enqueue], env=env, check=True, cwd=REPO)
        last_report = 0.0
        while True:
            done = conn.execute("SELECT COUNT(*) FROM billing_billingrun WHERE date = %s", [INVOICES_DAY]).fetchone()[0]
            if done:
                break
            now = time.perf_counter() - started
            if now - last_report >= 15:
                last_report = now
                plans = conn.execute(
                    "SELECT date, chunks_finished, chunk_count FROM billing_billingdayplan ORDER BY date"
                ).fetchall()
                print(f"  [{now:6.1f} s] " + ", ".join(f"{d}: {f}/{c} chunks" for d, f, c in plans), flush=True)
            for worker in workers:
                if worker.poll() is not None:
                    raise SystemExit(f"a worker exited ({worker.returncode}): see {target.workdir}")
            time.sleep(0.1)
        elapsed = time.perf_counter() - started
        conn.close()
        peaks = [_status_of(worker.pid, "VmHWM") / 1024 for worker in workers]
        return elapsed, peaks
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        for log in logs:
            log.close()


# --- the floor ----------------------------------------------------------------------------------


def run_floor(target: Target) -> tuple[float, dict[str, int]]:
    """The same state changes as the engine's two days, as plain SQL on the copy: no events, no chunks,
    no checks beyond the WHERE clauses, one transaction per day."""
    from django.db import connection

    ops = connection.ops
    day1, day2 = ops.adapt_datefield_value(CHARGES_DAY), ops.adapt_datefield_value(INVOICES_DAY)
    stamp1 = ops.adapt_datetimefield_value(datetime(2026, 11, 1, tzinfo=UTC))
    stamp2 = ops.adapt_datetimefield_value(datetime(2026, 11, 2, tzinfo=UTC))
    next_end = ops.adapt_datefield_value(NEXT_PERIOD_END)
    description = f" ({CHARGES_DAY.isoformat()} – {date(2026, 11, 30).isoformat()})"
    if target.postgres:

        def number_text(prefix: str, number: str) -> str:
            return (
                f"({prefix} || CASE WHEN LENGTH(CAST({number} AS TEXT)) >= 8 THEN CAST({number} AS TEXT)"
                f" ELSE LPAD(CAST({number} AS TEXT), 8, '0') END)"
            )

        def plus_days(day_sql: str, days_sql: str) -> str:
            return f"(CAST({day_sql} AS date) + CAST({days_sql} AS integer))"
    else:

        def number_text(prefix: str, number: str) -> str:
            return f"({prefix} || printf('%08d', {number}))"

        def plus_days(day_sql: str, days_sql: str) -> str:
            return f"date({day_sql}, ({days_sql}) || ' days')"

    conn = target.raw_connect(floor=True)
    cursor = conn.cursor()

    def run(statement: str, params) -> int:
        cursor.execute(target.param(statement), params)
        return cursor.rowcount

    def one(statement: str, params):
        cursor.execute(target.param(statement), params)
        return cursor.fetchone()

    counts: dict[str, int] = {}
    started = time.perf_counter()
    run("BEGIN" if target.postgres else "BEGIN IMMEDIATE", [])
    reseller_id, currency, invoice_prefix, payment_prefix, external = one(
        "SELECT id, currency, invoice_number_prefix, payment_number_prefix, external_invoices FROM tenants_reseller"
        " WHERE id = (SELECT MIN(id) FROM tenants_reseller) FOR UPDATE"
        if target.postgres
        else "SELECT id, currency, invoice_number_prefix, payment_number_prefix, external_invoices"
        " FROM tenants_reseller"
        " WHERE id = (SELECT MIN(id) FROM tenants_reseller)",
        [],
    )
    # 2026-11-01: next period's invoices and recurring charges (only active subscriptions have any) ...
    counts["invoices_opened"] = run(
        "INSERT INTO invoices_invoice (reseller_id, account_id, billing_day, billing_date, from_date, to_date,"
        " status, payment_model, currency, total, managed_externally, approved, attachment_kind, attachment_name,"
        " attachment_url, attachment_content_type, created_at, updated_at)"
        " SELECT %s, account_id, 1, %s, %s, %s, 'open', 'postpay', %s, 0, FALSE, FALSE, '', '', '', '', %s, %s"
        " FROM subscriptions_subscription WHERE reseller_id = %s AND billing_day = 1 AND start_date <= %s"
        " AND status IN ('active', 'blocked') GROUP BY account_id ORDER BY account_id",
        [reseller_id, day1, day1, next_end, currency, stamp1, stamp1, reseller_id, day1],
    )
    counts["charges_created"] = run(
        "INSERT INTO charges_charge (reseller_id, account_id, subscription_id, invoice_id, kind, description,"
        " quantity, unit_price, net_amount, tax_rate_bp, tax_amount, amount, period_from, period_to, close_date,"
        " status, created_at, updated_at)"
        " SELECT s.reseller_id, s.account_id, s.id, i.id, 'recurring', pl.name || %s, 1000, pl.fee, pl.fee,"
        " pl.tax_rate_bp, (pl.fee * pl.tax_rate_bp + 5000) / 10000, pl.fee + (pl.fee * pl.tax_rate_bp + 5000) / 10000,"
        " %s, %s, %s, 'blocked', %s, %s FROM subscriptions_subscription s JOIN catalog_plan pl ON pl.id = s.plan_id"
        " JOIN invoices_invoice i ON i.account_id = s.account_id AND i.billing_day = 1 AND i.billing_date = %s"
        " WHERE s.reseller_id = %s AND s.billing_day = 1 AND s.start_date <= %s AND s.status IN ('active', 'blocked')"
        " ORDER BY s.id",
        [description, day1, next_end, next_end, stamp1, stamp1, day1, reseller_id, day1],
    )
    # ... and the ended period's charges close (R2).
    counts["charges_closed"] = run(
        "UPDATE charges_charge SET status = 'closed', closed_at = %s, updated_at = %s"
        " WHERE reseller_id = %s AND status = 'blocked' AND close_date <= %s",
        [stamp1, stamp1, reseller_id, day1],
    )
    run(
        "INSERT INTO billing_billingrun (reseller_id, date, counts, started_at, finished_at)"
        " VALUES (%s, %s, '{}', %s, %s)",
        [reseller_id, day1, stamp1, stamp1],
    )
    run("COMMIT", [])

    # 2026-11-02: the invoices close with their totals and numbers, then their payments are created.
    run("BEGIN" if target.postgres else "BEGIN IMMEDIATE", [])
    first_invoice, first_payment = one(
        "SELECT next_invoice_number, next_payment_number FROM tenants_reseller WHERE id = %s", [reseller_id]
    )
    counts["invoices_closed"] = run(
        "UPDATE invoices_invoice SET status = 'closed', closed_at = %s, updated_at = %s, managed_externally = %s,"
        f" number = ranked.n, document_id = {number_text('%s', 'ranked.n')},"
        f" original_document_id = {number_text('%s', 'ranked.n')},"
        " total = COALESCE((SELECT SUM(c.amount) FROM charges_charge c WHERE c.invoice_id = ranked.id"
        " AND c.status = 'closed'), 0)"
        " FROM (SELECT id, %s + ROW_NUMBER() OVER (ORDER BY id) - 1 AS n FROM invoices_invoice"
        "  WHERE reseller_id = %s AND status = 'open' AND to_date < %s) AS ranked"
        " WHERE invoices_invoice.id = ranked.id",
        [stamp2, stamp2, external, invoice_prefix, invoice_prefix, first_invoice, reseller_id, day2],
    )
    due_date = "NULL" if external else plus_days("%s", "ac.payment_expiration_days - 1")
    expiration_date = "NULL" if external else plus_days("%s", "ac.payment_expiration_days")
    counts["payments_created"] = run(
        "INSERT INTO payments_payment (reseller_id, account_id, invoice_id, type, status, number, document_id,"
        " total, initial_total, amount_paid_from_balance, currency, due_date, expiration_date, comment,"
        " created_at, updated_at)"
        f" SELECT reseller_id, account_id, id, 'rendered_services', 'waiting_for_payment', n, {number_text('%s', 'n')},"
        " total, total, 0, currency, due, expires, '', %s, %s FROM ("
        f"  SELECT i.reseller_id, i.account_id, i.id, i.total, i.currency, {due_date} AS due,"
        f"  {expiration_date} AS expires, %s + ROW_NUMBER() OVER (ORDER BY i.id) - 1 AS n"
        "  FROM invoices_invoice i JOIN customers_account a ON a.id = i.account_id"
        "  JOIN customers_accountclass ac ON ac.id = a.account_class_id"
        "  WHERE i.reseller_id = %s AND i.status = 'closed' AND i.closed_at = %s AND i.total > 0) AS due_payments"
        " ORDER BY id",
        [payment_prefix, stamp2, stamp2, *([] if external else [day2, day2]), first_payment, reseller_id, stamp2],
    )
    run(
        "UPDATE tenants_reseller SET next_invoice_number = next_invoice_number + %s,"
        " next_payment_number = next_payment_number + %s WHERE id = %s",
        [counts["invoices_closed"], counts["payments_created"], reseller_id],
    )
    run(
        "INSERT INTO billing_billingrun (reseller_id, date, counts, started_at, finished_at)"
        " VALUES (%s, %s, '{}', %s, %s)",
        [reseller_id, day2, stamp2, stamp2],
    )
    run("COMMIT", [])
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed, counts


# --- checks -------------------------------------------------------------------------------------

# Each table's compared columns and the order of its rows: natural keys, not ids, because rows the engine inserts
# get their ids in the order their chunks commit, which depends on the number of workers.
COMPARED = {
    "tenants_reseller": ("id, next_invoice_number, next_payment_number", "id"),
    "billing_billingrun": ("reseller_id, date", "reseller_id, date"),
    "invoices_invoice": (
        "account_id, billing_day, billing_date, from_date, to_date, status, currency, total,"
        " number, document_id, original_document_id, managed_externally, created_at, updated_at,"
        " closed_at",
        "account_id, billing_day, billing_date",
    ),
    "charges_charge": (
        "account_id, subscription_id, kind, description, net_amount, tax_amount,"
        " amount, period_from, period_to, close_date, status, created_at, closed_at",
        "account_id, subscription_id, period_from, kind, description, net_amount",
    ),
    "payments_payment": (
        "account_id, invoice_id, type, status, number, document_id, total, initial_total,"
        " amount_paid_from_balance, currency, due_date, expiration_date, created_at, updated_at",
        "invoice_id",
    ),
}


def table_digests(target: Target, floor: bool, url: str | None = None) -> dict[str, tuple[int, str]]:
    conn = target.raw_connect(floor=floor, url=url)
    digests = {}
    for table, (columns, order) in COMPARED.items():
        cursor = conn.cursor()
        cursor.execute(f"SELECT {columns} FROM {table} ORDER BY {order}")
        digest, rows = hashlib.sha256(), 0
        while batch := cursor.fetchmany(20_000):
            rows += len(batch)
            digest.update(repr(batch).encode())
        digests[table] = (rows, digest.hexdigest())
    conn.close()
    return digests


def check_engine_results(
    target: Target, accounts: int, per_account: int, recurring: bool, url: str | None = None
) -> list[str]:
    """Absolute checks on the engine's database: what this data must produce."""
    conn = target.raw_connect(floor=False, url=url)
    cursor = conn.cursor()

    def value(statement: str, params=()):
        cursor.execute(target.param(statement), list(params))
        return cursor.fetchone()[0]

    expected_total = expected_invoice_totals_sum(accounts, per_account)
    old_period = PERIOD_START.isoformat()
    checks = [
        (
            "closed charges",
            value("SELECT COUNT(*) FROM charges_charge WHERE status = 'closed'"),
            accounts * per_account,
        ),
        (
            "blocked charges (next period)",
            value("SELECT COUNT(*) FROM charges_charge WHERE status = 'blocked'"),
            accounts if recurring else 0,
        ),
        ("closed invoices", value("SELECT COUNT(*) FROM invoices_invoice WHERE status = 'closed'"), accounts),
        (
            "open invoices (next period)",
            value("SELECT COUNT(*) FROM invoices_invoice WHERE status = 'open'"),
            accounts if recurring else 0,
        ),
        (
            "sum of closed invoice totals",
            value("SELECT SUM(total) FROM invoices_invoice WHERE status = 'closed'"),
            expected_total,
        ),
        (
            "invoices whose total is not the sum of their charges",
            value(
                "SELECT COUNT(*) FROM invoices_invoice i WHERE i.billing_date = %s AND i.total <> (SELECT SUM(c.amount)"
                " FROM charges_charge c WHERE c.invoice_id = i.id AND c.status = 'closed')",
                [old_period],
            ),
            0,
        ),
        (
            "distinct invoice numbers",
            value("SELECT COUNT(DISTINCT document_id) FROM invoices_invoice WHERE status = 'closed'"),
            accounts,
        ),
        (
            "payments",
            value(
                "SELECT COUNT(*) FROM payments_payment WHERE status = 'waiting_for_payment' AND due_date = %s",
                [date(2026, 11, 11).isoformat()],
            ),
            accounts,
        ),
        (
            "payments whose total is not their invoice's",
            value(
                "SELECT COUNT(*) FROM payments_payment p JOIN invoices_invoice i ON i.id = p.invoice_id"
                " WHERE p.total <> i.total"
            ),
            0,
        ),
    ]
    expected_events = {"charges.closed": accounts, "invoice.closed": accounts, "payment.created": accounts}
    if recurring:
        expected_events |= {"invoice.opened": accounts, "charge.created": accounts}
    for event_type, expected in expected_events.items():
        checks.append(
            (
                f"{event_type} events",
                value(
                    "SELECT COUNT(*) FROM events_event WHERE type = %s AND occurred_at >= %s",
                    [event_type, "2026-11-01" if not target.postgres else datetime(2026, 11, 1, tzinfo=UTC)],
                ),
                expected,
            )
        )
    conn.close()
    failures = []
    for label, got, expected in checks:
        ok = got == expected
        print(f"  {'ok  ' if ok else 'FAIL'} {label}: {got:,} (expected {expected:,})")
        if not ok:
            failures.append(label)
    return failures


# --- main ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--charges-per-account", type=int, default=10)
    parser.add_argument(
        "--database-url",
        help="postgres://…/NAME: NAME and NAME_floor are dropped and recreated "
        "(default: a SQLite file in a temporary directory)",
    )
    parser.add_argument(
        "--recurring",
        action="store_true",
        help="active subscriptions: 2026-11-01 also opens next period's invoices and creates its "
        "recurring charges (the floor does the same inserts)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="PostgreSQL, in process: print the server's time, rows and buffers per statement (auto_explain)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="PostgreSQL: bill through the task queue (HUEY_URL, default redis://127.0.0.1:6379/0) with 1 worker"
        " process, then with N on a copy, instead of in this process",
    )
    parser.add_argument(
        "--build-only",
        action="store_true",
        help="PostgreSQL: build the data into --database-url's NAME and stop (for --built NAME later)",
    )
    parser.add_argument(
        "--built",
        metavar="NAME",
        help="PostgreSQL: start from a copy of the database NAME made by --build-only instead of building",
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases (and print where they are)")
    parser.add_argument("--no-check", action="store_true", help="skip the result checks after the timings")
    parser.add_argument("--build-into", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.build_into:  # the child process
        target = Target(args.build_into, Path(args.workdir), workers=args.workers)
        setup_django(target)
        build(target, args.accounts, args.charges_per_account, args.recurring)
        return 0

    workdir = Path(tempfile.mkdtemp(prefix="arrears-bench-"))
    target = Target(args.database_url, workdir, workers=args.workers)
    if args.workers and not target.postgres:
        raise SystemExit("--workers needs a postgres:// --database-url (SQLite has one writer: it bills in process)")
    backend = "PostgreSQL" if target.postgres else "SQLite"
    print(
        f"Arrears billing-day benchmark: {args.accounts:,} accounts x {args.charges_per_account} blocked charges,"
        f" {backend}, subscriptions {'active (recurring charges)' if args.recurring else 'stopped'},"
        f" {os.cpu_count()} CPUs, load average {load_average()}",
        flush=True,
    )
    try:
        build_started = time.perf_counter()
        if args.built:
            target.recreate(template=args.built)
            print(f"copied the database {args.built} built earlier", flush=True)
        else:
            target.recreate()
            print("building (child process) ...", flush=True)
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--build-into",
                    target.url,
                    "--workdir",
                    str(workdir),
                    "--accounts",
                    str(args.accounts),
                    "--charges-per-account",
                    str(args.charges_per_account),
                    "--workers",
                    str(args.workers),
                    *(["--recurring"] if args.recurring else []),
                ],
                check=True,
            )
        if args.build_only:
            print(f"built {target.url}")
            args.keep = True
            return 0
        target.copy_for_floor()
        build_seconds = time.perf_counter() - build_started
        build_peak = ru_maxrss_mb(resource.RUSAGE_CHILDREN)

        setup_django(target)
        from django.db import connection

        worker_runs: dict[int, tuple[float, list[float]]] = {}
        engine_seconds = engine_cpu = engine_peak = rss_before = process_peak_after_engine = 0.0
        if args.workers:
            for count, url in sorted({1: target.url, args.workers: target.workers_url or target.url}.items()):
                print(f"engine: {count} worker process(es), both days through the queue ...", flush=True)
                worker_runs[count] = run_workers(target, url, count)
                seconds, peaks = worker_runs[count]
                print(f"  {count} worker(s): {seconds:.2f} s, peak RSS per worker {[round(p) for p in peaks]} MB")
            engine_seconds = worker_runs[1][0]
        else:
            connection.ensure_connection()
            profile = ServerProfile() if args.profile and target.postgres else None
            if profile:
                profile.attach(connection)
            rss_before = current_rss_mb()
            reset_peak_rss()
            print("engine: run_billing_day 2026-11-01 and 2026-11-02 ...", flush=True)
            cpu_started = cpu_seconds()
            engine_seconds, _ = run_engine()
            engine_cpu = cpu_seconds() - cpu_started
            engine_peak = peak_rss_mb()
            process_peak_after_engine = ru_maxrss_mb()
            if profile:
                profile.report(engine_seconds)
            connection.close()

        print("floor: raw SQL on the copy ...", flush=True)
        reset_peak_rss()
        cpu_started = cpu_seconds()
        floor_seconds, floor_counts = run_floor(target)
        floor_cpu = cpu_seconds() - cpu_started
        floor_peak = peak_rss_mb()
        process_peak = max(process_peak_after_engine, ru_maxrss_mb())
        print(f"  floor row counts: {floor_counts}", flush=True)

        failures: list[str] = []
        if not args.no_check:
            engine_urls = {"engine": None}
            if args.workers > 1:
                engine_urls = {"engine, 1 worker": target.url, f"engine, {args.workers} workers": target.workers_url}
            floor_digests = table_digests(target, True)
            for label, url in engine_urls.items():
                print(f"checks: {label}: results ...", flush=True)
                failures += check_engine_results(
                    target, args.accounts, args.charges_per_account, args.recurring, url=url
                )
                print(f"checks: {label}: database vs floor database, row by row ...", flush=True)
                for table, (rows, digest) in table_digests(target, False, url=url).items():
                    same = floor_digests[table][1] == digest
                    print(
                        f"  {'ok  ' if same else 'FAIL'} {table}: {rows:,} rows {'identical' if same else 'DIFFER'}"
                        f" (floor: {floor_digests[table][0]:,} rows)"
                    )
                    if not same:
                        failures.append(f"{label}: {table} differs from the floor")

        ratio = engine_seconds / floor_seconds
        result = {
            "backend": backend,
            "accounts": args.accounts,
            "charges_per_account": args.charges_per_account,
            "recurring": args.recurring,
            "build_s": round(build_seconds, 1),
            "engine_s": round(engine_seconds, 2),
            "floor_s": round(floor_seconds, 2),
            "ratio": round(ratio, 2),
            "engine_cpu_s": round(engine_cpu, 2),
            "floor_cpu_s": round(floor_cpu, 2),
            "load_average": load_average(),
            "rss_before_engine_mb": round(rss_before),
            "engine_peak_rss_mb": round(engine_peak),
            "floor_peak_rss_mb": round(floor_peak),
            "process_peak_rss_mb": round(process_peak),
            "build_child_peak_rss_mb": round(build_peak),
            "checks_failed": failures,
        }
        if worker_runs:
            result["workers"] = {
                str(count): {"s": round(seconds, 2), "peak_rss_mb_per_worker": [round(p) for p in peaks]}
                for count, (seconds, peaks) in worker_runs.items()
            }
        print()
        print(f"build (child process)     {build_seconds:8.1f} s   peak RSS {build_peak:6.0f} MB")
        print(
            f"engine (2 billing days)   {engine_seconds:8.2f} s   peak RSS {engine_peak:6.0f} MB"
            f"   CPU of this process {engine_cpu:6.2f} s (RSS before the engine: {rss_before:.0f} MB)"
        )
        print(
            f"floor (raw SQL)           {floor_seconds:8.2f} s   peak RSS {floor_peak:6.0f} MB"
            f"   CPU of this process {floor_cpu:6.2f} s"
        )
        print(
            f"ratio engine / floor      {ratio:8.2f}       (CPU ratio {engine_cpu / floor_cpu:.2f};"
            f" load average now {load_average()})"
        )
        print(f"peak RSS of this process  {process_peak:8.0f} MB   (ru_maxrss; the build ran in a child)")
        if worker_runs:
            one = worker_runs[1][0]
            for count, (seconds, peaks) in worker_runs.items():
                print(
                    f"engine, {count} worker(s)       {seconds:8.2f} s   x{seconds / one:.2f} of 1 worker,"
                    f" x{seconds / floor_seconds:.2f} of the floor; peak RSS per worker"
                    f" {', '.join(f'{p:.0f}' for p in peaks)} MB"
                )
        print(f"RESULT {json.dumps(result)}")
        if failures:
            print(f"CHECKS FAILED: {', '.join(failures)}")
            return 1
        return 0
    finally:
        if args.keep:
            where = (
                f"{target.url} and {target.floor_url}" if target.postgres else f"{target.path} and {target.floor_path}"
            )
            print(f"kept {where}")
        else:
            try:
                from django.db import connections

                connections.close_all()
            except Exception:  # noqa: BLE001 - Django may not be set up yet
                pass
            target.drop()
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
