"""Data for bench/api_load.sh: an ERP-mode reseller with N closed, unapproved invoices, and the checks after the run.

    .venv/bin/python bench/api_load_setup.py build --accounts 40000 --out DIR
    .venv/bin/python bench/api_load_setup.py verify --out DIR --approved N --completed M [--in-flight K]

Both subcommands use the database the environment names (``ARREARS_DATA_DIR``, ``DATABASE_URL``); the shell
script points them at a fresh directory under /tmp, so the database is a new SQLite file.

``build`` migrates, creates the reseller (``external_invoices``: every invoice closes managed by the ERP, R10),
a manager and an API token through the services, then bulk-inserts the accounts, their active subscriptions,
their open invoices for 2025-10-01..2025-11-01 and two blocked charges per invoice with ``INSERT … SELECT``
(as bench/billing_day.py does), and lets the billing engine bill 2025-11-01 (closes the charges, opens the
next period) and 2025-11-02 (closes the invoices with their totals and numbers, creates their payments without
a due date, as for every ERP invoice). It writes into DIR:

* ``invoices.txt``: one closed invoice a line, ``id billing_date`` (the wrk scripts read it);
* ``bench.env``: ``RESELLER_ID``, ``TOKEN``, ``INVOICE_COUNT`` and ``INVOICES`` for the shell script.

``verify`` counts what the pairs phase did in the database: invoices approved by the bench (document ids
``BENCH-…``), their payments completed, and the events written for them; it compares them with what the wrk
script counted from the 200 answers (plus at most one call in flight per connection when wrk stopped) and exits
non-zero on a mismatch.
"""

import argparse
import os
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

BUILT_AT = datetime(2025, 9, 15, tzinfo=UTC)
PERIOD_START, PERIOD_END = date(2025, 10, 1), date(2025, 11, 1)
LAST_BILLED = date(2025, 10, 31)
BILLING_DAYS = (date(2025, 11, 1), date(2025, 11, 2))
PLAN_NAME, PLAN_FEE, TAX_RATE_BP = "Bench plan", 1_000, 2_000
MANAGER_EMAIL = "erp-bench@example.com"
BUILD_BATCH = 20_000  # accounts per build transaction
# The document ids the wrk script gives at approval: unique per invoice, never in the platform's own format.
DOCUMENT_ID_PREFIX = "BENCH-"


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arrears.settings")
    import django

    django.setup()


def build(accounts: int, out: Path) -> dict:
    from django.core.management import call_command
    from django.db import connection, transaction

    from arrears.billing.engine import run_billing_day
    from arrears.billing.models import BillingRun
    from arrears.catalog.services import create_plan
    from arrears.core import sql
    from arrears.core.actors import SYSTEM
    from arrears.customers.models import AccountClass
    from arrears.invoices.models import Invoice
    from arrears.tenants.models import Reseller
    from arrears.tenants.services import create_manager, create_reseller
    from arrears.tenants.tokens import create_api_token

    started = time.perf_counter()

    def say(message: str) -> None:
        print(f"  [{time.perf_counter() - started:5.1f} s] {message}", file=sys.stderr, flush=True)

    postgres = connection.vendor == "postgresql"
    call_command("migrate", verbosity=0)
    say("migrated")
    reseller = create_reseller(
        name="ERP bench reseller", currency="EUR", external_invoices=True, actor=SYSTEM, now=BUILT_AT
    )
    manager = create_manager(reseller=reseller, email=MANAGER_EMAIL, actor=SYSTEM, now=BUILT_AT)
    _, secret = create_api_token(manager=manager, name="api_load bench", actor=SYSTEM, now=BUILT_AT)
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
    start, end = sql.db_date(PERIOD_START), sql.db_date(PERIOD_END)
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
    description = f"{PLAN_NAME} ({PERIOD_START.isoformat()} – {date(2025, 10, 31).isoformat()})"
    # Two charges per invoice: the period's fee and a usage line; every total is positive.
    statements = [
        (
            "INSERT INTO customers_account (id, reseller_id, account_class_id, name, email, address, balance,"
            " created_at, updated_at) SELECT a.i, %s, %s, 'Account ' || a.i, 'customer' || a.i || '@example.com', '',"
            " 0, %s, %s FROM bench_seq a WHERE a.i BETWEEN %s AND %s",
            [reseller.pk, account_class.pk, stamp, stamp],
        ),
        (
            "INSERT INTO subscriptions_subscription (id, reseller_id, account_id, plan_id, status, billing_day,"
            " start_date, created_at, updated_at) SELECT a.i, %s, a.i, %s, 'active', 1, %s, %s, %s"
            " FROM bench_seq a WHERE a.i BETWEEN %s AND %s",
            [reseller.pk, plan.pk, start, stamp, stamp],
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
            " SELECT (a.i - 1) * 2 + k.k, %s, a.i, a.i, a.i, k.kind, CASE WHEN k.k = 1 THEN %s ELSE 'Usage' END,"
            " 1000, k.net, k.net, %s, (k.net * %s + 5000) / 10000, k.net + (k.net * %s + 5000) / 10000,"
            " %s, %s, %s, 'blocked', %s, %s"
            " FROM bench_seq a CROSS JOIN (SELECT 1 AS k, 'recurring' AS kind, 1000 AS net"
            "  UNION ALL SELECT 2, 'usage', 250) AS k"
            " WHERE a.i BETWEEN %s AND %s ORDER BY a.i, k.k",
            [reseller.pk, description, TAX_RATE_BP, TAX_RATE_BP, TAX_RATE_BP, start, end, end, stamp, stamp],
        ),
    ]
    for lo in range(1, accounts + 1, BUILD_BATCH):
        hi = min(lo + BUILD_BATCH - 1, accounts)
        with transaction.atomic(), connection.cursor() as cursor:
            for statement, params in statements:
                cursor.execute(statement, [*params, lo, hi])
        say(f"inserted {hi:,}/{accounts:,} accounts with subscriptions, open invoices and charges")
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_seq")
        if postgres:
            for table in ("customers_account", "subscriptions_subscription", "invoices_invoice", "charges_charge"):
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), MAX(id)) FROM {table}")
            cursor.execute("VACUUM ANALYZE")

    for day in BILLING_DAYS:
        result = run_billing_day(reseller, day, wall_clock=lambda: BUILT_AT)
        say(f"billed {day}: {result.counts}")

    closed = list(
        Invoice.objects.filter(
            reseller=reseller,
            status=Invoice.Status.CLOSED,
            managed_externally=True,
            approved=False,
            total__gt=0,
            payment__due_date__isnull=True,
        )
        .order_by("id")
        .values_list("id", "billing_date")
    )
    if len(closed) != accounts:
        raise SystemExit(f"expected {accounts} closed ERP invoices, found {len(closed)}")
    invoices_file = out / "invoices.txt"
    invoices_file.write_text("".join(f"{pk} {billing_date.isoformat()}\n" for pk, billing_date in closed))
    if not postgres:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    facts = {"RESELLER_ID": reseller.pk, "TOKEN": secret, "INVOICE_COUNT": len(closed), "INVOICES": str(invoices_file)}
    (out / "bench.env").write_text("".join(f"{key}={value}\n" for key, value in facts.items()))
    say(f"{len(closed):,} closed ERP invoices, unapproved, listed in {invoices_file}")
    return facts


