from arrears.core.errors import ArrearsError


class ChargeFieldInvalid(ArrearsError):
    code = "CHARGE-0001"
    title = "Required field missing or malformed"


class SubscriptionNotChargeable(ArrearsError):
    code = "CHARGE-0101"
    title = "The subscription cannot be charged"
