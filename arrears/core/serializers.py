"""Plain dictionaries of domain objects, for the CLI's JSON output."""

from arrears.core import money


def reseller_dict(reseller) -> dict:
    return {
        "id": reseller.pk,
        "name": reseller.name,
        "parent_id": reseller.parent_id,
        "currency": reseller.currency,
        "timezone": reseller.timezone,
        "external_invoices": reseller.external_invoices,
        "created_at": reseller.created_at,
    }


def account_class_dict(account_class) -> dict:
    return {
        "id": account_class.pk,
        "reseller_id": account_class.reseller_id,
        "name": account_class.name,
        "payment_expiration_days": account_class.payment_expiration_days,
        "grace_days": account_class.grace_days,
        "is_default": account_class.is_default,
    }


def plan_dict(plan) -> dict:
    currency = plan.reseller.currency
    return {
        "id": plan.pk,
        "reseller_id": plan.reseller_id,
        "name": plan.name,
        "fee": money.format_amount(plan.fee, currency),
        "currency": currency,
        "billing_day": plan.service_term.billing_day,
        "service_term_id": plan.service_term_id,
        "tax": money.format_rate(plan.tax_rate_bp),
    }


def manager_dict(manager) -> dict:
    return {"id": manager.pk, "reseller_id": manager.reseller_id, "email": manager.user.email, "role": manager.role}


def invoice_dict(invoice) -> dict:
    currency = invoice.currency
    payment = getattr(invoice, "payment", None) if invoice.status == "closed" else None
    return {
        "id": invoice.pk,
        "document_id": invoice.document_id,
        "original_document_id": invoice.original_document_id,
        "account_id": invoice.account_id,
        "status": invoice.status,
        "billing_date": invoice.billing_date,
        "from_date": invoice.from_date,
        "to_date": invoice.to_date,
        "total": money.format_amount(invoice.total, currency),
        "currency": currency,
        "managed_externally": invoice.managed_externally,
        "approved": invoice.approved,
        "approval_date": invoice.approval_date,
        "external_total": money.format_amount(invoice.external_total, invoice.external_currency or currency),
        "external_currency": invoice.external_currency,
        "has_attached": invoice.has_attached,
        "payment": payment_dict(payment) if payment else None,
    }


def payment_dict(payment) -> dict:
    currency = payment.currency
    return {
        "id": payment.pk,
        "document_id": payment.document_id,
        "type": payment.type,
        "status": payment.status,
        "account_id": payment.account_id,
        "invoice_id": payment.invoice_id,
        "total": money.format_amount(payment.total, currency),
        "currency_code": currency,
        "due_date": payment.due_date,
        "expiration_date": payment.expiration_date,
        "external_total": money.format_amount(payment.external_total, payment.external_currency or currency),
        "external_currency": payment.external_currency,
        "balance_payment_allowed": payment.balance_payment_allowed,
        "comment": payment.comment,
    }
