"""JSON:API resources of the domain objects, built in bulk: one query per relationship per page."""

from collections import defaultdict

from arrears.api.jsonapi import identifier, resource, timestamp
from arrears.charges.models import Charge
from arrears.core import money, sql
from arrears.customers.models import Account
from arrears.invoices.models import Invoice
from arrears.payments.models import Payment, PaymentMethod
from arrears.subscriptions.models import Subscription
from arrears.tenants.models import Reseller


def _payment_of(invoice: Invoice) -> Payment | None:
    return getattr(invoice, "payment", None)


def _attachment(invoice: Invoice) -> dict | None:
    if not invoice.attachment_kind:
        return None
    return {"kind": invoice.attachment_kind, "name": invoice.attachment_name, "url": invoice.attachment_url or None}


def invoice_attributes(invoice: Invoice) -> dict:
    payment = _payment_of(invoice)
    currency = invoice.currency
    return {
        "document_id": invoice.document_id,
        "original_document_id": invoice.original_document_id,
        "status": invoice.status,
        "payment_model": invoice.payment_model,
        "total": money.format_amount(invoice.total, currency),
        "currency": currency,
        "account_id": invoice.account_id,
        "from_date": invoice.from_date,
        "to_date": invoice.to_date,
        "billing_date": invoice.billing_date,
        "managed_externally": invoice.managed_externally,
        "approved": invoice.approved,
        "approval_date": invoice.approval_date,
        "external_total": money.format_amount(invoice.external_total, invoice.external_currency or currency),
        "external_currency": invoice.external_currency,
        "has_attached": invoice.has_attached,
        "attachment": _attachment(invoice),
        "due_date": payment.due_date if payment else None,
        "created_at": timestamp(invoice.created_at),
        "updated_at": timestamp(invoice.updated_at),
        "closed_at": timestamp(invoice.closed_at),
    }


def _counted_rate(status: str, tax_rate_bp: int) -> int | None:
    """The rate a charge adds its amounts to in the invoice's tax lines; a deleted charge adds to none."""
    return None if status == Charge.Status.DELETED else tax_rate_bp


def invoice_resources(invoices: list[Invoice]) -> list[dict]:
    """Invoices (loaded with ``select_related("payment")``) with their relationships: the charges come from the
    ``charge_refs`` the hot selectors load along, or else from one extra query for all the invoices."""
    refs_of: dict[int, list[tuple[int, int, int | None]]] = defaultdict(list)
    unloaded = [invoice.pk for invoice in invoices if not hasattr(invoice, "charge_refs")]
    if unloaded:
        for charge_id, invoice_id, subscription_id, status, rate in sql.fetch_all(
            f"SELECT id, invoice_id, subscription_id, status, tax_rate_bp FROM {sql.table(Charge)}"
            f" WHERE invoice_id IN ({', '.join(['%s'] * len(unloaded))}) ORDER BY id",
            unloaded,
        ):
            refs_of[invoice_id].append((charge_id, subscription_id, _counted_rate(status, rate)))
    resources = []
    for invoice in invoices:
        refs = invoice.charge_refs if hasattr(invoice, "charge_refs") else refs_of[invoice.pk]
        subscription_ids = dict.fromkeys(subscription_id for _, subscription_id, _ in refs)
        rates = sorted({rate for _, _, rate in refs if rate is not None})
        payment = _payment_of(invoice)
        resources.append(
            resource(
                "invoices",
                invoice.pk,
                invoice_attributes(invoice),
                {
                    "subscriptions": {"data": [identifier("subscriptions", pk) for pk in subscription_ids]},
                    "payments": {"data": [identifier("payments", payment.pk)] if payment else []},
                    "charges": {"data": [identifier("charges", charge_id) for charge_id, _, _ in refs]},
                    "corrections": {"data": []},  # the reference's relationship; Arrears has no corrections yet
                    "taxes": {"data": [identifier("taxes", tax_line_id(invoice.pk, rate)) for rate in rates]},
                },
            )
        )
    return resources


def tax_line_id(invoice_id: int, tax_rate_bp: int) -> str:
    """A tax line is one rate of one invoice: its id names both (``2046-2000`` is 20 % on invoice 2046)."""
    return f"{invoice_id}-{tax_rate_bp}"


