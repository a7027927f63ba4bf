"""Reading invoices of a reseller the caller may see (see arrears.tenants.selectors)."""

from datetime import date

from django.db import connection
from django.db.models import BooleanField, Case, Count, F, Q, Sum, Value, When
from django.db.models.functions import Coalesce

from arrears.charges.models import Charge
from arrears.core import sql
from arrears.customers.models import Account, AccountClass
from arrears.invoices.errors import InvoiceNotFound
from arrears.invoices.models import Invoice
from arrears.payments.models import Payment
from arrears.tenants.models import Reseller

_INVOICES, _PAYMENTS = sql.RowLoader(Invoice), sql.RowLoader(Payment)


# Sorts after every character a number can continue with, in SQLite's binary collation.
_LAST_CHARACTER = "\U0010ffff"


def numbered(invoices, number: str):
    """The invoices whose number (the ERP's or the platform's) is ``number`` or begins with it, by an index.

    Each side is its own indexed search, joined by a UNION: with an OR in one WHERE, SQLite walks every invoice of
    the reseller. SQLite's LIKE ignores case and so cannot use the (reseller, number) index; a range over its
    binary collation can. On PostgreSQL the prefix is a LIKE, served by a pattern-ops index whatever the
    collation (migration invoices 0007)."""
    if connection.vendor == "sqlite":
        prefix = invoices.filter(document_id__gte=number, document_id__lt=number + _LAST_CHARACTER)
    else:
        prefix = invoices.filter(document_id__startswith=number)
    original = invoices.filter(original_document_id=number)
    return invoices.filter(pk__in=prefix.order_by().values("pk").union(original.order_by().values("pk")))


def invoices_of(reseller):
    return Invoice.objects.filter(reseller=reseller).select_related("payment")


# --- A customer's own invoices (the Customer Control Panel, R46) ----------------------------------------------


def invoices_of_account(account):
    """The invoices of ``account``, with their payments: all a customer user of that account may see (R46)."""
    return Invoice.objects.filter(account=account, reseller_id=account.reseller_id).select_related("payment")


def invoice_of_account(account, invoice_id: int) -> Invoice:
    """The invoice ``invoice_id`` if it is ``account``'s, with its payment; another account's id is not found."""
    invoice = invoices_of_account(account).filter(pk=invoice_id).first()
    if invoice is None:
        raise InvoiceNotFound(f"no invoice {invoice_id} is visible here")
    return invoice


def _charge_refs_column() -> str:
    """A column with the invoice's charges as "charge_id:subscription_id:tax_rate_bp,…" (the rate empty for a
    deleted charge, which no tax line counts), so that the invoice's document needs no second query; read back
    by ``_keep_charge_refs``."""
    ref = (
        "CAST(c.id AS TEXT) || ':' || CAST(c.subscription_id AS TEXT) || ':' ||"
        " CASE WHEN c.status = 'deleted' THEN '' ELSE CAST(c.tax_rate_bp AS TEXT) END"
    )
    return f"(SELECT {sql.joined_text(ref)} FROM {sql.table(Charge)} c WHERE c.invoice_id = i.id)"


def _keep_charge_refs(invoice: Invoice, joined: str | None) -> None:
    """``invoice.charge_refs``: (charge id, subscription id, tax rate in basis points or None if deleted)."""
    refs = (ref.split(":") for ref in joined.split(",")) if joined else ()
    invoice.charge_refs = sorted(
        (int(charge_id), int(subscription_id), int(rate) if rate else None) for charge_id, subscription_id, rate in refs
    )


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
    """The invoice with its payment, reseller, account, account class and ``charge_refs`` (the payment with the
    same reseller and account), as the ERP operations need them: hand-written like ``invoice_of``. With
    ``reseller_id``, an invoice of another reseller is not found."""
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
    if payment is not None:
        payment._state.fields_cache.update(reseller=reseller, account=account)
    _keep_charge_refs(invoice, rows[0][start])
    return invoice


