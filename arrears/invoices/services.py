"""Invoices: opening for a period, the usage charges posted onto them, and the ERP hand-off (approve, revoke,
complete)."""

from datetime import date, datetime, timedelta
from typing import NamedTuple

from django.db import IntegrityError, transaction

from arrears.charges.errors import ChargeFieldInvalid, SubscriptionNotChargeable
from arrears.charges.models import Charge
from arrears.charges.services import charges_closed
from arrears.core import clock, money, sql
from arrears.core.actors import Actor
from arrears.customers.models import Account
from arrears.events.services import record_event
from arrears.invoices.attachments import parse_attachment, parse_external_total
from arrears.invoices.errors import (
    BillingDateMismatch,
    DocumentIdMismatch,
    DocumentIdTaken,
    DueDateInPast,
    InvoiceAlreadyApproved,
    InvoiceFieldInvalid,
    InvoiceNotApproved,
    InvoiceNotClosed,
    InvoiceNotFound,
    InvoiceNotManagedExternally,
    InvoiceNotPostpay,
    InvoicePaymentAlreadySettled,
    InvoicePaymentCancelled,
    InvoiceTotalNotPositive,
    SeveralInvoicesMatch,
)
from arrears.invoices.models import Invoice, InvoiceAttachmentFile
from arrears.invoices.selectors import invoice_with_terms
from arrears.payments import terms
from arrears.payments.errors import PaymentChangedMeanwhile, PaymentStatusForbids
from arrears.payments.models import Payment
from arrears.payments.services import change_status, payment_status_changed, record_payment_received
from arrears.subscriptions.models import Subscription
from arrears.tenants.locks import wait_for_billing_day
from arrears.tenants.services import document_number


def open_invoice_for(
    *,
    account: Account,
    billing_day: int,
    period: tuple[date, date],
    from_date: date,
    currency: str,
    actor: Actor,
    now: datetime,
) -> Invoice:
    """The open invoice of (account, billing day, period), created if missing. Inside a transaction.

    Creating it records ``invoice.opened`` just as the billing engine does when it opens one (R45).
    """
    key = {"account": account, "billing_day": billing_day, "billing_date": period[0]}
    invoice = Invoice.objects.filter(**key).first()
    if invoice is not None:
        return invoice
    try:
        with transaction.atomic():
            invoice = Invoice.objects.create(
                **key,
                reseller_id=account.reseller_id,
                from_date=from_date,
                to_date=period[1],
                currency=currency,
                created_at=now,
                updated_at=now,
            )
            record_event(
                "invoice.opened",
                subject=invoice,
                reseller_id=invoice.reseller_id,
                account_id=account.pk,
                payload={
                    "billing_date": period[0].isoformat(),
                    "to_date": period[1].isoformat(),
                    "changes": {"status": [None, "open"]},
                },
                actor=actor,
                now=now,
            )
            return invoice
    except IntegrityError:
        return Invoice.objects.get(**key)


# --- Usage: a charge on the open invoice of its period ---------------------------------------------------
# A charge is a line of its invoice, and the invoice is what a usage charge needs first: so it is posted here, above
# charges, rather than in charges (docs/architecture.md, the layers).


