"""Charges are the lines of an invoice: the billing engine writes the recurring fees and closes them, and
``arrears.invoices.services.post_usage_charge`` posts usage onto the period's open invoice."""

from datetime import date

from arrears.billing.models import BillingRun


def charges_closed(reseller_id: int, period: tuple[date, date]) -> bool:
    """The engine closes a period's charges on its billing day, the period's end."""
    return BillingRun.objects.filter(reseller_id=reseller_id, date__gte=period[1]).exists()
