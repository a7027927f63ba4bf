"""The design system's template vocabulary, shared by both panels: money, dates, status badges, form fields.

Money is formatted from integer minor units with Decimal arithmetic (never a float) and always carries its
currency; dates carry their ISO form in ``datetime``/``title``; a badge always has its word (colour is never the
only signal).
"""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from django import template
from django.utils.html import format_html

from arrears.core import money as money_rules

register = template.Library()

LOCALE = "en_GB"

STATUS_LABELS = {
    "open": "Open",
    "closed": "Closed",
    "approved": "Approved",
    "not_approved": "Not approved",
    "waiting_for_payment": "Waiting for payment",
    "processing": "Processing",
    "expired": "Expired",
    "completed": "Completed",
    "paid_from_balance": "Paid from balance",
    "cancelled": "Cancelled",
    "active": "Active",
    "blocked": "Blocked",
    "stopped": "Stopped",
    "pending": "Pending",
    "sent": "Sent",
    "failed": "Failed",
    "disabled": "Disabled",
    "inactive": "Inactive",
    "revoked": "Revoked",
}

# The reference platform's names for its notifiable events: managers know them by these words.
EVENT_LABELS = {
    "invoice.closed": "Invoice closed",
    "invoice.approved": "The Invoice was approved",
    "invoice.revoked": "The Invoice was revoked",
    "payment.due_date_coming": "Payment due date is coming",
    "payment.received": "Payment has been received",
    "payment.expired": "Payment expired",
    "billing_day.coming": "Billing day for account's subscription has come",
    "invoice.opened": "Invoice opened",
    "payment.created": "Payment created",
    "payment.due_date_set": "Due date set",
    "payment.approval_revoked": "Due date cleared (approval revoked)",
    "payment.cancelled": "Payment cancelled",
    "subscription.blocked": "Subscription blocked",
    "subscription.unblocked": "Subscription unblocked",
    "reseller.settings_changed": "Settings changed",
}

ACTOR_LABELS = {"system": "Job", "manager": "Manager", "api_token": "API token", "customer_user": "Customer"}


def decimal_amount(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-money_rules.precision(currency))


def format_money(minor: int | None, currency: str | None) -> str:
    """``123456, "EUR"`` → ``"1,234.56 EUR"``: grouped, at the currency's precision, with its code."""
    if minor is None or not currency:
        return "—"
    places = money_rules.precision(currency)
    pattern = "#,##0" + ("." + "0" * places if places else "")
    return f"{format_decimal(decimal_amount(minor, currency), format=pattern, locale=LOCALE)} {currency}"


@register.filter
def money(minor, currency):
    return format_money(minor, currency)


@register.filter
def event_label(event_type: str) -> str:
    return EVENT_LABELS.get(event_type, event_type.replace("_", " ").replace(".", ": ").capitalize())


@register.filter
def actor_label(kind: str) -> str:
    return ACTOR_LABELS.get(kind, kind)


@register.filter
def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, (status or "").replace("_", " ").capitalize())


@register.simple_tag
def badge(status: str, label: str | None = None):
    return format_html('<span class="badge badge--{}">{}</span>', status or "none", label or status_label(status))


@register.filter
def day(value: date | None):
    """A date as the locale writes it, its ISO form in the markup."""
    if value is None:
        return "—"
    iso = value.isoformat()
    return format_html('<time datetime="{}" title="{}">{}</time>', iso, iso, format_date(value, "d MMM y",
                                                                                        locale=LOCALE))


@register.filter
def moment(value: datetime | None, tz_name: str = "UTC"):
    """A point in time in the reseller's time zone, the zone named."""
    if value is None:
        return "—"
    local = value.astimezone(ZoneInfo(tz_name or "UTC"))
    return format_html('<time datetime="{}" title="{}">{} {}</time>', value.isoformat(), tz_name,
                       format_datetime(local, "d MMM y, HH:mm", locale=LOCALE), local.tzname())


@register.filter
def count(number: int | None) -> str:
    return format_decimal(number or 0, locale=LOCALE)


@register.inclusion_tag("panels/field.html")
def field(bound_field, help_text: str = ""):
    """A labelled input with its help text and its errors, each with the error code small beside it."""
    form = bound_field.form
    errors = []
    for error in form.errors.as_data().get(bound_field.name, []):
        for message in error.messages:
            errors.append({"message": message, "code": error.code if error.code and "-" in error.code else ""})
    return {"field": bound_field, "errors": errors, "help": help_text or bound_field.help_text,
            "is_checkbox": bound_field.widget_type == "checkbox"}


@register.inclusion_tag("panels/form_errors.html")
def form_errors(form):
    errors = [{"message": message, "code": error.code if error.code and "-" in error.code else ""}
              for error in form.non_field_errors().as_data() for message in error.messages]
    return {"errors": errors}


@register.filter
def quantity(thousandths: int) -> str:
    return money_rules.format_quantity(thousandths)


@register.filter
def rate(basis_points: int) -> str:
    return money_rules.format_rate(basis_points)
