"""Shared pieces of the ERP contract tests: request bodies and the two routes of each operation."""

import base64

from arrears.invoices.models import Invoice
from tests.service_support import JAN_1

MISSING = object()  # a field left out of the body
UNKNOWN_ID = 987_654_321
BY_ACCOUNT_ACTIONS = {"approve": "approve_invoices", "complete": "complete_invoices", "revoke": "revoke_invoices"}


def erp_body(usual_document_id: str, /, **fields) -> dict:
    """The usual body of an ERP call (the January invoice) with ``fields`` replaced; a field given as MISSING
    is left out."""
    merged = {"document_id": usual_document_id, "billing_date": JAN_1.isoformat()} | fields
    return {name: value for name, value in merged.items() if value is not MISSING}


def erp_path(invoice: Invoice, route: str, action: str, *, reseller_id: int | None = None) -> str:
    """``action`` (approve, complete, revoke) of ``invoice`` by account + billing date or by id."""
    base = f"/api/v3/resellers/{reseller_id or invoice.reseller_id}"
    if route == "by_account":
        return f"{base}/accounts/{invoice.account_id}/{BY_ACCOUNT_ACTIONS[action]}"
    return f"{base}/invoices/{invoice.pk}/{action}"


def data_uri(data: bytes, mime: str = "application/pdf") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"
