"""A reseller's billing calendar and the writes that must not interleave with a billing day's start.

The engine begins a day by planning it in a short transaction that takes the reseller's row FOR UPDATE and moves
``Reseller.billed_through`` to the day (``lock_for_billing_day``, ``mark_billing_begun``). A write that depends on
what the calendar has billed (a new subscription's start, a usage charge's period) takes the row FOR SHARE and
reads ``billed_through`` (``wait_for_billing_day``): it waits for a day being planned right now, never for the
day's chunks, and such writes never wait for each other. From the moment a day is planned the writes treat it as
billed, so nothing they do changes what the day's chunks were planned to close and number. SQLite has one writer
at a time, which is the same guarantee, so there only the read remains.
"""

from datetime import date

from arrears.core import sql
from arrears.tenants.models import Reseller


def lock_for_billing_day(reseller_id: int) -> Reseller:
    """In a transaction: the reseller, locked until the transaction ends."""
    return Reseller.objects.select_for_update().get(pk=reseller_id)


def mark_billing_begun(reseller_id: int, day: date) -> None:
    """In the transaction that holds ``lock_for_billing_day``: from now on ``day`` counts as billed."""
    sql.execute(
        f"UPDATE {sql.table(Reseller)} SET billed_through = %s WHERE id = %s"
        " AND (billed_through IS NULL OR billed_through < %s)",
        [sql.db_date(day), reseller_id, sql.db_date(day)],
    )


def wait_for_billing_day(reseller_id: int) -> date | None:
    """In a transaction: wait until a billing day of the reseller that is being planned right now has committed,
    keep the next one from being planned until this transaction ends, and return the last date already billed
    (or begun), ``None`` before the first."""
    lock = " FOR SHARE" if sql.is_postgres() else ""
    rows = sql.fetch_all(f"SELECT billed_through FROM {sql.table(Reseller)} WHERE id = %s{lock}", [reseller_id])
    value = rows[0][0]
    return value if value is None or isinstance(value, date) else date.fromisoformat(value)
