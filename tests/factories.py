"""Test data built through the real services, so tests start from states the product can reach.

Each factory has state traits (``erp=True`` for a reseller in ERP mode, ``balance=…`` for an account
with money on it). Time is explicit: ``T0`` is the default business time for setup.
"""

from datetime import UTC, date, datetime

import factory

from arrears.catalog.services import create_plan
from arrears.core.actors import SYSTEM
from arrears.customers.models import AccountClass
from arrears.customers.services import create_account, create_account_class
from arrears.payments.services import top_up_balance
from arrears.subscriptions.services import create_subscription
from arrears.tenants.services import create_reseller

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class ResellerFactory(factory.Factory):
    class Meta:
        model = dict

    name = factory.Sequence(lambda n: f"Reseller {n}")
    currency = "EUR"
    timezone = "UTC"
    parent = None

    class Params:
        erp = factory.Trait(external_invoices=True)

    external_invoices = False

    @classmethod
    def _create(cls, model_class, **kwargs):
        return create_reseller(actor=SYSTEM, now=T0, **kwargs)


class AccountFactory(factory.Factory):
    """An account under its own account class (``expiration_days``, ``grace_days``), optionally funded."""

    class Meta:
        model = dict

    reseller = factory.SubFactory(ResellerFactory)
    name = factory.Sequence(lambda n: f"Account {n}")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    expiration_days = 10
    grace_days = 0
    balance = 0

    @classmethod
    def _create(cls, model_class, *, reseller, expiration_days, grace_days, balance, **kwargs):
        if (expiration_days, grace_days) == (10, 0):
            account_class = AccountClass.objects.get(reseller=reseller, is_default=True)
        else:
            account_class = AccountClass.objects.filter(
                reseller=reseller, payment_expiration_days=expiration_days, grace_days=grace_days
            ).first()
            account_class = account_class or create_account_class(
                reseller=reseller,
                name=f"Terms {expiration_days}/{grace_days}",
                payment_expiration_days=expiration_days,
                grace_days=grace_days,
                actor=SYSTEM,
                now=T0,
            )
        account = create_account(reseller=reseller, account_class=account_class, actor=SYSTEM, now=T0, **kwargs)
        if balance:
            top_up_balance(account, balance, actor=SYSTEM, now=T0)
            account.refresh_from_db()
        return account


class SubscriptionFactory(factory.Factory):
    """A subscription to a fresh plan with ``fee`` (net, minor units), ``billing_day`` and ``tax_rate_bp``."""

    class Meta:
        model = dict

    account = factory.SubFactory(AccountFactory)
    fee = 10_000
    billing_day = 1
    tax_rate_bp = 0
    start_date = date(2026, 1, 1)

    @classmethod
    def _create(cls, model_class, *, account, fee, billing_day, tax_rate_bp, start_date):
        plan = create_plan(
            reseller=account.reseller,
            name=f"Plan {fee}/{billing_day}",
            fee=fee,
            billing_day=billing_day,
            tax_rate_bp=tax_rate_bp,
            actor=SYSTEM,
            now=T0,
        )
        return create_subscription(account=account, plan=plan, start_date=start_date, actor=SYSTEM, now=T0)
