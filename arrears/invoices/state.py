"""Invoice statuses (domain §2.2): open → closed, plus the approval axis for ERP-managed invoices."""

from arrears.invoices.models import Invoice

S = Invoice.Status

TRANSITIONS: frozenset[tuple[str | None, str]] = frozenset({(None, S.OPEN), (S.OPEN, S.CLOSED)})
