"""Payload builders: the placeholders of a batch of events, as documented in ``arrears.notifications.catalog``.

Placeholders show the subject as it is when the batch is dispatched (right after the event's commit), except
what the event itself fixed: a due-date reminder names the due date and the days left it announced, and the
gateway's events their attempt and credit, read from the payload the gateway's services record:

* ``payment.attempt_started``: ``attempt_id`` (the public ``att_…`` id), ``connector_id``, ``connector_name``,
  ``amount`` (integer, minor units) and ``currency`` — what the connector charges;
* ``payment.attempt_ended``: the same, ``outcome`` (``succeeded``, ``declined``, ``cancelled``, ``timed_out`` or
  ``failed``) and ``late`` (a success after the attempt had timed out);
* ``payment.duplicate_success``: the same as a start, ``credited`` (integer, minor units) and
  ``credited_currency`` — what went to the balance, the payment's total unless said otherwise — and
  ``balance_after`` (integer, minor units of the reseller's currency).

A key that is missing gives a nil placeholder (a credit defaults to the payment's total), never an error: a
handler's preview, which has no payload, renders too.

The account, the reseller and the invoice are built by ``arrears.invoices.placeholders``, as on the invoice
document; links point into the Customer Control Panel under ``settings.ARREARS_BASE_URL`` (an e-mail to the managers
also into the Operator Control Panel).
"""

from datetime import date, datetime

from arrears.core import clock
from arrears.core.money import format_amount
from arrears.customers.models import Account
from arrears.events.models import Event
from arrears.invoices.models import Invoice
from arrears.invoices.placeholders import (
    account_placeholders,
    customer_panel_link,
    invoice_placeholders,
    iso_date,
    reseller_placeholders,
    site_link,
)
from arrears.notifications.catalog import ATTEMPT_EVENTS
from arrears.payments.models import Payment
from arrears.tenants.models import Manager, Reseller

# The managers a manager-addressed e-mail goes to: those who can act on money, not the viewers.
_NOTIFIED_MANAGER_ROLES = (Manager.Role.ADMIN, Manager.Role.BILLING_MANAGER)


class _Batch:
    """Everything the batch's events refer to, loaded with one query per model."""

    def __init__(self, events: list[Event]):
        self.resellers = Reseller.objects.in_bulk({event.reseller_id for event in events})
        self.accounts = Account.objects.in_bulk({event.account_id for event in events if event.account_id})
        self.payments = Payment.objects.in_bulk(
            {event.subject_id for event in events if event.subject_type == "payment"}
        )
        invoice_ids = {event.subject_id for event in events if event.subject_type == "invoice"}
        invoice_ids |= {payment.invoice_id for payment in self.payments.values() if payment.invoice_id}
        self.invoices = Invoice.objects.in_bulk(invoice_ids)
        self.payment_of_invoice = {
            payment.invoice_id: payment
            for payment in Payment.objects.filter(invoice_id__in=invoice_ids).exclude(pk__in=list(self.payments))
        }
        self.payment_of_invoice.update(
            {payment.invoice_id: payment for payment in self.payments.values() if payment.invoice_id}
        )
        self.manager_emails: dict[int, list[str]] = {}
        for reseller_id, email in (
            Manager.objects.filter(
                reseller_id__in=list(self.resellers), role__in=_NOTIFIED_MANAGER_ROLES, user__is_active=True
            )
            .order_by("id")
            .values_list("reseller_id", "user__email")
        ):
            self.manager_emails.setdefault(reseller_id, []).append(email)


def _event(event: Event) -> dict:
    return {"id": event.pk, "type": event.type, "occurred_at": event.occurred_at.isoformat()}


