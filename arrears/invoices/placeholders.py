"""The account, the reseller and the invoice as a reseller's Liquid templates see them: on the invoice document
(``arrears.invoices.documents``) and in the notifications (``arrears.notifications``), which build them here, so that
a reseller writes ``invoice.document_number`` in both.

The shapes are in the format of ``arrears.core.liquid``: a ``None`` leaf is a value, a dict an object. Amounts are
formatted decimal strings in the currency's minor-unit precision ("120.00"); dates are ISO strings "YYYY-MM-DD",
which Liquid's ``date`` filter reads; links are absolute URLs under ``settings.ARREARS_BASE_URL``, into the Customer
Control Panel at the routes the issue fixed (``/customer/invoices/<id>/``, ``/customer/payments/<id>/``,
``/customer/balance/``).
"""

from datetime import date, timedelta

from django.conf import settings

from arrears.core.money import format_amount
from arrears.customers.models import Account
from arrears.invoices.models import Invoice
from arrears.payments.models import Payment
from arrears.tenants.models import Reseller

ACCOUNT = {
    "id": None,
    "name": None,
    "email": None,
    "address": None,
    "balance": None,
    "currency": None,
    "panel_link": None,  # the Customer Control Panel's overview
    "balance_panel_link": None,  # its balance page, where the customer tops up
}
RESELLER = {"id": None, "name": None, "currency": None}
INVOICE = {
    "id": None,
    "document_number": None,  # the ERP's number once approved, else the platform's
    "original_document_number": None,
    "status": None,
    "total": None,
    "currency": None,
    "from_date": None,
    "to_date": None,  # exclusive: the next billing date
    "to_date_human": None,  # the last day of the period
    "billing_date": None,
    "managed_externally": None,  # ERP mode: the ERP issues the invoice the customer pays (R10)
    "approved": None,
    "approval_date": None,
    "due_date": None,  # the due date of the invoice's payment
    "has_attached": None,
    "file": {"name": None},
    "link": {"name": None, "data": None},
    "external_total": None,
    "external_currency": None,
    "panel_link": None,  # the invoice's page in the Customer Control Panel
    "payment_panel_link": None,  # the page of the invoice's payment, where it is paid; nil without a payment
    "balance_payment_allowed": None,  # whether the balance may pay the invoice's payment (R18); nil without one
}


def iso_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def site_link(path: str) -> str:
    """The absolute URL of a page of this site, for e-mails: ``site_link("customer/balance/")``."""
    return f"{settings.ARREARS_BASE_URL}/{path}"


def customer_panel_link(path: str = "") -> str:
    """The absolute URL of a Customer Control Panel page: ``customer_panel_link(f"payments/{pk}/")``."""
    return site_link(f"customer/{path}")


def account_placeholders(account: Account, currency: str) -> dict:
    return {
        "id": account.pk,
        "name": account.name,
        "email": account.email,
        "address": account.address,
        "balance": format_amount(account.balance, currency),
        "currency": currency,
        "panel_link": customer_panel_link(),
        "balance_panel_link": customer_panel_link("balance/"),
    }


def reseller_placeholders(reseller: Reseller) -> dict:
    return {"id": reseller.pk, "name": reseller.name, "currency": reseller.currency}


def invoice_placeholders(invoice: Invoice, due_date: date | None, *, payment: Payment | None) -> dict:
    """``invoice.*`` of the notifications; the invoice document adds its charges and tax summary. ``payment`` is
    the invoice's (none for an invoice with a zero total, R6); ``due_date`` the one to show for it."""
    is_file = invoice.attachment_kind == Invoice.AttachmentKind.FILE
    is_link = invoice.attachment_kind == Invoice.AttachmentKind.LINK
    return {
        "id": invoice.pk,
        "document_number": invoice.document_id,
        "original_document_number": invoice.original_document_id,
        "status": invoice.status,
        "total": format_amount(invoice.total, invoice.currency),
        "currency": invoice.currency,
        "from_date": iso_date(invoice.from_date),
        "to_date": iso_date(invoice.to_date),
        "to_date_human": iso_date(invoice.to_date - timedelta(days=1)),
        "billing_date": iso_date(invoice.billing_date),
        "managed_externally": invoice.managed_externally,
        "approved": invoice.approved,
        "approval_date": iso_date(invoice.approval_date),
        "due_date": iso_date(due_date),
        "has_attached": invoice.has_attached,
        "file": {"name": invoice.attachment_name if is_file else None},
        "link": {
            "name": invoice.attachment_name if is_link else None,
            "data": invoice.attachment_url if is_link else None,
        },
        "external_total": format_amount(invoice.external_total, invoice.external_currency or invoice.currency),
        "external_currency": invoice.external_currency,
        "panel_link": customer_panel_link(f"invoices/{invoice.pk}/"),
        "payment_panel_link": None if payment is None else customer_panel_link(f"payments/{payment.pk}/"),
        "balance_payment_allowed": None if payment is None else payment.balance_payment_allowed,
    }
