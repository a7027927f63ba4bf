from datetime import UTC, date, datetime, time

import pytest

from arrears.billing.engine import run_billing
from arrears.core.actors import Actor
from arrears.invoices.models import Invoice
from tests.factories import AccountFactory, ResellerFactory, SubscriptionFactory

MANAGER = Actor("manager", 1, "manager@example.com")
ERP = Actor("api_token", 1, "erp token")


def at(day: date, hour: int = 12) -> datetime:
    """A business time on ``day`` (UTC, the factories' reseller time zone)."""
    return datetime.combine(day, time(hour), tzinfo=UTC)


def bill(reseller, until: date):
    """Run the billing engine for one reseller up to ``until`` (inclusive)."""
    return run_billing(wall_now=at(until), until=until, reseller_ids=[reseller.pk])


def closed_invoice(account) -> Invoice:
    return Invoice.objects.filter(account=account, status="closed").select_related("payment").latest("id")


@pytest.fixture
def reseller(db):
    return ResellerFactory()


@pytest.fixture
def erp_reseller(db):
    return ResellerFactory(erp=True)


@pytest.fixture(params=["default", "erp"])
def any_mode_reseller(request, db):
    return ResellerFactory(erp=request.param == "erp")


@pytest.fixture
def make_account(db):
    return AccountFactory


@pytest.fixture
def make_subscription(db):
    return SubscriptionFactory
