"""The operator CLI prints the created or changed object as JSON and refuses bad input clearly."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from arrears.billing.models import BillingRun
from arrears.customers.models import AccountClass
from arrears.events.models import Event
from arrears.tenants.models import Reseller

ARREARS = str(Path(sys.executable).with_name("arrears"))


def run(*args) -> dict:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return json.loads(out.getvalue())


def test_reseller_create_prints_the_reseller_and_records_an_event(db):
    created = run("reseller", "create", "--name", "Acme Cloud", "--currency", "EUR", "--timezone", "Europe/Berlin")

    assert created["name"] == "Acme Cloud"
    assert created["currency"] == "EUR"
    assert created["timezone"] == "Europe/Berlin"
    assert created["external_invoices"] is False  # R1: off by default
    assert Event.objects.filter(type="reseller.created", subject_id=created["id"]).exists()


def test_sub_reseller_with_external_invoices(db):
    parent = run("reseller", "create", "--name", "Operator", "--currency", "EUR")
    child = run(
        "reseller",
        "create",
        "--name",
        "Partner",
        "--currency",
        "EUR",
        "--parent",
        str(parent["id"]),
        "--external-invoices",
    )

    assert child["parent_id"] == parent["id"]
    assert child["external_invoices"] is True
    assert Reseller.objects.get(pk=child["id"]).path == f"/{parent['id']}/{child['id']}/"


def test_R1_reseller_set_switches_external_invoices(db):
    reseller = run("reseller", "create", "--name", "Acme", "--currency", "EUR")

    switched = run("reseller", "set", str(reseller["id"]), "--external-invoices", "on")

    assert switched["external_invoices"] is True
    event = Event.objects.get(type="reseller.settings_changed", subject_id=reseller["id"])
    assert event.payload["changes"] == {"external_invoices": [False, True]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--currency", "XXY", "--name", "Acme"], "RESELLER-0001"),
        (["--currency", "EUR", "--name", " "], "RESELLER-0001"),
        (["--currency", "EUR", "--name", "Acme", "--timezone", "Mars/Olympus"], "RESELLER-0001"),
    ],
)
def test_R47_reseller_create_refuses_bad_input_and_changes_nothing(db, args, message):
    with pytest.raises(CommandError, match=message):
        run("reseller", "create", *args)
    assert not Reseller.objects.exists()


def test_account_class_create(db):
    reseller = run("reseller", "create", "--name", "Acme", "--currency", "EUR")

    created = run(
        "account_class",
        "create",
        "--reseller",
        str(reseller["id"]),
        "--name",
        "Gold",
        "--expiration-days",
        "14",
        "--grace-days",
        "3",
    )

    assert created["payment_expiration_days"] == 14
    assert created["grace_days"] == 3
    assert AccountClass.objects.filter(reseller_id=reseller["id"]).count() == 2  # plus the default class


def test_account_class_refuses_a_zero_expiration_period(db):
    reseller = run("reseller", "create", "--name", "Acme", "--currency", "EUR")

    with pytest.raises(CommandError, match="ACCOUNT-0002.*payment_expiration_days"):
        run("account_class", "create", "--reseller", str(reseller["id"]), "--name", "Bad", "--expiration-days", "0")


def test_plan_create_parses_money_exactly(db):
    reseller = run("reseller", "create", "--name", "Acme", "--currency", "EUR")

    plan = run(
        "plan",
        "create",
        "--reseller",
        str(reseller["id"]),
        "--name",
        "Cloud Server S",
        "--fee",
        "19.90",
        "--billing-day",
        "15",
        "--tax",
        "20",
    )

    assert plan["fee"] == "19.90"
    assert plan["billing_day"] == 15
    assert plan["tax"] == "20"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fee", "10.001", "--billing-day", "1"], "--fee"),
        (["--fee", "ten", "--billing-day", "1"], "--fee"),
        (["--fee", "10.00", "--billing-day", "29"], "PLAN-0001.*billing_day"),
        (["--fee", "10.00", "--billing-day", "1", "--tax", "120"], "--tax"),
    ],
)
def test_R4_R47_plan_create_refuses_bad_input(db, args, message):
    reseller = run("reseller", "create", "--name", "Acme", "--currency", "EUR")

    with pytest.raises(CommandError, match=message):
        run("plan", "create", "--reseller", str(reseller["id"]), "--name", "P", *args)


def test_manager_create_and_duplicate_email(db):
    reseller = run("reseller", "create", "--name", "Acme", "--currency", "EUR")

    manager = run(
        "manager",
        "create",
        "--reseller",
        str(reseller["id"]),
        "--email",
        "Billing@Acme.example",
        "--password",
        "s3cret-pass",
    )

    assert manager["email"] == "billing@acme.example"
    with pytest.raises(CommandError, match="MANAGER-0001.*email"):
        run("manager", "create", "--reseller", str(reseller["id"]), "--email", "billing@acme.example")


def test_unknown_reseller_is_a_clear_error(db):
    with pytest.raises(CommandError, match="reseller 999 does not exist"):
        run("plan", "create", "--reseller", "999", "--name", "P", "--fee", "1.00", "--billing-day", "1")


def test_billing_run_rejects_a_malformed_date(db):
    with pytest.raises(CommandError, match="--date"):
        run("billing", "run", "--date", "2026-13-01")


def test_the_arrears_command_end_to_end(tmp_path):
    """The installed ``arrears`` script: hyphenated commands, JSON out, non-zero exit on bad input."""
    env = {**os.environ, "ARREARS_DATA_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}"}

    def arrears(*args):
        return subprocess.run([ARREARS, *args], env=env, capture_output=True, text=True, timeout=120)

    assert arrears("migrate", "-v0").returncode == 0
    reseller = json.loads(arrears("reseller", "create", "--name", "Acme", "--currency", "EUR").stdout)
    account_class = arrears(
        "account-class", "create", "--reseller", str(reseller["id"]), "--name", "Net 30", "--expiration-days", "30"
    )
    assert json.loads(account_class.stdout)["payment_expiration_days"] == 30

    refused = arrears("reseller", "create", "--name", "Bad", "--currency", "EURO")
    assert refused.returncode != 0
    assert "RESELLER-0001" in refused.stderr and "currency" in refused.stderr

    billed = arrears("billing", "run", "--date", "2026-11-25")
    assert billed.returncode == 0, billed.stderr
    assert json.loads(billed.stdout)["days_billed"] == 0  # nothing subscribed yet, nothing to bill


def test_billing_run_reports_the_days_it_billed(db):
    from datetime import date

    from tests.factories import SubscriptionFactory

    subscription = SubscriptionFactory(start_date=date(2026, 1, 1))

    summary = run("billing", "run", "--date", "2026-02-02", "--reseller", str(subscription.reseller_id))

    assert summary["days_billed"] == 33
    assert summary["totals"]["invoices_closed"] == 1
    assert BillingRun.objects.filter(reseller_id=subscription.reseller_id).count() == 33
    assert run("billing", "run", "--date", "2026-02-02")["days_billed"] == 0
