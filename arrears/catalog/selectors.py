"""Reading plans of a reseller the caller may see (see arrears.tenants.selectors)."""

from arrears.catalog.errors import PlanNotFound
from arrears.catalog.models import Plan


def plans_of(reseller):
    return Plan.objects.filter(reseller=reseller).select_related("service_term")


def plan_of(reseller, plan_id: int) -> Plan:
    plan = plans_of(reseller).filter(pk=plan_id).first()
    if plan is None:
        raise PlanNotFound(f"no plan {plan_id} is visible to this token")
    return plan
