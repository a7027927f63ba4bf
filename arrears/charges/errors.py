from arrears.core.errors import ArrearsError, NotFound


class ChargeFieldInvalid(ArrearsError):
    code = "CHARGE-0001"
    title = "Required field missing or malformed"


class SubscriptionNotChargeable(ArrearsError):
    code = "CHARGE-0101"
    title = "The subscription cannot be charged"


class ChargeNotFound(NotFound):
    code = "CHARGE-0404"
    title = "Charge not found"
