"""`arrears serve` runs the site, the task consumer and the schedule; the billing tasks drive the engine."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote

import psutil
import pytest
import time_machine
from django.db import OperationalError, connection

from arrears.billing import tasks
from arrears.billing.models import BillingRun
from arrears.billing.tasks import bill_due_days_periodically, run_billing_now
from tests.factories import AccountFactory, ResellerFactory, SubscriptionFactory
from tests.loopback import free_port

STARTUP_TIMEOUT = 30
SHUTDOWN_TIMEOUT = 15


# --- the tasks ------------------------------------------------------------------------------------------


@pytest.fixture
def immediate_huey():
    """The sweep enqueues one task per reseller: run them where they are enqueued, as one worker would."""
    from huey.contrib.djhuey import HUEY

    HUEY.immediate = True
    try:
        yield HUEY
    finally:
        HUEY.immediate = False


def test_the_periodic_task_bills_every_due_day_up_to_the_wall_clock(db, immediate_huey):
    # Given a reseller whose only subscription started two days before "now"
    reseller = ResellerFactory()
    SubscriptionFactory(account=AccountFactory(reseller=reseller), start_date=date(2026, 3, 1))

    # When the periodic task runs at noon on 3 March, twice
    with time_machine.travel(datetime(2026, 3, 3, 12, tzinfo=UTC), tick=False):
        bill_due_days_periodically.call_local()
        bill_due_days_periodically.call_local()

    # Then each day from the start up to the wall clock's date is billed once
    billed = list(BillingRun.objects.filter(reseller=reseller).values_list("date", flat=True))
    assert billed == [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)]


def test_the_periodic_task_fires_every_quarter_hour():
    fires_at = bill_due_days_periodically.s().validate_datetime
    assert all(fires_at(datetime(2026, 3, 3, 12, minute)) for minute in (0, 15, 30, 45))
    assert not fires_at(datetime(2026, 3, 3, 12, 7))


def test_billing_now_bills_only_the_given_resellers(db):
    chosen, other = ResellerFactory(), ResellerFactory()
    for reseller in (chosen, other):
        SubscriptionFactory(account=AccountFactory(reseller=reseller), start_date=date(2026, 3, 1))

    with time_machine.travel(datetime(2026, 3, 1, 12, tzinfo=UTC), tick=False):
        run_billing_now.call_local(reseller_ids=[chosen.pk])

    assert BillingRun.objects.filter(reseller=chosen).count() == 1
    assert not BillingRun.objects.filter(reseller=other).exists()


@pytest.fixture
def queue_in_memory(settings):
    """The real Huey instance, in immediate mode: its storage is in memory, retries go to its schedule."""
    huey = settings.HUEY
    was_immediate = huey.immediate
    huey.immediate = True
    yield huey
    huey.immediate = was_immediate


def test_billing_now_retries_transient_database_errors_three_times(monkeypatch, queue_in_memory):
    def lose_the_connection(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(tasks, "run_billing", lose_the_connection)
    task = run_billing_now.s()
    # Each failed run is scheduled again a minute later, with one retry less, until none is left.
    for retries_left in (2, 1, 0):
        queue_in_memory.execute(task)
        assert task.retries == retries_left
        assert task.eta is not None  # scheduled again
        task.eta = None  # the minute has passed: the consumer runs it
    queue_in_memory.execute(task)
    assert task.retries == 0 and task.eta is None  # the last failure is final


def test_billing_now_does_not_retry_other_errors(monkeypatch, queue_in_memory):
    def break_a_rule(**kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr(tasks, "run_billing", break_a_rule)
    task = run_billing_now.s()
    queue_in_memory.execute(task)
    assert task.retries == 0
    assert queue_in_memory.scheduled() == []


# --- the whole product in one command ------------------------------------------------------------------


def _url_of_the_test_database() -> str:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    credentials = quote(settings["USER"] or "", safe="")
    if settings["PASSWORD"]:
        credentials += ":" + quote(settings["PASSWORD"], safe="")
    host = settings["HOST"] or "127.0.0.1"
    return f"postgres://{credentials}@{host}:{settings['PORT'] or 5432}/{settings['NAME']}"


def _get_json(url: str) -> tuple[int, dict]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, json.loads(response.read())


def _wait_until(condition, timeout: float, what: str, log_path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    pytest.fail(f"{what} within {timeout} s; serve output:\n{log_path.read_text()[-4000:]}")


@pytest.mark.slow
def test_serve_runs_the_site_and_the_consumer_and_stops_cleanly_on_sigterm(transactional_db, tmp_path):
    # Given the test database (SQLite file or PostgreSQL) with a reseller whose subscription started
    # two days ago, and a queue of the same kind (a SQLite file, or PostgreSQL tables beside the data)
    reseller = ResellerFactory()
    started = datetime.now(UTC).date() - timedelta(days=2)
    SubscriptionFactory(account=AccountFactory(reseller=reseller), start_date=started)
    database_url = _url_of_the_test_database()
    env = {**os.environ, "ARREARS_DATA_DIR": str(tmp_path), "DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}
    env.pop("ARREARS_HUEY_IMMEDIATE", None)
    if connection.vendor == "postgresql":
        env["HUEY_URL"] = database_url
    else:
        env.pop("HUEY_URL", None)
    port = free_port()
    log_path = tmp_path / "serve.log"

    # When `arrears serve` starts
    with log_path.open("wb") as log:
        serve = subprocess.Popen(
            [sys.executable, "-m", "arrears.cli", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    supervisor = psutil.Process(serve.pid)
    children: list[psutil.Process] = []
    try:
        # Then /healthz answers from the configured database
        def healthy():
            assert serve.poll() is None, f"serve exited with {serve.returncode}:\n{log_path.read_text()}"
            try:
                return _get_json(f"http://127.0.0.1:{port}/healthz")
            except (urllib.error.URLError, ConnectionError, TimeoutError):  # TimeoutError: accepted while booting
                return None

        status, body = _wait_until(healthy, STARTUP_TIMEOUT, "/healthz did not answer", log_path)
        assert status == 200
        assert body == {"status": "ok", "database": connection.vendor}

        # And the web server and the task consumer run under the supervisor
        children = supervisor.children(recursive=True)
        command_lines = [" ".join(child.cmdline()) for child in children]
        assert any("gunicorn" in line for line in command_lines), command_lines
        consumer = next(child for child, line in zip(children, command_lines, strict=True) if "run_huey" in line)
        assert consumer.is_running() and consumer.status() != psutil.STATUS_ZOMBIE

        # And the consumer catches up the missed billing days at startup
        _wait_until(
            lambda: BillingRun.objects.filter(reseller=reseller, date__gte=started).count() >= 3,
            STARTUP_TIMEOUT,
            "the consumer did not bill the missed days",
            log_path,
        )

        # When serve receives SIGTERM, then it and all its children exit cleanly
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=SHUTDOWN_TIMEOUT) == 0, log_path.read_text()
        _, alive = psutil.wait_procs(children, timeout=SHUTDOWN_TIMEOUT)
        assert not alive, f"left running: {alive}"
        assert "serve: stopped" in log_path.read_text()
    finally:
        for process in [supervisor, *children]:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        serve.wait()
