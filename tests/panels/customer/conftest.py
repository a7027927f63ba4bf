"""Fixtures for the Customer Control Panel's view tests: signed-in customer users, and an account with a billed
invoice in each mode."""

import pytest
from django.test import Client

from arrears.core.actors import SYSTEM
from arrears.customers.services import create_customer_user
from arrears.invoices.models import Invoice
from tests.factories import T0, AccountFactory, ResellerFactory
from tests.service_support import invoice_of

PASSWORD = "correct horse battery"


@pytest.fixture
def customer_client(db):
    """``customer_client(account)`` → a test client signed in as a new customer user of ``account``."""
    counter = iter(range(1, 10_000))

    def make(account) -> Client:
        customer_user = create_customer_user(
            account=account,
            email=f"user{next(counter)}-{account.pk}@example.com",
            password=PASSWORD,
            actor=SYSTEM,
            now=T0,
        )
        client = Client()
        client.force_login(customer_user.user)
        client.customer_user = customer_user
        return client

    return make


@pytest.fixture
def billed(db):
    """A default-mode account with its January invoice closed (100.00 EUR, due 2026-02-11) and a balance of
    ``balance``: ``billed(balance=…)`` → the invoice."""

    def make(*, balance: int = 0, reseller=None, **account_fields) -> Invoice:
        reseller = reseller or ResellerFactory(name="Plain Hosting")
        account = AccountFactory(reseller=reseller, balance=balance, **account_fields)
        return invoice_of(account)

    return make


@pytest.fixture
def card_gateway(db):
    """``card_gateway(reseller, currencies=["EUR"])`` → ``(connector, method, fake)``: a connector of the reseller
    named "Card Gateway", answered by a fake connector on loopback, and its payment method."""
    from contextlib import ExitStack

    from arrears.gateways.services import create_connector, create_payment_method
    from tests.gateways.fake_connector import fake_connector

    with ExitStack() as stack:

        def make(reseller, *, currencies=("EUR",), name="Card Gateway"):
            fake = stack.enter_context(fake_connector("whsec_" + "A" * 32))
            connector, secret = create_connector(
                reseller,
                name=name,
                url=fake.url,
                processing_minutes=15,
                currencies=list(currencies),
                actor=SYSTEM,
                now=T0,
            )
            fake.secret = secret
            method = create_payment_method(reseller, name=f"{name} card", connector=connector, actor=SYSTEM, now=T0)
            return connector, method, fake

        yield make
