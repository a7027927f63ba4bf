"""Benchmark the Operator Control Panel's pages on a large reseller: server time per page and the CSV export's memory.

Builds a fresh database with one reseller in ERP mode and N accounts, each with one open and three closed invoices
and the closed invoices' payments (set-based SQL, in a child process), then, in this process, signs a manager in
with Django's test client (``force_login``: the whole Django stack in-process, no HTTP server) and times each page:
a warm-up, then ``--repeat`` requests, p50 / p95 / max in ms and the page's SQL query count. Finally it streams the
invoices CSV export of ``?status=closed`` (3N invoices) chunk by chunk and prints rows/s and the RSS around it.

    .venv/bin/python bench/panels.py                                  # 100,000 accounts, SQLite
    .venv/bin/python bench/panels.py --accounts 10000 --database postgres

See bench/README.md, "Operator panel pages".
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

POSTGRES_SERVER = "postgres://postgres@127.0.0.1:5432"
MANAGER_EMAIL = "bench-manager@example.com"
BUILD_BATCH = 20_000  # accounts per build transaction
TARGET_P95_MS = 150.0


# --- memory -------------------------------------------------------------------------------------


def _status_kb(field: str) -> int | None:
    try:
        match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def rss_mb() -> float:
    kb = _status_kb("VmRSS")
    return kb / 1024 if kb is not None else float("nan")


def peak_rss_mb() -> float:
    kb = _status_kb("VmHWM")
    return kb / 1024 if kb is not None else float("nan")


def reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# --- the periods ----------------------------------------------------------------------------------


def month_start(day: date, back: int) -> date:
    month = day.month - 1 - back
    return date(day.year + month // 12, month % 12 + 1, 1)


def periods(today: date) -> list[tuple[date, date]]:
    """Four monthly periods (billing day 1), the last one the current month's (open)."""
    return [(month_start(today, back), month_start(today, back - 1)) for back in (3, 2, 1, 0)]


# --- build (runs in a child process) ------------------------------------------------------------


