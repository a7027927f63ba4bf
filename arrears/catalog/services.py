from datetime import datetime

from django.db import transaction

from arrears.catalog.errors import PlanFieldInvalid
from arrears.catalog.models import Plan, ServiceTerm
from arrears.core.actors import Actor
from arrears.core.validation import clean_name
from arrears.events.services import record_event
from arrears.tenants.models import Reseller


def create_plan(
    *, reseller: Reseller, name: str, fee: int, billing_day: int, tax_rate_bp: int = 0, actor: Actor, now: datetime
) -> Plan:
    """A plan with its recurring ``fee`` (net, minor units) on the service term of ``billing_day``."""
    name = clean_name(name, PlanFieldInvalid)
    if not isinstance(fee, int) or fee < 0:
        raise PlanFieldInvalid("fee must be zero or more", pointer="/fee")
    if not isinstance(billing_day, int) or not 1 <= billing_day <= 28:
        raise PlanFieldInvalid("billing day must be 1 to 28", pointer="/billing_day")
    if not isinstance(tax_rate_bp, int) or not 0 <= tax_rate_bp <= 10_000:
        raise PlanFieldInvalid("tax must be 0 to 100 percent", pointer="/tax")
    with transaction.atomic(durable=True):
        term, _ = ServiceTerm.objects.get_or_create(
            reseller=reseller, billing_day=billing_day, defaults={"name": f"Monthly, billing day {billing_day}"}
        )
        plan = Plan.objects.create(
            reseller=reseller,
            service_term=term,
            name=name,
            fee=fee,
            tax_rate_bp=tax_rate_bp,
            created_at=now,
            updated_at=now,
        )
        record_event(
            "plan.created",
            subject=plan,
            reseller_id=reseller.pk,
            account_id=None,
            payload={"name": name, "fee": fee, "billing_day": billing_day, "tax_rate_bp": tax_rate_bp},
            actor=actor,
            now=now,
        )
    return plan
