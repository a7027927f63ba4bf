"""The ERP hand-off of Postpay invoices (erp-api.md, "ERP operations"): approve, complete, revoke."""

from django.http import HttpRequest, HttpResponse
from ninja import Router

from arrears.api.auth import caller_principal, caller_reseller
from arrears.api.jsonapi import render
from arrears.api.operations import operation
from arrears.api.resources import invoice_resources
from arrears.api.schemas import (
    ApproveInvoiceBody,
    CompleteInvoiceBody,
    Id,
    InvoiceDocument,
    RevokeInvoiceBody,
)
from arrears.core import clock
from arrears.customers.selectors import account_of
from arrears.invoices import errors as invoice_errors
from arrears.invoices.errors import InvoiceFieldInvalid, InvoiceNotFound
from arrears.invoices.models import Invoice
from arrears.invoices.services import (
    InvoiceRef,
    approve_invoice,
    complete_invoice_payment,
    find_invoice_by_billing_date,
    revoke_invoice_approval,
)
from arrears.payments.errors import PaymentChangedMeanwhile, PaymentStatusForbids

router = Router(tags=["ERP: Postpay invoices"])

# Every refusal the contract lists for the ERP calls (erp-api.md, "Error codes").
_CHECKED_BY_ALL = (
    invoice_errors.BillingDateMismatch,
    invoice_errors.InvoiceNotPostpay,
    invoice_errors.InvoiceNotClosed,
    invoice_errors.InvoiceTotalNotPositive,
    invoice_errors.InvoiceNotManagedExternally,
    invoice_errors.InvoicePaymentCancelled,
    PaymentChangedMeanwhile,
)
APPROVE_ERRORS = (
    *_CHECKED_BY_ALL,
    invoice_errors.InvoiceAlreadyApproved,
    invoice_errors.DueDateInPast,
    invoice_errors.DocumentIdTaken,
)
COMPLETE_ERRORS = (
    *_CHECKED_BY_ALL,
    invoice_errors.DocumentIdMismatch,
    invoice_errors.InvoiceNotApproved,
    invoice_errors.InvoicePaymentAlreadySettled,
)
REVOKE_ERRORS = (*COMPLETE_ERRORS, PaymentStatusForbids)
BY_ACCOUNT_ERRORS = (invoice_errors.SeveralInvoicesMatch,)
APPROVE_POINTERS = {
    "/amount": invoice_errors.ExternalTotalInvalid,
    "/file": invoice_errors.AttachmentInvalid,
    "/link": invoice_errors.AttachmentInvalid,
}


def _erp_operation(name: str, summary: str, errors: tuple, **kwargs) -> dict:
    return operation(
        name,
        document=InvoiceDocument,
        field_error=InvoiceFieldInvalid,
        not_found=InvoiceNotFound,
        errors=errors,
        summary=summary,
        **kwargs,
    )


def _invoice_document(invoice: Invoice) -> HttpResponse:
    return render({"data": invoice_resources([invoice])[0]})


def _by_account(request: HttpRequest, reseller_id: int, account_id: int, billing_date) -> Invoice:
    reseller = caller_reseller(request, reseller_id, "erp")
    account = account_of(reseller, account_id, not_found=InvoiceNotFound)
    return find_invoice_by_billing_date(account, billing_date)


def _by_id(request: HttpRequest, reseller_id: int, invoice_id: int) -> InvoiceRef:
    """A reference to the invoice within the caller's reseller: the service reads it in its transaction, and
    that read answers 404 for an invoice of any other reseller."""
    return InvoiceRef(invoice_id, caller_reseller(request, reseller_id, "erp").pk)


def _approve(request: HttpRequest, invoice: Invoice | InvoiceRef, body: ApproveInvoiceBody) -> HttpResponse:
    approved = approve_invoice(
        invoice,
        document_id=body.document_id,
        billing_date=body.billing_date,
        due_date=body.due_date,
        amount=body.amount.model_dump() if body.amount else None,
        file=body.file.model_dump() if body.file else None,
        link=body.link.model_dump() if body.link else None,
        actor=caller_principal(request).actor,
        now=clock.wall_clock(),
    )
    return _invoice_document(approved)