def setup_django(url: str, workdir: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "arrears.settings"
    os.environ["DATABASE_URL"] = url
    os.environ["ARREARS_DATA_DIR"] = str(workdir)
    import django

    django.setup()


def build(accounts: int, postgres: bool) -> None:
    """One ERP-mode reseller with ``accounts`` accounts; per account, periods 1-3 closed with payments and
    period 4 open. Period 1: approved, paid (``completed``). Period 2: approved, every fourth payment
    ``expired``, the others paid. Period 3: even accounts approved (due within the next 14 days), odd ones
    waiting for the ERP. An approved invoice of every tenth account states an external total (every twentieth
    equal to the platform's, the others 1.00 less; every fiftieth in USD)."""
    from django.core.management import call_command
    from django.db import connection, transaction

    from arrears.billing.models import BillingRun
    from arrears.core import clock, sql
    from arrears.core.actors import SYSTEM
    from arrears.customers.models import AccountClass
    from arrears.tenants.models import Reseller
    from arrears.tenants.services import create_manager, create_reseller

    started = time.perf_counter()

    def say(message: str) -> None:
        print(f"  [{time.perf_counter() - started:6.1f} s] {message}", flush=True)

    call_command("migrate", verbosity=0)
    say("migrated")
    now = clock.wall_clock()
    today = now.astimezone(UTC).date()
    built_at = now - timedelta(days=130)
    reseller = create_reseller(
        name="Bench ERP reseller", currency="EUR", external_invoices=True, actor=SYSTEM, now=built_at
    )
    create_manager(
        reseller=reseller, email=MANAGER_EMAIL, password="bench-password-1", role="admin", actor=SYSTEM, now=built_at
    )
    account_class = AccountClass.objects.get(reseller=reseller, is_default=True)
    spans = periods(today)
    for _start, end in spans[:3]:
        BillingRun.objects.create(
            reseller=reseller,
            date=end,
            counts={"invoices_closed": accounts, "payments_created": accounts},
            started_at=datetime.combine(end, datetime.min.time(), UTC),
            finished_at=datetime.combine(end, datetime.min.time(), UTC),
        )
    Reseller.objects.filter(pk=reseller.pk).update(billed_through=spans[2][1])
    stamp = sql.db_datetime(built_at)
    with connection.cursor() as cursor:
        if postgres:
            cursor.execute("CREATE TEMP TABLE bench_seq (i bigint PRIMARY KEY)")
            cursor.execute("INSERT INTO bench_seq SELECT generate_series(1, %s)", [accounts])
        else:
            cursor.execute("CREATE TEMP TABLE bench_seq (i INTEGER PRIMARY KEY)")
            cursor.execute(
                "INSERT INTO bench_seq WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                " WHERE i < %s) SELECT i FROM n",
                [accounts],
            )
    true, false = ("TRUE", "FALSE") if postgres else ("1", "0")
    n = accounts
    statements = [
        (
            "INSERT INTO customers_account (id, reseller_id, account_class_id, name, email, address, balance,"
            " created_at, updated_at) SELECT a.i, %s, %s, 'Account ' || a.i,"
            " 'customer' || a.i || '@example.com', '', 0, %s, %s FROM bench_seq a WHERE a.i BETWEEN %s AND %s",
            [reseller.pk, account_class.pk, stamp, stamp],
        )
    ]
    for p, (start, end) in enumerate(spans, start=1):
        closed = p <= 3
        approved = {1: true, 2: true, 3: "(a.i % 2 = 0)", 4: false}[p]
        number = f"({(p - 1) * n} + a.i)"
        total = f"(1000 + (a.i * 37 + {p * 101}) % 9000)" if closed else "0"
        stated = f"({approved} AND a.i % 10 = 0)" if closed else false
        platform_no = sql.number_text("'INV'", number)
        if closed:
            columns = (
                f"{number}, CASE WHEN {approved} THEN 'ERP-' || {number} ELSE {platform_no} END,"
                f" {platform_no}, {approved}, CASE WHEN {approved} THEN %s END,"
                f" CASE WHEN {stated} THEN (CASE WHEN a.i % 20 = 0 THEN {total} ELSE {total} - 100 END) END,"
                f" CASE WHEN {stated} THEN (CASE WHEN a.i % 50 = 0 THEN 'USD' ELSE 'EUR' END) END, %s"
            )
            params = [
                sql.db_date(end + timedelta(days=2)),
                sql.db_datetime(datetime.combine(end, datetime.min.time(), UTC)),
            ]
        else:
            columns = f"NULL, NULL, NULL, {false}, NULL, NULL, NULL, NULL"
            params = []
        statements.append(
            (
                "INSERT INTO invoices_invoice (id, reseller_id, account_id, billing_day, billing_date, from_date,"
                " to_date, status, payment_model, currency, total, number, document_id, original_document_id, approved,"
                " approval_date, external_total, external_currency, closed_at, managed_externally, attachment_kind,"
                " attachment_name, attachment_url, attachment_content_type, created_at, updated_at)"
                f" SELECT {number}, %s, a.i, 1, %s, %s, %s, %s, 'postpay', 'EUR', {total}, {columns},"
                f" {true if closed else false}, '', '', '', '', %s, %s FROM bench_seq a WHERE a.i BETWEEN %s AND %s",
                [
                    reseller.pk,
                    sql.db_date(start),
                    sql.db_date(start),
                    sql.db_date(end),
                    "closed" if closed else "open",
                    *params,
                    stamp,
                    stamp,
                ],
            )
        )
        if not closed:
            continue
        status = {
            1: "'completed'",
            2: "CASE WHEN a.i % 4 = 0 THEN 'expired' ELSE 'completed' END",
            3: "'waiting_for_payment'",
        }[p]
        if p == 3:
            due = f"CASE WHEN {approved} THEN {sql.add_days('%s', 'a.i % 14')} END"
            expiration = f"CASE WHEN {approved} THEN {sql.add_days('%s', 'a.i % 14 + 1')} END"
            due_params = [sql.db_date(today), sql.db_date(today)]
        else:
            due, expiration = "%s", "%s"
            due_params = [sql.db_date(end + timedelta(days=11)), sql.db_date(end + timedelta(days=12))]
        statements.append(
            (
                "INSERT INTO payments_payment (id, reseller_id, account_id, invoice_id, type, status, number,"
                " document_id,"
                " total, initial_total, amount_paid_from_balance, currency, due_date, expiration_date, external_total,"
                " external_currency, comment, created_at, updated_at, closed_at, managed_externally)"
                f" SELECT i.id, i.reseller_id, i.account_id, i.id, 'rendered_services', {status}, i.number,"
                f" {sql.number_text(chr(39) + 'PAY' + chr(39), 'i.number')}, i.total, i.total, 0, i.currency,"
                f" {due}, {expiration}, i.external_total, i.external_currency, '', %s, %s,"
                f" CASE WHEN {status} = 'completed' THEN %s END, i.managed_externally"
                " FROM bench_seq a JOIN invoices_invoice i ON i.id = " + number + " WHERE a.i BETWEEN %s AND %s",
                [*due_params, stamp, stamp, stamp],
            )
        )
    for lo in range(1, accounts + 1, BUILD_BATCH):
        hi = min(lo + BUILD_BATCH - 1, accounts)
        with transaction.atomic(), connection.cursor() as cursor:
            for statement, params in statements:
                # Django's cursor formats %s: a modulo is written %% in the statement.
                cursor.execute(statement.replace(" % ", " %% "), [*params, lo, hi])
        say(f"built {hi:,}/{accounts:,} accounts ({hi * 4:,} invoices, {hi * 3:,} payments)")
    Reseller.objects.filter(pk=reseller.pk).update(next_invoice_number=3 * n + 1, next_payment_number=3 * n + 1)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_seq")
        if postgres:
            for table in ("customers_account", "invoices_invoice", "payments_payment"):
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), MAX(id)) FROM {table}")
            cursor.execute("VACUUM ANALYZE")  # what autovacuum would have done on a live database
            say("vacuumed and analyzed")
        else:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


