"""One rule, one spelling (issue 13): the billing engine computes tax, proration, due dates and document numbers in
SQL for whole chunks of rows, the services in Python for one row. Hypothesis draws inputs across the domain's
bounds and the database (SQLite or PostgreSQL, whichever the run uses) must agree with Python on each."""

from datetime import date

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arrears.core import money, sql
from arrears.payments import terms
from arrears.tenants.services import document_number

pytestmark = pytest.mark.django_db
# The database fixture is the same for every example: each runs one SELECT and writes nothing.
examples = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

AMOUNTS = st.integers(min_value=-(10**12), max_value=10**12)  # minor units, far beyond any plan's fee
RATES = st.integers(min_value=0, max_value=10_000)  # basis points, 0 % to 100 %


def select(expression: str, **columns):
    """``expression`` over one row whose columns are ``columns``, each an integer (BIGINT, as the engine's columns
    are) or a text, as the engine's statements see them."""
    row = ", ".join(
        f"CAST(%s AS {'BIGINT' if isinstance(value, int) else 'TEXT'}) AS {name}" for name, value in columns.items()
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {expression} FROM (SELECT {row}) AS given", list(columns.values()))
        return cursor.fetchone()[0]


@examples
@given(net=AMOUNTS, rate=RATES)
def test_tax_rounds_the_same_in_sql_and_python(net, rate):
    assert select(money.tax_amount_sql("net", "rate"), net=net, rate=rate) == money.tax_amount(net, rate)


@examples
@given(numerator=AMOUNTS, denominator=st.integers(min_value=1, max_value=10**6))
def test_half_up_division_is_the_same_in_sql_and_python(numerator, denominator):
    assert select(money.divide_half_up_sql("n", denominator), n=numerator) == money.divide_half_up(
        numerator, denominator
    )


@examples
@given(fee=st.integers(min_value=0, max_value=10**12), data=st.data())
def test_proration_is_the_same_in_sql_and_python(fee, data):
    days_in_period = data.draw(st.integers(min_value=28, max_value=31))
    days_used = data.draw(st.integers(min_value=1, max_value=days_in_period))
    assert select(money.prorated_fee_sql("fee", days_used, days_in_period), fee=fee) == money.prorated_fee(
        fee, days_used, days_in_period
    )


@examples
@given(
    first_day=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
    expiration_days=st.integers(min_value=1, max_value=365),
)
def test_due_and_expiration_dates_are_the_same_in_sql_and_python(first_day, expiration_days):
    day = first_day.isoformat()
    due = select(terms.due_date_sql("day", "days"), day=day, days=expiration_days)
    expires = select(terms.expiration_date_sql("day", "days"), day=day, days=expiration_days)
    assert str(due) == terms.due_date(first_day, expiration_days).isoformat()
    assert str(expires) == terms.expiration_date(first_day, expiration_days).isoformat()


@examples
@given(
    prefix=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ-/0123456789", max_size=20),
    number=st.integers(min_value=1, max_value=10**12),
)
def test_document_numbers_are_the_same_in_sql_and_python(prefix, number):
    assert select(sql.number_text("prefix", "number"), prefix=prefix, number=number) == document_number(prefix, number)
