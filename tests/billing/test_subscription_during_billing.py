"""A subscription created while its start day is being billed: it waits for the day's transaction (the engine's
reseller lock) and is then refused as already billed, instead of slipping in unbilled for ever."""

import threading
from datetime import date

import pytest
from django.db import connections

from arrears.billing.engine import run_billing_day
from arrears.catalog.models import Plan
from arrears.core.actors import SYSTEM
from arrears.subscriptions.errors import StartDateAlreadyBilled
from arrears.subscriptions.models import Subscription
from arrears.subscriptions.services import create_subscription
from tests.conftest import at
from tests.factories import AccountFactory, ResellerFactory, SubscriptionFactory

DAY = date(2026, 3, 1)
HOLD_SECONDS = 0.5


@pytest.mark.django_db(transaction=True)
def test_a_subscription_created_mid_billing_day_waits_for_the_day_and_is_refused():
    reseller = ResellerFactory()
    SubscriptionFactory(account=AccountFactory(reseller=reseller), start_date=DAY)
    account = AccountFactory(reseller=reseller)
    plan = Plan.objects.filter(reseller=reseller).first()
    inside_the_day, errors = threading.Event(), []

    def progress(step, done, total):
        if not inside_the_day.is_set():
            inside_the_day.set()
            threading.Event().wait(HOLD_SECONDS)  # the day's transaction stays open a while

    def bill():
        try:
            run_billing_day(reseller, DAY, wall_clock=lambda: at(DAY), progress=progress)
        except Exception as exc:  # handed to the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    engine = threading.Thread(target=bill)
    engine.start()
    assert inside_the_day.wait(10), "the engine never reported a step"
    with pytest.raises(StartDateAlreadyBilled):
        create_subscription(account=account, plan=plan, start_date=DAY, actor=SYSTEM, now=at(DAY))
    engine.join(30)

    assert errors == []
    assert not Subscription.objects.filter(account=account).exists()
