"""Charges are the lines of an invoice: the billing engine writes the recurring fees and closes them, and
``arrears.invoices.services.post_usage_charge`` posts usage onto the period's open invoice."""

from datetime import date


def charges_closed(billed_through: date | None, period: tuple[date, date]) -> bool:
    """The engine closes a period's charges on its billing day, the period's end; ``billed_through`` is the
    reseller's last billed (or begun) day, as ``tenants.locks.wait_for_billing_day`` returns it."""
    return billed_through is not None and billed_through >= period[1]
