"""Charges posted by service connectors (usage). Recurring fees are created by the billing engine."""

from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction

from arrears.charges.errors import ChargeFieldInvalid, SubscriptionNotChargeable
from arrears.charges.models import Charge
from arrears.core import clock, money
from arrears.core.actors import Actor
from arrears.events.services import record_event
from arrears.invoices.models import Invoice
from arrears.invoices.services import open_invoice_for
from arrears.subscriptions.models import Subscription
from arrears.tenants.locks import wait_for_billing_day


def _charges_closed(billed_through: date | None, period: tuple[date, date]) -> bool:
    """The engine closes a period's charges on its billing day, the period's end."""
    return billed_through is not None and billed_through >= period[1]


def post_usage_charge(
    subscription: Subscription,
    *,
    description: str,
    quantity: str | int,
    unit_price: int,
    usage_date: date,
    external_id: str | None = None,
    actor: Actor,
    now: datetime,
) -> tuple[Charge, bool]:
    """Post a usage charge, ``blocked`` at once on the open invoice of the period that contains its date — or,
    when that period's charges have closed already, of the current period, marked ``late``.

    Repeat-safe: a second call with the same ``external_id`` returns the first charge and changes
    nothing. Returns ``(charge, created)``.
    """
    if external_id is not None:
        external_id = str(external_id).strip()
        if not external_id or len(external_id) > 255:
            raise ChargeFieldInvalid("external_id must be 1 to 255 characters", pointer="/external_id")
        existing = Charge.objects.filter(subscription=subscription, external_id=external_id).first()
        if existing is not None:
            return existing, False
    description = description.strip() if isinstance(description, str) else ""
    if not description or len(description) > 255:
        raise ChargeFieldInvalid("description must be 1 to 255 characters", pointer="/description")
    try:
        quantity_thousandths = money.parse_quantity(quantity)
    except ValueError as exc:
        raise ChargeFieldInvalid(str(exc), pointer="/quantity") from exc
    if quantity_thousandths <= 0:
        raise ChargeFieldInvalid("quantity must be positive", pointer="/quantity")
    if not isinstance(unit_price, int) or isinstance(unit_price, bool) or unit_price < 0:
        raise ChargeFieldInvalid("unit_price must be zero or more", pointer="/unit_price")
    reseller = subscription.reseller
    today = clock.local_date(now, reseller.timezone)
    if (
        isinstance(usage_date, datetime)
        or not isinstance(usage_date, date)
        or usage_date > today
        or usage_date < subscription.start_date
    ):
        raise ChargeFieldInvalid(
            f"date must lie between the subscription start {subscription.start_date} and today {today}", pointer="/date"
        )
    if subscription.status == Subscription.Status.STOPPED:
        raise SubscriptionNotChargeable("the subscription is stopped", pointer="/subscription_id")

    net = money.line_net_amount(quantity_thousandths, unit_price)
    tax_rate = subscription.plan.tax_rate_bp
    tax, gross = money.gross_amounts(net, tax_rate)
    try:
        with transaction.atomic(durable=True):
            # The usage belongs to the period of its date while that period's charges are open (e.g. usage of
            # the 31st posted after midnight, or during downtime before the engine catches up); once they
            # closed, it goes to the current period, marked late. The engine's day must not run meanwhile.
            billed_through = wait_for_billing_day(reseller.pk)
            period = clock.period_containing(usage_date, subscription.billing_day)
            late = _charges_closed(billed_through, period)
            if late:
                period = clock.period_containing(today, subscription.billing_day)
            invoice = open_invoice_for(
                account=subscription.account,
                billing_day=subscription.billing_day,
                period=period,
                from_date=max(period[0], subscription.start_date),
                currency=reseller.currency,
                actor=actor,
                now=now,
            )
            if invoice.status != Invoice.Status.OPEN:
                raise SubscriptionNotChargeable("the current period's invoice is already closed", pointer="/date")
            charge = Charge.objects.create(
                reseller_id=subscription.reseller_id,
                account_id=subscription.account_id,
                subscription=subscription,
                invoice=invoice,
                kind=Charge.Kind.USAGE,
                description=description,
                quantity=quantity_thousandths,
                unit_price=unit_price,
                net_amount=net,
                tax_rate_bp=tax_rate,
                tax_amount=tax,
                amount=gross,
                period_from=usage_date,
                period_to=usage_date + timedelta(days=1),
                close_date=period[1],
                status=Charge.Status.BLOCKED,
                external_id=external_id,
                late=late,
                created_at=now,
                updated_at=now,
            )
            record_event(
                "charge.created",
                subject=charge,
                reseller_id=charge.reseller_id,
                account_id=charge.account_id,
                payload={
                    "kind": "usage",
                    "invoice_id": invoice.pk,
                    "amount": gross,
                    "external_id": external_id,
                    "late": late,
                    "changes": {"status": [None, "blocked"]},
                },
                actor=actor,
                now=now,
            )
    except IntegrityError:
        # A concurrent call with the same external_id won the race; answer with its charge.
        if external_id is None:
            raise
        return Charge.objects.get(subscription=subscription, external_id=external_id), False
    return charge, True
