from arrears.core.errors import ArrearsError, NotFound


class ConnectorSignatureInvalid(ArrearsError):
    code = "CONNECTOR-0001"
    status = 401
    title = "The message's signature or timestamp does not verify"


class ConnectorAmountMismatch(ArrearsError):
    code = "CONNECTOR-0002"
    status = 409
    title = "The amount or currency differs from the attempt's"


class ConnectorMessageInvalid(ArrearsError):
    code = "CONNECTOR-0003"
    title = "The message is malformed"


class ConnectorFieldInvalid(ArrearsError):
    code = "CONNECTOR-0004"
    title = "Invalid connector settings"


class ConnectorUnavailable(ArrearsError):
    """The connector could not open a checkout: it did not answer, answered an error, or unsigned."""

    code = "CONNECTOR-0005"
    status = 502
    title = "The payment service did not answer as expected"


class AttemptAlreadyOpen(ArrearsError):
    """No double charge: a payment with an open attempt cannot be paid again until that one ends."""

    code = "CONNECTOR-0006"
    status = 409
    title = "A payment attempt is already in progress"


class ConnectorCurrencyUnsupported(ArrearsError):
    code = "CONNECTOR-0007"
    title = "The payment service does not accept this currency"


class AttemptNotFound(NotFound):
    code = "CONNECTOR-0404"
    title = "Payment attempt not found"


class ConnectorNotFound(NotFound):
    code = "CONNECTOR-0405"
    title = "Payment connector not found"
