"""When a payment for rendered services falls due and when it expires (R20): one rule, spelt once in Python for the
services and once in SQL for the billing engine; tests/test_rules_sql_and_python.py holds the two together.

``first_day`` is the closing date in default mode or the approval date when the ERP gives no due date; the
expiration period (the account class's ``payment_expiration_days``) counts that day as its first.
"""

from datetime import date, timedelta

from arrears.core import sql


def due_date(first_day: date, expiration_days: int) -> date:
    return first_day + timedelta(days=expiration_days - 1)


def expiration_date(first_day: date, expiration_days: int) -> date:
    return first_day + timedelta(days=expiration_days)


def due_date_sql(first_day_sql: str, expiration_days_sql: str) -> str:
    return sql.add_days(first_day_sql, f"({expiration_days_sql}) - 1")


def expiration_date_sql(first_day_sql: str, expiration_days_sql: str) -> str:
    return sql.add_days(first_day_sql, expiration_days_sql)