def tax_resources(invoices: list[Invoice]) -> list[dict]:
    """The tax lines of the invoices, one per invoice and rate: the sums of the net amounts and taxes of their
    charges (all but deleted ones; on a closed invoice these are its closed charges, which make its total), in one
    grouped query for the whole page. Attribute names are the reference's (``tax_percent``,
    ``amount_without_tax``, and ``amount`` for the tax, as its ``taxes[].amount``)."""
    if not invoices:
        return []
    currency_of = {invoice.pk: invoice.currency for invoice in invoices}
    rows = sql.fetch_all(
        f"SELECT invoice_id, tax_rate_bp, SUM(net_amount), SUM(tax_amount) FROM {sql.table(Charge)}"
        f" WHERE invoice_id IN ({', '.join(['%s'] * len(currency_of))}) AND status <> %s"
        " GROUP BY invoice_id, tax_rate_bp ORDER BY invoice_id, tax_rate_bp",
        [*currency_of, Charge.Status.DELETED],
    )
    return [
        resource(
            "taxes",
            tax_line_id(invoice_id, rate),
            {
                "invoice_id": invoice_id,
                "tax_percent": money.format_rate(rate),
                "amount_without_tax": money.format_amount(int(net), currency_of[invoice_id]),
                "amount": money.format_amount(int(tax), currency_of[invoice_id]),
                "currency": currency_of[invoice_id],
            },
        )
        for invoice_id, rate, net, tax in rows
    ]


def invoice_included(invoices: list[Invoice], include: frozenset[str]) -> list[dict]:
    included: list[dict] = []
    ids = [invoice.pk for invoice in invoices]
    if "subscriptions" in include:
        subscription_ids = Charge.objects.filter(invoice_id__in=ids).values("subscription_id")
        included += [subscription_resource(s) for s in Subscription.objects.filter(pk__in=subscription_ids)]
    if "payments" in include:
        payments = [payment for invoice in invoices if (payment := _payment_of(invoice)) is not None]
        included += payment_resources(payments)
    if "charges" in include:
        included += [
            charge_resource(c, c.invoice.currency)
            for c in Charge.objects.filter(invoice_id__in=ids).select_related("invoice")
        ]
    if "taxes" in include:
        included += tax_resources(invoices)
    # "corrections" adds nothing: Arrears has no corrections yet
    return included


def payment_attributes(payment: Payment) -> dict:
    currency = payment.currency
    return {
        "document_id": payment.document_id,
        "type": payment.type,
        "status": payment.status,
        "total": money.format_amount(payment.total, currency),
        "initial_total": money.format_amount(payment.initial_total, currency),
        "amount_paid_from_balance": money.format_amount(payment.amount_paid_from_balance, currency),
        "discount_amount": money.format_amount(0, currency),  # the reference's attribute; no discounts yet
        "currency_code": currency,
        "due_date": payment.due_date,
        "expiration_date": payment.expiration_date,
        "external_total": money.format_amount(payment.external_total, payment.external_currency or currency),
        "external_currency": payment.external_currency,
        "balance_payment_allowed": payment.balance_payment_allowed,
        "comment": payment.comment,
        "account_id": payment.account_id,
        "invoice_id": payment.invoice_id,
        "created_at": timestamp(payment.created_at),
        "updated_at": timestamp(payment.updated_at),
        "closed_at": timestamp(payment.closed_at),
    }


def payment_resources(payments: list[Payment]) -> list[dict]:
    """Payments with their relationships; the charges (those of each payment's invoice) in one query for all."""
    charge_ids_of: dict[int, list[int]] = defaultdict(list)
    invoice_ids = sorted({payment.invoice_id for payment in payments if payment.invoice_id})
    if invoice_ids:
        for charge_id, invoice_id in sql.fetch_all(
            f"SELECT id, invoice_id FROM {sql.table(Charge)} WHERE invoice_id IN"
            f" ({', '.join(['%s'] * len(invoice_ids))}) ORDER BY id",
            invoice_ids,
        ):
            charge_ids_of[invoice_id].append(charge_id)
    return [
        resource(
            "payments",
            payment.pk,
            payment_attributes(payment),
            {
                "invoices": {"data": [identifier("invoices", payment.invoice_id)] if payment.invoice_id else []},
                "account": {"data": identifier("accounts", payment.account_id)},
                "payment_method": {
                    "data": identifier("payment_methods", payment.payment_method_id)
                    if payment.payment_method_id
                    else None
                },
                "reseller": {"data": identifier("resellers", payment.reseller_id)},
                "charges": {
                    "data": [identifier("charges", charge_id) for charge_id in charge_ids_of[payment.invoice_id]]
                    if payment.invoice_id
                    else []
                },
                "corrections": {"data": []},
            },
        )
        for payment in payments
    ]


