"""Reading invoices of a reseller the caller may see (see arrears.tenants.selectors)."""

from arrears.invoices.errors import InvoiceNotFound
from arrears.invoices.models import Invoice


def invoices_of(reseller):
    return Invoice.objects.filter(reseller=reseller).select_related("payment")


def invoice_of(reseller, invoice_id: int) -> Invoice:
    invoice = invoices_of(reseller).filter(pk=invoice_id).first()
    if invoice is None:
        raise InvoiceNotFound(f"no invoice {invoice_id} is visible to this token")
    return invoice
