"""Template vocabulary of the Customer Control Panel, on top of the shared ``panels`` library."""

from datetime import date, timedelta

from babel.dates import format_date
from django import template
from django.utils.html import format_html

from arrears.panels.templatetags.panels import LOCALE, day

register = template.Library()


def _time(value: date, pattern: str):
    return format_html('<time datetime="{}">{}</time>', value.isoformat(), format_date(value, pattern, locale=LOCALE))


@register.simple_tag
def period(first: date, end: date, *, exclusive: bool = True):
    """A period as a customer reads it: ``1 – 30 Nov 2026``, ``15 Oct – 14 Nov 2026``, or one day. ``end`` is
    exclusive (an invoice's ``to_date``, a charge's ``period_to``) unless told otherwise."""
    last = end - timedelta(days=1) if exclusive else end
    if last <= first:
        return day(first)
    if (first.year, first.month) == (last.year, last.month):
        start = _time(first, "d")
    elif first.year == last.year:
        start = _time(first, "d MMM")
    else:
        start = _time(first, "d MMM y")
    return format_html('<span class="period">{} – {}</span>', start, _time(last, "d MMM y"))


@register.filter
def errors_of(bound_field) -> list[dict]:
    """A field's errors with their codes, for a field the panel lays out itself (a group of radio buttons)."""
    return [
        {"message": message, "code": error.code if error.code and "-" in error.code else ""}
        for error in bound_field.form.errors.as_data().get(bound_field.name, [])
        for message in error.messages
    ]