def payment_included(payments: list[Payment], include: frozenset[str], currency: str) -> list[dict]:
    """The related resources of a page of payments, one query per kind of relation."""
    included: list[dict] = []
    invoice_ids = sorted({payment.invoice_id for payment in payments if payment.invoice_id})
    if "invoices" in include:
        included += invoice_resources(list(Invoice.objects.filter(pk__in=invoice_ids).select_related("payment")))
    if "account" in include:
        accounts = Account.objects.filter(pk__in={payment.account_id for payment in payments})
        included += [account_resource(account, currency) for account in accounts]
    if "payment_method" in include:
        methods = PaymentMethod.objects.filter(
            pk__in={payment.payment_method_id for payment in payments if payment.payment_method_id}
        )
        included += [payment_method_resource(method) for method in methods]
    if "reseller" in include:
        included += [
            reseller_resource(reseller)
            for reseller in Reseller.objects.filter(pk__in={payment.reseller_id for payment in payments})
        ]
    if "charges" in include:
        included += [charge_resource(charge, currency) for charge in Charge.objects.filter(invoice_id__in=invoice_ids)]
    # "corrections" adds nothing: Arrears has no corrections yet
    return included


def payment_method_resource(method: PaymentMethod) -> dict:
    """A manual method (bank transfer, cash, …) or one that pays through a gateway connector."""
    return resource(
        "payment_methods",
        method.pk,
        {
            "name": method.name,
            "kind": method.kind,
            "active": method.active,
            "reseller_id": method.reseller_id,
            "connector_id": method.connector_id,
        },
    )


def reseller_resource(reseller: Reseller) -> dict:
    return resource(
        "resellers",
        reseller.pk,
        {
            "name": reseller.name,
            "currency": reseller.currency,
            "timezone": reseller.timezone,
            "external_invoices": reseller.external_invoices,
            "created_at": timestamp(reseller.created_at),
        },
    )


def charge_resource(charge: Charge, currency: str) -> dict:
    return resource(
        "charges",
        charge.pk,
        {
            "kind": charge.kind,
            "description": charge.description,
            "status": charge.status,
            "quantity": money.format_quantity(charge.quantity),
            "unit_price": money.format_amount(charge.unit_price, currency),
            "net_amount": money.format_amount(charge.net_amount, currency),
            "tax_rate": money.format_rate(charge.tax_rate_bp),
            "tax_amount": money.format_amount(charge.tax_amount, currency),
            "amount": money.format_amount(charge.amount, currency),
            "currency": currency,
            "period_from": charge.period_from,
            "period_to": charge.period_to,
            "close_date": charge.close_date,
            "external_id": charge.external_id,
            "account_id": charge.account_id,
            "subscription_id": charge.subscription_id,
            "invoice_id": charge.invoice_id,
            "created_at": timestamp(charge.created_at),
            "updated_at": timestamp(charge.updated_at),
            "closed_at": timestamp(charge.closed_at),
        },
    )


def account_resource(account: Account, currency: str) -> dict:
    return resource(
        "accounts",
        account.pk,
        {
            "name": account.name,
            "email": account.email,
            "address": account.address,
            "account_class_id": account.account_class_id,
            "balance": money.format_amount(account.balance, currency),
            "currency": currency,
            "created_at": timestamp(account.created_at),
            "updated_at": timestamp(account.updated_at),
        },
    )


def subscription_resource(subscription: Subscription) -> dict:
    return resource(
        "subscriptions",
        subscription.pk,
        {
            "account_id": subscription.account_id,
            "plan_id": subscription.plan_id,
            "status": subscription.status,
            "billing_day": subscription.billing_day,
            "start_date": subscription.start_date,
            "created_at": timestamp(subscription.created_at),
            "updated_at": timestamp(subscription.updated_at),
        },
    )


def plan_resource(plan, currency: str) -> dict:
    return resource(
        "plans",
        plan.pk,
        {
            "name": plan.name,
            "fee": money.format_amount(plan.fee, currency),
            "currency": currency,
            "tax_rate": money.format_rate(plan.tax_rate_bp),
            "billing_day": plan.service_term.billing_day,
            "service_term_id": plan.service_term_id,
            "created_at": timestamp(plan.created_at),
            "updated_at": timestamp(plan.updated_at),
        },
    )


def event_resource(event) -> dict:
    return resource(
        "events",
        event.pk,
        {
            "type": event.type,
            "reseller_id": event.reseller_id,
            "account_id": event.account_id,
            "subject_type": event.subject_type,
            "subject_id": event.subject_id,
            "payload": event.payload,
            "actor": {"kind": event.actor_kind, "id": event.actor_id, "label": event.actor_label},
            "occurred_at": timestamp(event.occurred_at),
        },
    )