def _complete(request: HttpRequest, invoice: Invoice | InvoiceRef, body: CompleteInvoiceBody) -> HttpResponse:
    completed = complete_invoice_payment(
        invoice,
        document_id=body.document_id,
        billing_date=body.billing_date,
        actor=caller_principal(request).actor,
        now=clock.wall_clock(),
    )
    return _invoice_document(completed)


def _revoke(request: HttpRequest, invoice: Invoice | InvoiceRef, body: RevokeInvoiceBody) -> HttpResponse:
    revoked = revoke_invoice_approval(
        invoice,
        document_id=body.document_id,
        billing_date=body.billing_date,
        comment=body.comment or "",
        actor=caller_principal(request).actor,
        now=clock.wall_clock(),
    )
    return _invoice_document(revoked)


@router.post(
    "/{reseller_id}/accounts/{account_id}/approve_invoices",
    **_erp_operation(
        "approve_invoices",
        "Approve an invoice found by account and billing date",
        (*APPROVE_ERRORS, *BY_ACCOUNT_ERRORS),
        pointer_errors=APPROVE_POINTERS,
    ),
)
def approve_invoices(request, reseller_id: Id, account_id: Id, body: ApproveInvoiceBody):
    """Sets the due date, renames the invoice to `document_id`, stores the external total and the attachment,
    and emits `invoice.approved` (R9, R13–R18, R23, R26)."""
    return _approve(request, _by_account(request, reseller_id, account_id, body.billing_date), body)


@router.post(
    "/{reseller_id}/invoices/{invoice_id}/approve",
    **_erp_operation("approve_invoice", "Approve an invoice by id", APPROVE_ERRORS, pointer_errors=APPROVE_POINTERS),
)
def approve_invoice_by_id(request, reseller_id: Id, invoice_id: Id, body: ApproveInvoiceBody):
    """As approve by account; `billing_date` must match the invoice (INVOICE-0005)."""
    return _approve(request, _by_id(request, reseller_id, invoice_id), body)


@router.post(
    "/{reseller_id}/accounts/{account_id}/complete_invoices",
    **_erp_operation(
        "complete_invoices",
        "Complete an invoice found by account and billing date",
        (*COMPLETE_ERRORS, *BY_ACCOUNT_ERRORS),
    ),
)
def complete_invoices(request, reseller_id: Id, account_id: Id, body: CompleteInvoiceBody):
    """The ERP received the money: the approved invoice's payment becomes `completed` (R27–R29)."""
    return _complete(request, _by_account(request, reseller_id, account_id, body.billing_date), body)


@router.post(
    "/{reseller_id}/invoices/{invoice_id}/complete",
    **_erp_operation("complete_invoice", "Complete an invoice by id", COMPLETE_ERRORS),
)
def complete_invoice_by_id(request, reseller_id: Id, invoice_id: Id, body: CompleteInvoiceBody):
    """The ERP received the money: the approved invoice's payment becomes `completed` (R27–R29)."""
    return _complete(request, _by_id(request, reseller_id, invoice_id), body)


@router.post(
    "/{reseller_id}/invoices/{invoice_id}/revoke",
    **_erp_operation("revoke_invoice", "Revoke an invoice's approval by id", REVOKE_ERRORS),
)
def revoke_invoice_by_id(request, reseller_id: Id, invoice_id: Id, body: RevokeInvoiceBody):
    """The invoice, its payment and its subscriptions return to their state before approval (R36–R40)."""
    return _revoke(request, _by_id(request, reseller_id, invoice_id), body)


@router.post(
    "/{reseller_id}/accounts/{account_id}/revoke_invoices",
    **_erp_operation(
        "revoke_invoices",
        "Revoke an invoice's approval, found by account and billing date",
        (*REVOKE_ERRORS, *BY_ACCOUNT_ERRORS),
    ),
)
def revoke_invoices(request, reseller_id: Id, account_id: Id, body: RevokeInvoiceBody):
    """The invoice, its payment and its subscriptions return to their state before approval (R36–R40)."""
    return _revoke(request, _by_account(request, reseller_id, account_id, body.billing_date), body)
