from arrears.core.errors import ArrearsError


class BillingRunAlreadyRequested(ArrearsError):
    """One "Run billing now" at a time per reseller: a second waits until the first is done."""

    code = "BILLING-0101"
    status = 409
    title = "A billing run is already queued or running"


class BillingPlanMismatch(ArrearsError):
    """A chunk found other work than its day's plan counted (or a day was planned out of order). The chunk's
    transaction rolls back, so no document number is given twice or skipped; it is a bug to report."""

    code = "BILLING-0501"
    status = 500
    title = "A billing chunk does not match its plan"
