"""Subscriptions and the blocking that expired payments drive (R34, R39, R44)."""

from datetime import date, datetime

from django.db import transaction

from arrears.catalog.models import Plan
from arrears.charges.models import Charge
from arrears.core import clock, sql
from arrears.core.actors import Actor
from arrears.customers.models import Account, AccountClass
from arrears.events.services import record_event, record_events_in_bulk
from arrears.payments.models import Payment
from arrears.subscriptions.errors import StartDateAlreadyBilled, SubscriptionFieldInvalid
from arrears.subscriptions.models import Subscription
from arrears.tenants.locks import wait_for_billing_day


def create_subscription(*, account: Account, plan: Plan, start_date: date, actor: Actor, now: datetime) -> Subscription:
    if plan.reseller_id != account.reseller_id:
        raise SubscriptionFieldInvalid("the plan belongs to another reseller", pointer="/plan_id")
    if not isinstance(start_date, date):
        raise SubscriptionFieldInvalid("start_date must be a date (YYYY-MM-DD)", pointer="/start_date")
    with transaction.atomic(durable=True):
        # The billing engine's lock on the reseller: a day being planned right now is seen by the check below, and
        # a day already begun counts as billed (without it, a subscription created mid-day would never get its
        # first charge).
        billed = wait_for_billing_day(account.reseller_id)
        if billed is not None and start_date <= billed:
            # The engine has already passed that day, so the first period's fee would never be charged.
            raise StartDateAlreadyBilled(
                f"start_date must be after {billed.isoformat()}, the last billed day", pointer="/start_date"
            )
        subscription = Subscription.objects.create(
            reseller_id=account.reseller_id,
            account=account,
            plan=plan,
            billing_day=plan.service_term.billing_day,
            start_date=start_date,
            created_at=now,
            updated_at=now,
        )
        record_event(
            "subscription.created",
            subject=subscription,
            reseller_id=account.reseller_id,
            account_id=account.pk,
            payload={"plan_id": plan.pk, "start_date": start_date.isoformat(), "billing_day": subscription.billing_day},
            actor=actor,
            now=now,
        )
    return subscription


def _subscriptions_held_by_expired_payments(account_scoped: bool) -> str:
    """SQL selecting subscriptions that have an expired payment whose grace period has passed (R44), of the
    accounts ``lo < id <= hi`` when ``account_scoped``."""
    expired_since = sql.add_days("p.expiration_date", "ac.grace_days")
    scope = sql.in_accounts("p") if account_scoped else "p.reseller_id = %s"
    return (
        f"SELECT c.subscription_id FROM {sql.table(Payment)} p"
        f" JOIN {sql.table(Charge)} c ON c.invoice_id = p.invoice_id"
        f" JOIN {sql.table(Account)} a ON a.id = p.account_id"
        f" JOIN {sql.table(AccountClass)} ac ON ac.id = a.account_class_id"
        f" WHERE {scope} AND p.status = 'expired' AND {expired_since} <= %s"
    )


def refresh_subscription_blocks(
    *,
    reseller_id: int,
    today: date,
    account_id: int | None = None,
    accounts: tuple[int, int] | None = None,
    actor: Actor,
    now: datetime,
) -> tuple[int, int]:
    """Block subscriptions held by an expired payment past its grace; unblock those no longer held — of one
    account, of the accounts ``lo < id <= hi`` (a billing chunk's), or of the whole reseller.

    Blocking is derived from payments, so every change to a payment's status reaches this: the billing engine
    calls it for a reseller's day, the payment services through ``refresh_blocks_after_payment_change``. A
    cancelled ERP payment is not expired and so never blocks (R34). Returns (blocked, unblocked).
    """
    if account_id is not None:
        accounts = (account_id - 1, account_id)
    scope = sql.in_accounts() if accounts is not None else "reseller_id = %s"
    scope_params = [reseller_id, *accounts] if accounts is not None else [reseller_id]
    held = _subscriptions_held_by_expired_payments(accounts is not None)
    held_params = [*scope_params, sql.db_date(today)]
    stamp = sql.db_datetime(now)
    table = sql.table(Subscription)
    blocked = sql.fetch_all(
        f"UPDATE {table} SET status = 'blocked', updated_at = %s WHERE {scope} AND status = 'active'"
        f" AND id IN ({held}) RETURNING id, account_id",
        [stamp, *scope_params, *held_params],
    )
    unblocked = sql.fetch_all(
        f"UPDATE {table} SET status = 'active', updated_at = %s WHERE {scope} AND status = 'blocked'"
        f" AND id NOT IN ({held}) RETURNING id, account_id",
        [stamp, *scope_params, *held_params],
    )
    for event_type, rows, change in (
        ("subscription.blocked", blocked, ["active", "blocked"]),
        ("subscription.unblocked", unblocked, ["blocked", "active"]),
    ):
        record_events_in_bulk(
            event_type,
            "subscription",
            [(reseller_id, sub_id, acc_id, {"changes": {"status": change}}) for sub_id, acc_id in sorted(rows)],
            actor=actor,
            now=now,
        )
    return len(blocked), len(unblocked)


def refresh_blocks_after_payment_change(payment: Payment, *, actor: Actor, now: datetime) -> None:
    """Re-derive the blocking of the account's subscriptions after a service changed one of its payments
    (``arrears.payments.services.payment_status_changed``; registered in ``arrears.subscriptions.apps``). A top-up
    never holds a subscription, so its changes release none either."""
    if payment.type != Payment.Type.RENDERED_SERVICES:
        return
    reseller = payment.reseller
    refresh_subscription_blocks(
        reseller_id=reseller.pk,
        today=clock.local_date(now, reseller.timezone),
        account_id=payment.account_id,
        actor=actor,
        now=now,
    )