# --- measuring ----------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


class SqlLog:
    """Every statement a request runs, with its time: ``connection.execute_wrapper`` (it sees the app's raw SQL
    too, and survives the per-request reconnects of SQLite, where CaptureQueriesContext saw nothing)."""

    def __init__(self):
        self.statements: list[tuple[float, str]] = []

    def __call__(self, execute, sql, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.statements.append(((time.perf_counter() - began) * 1000, sql))


def measure(client, url: str, repeat: int, warmup: int) -> dict:
    from django.db import connection

    for _ in range(warmup):
        response = client.get(url)
        if response.status_code != 200:
            return {"url": url, "status": response.status_code}
    log = SqlLog()
    with connection.execute_wrapper(log):
        client.get(url)
    times, cpu = [], []
    for _ in range(repeat):
        began, began_cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        times.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return {
        "url": url,
        "status": 200,
        "p50": statistics.median(times),
        "p95": percentile(times, 0.95),
        "max": max(times),
        "cpu": statistics.median(cpu),
        "queries": len(log.statements),
        "sql_ms": sum(ms for ms, _ in log.statements),
        "slowest_sql": sorted(log.statements, reverse=True)[:3],
    }


def stream_csv(client, url: str) -> dict:
    import gc

    gc.collect()
    reset = reset_peak_rss()
    before, peak_before = rss_mb(), peak_rss_mb()
    began = time.perf_counter()
    response = client.get(url)
    rows = chunks = size = 0
    samples = []
    for chunk in response.streaming_content:
        chunks += 1
        size += len(chunk)
        rows += chunk.count(b"\n")
        if chunks % 20_000 == 0:
            samples.append(rss_mb())
    response.close()
    seconds = time.perf_counter() - began
    return {
        "rows": rows - 1,
        "seconds": seconds,
        "rows_per_s": (rows - 1) / seconds,
        "mb": size / 1e6,
        "rss_before": before,
        "rss_after": rss_mb(),
        "peak_before": peak_before,
        "peak_after": peak_rss_mb(),
        "peak_reset": reset,
        "samples": samples,
    }


def run(args, url: str, workdir: Path) -> int:
    setup_django(url, workdir)
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from arrears.invoices.models import Invoice
    from arrears.tenants.models import Manager

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    manager = Manager.objects.select_related("user").get(user__email=MANAGER_EMAIL)
    client = Client()
    client.force_login(manager.user)
    number = (
        Invoice.objects.filter(reseller=manager.reseller, status="closed", approved=False)
        .order_by("-id")
        .values_list("document_id", flat=True)
        .first()
    )
    pages = [
        ("dashboard", "/operator/"),
        ("invoices", "/operator/invoices/"),
        ("invoices filtered", "/operator/invoices/?status=closed&approved=no"),
        ("invoices searched", f"/operator/invoices/?number={number}"),
        ("invoices sorted", "/operator/invoices/?sort=-total"),
        ("invoices page 1", "/operator/invoices/?page=1"),
        ("invoices page 1,000", "/operator/invoices/?page=1000"),
        ("reconciliation", "/operator/reconciliation/"),
        ("reconciliation, differences", "/operator/reconciliation/?differences=yes&sort=-difference"),
        ("payments", "/operator/payments/"),
    ]
    print(f"\nLoad average {' '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs.")
    print(
        f"Server time in-process (Django test client, force_login), {args.warmup} warm-up + {args.repeat} "
        f"timed requests each; {connection.vendor}, {args.accounts:,} accounts:",
        flush=True,
    )
    header = (
        f"{'page':30} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'CPU p50':>8} {'queries':>8} {'SQL ms':>8}  target"
    )
    print(header)
    print("-" * len(header))
    missed = []
    results = []
    for name, path in pages:
        result = measure(client, path, args.repeat, args.warmup)
        results.append((name, result))
        if result["status"] != 200:
            print(f"{name:30} answered {result['status']} ({path})")
            missed.append(name)
            continue
        ok = result["p95"] < TARGET_P95_MS
        if not ok:
            missed.append(name)
        print(
            f"{name:30} {result['p50']:8.1f} {result['p95']:8.1f} {result['max']:8.1f} {result['cpu']:8.1f}"
            f" {result['queries']:8d} {result['sql_ms']:8.1f}  {'ok' if ok else 'MISSED'}",
            flush=True,
        )
    if args.verbose:
        for name, result in results:
            for ms, text in result.get("slowest_sql", []):
                print(f"  {name}: {ms:.1f} ms  {' '.join(text.split())[:400]}")
    closed = Invoice.objects.filter(reseller=manager.reseller, status="closed").count()
    print(f"\nCSV export /operator/invoices/export.csv?status=closed ({closed:,} invoices), consumed chunk by chunk:")
    csv = stream_csv(client, "/operator/invoices/export.csv?status=closed")
    print(f"  {csv['rows']:,} rows, {csv['mb']:.1f} MB in {csv['seconds']:.1f} s: {csv['rows_per_s']:,.0f} rows/s")
    print(
        f"  RSS before {csv['rss_before']:.1f} MB, after {csv['rss_after']:.1f} MB; peak RSS (VmHWM"
        f"{', reset just before' if csv['peak_reset'] else ''}) before {csv['peak_before']:.1f} MB, after "
        f"{csv['peak_after']:.1f} MB"
    )
    if csv["samples"]:
        print(f"  RSS every 20,000 rows: {', '.join(f'{value:.0f}' for value in csv['samples'])} MB")
    print(
        f"\nTarget p95 < {TARGET_P95_MS:.0f} ms: "
        + ("met by every page" if not missed else f"missed by {', '.join(missed)}")
    )
    return 0 if not missed else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the database (and print where it is)")
    parser.add_argument("--reuse", metavar="URL", help="measure an existing database built by --keep")
    parser.add_argument("--verbose", action="store_true", help="print each page's two slowest statements")
    parser.add_argument("--build-only", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only:
        setup_django(args.build_only, Path(os.environ["BENCH_WORKDIR"]))
        build(args.accounts, args.build_only.startswith("postgres"))
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="arrears-bench-panels-"))
    name = f"arrears_bench_panels_{uuid.uuid4().hex[:8]}"
    url = args.reuse or (
        f"{POSTGRES_SERVER}/{name}" if args.database == "postgres" else f"sqlite:///{workdir / 'panels.sqlite3'}"
    )
    postgres = url.startswith("postgres")

    def admin(statement: str) -> None:
        import psycopg

        with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as conn:
            conn.execute(statement)

    try:
        if not args.reuse:
            if postgres:
                admin(f'CREATE DATABASE "{name}"')
            print(f"Building {args.accounts:,} accounts ({4 * args.accounts:,} invoices) in {url}", flush=True)
            began = time.perf_counter()
            subprocess.run(
                [sys.executable, __file__, "--accounts", str(args.accounts), "--build-only", url],
                check=True,
                env={**os.environ, "BENCH_WORKDIR": str(workdir)},
            )
            print(f"  built in {time.perf_counter() - began:.1f} s", flush=True)
        return run(args, url, workdir)
    finally:
        if args.keep or args.reuse:
            print(f"\nkept: --reuse {url}")
        else:
            from django.db import connections

            connections.close_all()
            if postgres:
                admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
