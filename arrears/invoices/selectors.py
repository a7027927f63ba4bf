"""Reading invoices of a reseller the caller may see (see arrears.tenants.selectors)."""

from arrears.charges.models import Charge
from arrears.core import sql
from arrears.customers.models import Account, AccountClass
from arrears.invoices.errors import InvoiceNotFound
from arrears.invoices.models import Invoice
from arrears.payments.models import Payment
from arrears.tenants.models import Reseller

_INVOICES, _PAYMENTS = sql.RowLoader(Invoice), sql.RowLoader(Payment)


def invoices_of(reseller):
    return Invoice.objects.filter(reseller=reseller).select_related("payment")


def _charge_refs_column() -> str:
    """A column with the invoice's charges as "charge_id:subscription_id,…", so that the invoice's document
    needs no second query; read back by ``_keep_charge_refs``."""
    pair = "CAST(c.id AS TEXT) || ':' || CAST(c.subscription_id AS TEXT)"
    return f"(SELECT {sql.joined_text(pair)} FROM {sql.table(Charge)} c WHERE c.invoice_id = i.id)"


def _keep_charge_refs(invoice: Invoice, joined: str | None) -> None:
    pairs = (pair.split(":") for pair in joined.split(",")) if joined else ()
    invoice.charge_refs = sorted((int(charge_id), int(subscription_id)) for charge_id, subscription_id in pairs)


def invoice_of(reseller, invoice_id: int) -> Invoice:
    """The invoice with its payment (if it has one yet) and its ``charge_refs`` (charge id, subscription id).
    Hand-written SQL: this is the API's hottest read, and compiling the ORM query would cost several times more
    than running it."""
    rows = sql.fetch_all(
        f"SELECT {_INVOICES.columns('i')}, {_PAYMENTS.columns('p')}, {_charge_refs_column()}"
        f" FROM {sql.table(Invoice)} i LEFT JOIN {sql.table(Payment)} p ON p.invoice_id = i.id"
        " WHERE i.id = %s AND i.reseller_id = %s",
        [invoice_id, reseller.pk],
    )
    if not rows:
        raise InvoiceNotFound(f"no invoice {invoice_id} is visible to this token")
    invoice, start = _INVOICES.load(rows[0])
    payment, start = _PAYMENTS.load(rows[0], start)
    # What select_related("payment") would cache: the payment, or None for "has none".
    invoice._state.fields_cache["payment"] = payment
    _keep_charge_refs(invoice, rows[0][start])
    return invoice


_RESELLERS, _ACCOUNTS, _ACCOUNT_CLASSES = sql.RowLoader(Reseller), sql.RowLoader(Account), sql.RowLoader(AccountClass)


def invoice_with_terms(invoice_id: int, *, reseller_id: int | None = None) -> Invoice:
    """The invoice with its payment, reseller, account, account class and ``charge_refs``, as the ERP operations
    need them: hand-written like ``invoice_of``. With ``reseller_id``, an invoice of another reseller is not
    found."""
    rows = sql.fetch_all(
        f"SELECT {_INVOICES.columns('i')}, {_PAYMENTS.columns('p')}, {_RESELLERS.columns('r')},"
        f" {_ACCOUNTS.columns('a')}, {_ACCOUNT_CLASSES.columns('ac')}, {_charge_refs_column()}"
        f" FROM {sql.table(Invoice)} i LEFT JOIN {sql.table(Payment)} p ON p.invoice_id = i.id"
        f" JOIN {sql.table(Reseller)} r ON r.id = i.reseller_id JOIN {sql.table(Account)} a ON a.id = i.account_id"
        f" JOIN {sql.table(AccountClass)} ac ON ac.id = a.account_class_id"
        " WHERE i.id = %s" + ("" if reseller_id is None else " AND i.reseller_id = %s"),
        [invoice_id] if reseller_id is None else [invoice_id, reseller_id],
    )
    if not rows:
        raise InvoiceNotFound(f"no invoice {invoice_id}" + ("" if reseller_id is None else " is visible to this token"))
    invoice, start = _INVOICES.load(rows[0])
    payment, start = _PAYMENTS.load(rows[0], start)
    reseller, start = _RESELLERS.load(rows[0], start)
    account, start = _ACCOUNTS.load(rows[0], start)
    account_class, start = _ACCOUNT_CLASSES.load(rows[0], start)
    account._state.fields_cache["account_class"] = account_class
    invoice._state.fields_cache.update(payment=payment, reseller=reseller, account=account)
    _keep_charge_refs(invoice, rows[0][start])
    return invoice
