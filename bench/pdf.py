"""Benchmark rendering invoice PDFs through the task queue: a real Huey consumer with one worker thread.

Builds N closed invoices with five charges each in a fresh data directory (SQLite database and SQLite queue),
requests their documents (``request_documents``, which enqueues the render tasks after commit), then starts
``arrears run_huey`` with one worker as a child process and waits until every document is rendered. It prints
progress, invoices per second, the consumer's CPU time and peak memory, a last ``RESULT {…}`` line, and exits
non-zero if a document was not rendered. See bench/README.md.

    .venv/bin/python bench/pdf.py                   # 1,000 invoices
    .venv/bin/python bench/pdf.py --invoices 200 --keep
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from datetime import time as day_time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SUBSCRIPTIONS_START = date(2026, 1, 31)  # one day of January, billed on billing day 1
CLOSING_DAY = date(2026, 2, 2)  # the January invoices close
PLANS = (  # name, monthly fee (net, minor units), tax rate in basis points
    ("Cloud server M", 310_000, 2000),
    ("Managed backup", 62_000, 2000),
    ("Domain and DNS", 9_300, 770),
)
USAGE = (  # description, quantity, unit price
    ("Object storage (GB)", "125.5", 4),
    ("Outbound traffic (GB)", "42.25", 9),
)
POLL_SECONDS = 0.5
PROGRESS_EVERY_SECONDS = 5.0
STALL_SECONDS = 120.0  # no document rendered for this long: the consumer is stuck


def say(message: str) -> None:
    print(message, flush=True)


def load_average() -> str:
    return " ".join(f"{load:.1f}" for load in os.getloadavg())


def setup_django(workdir: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "arrears.settings"
    os.environ["ARREARS_DATA_DIR"] = str(workdir)
    for name in ("DATABASE_URL", "HUEY_URL", "ARREARS_HUEY_IMMEDIATE"):
        os.environ.pop(name, None)
    import django

    django.setup()


def build(invoices: int) -> list[int]:
    """N accounts with three subscriptions and two usage charges each, billed until their invoices close, all
    through the real services and the billing engine. Returns the closed invoices' ids."""
    from django.core.management import call_command

    from arrears.billing.engine import run_billing
    from arrears.catalog.services import create_plan
    from arrears.core.actors import SYSTEM
    from arrears.customers.models import AccountClass
    from arrears.customers.services import create_account
    from arrears.invoices.models import Invoice
    from arrears.invoices.services import post_usage_charge
    from arrears.subscriptions.services import create_subscription
    from arrears.tenants.services import create_reseller

    call_command("migrate", verbosity=0)
    setup_time = datetime(2026, 1, 1, tzinfo=UTC)
    usage_time = datetime.combine(SUBSCRIPTIONS_START, day_time(12), tzinfo=UTC)
    reseller = create_reseller(name="Bench Cloud GmbH", currency="EUR", timezone="UTC", actor=SYSTEM, now=setup_time)
    plans = [
        create_plan(reseller=reseller, name=name, fee=fee, billing_day=1, tax_rate_bp=tax, actor=SYSTEM, now=setup_time)
        for name, fee, tax in PLANS
    ]
    account_class = AccountClass.objects.get(reseller=reseller, is_default=True)
    for number in range(1, invoices + 1):
        account = create_account(
            reseller=reseller,
            account_class=account_class,
            name=f"Customer {number:05d} Ltd",
            email=f"billing{number}@customer.example",
            address=f"{number} Harbour Road\n{10000 + number} Springfield\nAustria",
            actor=SYSTEM,
            now=setup_time,
        )
        subscriptions = [
            create_subscription(
                account=account, plan=plan, start_date=SUBSCRIPTIONS_START, actor=SYSTEM, now=setup_time
            )
            for plan in plans
        ]
        for description, quantity, unit_price in USAGE:
            post_usage_charge(
                subscriptions[0],
                description=description,
                quantity=quantity,
                unit_price=unit_price,
                usage_date=SUBSCRIPTIONS_START,
                actor=SYSTEM,
                now=usage_time,
            )
        if number % 250 == 0:
            say(f"  {number:,} accounts")
    run_billing(
        wall_now=datetime.combine(CLOSING_DAY, day_time(12), tzinfo=UTC), until=CLOSING_DAY, reseller_ids=[reseller.pk]
    )
    return list(Invoice.objects.filter(status="closed").order_by("id").values_list("pk", flat=True))


def rendered_count() -> int:
    from django.db.models import F

    from arrears.invoices.models import InvoiceDocument

    return InvoiceDocument.objects.filter(rendered_version__gte=F("version")).count()