def post_usage_charge(
    subscription: Subscription,
    *,
    description: str,
    quantity: str | int,
    unit_price: int,
    usage_date: date,
    external_id: str | None = None,
    actor: Actor,
    now: datetime,
) -> tuple[Charge, bool]:
    """Post a usage charge, ``blocked`` at once on the open invoice of the period that contains its date — or,
    when that period's charges have closed already, of the current period, marked ``late``.

    Repeat-safe: a second call with the same ``external_id`` returns the first charge and changes
    nothing. Returns ``(charge, created)``.
    """
    if external_id is not None:
        external_id = str(external_id).strip()
        if not external_id or len(external_id) > 255:
            raise ChargeFieldInvalid("external_id must be 1 to 255 characters", pointer="/external_id")
        existing = Charge.objects.filter(subscription=subscription, external_id=external_id).first()
        if existing is not None:
            return existing, False
    description = description.strip() if isinstance(description, str) else ""
    if not description or len(description) > 255:
        raise ChargeFieldInvalid("description must be 1 to 255 characters", pointer="/description")
    try:
        quantity_thousandths = money.parse_quantity(quantity)
    except ValueError as exc:
        raise ChargeFieldInvalid(str(exc), pointer="/quantity") from exc
    if quantity_thousandths <= 0:
        raise ChargeFieldInvalid("quantity must be positive", pointer="/quantity")
    if not isinstance(unit_price, int) or isinstance(unit_price, bool) or unit_price < 0:
        raise ChargeFieldInvalid("unit_price must be zero or more", pointer="/unit_price")
    reseller = subscription.reseller
    today = clock.local_date(now, reseller.timezone)
    if (
        isinstance(usage_date, datetime)
        or not isinstance(usage_date, date)
        or usage_date > today
        or usage_date < subscription.start_date
    ):
        raise ChargeFieldInvalid(
            f"date must lie between the subscription start {subscription.start_date} and today {today}", pointer="/date"
        )
    if subscription.status == Subscription.Status.STOPPED:
        raise SubscriptionNotChargeable("the subscription is stopped", pointer="/subscription_id")

    net = money.line_net_amount(quantity_thousandths, unit_price)
    tax_rate = subscription.plan.tax_rate_bp
    tax, gross = money.gross_amounts(net, tax_rate)
    try:
        with transaction.atomic(durable=True):
            # The usage belongs to the period of its date while that period's charges are open (e.g. usage of
            # the 31st posted after midnight, or during downtime before the engine catches up); once they
            # closed, it goes to the current period, marked late. The engine's day must not run meanwhile.
            billed_through = wait_for_billing_day(reseller.pk)
            period = clock.period_containing(usage_date, subscription.billing_day)
            late = charges_closed(billed_through, period)
            if late:
                period = clock.period_containing(today, subscription.billing_day)
            invoice = open_invoice_for(
                account=subscription.account,
                billing_day=subscription.billing_day,
                period=period,
                from_date=max(period[0], subscription.start_date),
                currency=reseller.currency,
                actor=actor,
                now=now,
            )
            if invoice.status != Invoice.Status.OPEN:
                raise SubscriptionNotChargeable("the current period's invoice is already closed", pointer="/date")
            charge = Charge.objects.create(
                reseller_id=subscription.reseller_id,
                account_id=subscription.account_id,
                subscription=subscription,
                invoice=invoice,
                kind=Charge.Kind.USAGE,
                description=description,
                quantity=quantity_thousandths,
                unit_price=unit_price,
                net_amount=net,
                tax_rate_bp=tax_rate,
                tax_amount=tax,
                amount=gross,
                period_from=usage_date,
                period_to=usage_date + timedelta(days=1),
                close_date=period[1],
                status=Charge.Status.BLOCKED,
                external_id=external_id,
                late=late,
                created_at=now,
                updated_at=now,
            )
            record_event(
                "charge.created",
                subject=charge,
                reseller_id=charge.reseller_id,
                account_id=charge.account_id,
                payload={
                    "kind": "usage",
                    "invoice_id": invoice.pk,
                    "amount": gross,
                    "external_id": external_id,
                    "late": late,
                    "changes": {"status": [None, "blocked"]},
                },
                actor=actor,
                now=now,
            )
    except IntegrityError:
        # A concurrent call with the same external_id won the race; answer with its charge.
        if external_id is None:
            raise
        return Charge.objects.get(subscription=subscription, external_id=external_id), False
    return charge, True


# --- The ERP hand-off -------------------------------------------------------------------------------

REVOKE_COMMENT = "Invoice approval related to this payment has been revoked manually. The reason: {reason}"


def _require_document_id(document_id) -> str:
    if not isinstance(document_id, str) or not document_id.strip():
        raise InvoiceFieldInvalid("document_id is required", pointer="/document_id")
    if len(document_id.strip()) > 100:
        raise InvoiceFieldInvalid("document_id must be at most 100 characters", pointer="/document_id")
    return document_id.strip()


def _require_date(value, field: str, *, required: bool = True) -> date | None:
    if value is None and not required:
        return None
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvoiceFieldInvalid(f"{field} is required as YYYY-MM-DD", pointer=f"/{field}")
    return value


def find_invoice_by_billing_date(account: Account, billing_date) -> Invoice:
    """R11/R12: the ERP finds an invoice by account + billing period start; several matches refuse."""
    billing_date = _require_date(billing_date, "billing_date")
    matches = list(Invoice.objects.filter(account=account, billing_date=billing_date)[:2])
    if not matches:
        raise InvoiceNotFound(f"account {account.pk} has no invoice with billing_date {billing_date}")
    if len(matches) > 1:
        raise SeveralInvoicesMatch(
            f"account {account.pk} has several invoices with billing_date {billing_date}; use the call by invoice id",
            pointer="/billing_date",
        )
    return matches[0]


