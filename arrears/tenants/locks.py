"""A reseller's billing day and the writes that must not interleave with it, locked on the reseller's row.

The engine takes the row FOR UPDATE for its day (``lock_for_billing_day``); a write that depends on what the day
has billed (a new subscription, a usage charge) takes it FOR SHARE (``wait_for_billing_day``), which waits for a
running day to commit without making such writes wait for each other. SQLite has one writer at a time, which is
the same guarantee, so there only the engine's read remains.
"""

from arrears.core import sql
from arrears.tenants.models import Reseller


def lock_for_billing_day(reseller_id: int) -> Reseller:
    """In a transaction: the reseller, locked until the transaction ends."""
    return Reseller.objects.select_for_update().get(pk=reseller_id)


def wait_for_billing_day(reseller_id: int) -> None:
    """In a transaction: wait until a billing day of the reseller that is running now has committed, and keep the
    next one from starting until this transaction ends."""
    if sql.is_postgres():
        sql.execute(f"SELECT id FROM {sql.table(Reseller)} WHERE id = %s FOR SHARE", [reseller_id])