# --- Reconciliation: approved ERP invoices, platform total against the ERP's stated total (R17, R18) ----------


def approved_periods(reseller, *, limit: int = 240) -> list:
    """The billing dates that have approved (ERP) invoices, newest first: a loose index scan of
    ``invoice_reconciliation_idx`` (one index probe per period, not a walk over every approved invoice). The
    condition is written ``approved`` as in the index's WHERE, so that SQLite sees the partial index applies."""
    table = sql.table(Invoice)
    rows = sql.fetch_all(
        f"WITH RECURSIVE periods(day, n) AS ("
        f" SELECT (SELECT MAX(billing_date) FROM {table} WHERE reseller_id = %s AND approved), 1"
        f" UNION ALL SELECT (SELECT MAX(billing_date) FROM {table}"
        f"  WHERE reseller_id = %s AND approved AND billing_date < periods.day), n + 1"
        f" FROM periods WHERE periods.day IS NOT NULL AND n < %s)"
        f" SELECT day FROM periods WHERE day IS NOT NULL",
        [reseller.pk, reseller.pk, limit],
    )
    return [date.fromisoformat(row[0]) if isinstance(row[0], str) else row[0] for row in rows]


def _blocks_balance():
    """R18: a stated external total that differs in amount or currency rules out paying from the balance."""
    return Q(external_total__isnull=False) & (
        Q(external_total__lt=F("total")) | Q(external_total__gt=F("total")) | ~Q(external_currency=F("currency"))
    )


def reconciliation_of(reseller, period):
    """The approved ERP invoices of ``reseller`` billed on ``period``, each with ``stated_total`` and
    ``stated_currency`` (the ERP's, or the platform's when it stated none), ``same_currency``, ``difference``
    (stated − platform, minor units; None across currencies) and ``blocks_balance`` (R18)."""
    same = Q(external_currency__isnull=True) | Q(external_currency=F("currency"))
    return Invoice.objects.filter(
        reseller=reseller, approved=True, managed_externally=True, status=Invoice.Status.CLOSED, billing_date=period
    ).annotate(
        stated_total=Coalesce("external_total", "total"),
        stated_currency=Coalesce("external_currency", "currency"),
        same_currency=Case(When(same, then=Value(True)), default=Value(False), output_field=BooleanField()),
        difference=Case(When(same, then=Coalesce("external_total", "total") - F("total")), default=None),
        blocks_balance=Case(
            When(_blocks_balance(), then=Value(True)), default=Value(False), output_field=BooleanField()
        ),
    )


def reconciliation_totals(queryset) -> list[dict]:
    """Per currency over ``queryset`` (from ``reconciliation_of``, filtered): the platform sum of the invoices in
    that currency, the external sum of what the ERP stated in it, the sum of the same-currency differences, how
    many invoices, how many are stated in another currency and how many block paying from the balance. One
    grouped query by (platform currency, stated currency), folded here: a period has a handful of such pairs."""
    totals: dict[str, dict] = {}

    def entry(currency):
        return totals.setdefault(
            currency,
            {
                "currency": currency,
                "platform": 0,
                "external": 0,
                "difference": 0,
                "count": 0,
                "other_currency": 0,
                "blocking": 0,
            },
        )

    for row in (
        queryset.order_by()
        .values("currency", "stated_currency")
        .annotate(
            platform=Sum("total"),
            stated=Sum("stated_total"),
            difference_sum=Sum("difference"),
            invoices=Count("id"),
            blocking=Count("id", filter=Q(blocks_balance=True)),
        )
    ):
        item = entry(row["currency"])
        item["platform"] += row["platform"] or 0
        item["difference"] += row["difference_sum"] or 0
        item["count"] += row["invoices"]
        item["blocking"] += row["blocking"]
        if row["stated_currency"] != row["currency"]:
            item["other_currency"] += row["invoices"]
        entry(row["stated_currency"])["external"] += row["stated"] or 0
    return sorted(totals.values(), key=lambda item: (-item["count"], item["currency"]))