def _check_billing_date(invoice: Invoice, billing_date: date) -> None:
    if invoice.billing_date != billing_date:
        raise BillingDateMismatch(
            f"billing_date {billing_date} does not match the invoice's billing period start {invoice.billing_date}",
            pointer="/billing_date",
        )


def _check_erp_invoice(invoice: Invoice) -> Payment:
    """The state every ERP operation needs (R16, R28): postpay, closed, positive, external, not cancelled."""
    if invoice.payment_model != "postpay":
        raise InvoiceNotPostpay("only Postpay invoices are handed to the ERP")
    if invoice.status != Invoice.Status.CLOSED:
        raise InvoiceNotClosed("the invoice is still open; it closes the day after its billing day")
    if invoice.total <= 0:
        raise InvoiceTotalNotPositive("the invoice total is zero or negative; it has no payment")
    if not invoice.managed_externally:
        raise InvoiceNotManagedExternally("the invoice closed while the platform generated invoices")
    payment = invoice.payment
    if payment.status == Payment.Status.CANCELLED:
        raise InvoicePaymentCancelled("the invoice's payment was cancelled; it cannot be approved or completed")
    return payment


class InvoiceRef(NamedTuple):
    """An invoice named by its id within a reseller, as the API names it: all that the ERP operations need of
    the invoice they are given, since they read it themselves (``_fresh``). An ``Invoice`` serves as well."""

    pk: int
    reseller_id: int


def _fresh(invoice: Invoice | InvoiceRef) -> Invoice:
    """The invoice read again inside the service's transaction, within its reseller: the API hands the ERP
    services only a reference (id and the caller's reseller), so this read is also the tenancy check."""
    return invoice_with_terms(invoice.pk, reseller_id=invoice.reseller_id)


def _apply(instance, fields: dict) -> None:
    """Mirror on the loaded object what a conditional UPDATE just wrote, instead of reading it back."""
    for name, value in fields.items():
        setattr(instance, name, value)


def _number_taken(invoice: Invoice, document_id: str) -> bool:
    """Another invoice of the reseller holds ``document_id``, as its number or as the platform number that
    revoking its approval would restore (R15). Each side of the OR is one index lookup."""
    return bool(
        sql.fetch_all(
            f"SELECT 1 FROM {sql.table(Invoice)} WHERE ((reseller_id = %s AND document_id = %s)"
            " OR (reseller_id = %s AND original_document_id = %s)) AND id <> %s LIMIT 1",
            [invoice.reseller_id, document_id, invoice.reseller_id, document_id, invoice.pk],
        )
    )


def _platform_will_issue(reseller, document_id: str) -> bool:
    """A number in the platform's own format that closing has not issued yet: taking it would make the
    billing engine's numbering collide with it (R15). Numbers already issued are checked as taken."""
    prefix = reseller.invoice_number_prefix
    digits = document_id[len(prefix) :]
    if not document_id.startswith(prefix) or not digits.isdigit():
        return False
    number = int(digits)
    return document_number(prefix, number) == document_id and number >= reseller.next_invoice_number


