from arrears.core.errors import ArrearsError, NotFound


class SubscriptionFieldInvalid(ArrearsError):
    code = "SUBSCRIPTION-0001"
    title = "Required field missing or malformed"


class StartDateAlreadyBilled(ArrearsError):
    code = "SUBSCRIPTION-0101"
    title = "Start date falls on a day that was already billed"


class SubscriptionNotFound(NotFound):
    code = "SUBSCRIPTION-0404"
    title = "Subscription not found"
