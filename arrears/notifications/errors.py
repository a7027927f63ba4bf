from arrears.core.errors import ArrearsError, ValidationFailed


class HandlerFieldInvalid(ValidationFailed):
    """An event handler or webhook endpoint field that cannot be saved; ``pointer`` names it. Template errors
    are ``TEMPLATE-0001`` (arrears.core.liquid)."""

    code = "HANDLER-0001"
    title = "Invalid event handler"


class PlatformHandlerReadOnly(ArrearsError):
    code = "HANDLER-0002"
    status = 409
    title = "Platform default handlers cannot be changed"


class WebhookEndpointNotDisabled(ArrearsError):
    code = "WEBHOOK-0001"
    status = 409
    title = "The webhook endpoint is not disabled"


class WebhookEndpointDisabled(ArrearsError):
    """Resending a delivery to a disabled endpoint: enable the endpoint first."""

    code = "WEBHOOK-0002"
    status = 409
    title = "The webhook endpoint is disabled"


class DeliveryChanged(ArrearsError):
    """A delivery changed while it was being resent (a worker recorded an attempt): nothing was done."""

    code = "WEBHOOK-0003"
    status = 409
    title = "The delivery changed meanwhile"