def approve_invoice(
    invoice: Invoice | InvoiceRef,
    *,
    document_id,
    billing_date,
    due_date=None,
    amount=None,
    file=None,
    link=None,
    actor: Actor,
    now: datetime,
) -> Invoice:
    """The ERP (or a manager) approves a closed ERP-managed invoice (R9, R13–R18, R23, R26)."""
    document_id = _require_document_id(document_id)
    billing_date = _require_date(billing_date, "billing_date")
    due_date = _require_date(due_date, "due_date", required=False)
    external = parse_external_total(amount)
    attachment = parse_attachment(file, link)
    with transaction.atomic(durable=True):
        invoice = _fresh(invoice)
        _check_billing_date(invoice, billing_date)
        payment = _check_erp_invoice(invoice)
        if invoice.approved:
            raise InvoiceAlreadyApproved("the invoice is already approved; revoke it to approve again")
        today = clock.local_date(now, invoice.reseller.timezone)
        if due_date is None:
            due_date = terms.due_date(today, invoice.account.account_class.payment_expiration_days)
        elif due_date < today:
            raise DueDateInPast(f"due_date {due_date} is before today {today}", pointer="/due_date")
        # Another invoice's platform number stays reserved while it is approved: revoking restores it (R15).
        # Each side of the OR names the reseller, so that each is one index lookup (not a scan of the reseller's
        # invoices).
        if _number_taken(invoice, document_id):
            raise DocumentIdTaken(
                f"document_id {document_id!r} is already used by another invoice", pointer="/document_id"
            )
        if _platform_will_issue(invoice.reseller, document_id):
            raise DocumentIdTaken(
                f"document_id {document_id!r} is a number the platform will give a later invoice",
                pointer="/document_id",
            )
        invoice_fields = {
            "approved": True,
            "approval_date": today,
            "document_id": document_id,
            "updated_at": now,
            "external_total": external.amount if external else None,
            "external_currency": external.currency if external else None,
            "attachment_kind": attachment.kind if attachment else "",
            "attachment_name": attachment.name if attachment else "",
            "attachment_url": attachment.url if attachment else "",
            "attachment_content_type": attachment.content_type if attachment else "",
        }
        try:
            # No savepoint: the refusal leaves the whole transaction, which rolls back.
            approved = sql.conditional_update(
                Invoice, where={"id": invoice.pk, "approved": False}, values=invoice_fields
            )
        except IntegrityError as exc:
            raise DocumentIdTaken(
                f"document_id {document_id!r} is already used by another invoice", pointer="/document_id"
            ) from exc
        if approved != 1:
            raise InvoiceAlreadyApproved("the invoice was approved meanwhile")
        expiration_date = due_date + timedelta(days=1)
        scheduled = sql.conditional_update(
            Payment,
            where={"id": payment.pk, "status": Payment.Status.WAITING_FOR_PAYMENT, "due_date": None},
            values={
                "due_date": due_date,
                "expiration_date": expiration_date,
                "updated_at": now,
                "external_total": invoice_fields["external_total"],
                "external_currency": invoice_fields["external_currency"],
            },
        )
        if scheduled != 1:
            raise PaymentChangedMeanwhile("the invoice's payment changed meanwhile; reload it and try again")
        if attachment and attachment.kind == "file":
            InvoiceAttachmentFile.objects.create(invoice=invoice, data=attachment.data)
        record_event(
            "invoice.approved",
            subject=invoice,
            reseller_id=invoice.reseller_id,
            account_id=invoice.account_id,
            payload={
                "document_id": document_id,
                "original_document_id": invoice.original_document_id,
                "billing_date": billing_date.isoformat(),
                "approval_date": today.isoformat(),
                "payment_id": payment.pk,
                "due_date": due_date.isoformat(),
                "expiration_date": expiration_date.isoformat(),
                "external_total": invoice_fields["external_total"],
                "external_currency": invoice_fields["external_currency"],
                "attachment": {"kind": attachment.kind, "name": attachment.name, "url": attachment.url}
                if attachment
                else None,
                "changes": {
                    "approved": [False, True],
                    "due_date": [None, due_date.isoformat()],
                    "document_id": [invoice.document_id, document_id],
                },
            },
            actor=actor,
            now=now,
        )
        _record_payment_rescheduled(
            payment,
            "payment.due_date_set",
            {"due_date": [None, due_date.isoformat()], "external_total": [None, invoice_fields["external_total"]]},
            actor=actor,
            now=now,
        )
        _apply(invoice, invoice_fields)
        _apply(
            payment,
            {
                "due_date": due_date,
                "expiration_date": expiration_date,
                "updated_at": now,
                "external_total": invoice_fields["external_total"],
                "external_currency": invoice_fields["external_currency"],
            },
        )
    return invoice


def _record_payment_rescheduled(
    payment: Payment, event_type: str, changes: dict, *, actor: Actor, now: datetime
) -> None:
    """The payment's own log entry for an approval or its revocation (R45)."""
    record_event(
        event_type,
        subject=payment,
        reseller_id=payment.reseller_id,
        account_id=payment.account_id,
        payload={"document_id": payment.document_id, "invoice_id": payment.invoice_id, "changes": changes},
        actor=actor,
        now=now,
    )


def _check_erp_number(invoice: Invoice, document_id: str) -> None:
    if invoice.document_id != document_id:
        raise DocumentIdMismatch(
            f"document_id {document_id!r} is not the number given at approval", pointer="/document_id"
        )


