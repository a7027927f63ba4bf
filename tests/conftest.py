from datetime import UTC, date, datetime, time

import pytest

from arrears.billing.engine import run_billing
from arrears.core.actors import Actor
from arrears.invoices.models import Invoice
from tests.factories import AccountFactory, ResellerFactory, SubscriptionFactory


@pytest.fixture(autouse=True)
def no_throttling(settings, tmp_path):
    """Throttling has its own tests (which set a budget); elsewhere it would only make the suite depend on its
    speed. Counters, where a test counts, start empty: on SQLite in the test's own file."""
    settings.ARREARS_API_THROTTLE = None
    settings.ARREARS_API_ADDRESS_THROTTLE = None
    settings.ARREARS_RATE_COUNTER_FILE = tmp_path / "rate-counters.sqlite3"


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