def verify(out: Path, approved: int, completed: int, in_flight: int) -> bool:
    """The database against the wrk script's counts of 200 answers; ``in_flight`` is the number of connections."""
    from django.db.models import Q

    from arrears.events.models import Event
    from arrears.invoices.models import Invoice
    from arrears.payments.models import Payment

    facts = dict(line.split("=", 1) for line in (out / "bench.env").read_text().splitlines())
    reseller_id = int(facts["RESELLER_ID"])
    bench = Invoice.objects.filter(reseller_id=reseller_id, document_id__startswith=DOCUMENT_ID_PREFIX)
    db_approved = bench.filter(approved=True, approval_date__isnull=False, payment__due_date__isnull=False).count()
    db_completed = bench.filter(
        approved=True, payment__status=Payment.Status.COMPLETED, payment__closed_at__isnull=False
    ).count()
    other_approved = Invoice.objects.filter(
        Q(approved=True) & ~Q(document_id__startswith=DOCUMENT_ID_PREFIX), reseller_id=reseller_id
    ).count()
    events = Event.objects.filter(reseller_id=reseller_id)
    approved_events = events.filter(type="invoice.approved").count()
    due_date_events = events.filter(type="payment.due_date_set").count()
    received_events = events.filter(type="payment.received").count()
    # wrk stops at the end of the phase without waiting for the answers in flight: those calls may have
    # committed without being counted, one per connection at most.
    checks = [
        (
            f"invoices approved in the database ({db_approved:,}) = 200 approve answers ({approved:,})"
            f" + at most {in_flight} in flight",
            0 <= db_approved - approved <= in_flight,
        ),
        (
            f"payments completed in the database ({db_completed:,}) = 200 complete answers ({completed:,})"
            f" + at most {in_flight} in flight",
            0 <= db_completed - completed <= in_flight,
        ),
        (
            f"approved but not completed ({db_approved - db_completed}) <= {in_flight} (one per connection)",
            0 <= db_approved - db_completed <= in_flight,
        ),
        (f"no other invoice approved ({other_approved})", other_approved == 0),
        (
            f"events: invoice.approved {approved_events:,}, payment.due_date_set {due_date_events:,},"
            f" payment.received {received_events:,}",
            approved_events == due_date_events == db_approved and received_events == db_completed,
        ),
    ]
    for text, ok in checks:
        print(f"  {'ok  ' if ok else 'FAIL'} {text}")
    return all(ok for _, ok in checks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="action", required=True)
    build_parser = sub.add_parser("build")
    build_parser.add_argument("--accounts", type=int, default=40_000)
    build_parser.add_argument("--out", type=Path, required=True)
    verify_parser = sub.add_parser("verify")
    verify_parser.add_argument("--out", type=Path, required=True)
    verify_parser.add_argument("--approved", type=int, required=True)
    verify_parser.add_argument("--completed", type=int, required=True)
    verify_parser.add_argument("--in-flight", type=int, default=0)
    args = parser.parse_args()
    setup_django()
    if args.action == "build":
        args.out.mkdir(parents=True, exist_ok=True)
        build(args.accounts, args.out)
    elif not verify(args.out, args.approved, args.completed, args.in_flight):
        sys.exit(1)


if __name__ == "__main__":
    main()
