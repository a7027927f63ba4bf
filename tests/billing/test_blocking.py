"""R44: an expired payment blocks its invoice's subscriptions once the account class grace period
has passed; paying it brings them back."""

from datetime import date, timedelta

import pytest

from arrears.core.actors import SYSTEM
from arrears.invoices.services import approve_invoice
from arrears.payments.models import Payment
from arrears.payments.services import pay_from_balance, top_up_balance
from arrears.subscriptions.models import Subscription
from tests.billing.helpers import business_time, events, refreshed
from tests.conftest import ERP, MANAGER, at, bill, closed_invoice

EXPIRED_ON = date(2026, 2, 7)  # January closes 2 February; 5-day expiration period: due 6th, expired 7th


@pytest.mark.parametrize(("grace_days", "blocked_on"), [(0, date(2026, 2, 7)), (3, date(2026, 2, 10))])
def test_R44_expired_payment_blocks_the_invoice_subscriptions_once_grace_has_passed(
    any_mode_reseller, make_account, make_subscription, grace_days, blocked_on
):
    reseller = any_mode_reseller
    # Given an unpaid January payment that expires on 7 February (ERP invoices after approval)
    account = make_account(reseller=reseller, expiration_days=5, grace_days=grace_days)
    january = make_subscription(account=account, fee=10_000, billing_day=1, start_date=date(2026, 1, 1))
    other_day = make_subscription(account=account, fee=1_000, billing_day=20, start_date=date(2026, 1, 20))
    bill(reseller, date(2026, 2, 2))
    if reseller.external_invoices:
        invoice = closed_invoice(account)
        approve_invoice(
            invoice,
            document_id="ERP-1",
            billing_date=invoice.billing_date,
            due_date=date(2026, 2, 6),
            actor=ERP,
            now=at(date(2026, 2, 2)),
        )
    payment = closed_invoice(account).payment
    assert payment.expiration_date == EXPIRED_ON

    # When the days up to the end of the grace period are billed
    bill(reseller, blocked_on - timedelta(days=1))

    # Then the subscription still works (with a grace period, although the payment has expired)
    assert refreshed(payment).status == ("expired" if grace_days else "waiting_for_payment")
    assert refreshed(january).status == Subscription.Status.ACTIVE

    # When the grace period has passed
    bill(reseller, blocked_on)

    # Then the invoice's subscription is blocked, and only it
    assert refreshed(january).status == Subscription.Status.BLOCKED
    assert january.updated_at == business_time(reseller, blocked_on)
    assert refreshed(other_day).status == Subscription.Status.ACTIVE
    (blocked,) = events("subscription.blocked", subject=january)
    assert (blocked.actor_kind, blocked.occurred_at) == ("system", business_time(reseller, blocked_on))
    assert blocked.payload["changes"] == {"status": ["active", "blocked"]}

    # and it stays blocked, without further events, while the payment stays expired
    bill(reseller, date(2026, 2, 16))
    assert refreshed(january).status == Subscription.Status.BLOCKED
    assert len(events("subscription.blocked", reseller=reseller)) == 1


def test_R44_paying_the_expired_payment_unblocks_the_subscription(reseller, make_account, make_subscription):
    # Given a subscription blocked by its expired January payment
    account = make_account(reseller=reseller, expiration_days=5)
    subscription = make_subscription(account=account, fee=10_000, billing_day=1, start_date=date(2026, 1, 1))
    bill(reseller, EXPIRED_ON)
    payment = closed_invoice(account).payment
    assert (refreshed(payment).status, refreshed(subscription).status) == ("expired", "blocked")

    # When the customer tops up and a manager pays the expired payment from the balance
    paid_at = at(date(2026, 2, 9))
    top_up_balance(account, 10_000, actor=SYSTEM, now=paid_at)
    pay_from_balance(payment, actor=MANAGER, now=paid_at)

    # Then the subscription is active again, and the change is recorded as the manager's
    assert refreshed(payment).status == Payment.Status.PAID_FROM_BALANCE
    assert refreshed(subscription).status == Subscription.Status.ACTIVE
    (unblocked,) = events("subscription.unblocked", subject=subscription)
    assert (unblocked.actor_kind, unblocked.actor_id, unblocked.occurred_at) == ("manager", MANAGER.id, paid_at)
    assert unblocked.payload["changes"] == {"status": ["blocked", "active"]}

    # and the following billing days leave it active
    bill(reseller, date(2026, 2, 16))
    assert refreshed(subscription).status == Subscription.Status.ACTIVE
    assert len(events("subscription.blocked", subject=subscription)) == 1


def test_R44_a_subscription_stays_blocked_while_another_expired_payment_holds_it(
    reseller, make_account, make_subscription
):
    # Given a subscription whose January and February payments both expired
    account = make_account(reseller=reseller, expiration_days=5)
    subscription = make_subscription(account=account, fee=10_000, billing_day=1, start_date=date(2026, 1, 1))
    bill(reseller, date(2026, 3, 7))
    january, february = Payment.objects.filter(account=account, type="rendered_services").order_by("id")
    assert (refreshed(january).status, refreshed(february).status) == ("expired", "expired")

    # When only the January payment is paid
    top_up_balance(account, 10_000, actor=SYSTEM, now=at(date(2026, 3, 7)))
    pay_from_balance(january, actor=MANAGER, now=at(date(2026, 3, 7)))

    # Then the subscription stays blocked until February's is paid too
    assert refreshed(subscription).status == Subscription.Status.BLOCKED
    top_up_balance(account, 10_000, actor=SYSTEM, now=at(date(2026, 3, 8)))
    pay_from_balance(february, actor=MANAGER, now=at(date(2026, 3, 8)))
    assert refreshed(subscription).status == Subscription.Status.ACTIVE
