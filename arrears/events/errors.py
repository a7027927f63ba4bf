from arrears.core.errors import ArrearsError, ValidationFailed


class FeedParameterInvalid(ArrearsError):
    code = "EVENT-0001"
    title = "Bad feed parameter"


class HandlerFieldInvalid(ValidationFailed):
    """An event handler or webhook endpoint field that cannot be saved; ``pointer`` names it. Template errors
    are ``TEMPLATE-0001`` (arrears.core.liquid)."""

    code = "HANDLER-0001"
    title = "Invalid event handler"


class PlatformHandlerReadOnly(ArrearsError):
    code = "HANDLER-0002"
    status = 409
    title = "Platform default handlers cannot be changed"
