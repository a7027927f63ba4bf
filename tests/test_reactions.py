"""A lower layer's change and a higher layer's reaction to it (arrears.core.reactions) are one transaction: the
reactions run inside the service that made the change, so an error in one undoes the change and the reactions
before it. The wiring of each (subscriptions react to payments, customers to new resellers) is the apps' ready()."""

from datetime import date, datetime

import pytest

from arrears.core.actors import SYSTEM
from arrears.core.reactions import Reactions
from arrears.customers.models import AccountClass
from arrears.payments.models import Payment
from arrears.payments.services import pay_from_balance, payment_status_changed, top_up_balance
from arrears.subscriptions.models import Subscription
from arrears.tenants.models import Reseller
from arrears.tenants.services import create_reseller, reseller_created
from tests.billing.helpers import refreshed
from tests.conftest import MANAGER, at, bill, closed_invoice
from tests.factories import T0


class ReactionFailed(Exception):
    pass


def fail(*args, **kwargs) -> None:
    raise ReactionFailed


@pytest.fixture
def failing_last(monkeypatch):
    """Registers ``fail`` after the reactions the apps registered, for the test only."""

    def register(reactions: Reactions) -> None:
        monkeypatch.setattr(reactions, "_reactions", list(reactions._reactions))
        reactions.register(fail)

    return register


def test_reactions_run_in_the_order_they_registered_and_once_each():
    # Given a change with two reactions, the first registered twice (as a second ready() would)
    @Reactions
    def counted(value: int, *, now: datetime) -> None:
        """A change for the test."""

    seen: list[tuple[str, int]] = []

    def first(value: int, *, now: datetime) -> None:
        seen.append(("first", value))

    def second(value: int, *, now: datetime) -> None:
        seen.append(("second", value))

    counted.register(first)
    counted.register(second)
    counted.register(first)

    # When the change is announced, Then each reaction runs once, in order, with the change's arguments
    counted(7, now=T0)
    assert seen == [("first", 7), ("second", 7)]
    assert counted.__doc__ == "A change for the test."


def test_a_new_reseller_gets_its_default_account_class_in_the_same_transaction(db, failing_last):
    # When a reseller is created, Then it has its default account class
    reseller = create_reseller(name="Reacting", currency="EUR", actor=SYSTEM, now=T0)
    assert AccountClass.objects.filter(reseller=reseller, is_default=True).count() == 1

    # Given a reaction after the account class's that fails
    failing_last(reseller_created)
    # When another reseller is created, Then the error reaches the caller and neither row remains
    with pytest.raises(ReactionFailed):
        create_reseller(name="Undone", currency="EUR", actor=SYSTEM, now=T0)
    assert not Reseller.objects.filter(name="Undone").exists()
    assert AccountClass.objects.count() == 1


def test_a_payment_releases_its_subscriptions_in_the_same_transaction(
    reseller, make_account, make_subscription, failing_last
):
    # Given a subscription blocked by its expired January payment, on an account that can pay it
    account = make_account(reseller=reseller, expiration_days=5)
    subscription = make_subscription(account=account, fee=10_000, billing_day=1, start_date=date(2026, 1, 1))
    bill(reseller, date(2026, 2, 7))
    payment = closed_invoice(account).payment
    top_up_balance(account, 10_000, actor=SYSTEM, now=at(date(2026, 2, 9)))
    assert (refreshed(payment).status, refreshed(subscription).status) == ("expired", "blocked")
    # and a reaction to payments, after the subscriptions', that fails
    failing_last(payment_status_changed)

    # When the manager pays it from the balance, Then the error reaches the caller, and the payment is still
    # expired and the subscription still blocked: the unblocking that ran first was undone with the payment
    with pytest.raises(ReactionFailed):
        pay_from_balance(payment, actor=MANAGER, now=at(date(2026, 2, 9)))
    assert refreshed(payment).status == Payment.Status.EXPIRED
    assert refreshed(subscription).status == Subscription.Status.BLOCKED