def _status_kb(pid: int, field: str) -> int | None:
    try:
        match = re.search(rf"^{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def check_documents(invoice_ids: list[int]) -> tuple[int, int]:
    """Every document rendered, stored and a PDF; one checked with qpdf. Returns (documents, total bytes)."""
    from django.core.files.storage import default_storage

    from arrears.invoices.models import InvoiceDocument

    documents = list(InvoiceDocument.objects.filter(pk__in=invoice_ids).values_list("file", "size", "failed_version"))
    problems = [name for name, _, failed in documents if failed or not name]
    for name, size, _ in documents:
        if name and default_storage.size(name) != size:
            problems.append(name)
    if documents:
        first = default_storage.path(documents[0][0])
        if subprocess.run(["qpdf", "--check", first], capture_output=True).returncode != 0:
            problems.append(f"qpdf --check {first}")
    if problems or len(documents) != len(invoice_ids):
        raise SystemExit(
            f"check failed: {len(documents)} documents for {len(invoice_ids)} invoices, problems: {problems[:5]}"
        )
    return len(documents), sum(size for _, size, _ in documents)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=1_000)
    parser.add_argument("--keep", action="store_true", help="keep the data directory (and print where it is)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="arrears-bench-pdf-"))
    say(
        f"Arrears invoice-PDF benchmark: {args.invoices:,} invoices x {len(PLANS) + len(USAGE)} charges, SQLite,"
        f" one Huey worker thread, {os.cpu_count()} CPUs, load average {load_average()}"
    )
    consumer = None
    try:
        setup_django(workdir)
        from django.conf import settings
        from django.db import connections

        from arrears.core import clock
        from arrears.invoices.documents import DOCUMENTS_PER_TASK, request_documents

        say(f"building in {workdir} ...")
        started = time.perf_counter()
        invoice_ids = build(args.invoices)
        say(f"built {len(invoice_ids):,} closed invoices in {time.perf_counter() - started:.1f} s")
        # Only the render tasks are measured: whatever the build enqueued (event dispatch) is dropped.
        settings.HUEY.flush()
        request_documents(invoice_ids, now=clock.wall_clock())
        queued = settings.HUEY.pending_count()
        say(f"requested {len(invoice_ids):,} documents: {queued} render tasks of up to {DOCUMENTS_PER_TASK} queued")
        connections.close_all()

        log_path = workdir / "consumer.log"
        # --no-periodic: no sweep and no billing run during the measurement, only the queued render tasks.
        command = [
            sys.executable,
            "-m",
            "arrears.cli",
            "run_huey",
            "--workers",
            "1",
            "--worker-type",
            "thread",
            "--no-periodic",
        ]
        started = time.perf_counter()
        with open(log_path, "w") as log:
            consumer = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
        import psutil

        process = psutil.Process(consumer.pid)
        peak_sampled = 0
        done = first_done_at = 0
        last_progress_at = last_change_at = started
        while done < len(invoice_ids):
            time.sleep(POLL_SECONDS)
            if consumer.poll() is not None:
                raise SystemExit(f"the consumer exited with {consumer.returncode}; see {log_path}")
            peak_sampled = max(peak_sampled, process.memory_info().rss)
            now = time.perf_counter()
            current = rendered_count()
            if current != done:
                if not done:
                    first_done_at = now
                done, last_change_at = current, now
            if now - last_change_at > STALL_SECONDS:
                raise SystemExit(
                    f"no document rendered for {STALL_SECONDS:.0f} s ({done}/{len(invoice_ids)}); see {log_path}"
                )
            if now - last_progress_at >= PROGRESS_EVERY_SECONDS:
                last_progress_at = now
                say(
                    f"  {done:5,}/{len(invoice_ids):,} rendered, {now - started:6.1f} s,"
                    f" {done / (now - started):5.1f} /s, consumer RSS {process.memory_info().rss / 2**20:.0f} MB,"
                    f" load {load_average()}"
                )
        elapsed = time.perf_counter() - started
        cpu = process.cpu_times()
        consumer_cpu = cpu.user + cpu.system
        peak_kb = _status_kb(consumer.pid, "VmHWM")
        peak_mb = (peak_kb * 1024 if peak_kb else peak_sampled) / 2**20
        rss_mb = process.memory_info().rss / 2**20
        documents, total_bytes = check_documents(invoice_ids)
        steady = (len(invoice_ids) - 1) / (time.perf_counter() - first_done_at) if len(invoice_ids) > 1 else 0.0
        result = {
            "invoices": len(invoice_ids),
            "charges_per_invoice": len(PLANS) + len(USAGE),
            "seconds": round(elapsed, 2),
            "invoices_per_second": round(len(invoice_ids) / elapsed, 2),
            "invoices_per_second_after_first": round(steady, 2),
            "consumer_cpu_seconds": round(consumer_cpu, 2),
            "invoices_per_cpu_second": round(len(invoice_ids) / consumer_cpu, 2),
            "consumer_peak_rss_mb": round(peak_mb, 1),
            "consumer_rss_at_end_mb": round(rss_mb, 1),
            "average_pdf_kb": round(total_bytes / documents / 1024, 1),
            "load_average": load_average(),
        }
        say(
            f"rendered {documents:,} PDFs in {elapsed:.1f} s including the consumer's start:"
            f" {result['invoices_per_second']} invoices/s ({result['invoices_per_second_after_first']} /s after the"
            f" first); consumer CPU {consumer_cpu:.1f} s ({result['invoices_per_cpu_second']} invoices per CPU"
            f" second); consumer peak RSS {peak_mb:.0f} MB (at the end {rss_mb:.0f} MB);"
            f" average PDF {result['average_pdf_kb']} KB; load average {load_average()}"
        )
        say("RESULT " + json.dumps(result))
        return 0
    finally:
        if consumer is not None and consumer.poll() is None:
            consumer.send_signal(signal.SIGINT)  # huey: graceful stop
            try:
                consumer.wait(timeout=30)
            except subprocess.TimeoutExpired:
                consumer.kill()
                consumer.wait()
        if args.keep:
            say(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
