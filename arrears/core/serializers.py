"""Plain dictionaries of domain objects, for the CLI's JSON output."""

from arrears.core import money


def reseller_dict(reseller) -> dict:
    return {
        "id": reseller.pk, "name": reseller.name, "parent_id": reseller.parent_id, "currency": reseller.currency,
        "timezone": reseller.timezone, "external_invoices": reseller.external_invoices,
        "created_at": reseller.created_at,
    }


def account_class_dict(account_class) -> dict:
    return {
        "id": account_class.pk, "reseller_id": account_class.reseller_id, "name": account_class.name,
        "payment_expiration_days": account_class.payment_expiration_days,
        "grace_days": account_class.grace_days, "is_default": account_class.is_default,
    }


def plan_dict(plan) -> dict:
    currency = plan.reseller.currency
    return {
        "id": plan.pk, "reseller_id": plan.reseller_id, "name": plan.name,
        "fee": money.format_amount(plan.fee, currency), "currency": currency,
        "billing_day": plan.service_term.billing_day, "service_term_id": plan.service_term_id,
        "tax": money.format_rate(plan.tax_rate_bp),
    }


def manager_dict(manager) -> dict:
    return {"id": manager.pk, "reseller_id": manager.reseller_id, "email": manager.user.email,
            "role": manager.role}
