from arrears.core.errors import ArrearsError, NotFound


class PaymentFieldInvalid(ArrearsError):
    code = "PAYMENT-0001"
    title = "Required field missing or malformed"


class PaymentStatusForbids(ArrearsError):
    code = "PAYMENT-0101"
    title = "The payment's status does not allow this operation"


class PaymentInvoiceNotApproved(ArrearsError):
    """R8: a payment waiting without a due date can be neither paid nor approved."""

    code = "PAYMENT-0102"
    title = "The payment's invoice is not approved yet"


class PaymentMethodRequired(ArrearsError):
    code = "PAYMENT-0103"
    title = "A payment method is required"


class PaymentCancelNotAllowed(ArrearsError):
    code = "PAYMENT-0104"
    title = "This payment cannot be cancelled"


class InsufficientBalance(ArrearsError):
    code = "PAYMENT-0105"
    title = "Insufficient balance"


class BalancePaymentNotAllowed(ArrearsError):
    code = "PAYMENT-0106"
    title = "This payment cannot be paid from the balance"


class PaymentMethodInvalid(ArrearsError):
    code = "PAYMENT-0107"
    title = "Payment method not usable"


class PaymentChangedMeanwhile(ArrearsError):
    """A concurrent call changed the payment between this call's read and its conditional UPDATE: reload, retry."""

    code = "PAYMENT-0409"
    status = 409
    title = "The payment changed meanwhile"


class PaymentNotFound(NotFound):
    code = "PAYMENT-0404"
    title = "Payment not found"
