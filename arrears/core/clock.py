"""Calendar helpers. Only the CLI and task layers read the wall clock; everything else gets ``now``."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from django.utils import timezone


def wall_clock() -> datetime:
    return timezone.now()


def zone(tz_name: str) -> ZoneInfo:
    return ZoneInfo(tz_name)


def local_date(now: datetime, tz_name: str) -> date:
    return now.astimezone(ZoneInfo(tz_name)).date()


def start_of_day(day: date, tz_name: str) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(tz_name))


def period_containing(day: date, billing_day: int) -> tuple[date, date]:
    """The billing period ``[start, end)`` that contains ``day`` for a billing day 1..28."""
    start = day.replace(day=billing_day)
    if start > day:
        start -= relativedelta(months=1)
    return start, start + relativedelta(months=1)


def days_between(start: date, end: date) -> int:
    return (end - start).days


def date_range(first: date, last: date):
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)
