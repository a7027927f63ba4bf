"""The events a reseller can attach handlers to (R42) and the placeholders each one offers its templates.

Placeholder sets are in the format of ``arrears.core.liquid``: a ``None`` leaf is a value, a dict an object.
Amounts are formatted decimal strings in the currency's minor-unit precision ("120.00"); dates are ISO strings
"YYYY-MM-DD", which Liquid's ``date`` filter reads; booleans are booleans; links are absolute URLs under
``settings.ARREARS_BASE_URL``. ``arrears.notifications.placeholders`` produces exactly these keys (a test holds the
two together).
"""

from arrears.invoices.placeholders import ACCOUNT, INVOICE, RESELLER

NOTIFIABLE_EVENTS: dict[str, str] = {
    "invoice.closed": "An invoice was closed after its billing period (a new invoice was issued).",
    "invoice.approved": "The ERP approved an invoice: its number, due date and attachment are final.",
    "invoice.revoked": "The approval of an invoice was revoked; it waits for a new approval.",
    "payment.due_date_coming": "An unpaid payment's due date is coming (daily, with payment.days_left).",
    "payment.received": "A payment was received: it became completed or was paid from the balance.",
    "payment.expired": "An unpaid payment passed its due date and expired.",
    "billing_day.coming": "An account's billing day is coming (daily, with billing_day_left).",
    # The gateway's events. The platform sends nothing on the attempt events by default (the customer is on the
    # payment's page meanwhile, and payment.received follows a success); a reseller may attach handlers to them.
    "payment.attempt_started": "A customer started paying a payment through a payment gateway.",
    "payment.attempt_ended": "A payment attempt through a gateway ended: succeeded, declined, cancelled, timed out "
    "or failed.",
    "payment.duplicate_success": "A gateway charged a payment that was settled already: the second amount was "
    "credited to the account's balance (by default, an e-mail to the managers).",
}

# The events whose platform default e-mail goes to the reseller's managers (``reseller.manager_emails``) rather
# than to the customer, and those without a platform default (arrears/events/migrations, where the defaults were
# written before the notifications had an app of their own).
MANAGER_EVENTS = frozenset({"payment.duplicate_success"})
EVENTS_WITHOUT_DEFAULT = frozenset({"payment.attempt_started", "payment.attempt_ended"})
# The events about a payment attempt through a gateway: their placeholders have an ``attempt``.
ATTEMPT_EVENTS = frozenset({"payment.attempt_started", "payment.attempt_ended", "payment.duplicate_success"})

_EVENT = {"id": None, "type": None, "occurred_at": None}
# The account, reseller and invoice objects are the invoice document's too (arrears.invoices.placeholders); the
# notifications' reseller adds its managers' addresses, which have no place on a customer's document.
_NOTIFIED_RESELLER = {**RESELLER, "manager_emails": None}
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
    "panel_link": None,  # the payment's page in the Customer Control Panel (the reference's name)
    "operator_link": None,  # its page in the Operator Control Panel, for e-mails to the managers
}
# A payment attempt through a gateway, from the event's payload: what the connector charges (the ERP's total
# and currency when it stated one), hence its own amount and currency.
_ATTEMPT = {"id": None, "connector_id": None, "connector_name": None, "amount": None, "currency": None}
_ENDED_ATTEMPT = {**_ATTEMPT, "outcome": None, "late": None}
# What a second success credited: the payment's total, in its currency, and the balance after it.
_CREDIT = {"amount": None, "currency": None, "balance_after": None}
_BILLING_DAY = {"billing_day": None, "billing_day_left": None, "billing_day_date": None}

_COMMON = {"event": _EVENT, "account": ACCOUNT, "reseller": _NOTIFIED_RESELLER}
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
    "payment.attempt_started": {**_PAYMENT_EVENT, "attempt": _ATTEMPT},
    "payment.attempt_ended": {**_PAYMENT_EVENT, "attempt": _ENDED_ATTEMPT},
    "payment.duplicate_success": {**_PAYMENT_EVENT, "attempt": _ATTEMPT, "credit": _CREDIT},
}
