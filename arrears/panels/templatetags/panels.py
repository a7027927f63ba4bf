"""The design system's template vocabulary, shared by both panels: money, dates, status badges, form fields.

Money is formatted from integer minor units with Decimal arithmetic (never a float) and always carries its
currency; dates carry their ISO form in ``datetime``/``title``; a badge always has its word (colour is never the
only signal).
"""

import functools
import inspect
from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import get_decimal_symbol, get_group_symbol
from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

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
    "payment.attempt_started": "Payment started through a gateway",
    "payment.attempt_ended": "Gateway payment attempt ended",
    "payment.duplicate_success": "Second gateway success credited to the balance",
    "payment_connector.created": "Payment connector added",
    "payment_connector.updated": "Payment connector changed",
    "payment_connector.secret_rotated": "Connector secret rotated",
    "payment_connector.rotation_ended": "Connector secret rotation ended",
    "payment_method.created": "Payment method added",
    "payment_method.activated": "Payment method activated",
    "payment_method.deactivated": "Payment method deactivated",
}

ACTOR_LABELS = {"system": "Job", "manager": "Manager", "api_token": "API token", "customer_user": "Customer"}


# The locale's symbols, read from babel once: formatting is then integer arithmetic on the minor units, exact and
# cheap enough for a list of a hundred rows (babel's own formatter parses its pattern on every call).
GROUP_SYMBOL, DECIMAL_SYMBOL = get_group_symbol(LOCALE), get_decimal_symbol(LOCALE)


@functools.cache
def _places(currency: str) -> int:
    return money_rules.precision(currency)


def format_money(minor: int | None, currency: str | None) -> str:
    """``123456, "EUR"`` → ``"1,234.56 EUR"``: grouped, at the currency's precision, with its code."""
    if minor is None or not currency:
        return "—"
    places = _places(currency)
    whole, fraction = divmod(abs(minor), 10**places)
    text = f"{whole:,}".replace(",", GROUP_SYMBOL)
    if places:
        text += f"{DECIMAL_SYMBOL}{fraction:0{places}d}"
    return f"{'-' if minor < 0 else ''}{text} {currency}"


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
    return _day(value)


@functools.lru_cache(maxsize=4096)
def _day(value: date):
    # Lists repeat the same few dates row after row: each is formatted once.
    iso = value.isoformat()
    return format_html(
        '<time datetime="{}" title="{}">{}</time>', iso, iso, format_date(value, "d MMM y", locale=LOCALE)
    )


@register.filter
def moment(value: datetime | None, tz_name: str = "UTC"):
    """A point in time in the reseller's time zone, the zone named."""
    if value is None:
        return "—"
    local = value.astimezone(ZoneInfo(tz_name or "UTC"))
    return format_html(
        '<time datetime="{}" title="{}">{} {}</time>',
        value.isoformat(),
        tz_name,
        format_datetime(local, "d MMM y, HH:mm", locale=LOCALE),
        local.tzname(),
    )


@register.filter
def count(number: int | None) -> str:
    return f"{number or 0:,}".replace(",", GROUP_SYMBOL)


@register.inclusion_tag("panels/field.html")
def field(bound_field, help_text: str = ""):
    """A labelled input with its help text and its errors, each with the error code small beside it."""
    form = bound_field.form
    errors = []
    for error in form.errors.as_data().get(bound_field.name, []):
        for message in error.messages:
            errors.append({"message": message, "code": error.code if error.code and "-" in error.code else ""})
    return {
        "field": bound_field,
        "errors": errors,
        "help": help_text or bound_field.help_text,
        "is_checkbox": bound_field.widget_type == "checkbox",
    }


@register.inclusion_tag("panels/form_errors.html")
def form_errors(form):
    errors = [
        {"message": message, "code": error.code if error.code and "-" in error.code else ""}
        for error in form.non_field_errors().as_data()
        for message in error.messages
    ]
    return {"errors": errors}


@register.filter
def quantity(thousandths: int) -> str:
    return money_rules.format_quantity(thousandths)


@register.filter
def rate(basis_points: int) -> str:
    return money_rules.format_rate(basis_points)


@register.simple_tag
def change_value(name: str, value, event=None, currency: str = ""):
    """One side of a change in an event's payload, in a manager's words: Yes/No, a status's label, an amount in
    minor units as money (in the event's external currency for an external total, else ``currency``), a date."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if name == "status" or (isinstance(value, str) and value in STATUS_LABELS):
        return status_label(value)
    if "total" in name and isinstance(value, int):
        payload = getattr(event, "payload", None) or {}
        return format_money(
            value,
            payload.get("external_currency") if "external" in name and payload.get("external_currency") else currency,
        )
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            return day(date.fromisoformat(value))
        except ValueError:
            return value
    return value


@functools.cache
def _parameters(function) -> tuple[str, ...] | None:
    """The argument names ``function`` accepts (None: any, it takes ``**kwargs``), as django-tables2 would find
    them, once per function instead of once per cell."""
    parameters = inspect.signature(function).parameters.values()
    if any(parameter.kind is parameter.VAR_KEYWORD for parameter in parameters):
        return None
    return tuple(parameter.name for parameter in parameters)


@register.simple_tag
def table_cells(row):
    """The ``<td>``s of a django-tables2 row, as the library's own template renders them (a column's value, its
    ``render_*`` method or its default, its link), but with each column's render arguments and cell attributes
    worked out once per table rather than once per cell: in a list of a hundred rows that was most of the time."""
    table = row.table
    plan = getattr(table, "_cell_plan", None)
    if plan is None:
        plan = table._cell_plan = [
            (
                column,
                column.attrs["td"].as_html(),
                _parameters(getattr(column.render, "__func__", column.render)),
                hasattr(column.render, "__func__"),
            )
            for column in table.columns
        ]
    cells = []
    for column, attributes, parameters, is_method in plan:

        def render(bound_column, value=None, parameters=parameters, is_method=is_method):
            arguments = {
                "value": value,
                "record": row.record,
                "column": bound_column.column,
                "bound_column": bound_column,
                "bound_row": row,
                "table": table,
            }
            if parameters is not None:
                wanted = parameters[1:] if is_method else parameters  # a method's first parameter is its self
                arguments = {name: arguments[name] for name in wanted if name in arguments}
            content = bound_column.render(**arguments)
            return bound_column.link(content, **arguments) if bound_column.link else content

        content = row._get_and_render_with(column, render_func=render, default=column.default)
        cells.append(format_html("<td {}>{}</td>", attributes, content))
    return mark_safe("".join(cells))  # noqa: S308 - every cell went through format_html
