"""Reading invoices of a reseller the caller may see (see arrears.tenants.selectors)."""

from arrears.core import sql
from arrears.customers.models import Account, AccountClass
from arrears.invoices.errors import InvoiceNotFound
from arrears.invoices.models import Invoice
from arrears.payments.models import Payment
from arrears.tenants.models import Reseller

_INVOICES, _PAYMENTS = sql.RowLoader(Invoice), sql.RowLoader(Payment)


def invoices_of(reseller):
    return Invoice.objects.filter(reseller=reseller).select_related("payment")


def invoice_of(reseller, invoice_id: int) -> Invoice:
    """The invoice with its payment (if it has one yet). Hand-written SQL: this is the API's hottest read, and
    compiling the ORM query would cost several times more than running it."""
    rows = sql.fetch_all(
        f"SELECT {_INVOICES.columns('i')}, {_PAYMENTS.columns('p')} FROM {sql.table(Invoice)} i"
        f" LEFT JOIN {sql.table(Payment)} p ON p.invoice_id = i.id WHERE i.id = %s AND i.reseller_id = %s",
        [invoice_id, reseller.pk],
    )
    if not rows:
        raise InvoiceNotFound(f"no invoice {invoice_id} is visible to this token")
    invoice, start = _INVOICES.load(rows[0])
    payment, _ = _PAYMENTS.load(rows[0], start)
    # What select_related("payment") would cache: the payment, or None for "has none".
    invoice._state.fields_cache["payment"] = payment
    return invoice


_RESELLERS, _ACCOUNTS, _ACCOUNT_CLASSES = sql.RowLoader(Reseller), sql.RowLoader(Account), sql.RowLoader(AccountClass)


def invoice_with_terms(invoice_id: int) -> Invoice:
    """The invoice with its payment, reseller, account and account class, as the ERP operations need them:
    read twice by each of them, so hand-written like ``invoice_of``."""
    rows = sql.fetch_all(
        f"SELECT {_INVOICES.columns('i')}, {_PAYMENTS.columns('p')}, {_RESELLERS.columns('r')},"
        f" {_ACCOUNTS.columns('a')}, {_ACCOUNT_CLASSES.columns('c')} FROM {sql.table(Invoice)} i"
        f" LEFT JOIN {sql.table(Payment)} p ON p.invoice_id = i.id"
        f" JOIN {sql.table(Reseller)} r ON r.id = i.reseller_id JOIN {sql.table(Account)} a ON a.id = i.account_id"
        f" JOIN {sql.table(AccountClass)} c ON c.id = a.account_class_id"
        " WHERE i.id = %s",
        [invoice_id],
    )
    if not rows:
        raise InvoiceNotFound(f"no invoice {invoice_id}")
    invoice, start = _INVOICES.load(rows[0])
    payment, start = _PAYMENTS.load(rows[0], start)
    reseller, start = _RESELLERS.load(rows[0], start)
    account, start = _ACCOUNTS.load(rows[0], start)
    account_class, _ = _ACCOUNT_CLASSES.load(rows[0], start)
    account._state.fields_cache["account_class"] = account_class
    invoice._state.fields_cache.update(payment=payment, reseller=reseller, account=account)
    return invoice
