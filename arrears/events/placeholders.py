"""Payload builders: the placeholders of a batch of events, as documented in ``arrears.events.catalog``.

Placeholders show the subject as it is when the batch is dispatched (right after the event's commit), except
what the event itself fixed: a due-date reminder names the due date and the days left it announced.
"""

from datetime import date, datetime, timedelta

from arrears.core import clock
from arrears.core.money import format_amount
from arrears.customers.models import Account
from arrears.events.models import Event
from arrears.invoices.models import Invoice
from arrears.payments.models import Payment
from arrears.tenants.models import Reseller


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


class _Batch:
    """Everything the batch's events refer to, loaded with one query per model."""

    def __init__(self, events: list[Event]):
        self.resellers = Reseller.objects.in_bulk({event.reseller_id for event in events})
        self.accounts = Account.objects.in_bulk({event.account_id for event in events if event.account_id})
        self.payments = Payment.objects.in_bulk(
            {event.subject_id for event in events if event.subject_type == "payment"})
        invoice_ids = {event.subject_id for event in events if event.subject_type == "invoice"}
        invoice_ids |= {payment.invoice_id for payment in self.payments.values() if payment.invoice_id}
        self.invoices = Invoice.objects.in_bulk(invoice_ids)
        self.payment_of_invoice = {
            payment.invoice_id: payment
            for payment in Payment.objects.filter(invoice_id__in=invoice_ids).exclude(
                pk__in=list(self.payments))}
        self.payment_of_invoice.update(
            {payment.invoice_id: payment for payment in self.payments.values() if payment.invoice_id})


def _event(event: Event) -> dict:
    return {"id": event.pk, "type": event.type, "occurred_at": event.occurred_at.isoformat()}


def account_placeholders(account: Account, currency: str) -> dict:
    return {"id": account.pk, "name": account.name, "email": account.email, "address": account.address,
            "balance": format_amount(account.balance, currency), "currency": currency}


def reseller_placeholders(reseller: Reseller) -> dict:
    return {"id": reseller.pk, "name": reseller.name, "currency": reseller.currency}


def invoice_placeholders(invoice: Invoice, due_date: date | None) -> dict:
    """``invoice.*`` of the notifications; the invoice document adds its charges and tax summary."""
    is_file = invoice.attachment_kind == Invoice.AttachmentKind.FILE
    is_link = invoice.attachment_kind == Invoice.AttachmentKind.LINK
    return {
        "id": invoice.pk,
        "document_number": invoice.document_id,
        "original_document_number": invoice.original_document_id,
        "status": invoice.status,
        "total": format_amount(invoice.total, invoice.currency),
        "currency": invoice.currency,
        "from_date": _iso(invoice.from_date),
        "to_date": _iso(invoice.to_date),
        "to_date_human": _iso(invoice.to_date - timedelta(days=1)),
        "billing_date": _iso(invoice.billing_date),
        "managed_externally": invoice.managed_externally,
        "approved": invoice.approved,
        "approval_date": _iso(invoice.approval_date),
        "due_date": _iso(due_date),
        "has_attached": invoice.has_attached,
        "file": {"name": invoice.attachment_name if is_file else None},
        "link": {"name": invoice.attachment_name if is_link else None,
                 "data": invoice.attachment_url if is_link else None},
        "external_total": format_amount(invoice.external_total, invoice.external_currency or invoice.currency),
        "external_currency": invoice.external_currency,
    }


def _payment(payment: Payment, due_date: date | None, days_left: int | None) -> dict:
    return {
        "id": payment.pk,
        "document_number": payment.document_id,
        "type": payment.type,
        "status": payment.status,
        "total": format_amount(payment.total, payment.currency),
        "currency": payment.currency,
        "due_date": _iso(due_date),
        "expiration_date": _iso(payment.expiration_date),
        "days_left": days_left,
        "external_total": format_amount(payment.external_total, payment.external_currency or payment.currency),
        "external_currency": payment.external_currency,
        "balance_payment_allowed": payment.balance_payment_allowed,
    }


def _announced_due_date(event: Event, payment: Payment | None) -> date | None:
    """A reminder names the due date it announced; other events the payment's current one."""
    announced = event.payload.get("due_date") if event.type == "payment.due_date_coming" else None
    if announced:
        return date.fromisoformat(announced)
    return payment.due_date if payment is not None else None


def placeholders_for(events: list[Event], *, now: datetime) -> dict[int, dict]:
    """Event id → the placeholders of its type (``catalog.PLACEHOLDERS``), in a handful of queries."""
    batch = _Batch(events)
    result = {}
    for event in events:
        reseller = batch.resellers[event.reseller_id]
        values: dict = {"event": _event(event), "reseller": reseller_placeholders(reseller)}
        account = batch.accounts.get(event.account_id)
        values["account"] = None if account is None else account_placeholders(account, reseller.currency)
        if event.subject_type == "invoice":
            invoice = batch.invoices[event.subject_id]
            payment = batch.payment_of_invoice.get(invoice.pk)
            values["invoice"] = invoice_placeholders(invoice, payment.due_date if payment else None)
        elif event.subject_type == "payment":
            payment = batch.payments[event.subject_id]
            due_date = _announced_due_date(event, payment)
            days_left = event.payload.get("days_left")
            if days_left is None and due_date is not None:
                days_left = (due_date - clock.local_date(now, reseller.timezone)).days
            invoice = batch.invoices.get(payment.invoice_id)
            values["invoice"] = None if invoice is None else invoice_placeholders(invoice, due_date)
            values["payment"] = _payment(payment, due_date, days_left)
        if event.type == "billing_day.coming":
            values["billing_day"] = event.payload["billing_day"]
            values["billing_day_left"] = event.payload["days_left"]
            values["billing_day_date"] = event.payload["billing_date"]
        result[event.pk] = values
    return result
