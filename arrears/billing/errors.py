from arrears.core.errors import ArrearsError


class BillingRunAlreadyRequested(ArrearsError):
    """One "Run billing now" at a time per reseller: a second waits until the first is done."""

    code = "BILLING-0101"
    status = 409
    title = "A billing run is already queued or running"
