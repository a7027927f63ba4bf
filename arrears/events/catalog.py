"""The events a reseller can attach handlers to (R42) and the placeholders each one offers its templates.

Placeholder sets are in the format of ``arrears.core.liquid``: a ``None`` leaf is a value, a dict an object.
Amounts are formatted decimal strings in the currency's minor-unit precision ("120.00"); dates are ISO strings
"YYYY-MM-DD", which Liquid's ``date`` filter reads; booleans are booleans. ``arrears.events.placeholders``
produces exactly these keys (a test holds the two together).
"""

NOTIFIABLE_EVENTS: dict[str, str] = {
    "invoice.closed": "An invoice was closed after its billing period (a new invoice was issued).",
    "invoice.approved": "The ERP approved an invoice: its number, due date and attachment are final.",
    "invoice.revoked": "The approval of an invoice was revoked; it waits for a new approval.",
    "payment.due_date_coming": "An unpaid payment's due date is coming (daily, with payment.days_left).",
    "payment.received": "A payment was received: it became completed or was paid from the balance.",
    "payment.expired": "An unpaid payment passed its due date and expired.",
    "billing_day.coming": "An account's billing day is coming (daily, with billing_day_left).",
}

_EVENT = {"id": None, "type": None, "occurred_at": None}
# The account, reseller and invoice objects are also the invoice document's (arrears.invoices.documents).
ACCOUNT = {"id": None, "name": None, "email": None, "address": None, "balance": None, "currency": None}
RESELLER = {"id": None, "name": None, "currency": None}
INVOICE = {
    "id": None,
    "document_number": None,  # the ERP's number once approved, else the platform's
    "original_document_number": None,
    "status": None,
    "total": None,
    "currency": None,
    "from_date": None,
    "to_date": None,  # exclusive: the next billing date
    "to_date_human": None,  # the last day of the period
    "billing_date": None,
    "managed_externally": None,  # ERP mode: the ERP issues the invoice the customer pays (R10)
    "approved": None,
    "approval_date": None,
    "due_date": None,  # the due date of the invoice's payment
    "has_attached": None,
    "file": {"name": None},
    "link": {"name": None, "data": None},
    "external_total": None,
    "external_currency": None,
}
_PAYMENT = {
    "id": None,
    "document_number": None,
    "type": None,
    "status": None,
    "total": None,
    "currency": None,
    "due_date": None,
    "expiration_date": None,
    "days_left": None,  # days from today (or from the reminder's day) to the due date
    "external_total": None,
    "external_currency": None,
    "balance_payment_allowed": None,
}
_BILLING_DAY = {"billing_day": None, "billing_day_left": None, "billing_day_date": None}

_COMMON = {"event": _EVENT, "account": ACCOUNT, "reseller": RESELLER}
_INVOICE_EVENT = {**_COMMON, "invoice": INVOICE}
# ``invoice`` is nil for a top-up payment, which has no invoice.
_PAYMENT_EVENT = {**_COMMON, "invoice": INVOICE, "payment": _PAYMENT}

PLACEHOLDERS: dict[str, dict] = {
    "invoice.closed": _INVOICE_EVENT,
    "invoice.approved": _INVOICE_EVENT,
    "invoice.revoked": _INVOICE_EVENT,
    "payment.due_date_coming": _PAYMENT_EVENT,
    "payment.received": _PAYMENT_EVENT,
    "payment.expired": _PAYMENT_EVENT,
    "billing_day.coming": {**_COMMON, **_BILLING_DAY},
}
