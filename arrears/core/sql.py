"""The few SQL spellings that differ between SQLite and PostgreSQL, for the set-based engine."""

from datetime import date, datetime

from django.db import connection


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def add_days(date_sql: str, days_sql: str) -> str:
    """SQL for ``date + days`` where both sides are SQL expressions."""
    if is_postgres():
        return f"(CAST({date_sql} AS date) + CAST({days_sql} AS integer))"
    return f"date({date_sql}, printf('%+d days', {days_sql}))"


DOCUMENT_NUMBER_WIDTH = 8


def number_text(prefix_sql: str, number_sql: str) -> str:
    """SQL for a document number: the prefix and the sequence number zero-padded to eight digits.

    Mirrors ``tenants.services.document_number``; numbers past eight digits are written in full
    (LPAD alone would cut them).
    """
    text = f"CAST({number_sql} AS TEXT)"
    width = DOCUMENT_NUMBER_WIDTH
    return (f"(CAST({prefix_sql} AS TEXT) || CASE WHEN LENGTH({text}) >= {width} THEN {text} "
            f"ELSE LPAD({text}, {width}, '0') END)")


def db_datetime(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def db_date(value: date):
    return connection.ops.adapt_datefield_value(value)


def fetch_all(sql: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def execute(sql: str, params=()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def execute_many(sql: str, rows: list) -> None:
    if rows:
        with connection.cursor() as cursor:
            cursor.executemany(sql, rows)
