"""Fixtures for the panels' view tests: signed-in managers of a role, and billed data to look at."""

from datetime import date

import pytest
from django.test import Client

from arrears.core.actors import SYSTEM
from arrears.tenants.models import Manager
from arrears.tenants.services import create_manager
from tests.conftest import at, bill
from tests.factories import T0, AccountFactory, ResellerFactory, SubscriptionFactory

# Billing up to this day closes the invoices of September and October 2026 (billing day 1).
BILLED_UNTIL = date(2026, 11, 2)


@pytest.fixture
def sign_in(db):
    """``sign_in(reseller, role="admin")`` → a test client signed in as a new manager of ``reseller``."""
    counter = iter(range(1, 10_000))

    def make(reseller, role: str = Manager.Role.ADMIN) -> Client:
        manager = create_manager(
            reseller=reseller, email=f"{role}{next(counter)}-{reseller.pk}@example.com", role=role, actor=SYSTEM, now=T0
        )
        client = Client()
        client.force_login(manager.user)
        client.manager = manager
        return client

    return make


def billed_accounts(
    reseller, count: int, *, fee: int = 12_000, tax_rate_bp: int = 2000, start: date = date(2026, 9, 1)
) -> list:
    """``count`` accounts with one subscription each, billed up to ``BILLED_UNTIL``: closed invoices with payments.
    Call it once per reseller (billing passes the subscriptions' start date)."""
    accounts = [AccountFactory(reseller=reseller) for _ in range(count)]
    for account in accounts:
        SubscriptionFactory(account=account, fee=fee, tax_rate_bp=tax_rate_bp, start_date=start)
    bill(reseller, BILLED_UNTIL)
    return accounts


def billed_account(reseller, **options):
    return billed_accounts(reseller, 1, **options)[0]


@pytest.fixture
def erp_world(db):
    """Two sibling resellers under one parent, each in ERP mode with a billed account: A's manager must never
    see B's rows."""
    parent = ResellerFactory(name="Parent")
    a = ResellerFactory(name="Reseller A", parent=parent, erp=True)
    b = ResellerFactory(name="Reseller B", parent=parent, erp=True)
    return {"parent": parent, "a": a, "b": b, "account_a": billed_account(a), "account_b": billed_account(b)}


__all__ = ["at", "bill", "billed_account", "billed_accounts", "BILLED_UNTIL"]