def _payment(payment: Payment, due_date: date | None, days_left: int | None) -> dict:
    return {
        "id": payment.pk,
        "document_number": payment.document_id,
        "type": payment.type,
        "status": payment.status,
        "total": format_amount(payment.total, payment.currency),
        "currency": payment.currency,
        "due_date": iso_date(due_date),
        "expiration_date": iso_date(payment.expiration_date),
        "days_left": days_left,
        "external_total": format_amount(payment.external_total, payment.external_currency or payment.currency),
        "external_currency": payment.external_currency,
        "balance_payment_allowed": payment.balance_payment_allowed,
        "panel_link": customer_panel_link(f"payments/{payment.pk}/"),
        "operator_link": site_link(f"operator/payments/{payment.pk}/"),
    }


def _amount(value, currency: str | None) -> str | None:
    """A payload's amount in minor units, formatted; one that is not an integer is shown as it was recorded."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int) and currency:
        return format_amount(value, currency)
    return str(value)


def _attempt(payload: dict, *, ended: bool) -> dict:
    currency = payload.get("currency")
    values = {
        "id": payload.get("attempt_id"),
        "connector_id": payload.get("connector_id"),
        "connector_name": payload.get("connector_name"),
        "amount": _amount(payload.get("amount"), currency),
        "currency": currency,
    }
    if ended:
        values |= {"outcome": payload.get("outcome"), "late": bool(payload.get("late", False))}
    return values


def _credit(payload: dict, payment: Payment, reseller: Reseller) -> dict:
    currency = payload.get("credited_currency") or payment.currency
    credited = payload.get("credited", payment.total)
    return {
        "amount": _amount(credited, currency),
        "currency": currency,
        "balance_after": _amount(payload.get("balance_after"), reseller.currency),
    }


def _announced_due_date(event: Event, payment: Payment | None) -> date | None:
    """A reminder names the due date it announced; other events the payment's current one."""
    announced = event.payload.get("due_date") if event.type == "payment.due_date_coming" else None
    if announced:
        return date.fromisoformat(announced)
    return payment.due_date if payment is not None else None


def placeholders_for(events: list[Event], *, now: datetime) -> dict[int | None, dict]:
    """Event id → the placeholders of its type (``catalog.PLACEHOLDERS``), in a handful of queries. A preview's
    event is never saved: its placeholders are under None."""
    batch = _Batch(events)
    result: dict[int | None, dict] = {}
    for event in events:
        reseller = batch.resellers[event.reseller_id]
        values: dict = {
            "event": _event(event),
            "reseller": {
                **reseller_placeholders(reseller),
                "manager_emails": ", ".join(batch.manager_emails.get(reseller.pk, [])),
            },
        }
        account = batch.accounts.get(event.account_id)
        values["account"] = None if account is None else account_placeholders(account, reseller.currency)
        if event.subject_type == "invoice":
            invoice = batch.invoices[event.subject_id]
            payment = batch.payment_of_invoice.get(invoice.pk)
            values["invoice"] = invoice_placeholders(invoice, payment.due_date if payment else None, payment=payment)
        elif event.subject_type == "payment":
            payment = batch.payments[event.subject_id]
            due_date = _announced_due_date(event, payment)
            days_left = event.payload.get("days_left")
            if days_left is None and due_date is not None:
                days_left = (due_date - clock.local_date(now, reseller.timezone)).days
            paid_invoice = batch.invoices.get(payment.invoice_id)
            values["invoice"] = (
                None if paid_invoice is None else invoice_placeholders(paid_invoice, due_date, payment=payment)
            )
            values["payment"] = _payment(payment, due_date, days_left)
            if event.type in ATTEMPT_EVENTS:
                values["attempt"] = _attempt(event.payload, ended=event.type == "payment.attempt_ended")
            if event.type == "payment.duplicate_success":
                values["credit"] = _credit(event.payload, payment, reseller)
        if event.type == "billing_day.coming":
            values["billing_day"] = event.payload["billing_day"]
            values["billing_day_left"] = event.payload["days_left"]
            values["billing_day_date"] = event.payload["billing_date"]
        result[event.pk] = values
    return result
