"""Invoice error codes of the ERP contract (erp-api.md, "Error codes")."""

from arrears.core.errors import ArrearsError, NotFound


class InvoiceFieldInvalid(ArrearsError):
    code = "INVOICE-0001"
    title = "Required field missing or malformed"


class BillingDateMismatch(ArrearsError):
    code = "INVOICE-0005"
    title = "Incorrect billing date"


class DocumentIdMismatch(ArrearsError):
    code = "INVOICE-0006"
    title = "Incorrect document_id"


class InvoiceNotPostpay(ArrearsError):
    code = "INVOICE-0010"
    title = "Only a Postpay invoice can be processed"


class InvoiceNotClosed(ArrearsError):
    code = "INVOICE-0011"
    title = "Only a closed invoice can be processed"


class InvoiceTotalNotPositive(ArrearsError):
    code = "INVOICE-0012"
    title = "Only an invoice with a positive total can be processed"


class InvoicePaymentCancelled(ArrearsError):
    code = "INVOICE-0017"
    title = "The invoice's payment was cancelled"


class InvoiceAlreadyApproved(ArrearsError):
    code = "INVOICE-0101"
    title = "Invoice already approved"


class InvoiceNotApproved(ArrearsError):
    code = "INVOICE-0102"
    title = "Invoice not approved"


class InvoicePaymentAlreadySettled(ArrearsError):
    code = "INVOICE-0103"
    title = "Payment already completed or paid from balance"


class SeveralInvoicesMatch(ArrearsError):
    code = "INVOICE-0104"
    title = "Several invoices match"


class InvoiceNotManagedExternally(ArrearsError):
    code = "INVOICE-0105"
    title = "Invoice not managed by an external system"


class ExternalTotalInvalid(ArrearsError):
    code = "INVOICE-0106"
    title = "Bad external total"


class AttachmentInvalid(ArrearsError):
    code = "INVOICE-0107"
    title = "Bad attachment"


class DueDateInPast(ArrearsError):
    code = "INVOICE-0108"
    title = "Due date in the past"


class DocumentIdTaken(ArrearsError):
    code = "INVOICE-0109"
    title = "document_id already used"


class DocumentNotAvailable(ArrearsError):
    """The invoice has no document to download: it is still open, or the ERP has not approved it (R25)."""

    code = "INVOICE-0201"
    status = 409
    title = "Invoice document not available"


class DocumentNotReady(ArrearsError):
    """The invoice's standard PDF is not rendered yet, or not since the invoice last changed; a task renders it
    shortly."""

    code = "INVOICE-0202"
    status = 409
    title = "Invoice document not ready"


class InvoiceNotFound(NotFound):
    code = "INVOICE-0404"
    title = "Invoice not found"