def revoke_invoice_approval(
    invoice: Invoice | InvoiceRef, *, document_id, billing_date, comment: str = "", actor: Actor, now: datetime
) -> Invoice:
    """Undo an approval (R36–R40): the invoice, its payment and its subscriptions return to before."""
    document_id = _require_document_id(document_id)
    billing_date = _require_date(billing_date, "billing_date")
    if comment is not None and not isinstance(comment, str):
        raise InvoiceFieldInvalid("comment must be a string", pointer="/comment")
    reason = (comment or "").strip() or "not given"
    with transaction.atomic(durable=True):
        invoice = _fresh(invoice)
        _check_billing_date(invoice, billing_date)
        payment = _check_erp_invoice(invoice)
        if not invoice.approved:
            raise InvoiceNotApproved("the invoice is not approved")
        _check_erp_number(invoice, document_id)
        if payment.status in (Payment.Status.COMPLETED, Payment.Status.PAID_FROM_BALANCE):
            raise InvoicePaymentAlreadySettled("the payment is already settled; the approval stays")
        due_date = payment.due_date
        assert due_date is not None, "the approval gave the payment its due date, and only revoking clears it"
        if payment.status not in (Payment.Status.WAITING_FOR_PAYMENT, Payment.Status.EXPIRED):
            raise PaymentStatusForbids(f"the payment is {payment.status}")
        # Conditional on the number the approval gave: of two racing revokes only one finds it (R36-R40).
        revoked = Invoice.objects.filter(pk=invoice.pk, approved=True, document_id=document_id).update(
            approved=False,
            approval_date=None,
            document_id=invoice.original_document_id,
            external_total=None,
            external_currency=None,
            attachment_kind="",
            attachment_name="",
            attachment_url="",
            attachment_content_type="",
            updated_at=now,
        )
        if revoked != 1:
            raise InvoiceNotApproved("the invoice's approval was revoked meanwhile")
        InvoiceAttachmentFile.objects.filter(invoice=invoice).delete()
        comment_line = REVOKE_COMMENT.format(reason=reason)
        reverted = Payment.objects.filter(pk=payment.pk, status=payment.status).update(
            status=Payment.Status.WAITING_FOR_PAYMENT,
            due_date=None,
            expiration_date=None,
            external_total=None,
            external_currency=None,
            updated_at=now,
            comment="\n".join(filter(None, [payment.comment, comment_line])),
        )
        if reverted != 1:
            raise PaymentChangedMeanwhile("the invoice's payment changed meanwhile; reload it and try again")
        record_event(
            "invoice.revoked",
            subject=invoice,
            reseller_id=invoice.reseller_id,
            account_id=invoice.account_id,
            payload={
                "document_id": invoice.original_document_id,
                "erp_document_id": document_id,
                "billing_date": billing_date.isoformat(),
                "payment_id": payment.pk,
                "reason": reason,
                "changes": {
                    "approved": [True, False],
                    "due_date": [due_date.isoformat(), None],
                    "document_id": [document_id, invoice.original_document_id],
                },
            },
            actor=actor,
            now=now,
        )
        _record_payment_rescheduled(
            payment,
            "payment.approval_revoked",
            {
                "due_date": [due_date.isoformat(), None],
                "external_total": [payment.external_total, None],
                # An expired payment goes back to waiting; a waiting one keeps its status.
                **(
                    {"status": [payment.status, Payment.Status.WAITING_FOR_PAYMENT]}
                    if payment.status != Payment.Status.WAITING_FOR_PAYMENT
                    else {}
                ),
            },
            actor=actor,
            now=now,
        )
        payment_status_changed(payment, actor=actor, now=now)
    return _fresh(invoice)


def complete_invoice_payment(
    invoice: Invoice | InvoiceRef, *, document_id, billing_date, actor: Actor, now: datetime
) -> Invoice:
    """The ERP saw the money: the approved invoice's payment becomes ``completed`` (R27–R29)."""
    document_id = _require_document_id(document_id)
    billing_date = _require_date(billing_date, "billing_date")
    with transaction.atomic(durable=True):
        invoice = _fresh(invoice)
        _check_billing_date(invoice, billing_date)
        payment = _check_erp_invoice(invoice)
        if not invoice.approved:
            raise InvoiceNotApproved("the invoice is not approved; approve it first")
        _check_erp_number(invoice, document_id)
        if payment.status in (Payment.Status.COMPLETED, Payment.Status.PAID_FROM_BALANCE):
            raise InvoicePaymentAlreadySettled(f"the payment is already {payment.status}")
        from_status = payment.status
        change_status(payment, Payment.Status.COMPLETED, now=now, closed_at=now)
        _apply(payment, {"status": Payment.Status.COMPLETED, "updated_at": now, "closed_at": now})
        record_payment_received(
            payment, from_status, Payment.Status.COMPLETED, how="erp_complete", actor=actor, now=now
        )
        if from_status == Payment.Status.EXPIRED:
            # Only an expired payment blocks (R44), so settling a waiting one cannot lift a block.
            payment_status_changed(payment, actor=actor, now=now)
    return invoice
