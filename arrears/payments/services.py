"""Payments: paying from the balance, manual approval, cancelling, top-ups (R8, R18, R21, R30–R35)."""

from datetime import datetime

from django.db import transaction
from django.db.models import F

from arrears.core import sql
from arrears.core.actors import Actor
from arrears.core.reactions import Reactions
from arrears.customers.models import Account, BalanceEntry
from arrears.events.services import record_event
from arrears.payments import state
from arrears.payments.errors import (
    BalancePaymentNotAllowed,
    InsufficientBalance,
    PaymentCancelNotAllowed,
    PaymentChangedMeanwhile,
    PaymentFieldInvalid,
    PaymentInvoiceNotApproved,
    PaymentMethodInvalid,
    PaymentMethodRequired,
    PaymentStatusForbids,
)
from arrears.payments.models import Payment, PaymentMethod
from arrears.tenants.services import document_number, reserve_numbers

S = Payment.Status


def _reread(payment: Payment) -> Payment:
    """The payment read again, inside the service's transaction, so that its checks see committed state. It takes
    no row lock: the status changes that follow are conditional UPDATEs (``change_status``), which refuse a
    payment that changed since this read."""
    return Payment.objects.select_related("invoice", "reseller", "account").get(pk=payment.pk)


def _require_settleable(payment: Payment) -> None:
    """A payment can be paid or approved only from waiting/expired and only with a due date (R8)."""
    if payment.status not in state.PAYABLE:
        raise PaymentStatusForbids(f"the payment is {payment.status}", pointer="/status")
    if payment.type == Payment.Type.RENDERED_SERVICES and payment.due_date is None:
        raise PaymentInvoiceNotApproved(
            "the invoice of this payment is not approved yet; it cannot be paid or approved"
        )


def _require_usable_method(payment_method: PaymentMethod | None, reseller) -> None:
    """A method must be active and offered by the payment's reseller or one of its ancestors."""
    if payment_method is not None and (
        not payment_method.active or not reseller.path.startswith(payment_method.reseller.path)
    ):
        raise PaymentMethodInvalid(
            "the payment method is inactive or belongs to another reseller", pointer="/payment_method_id"
        )


def change_status(payment: Payment, to_status: str, *, now: datetime, **fields) -> None:
    """Conditional UPDATE along the transition table; a racing caller that lost gets an error."""
    if not state.is_allowed(payment.status, to_status):
        raise PaymentStatusForbids(f"a payment cannot go from {payment.status} to {to_status}")
    changed = sql.conditional_update(
        Payment,
        where={"id": payment.pk, "status": payment.status},
        values={"status": to_status, "updated_at": now, **fields},
    )
    if changed != 1:
        raise PaymentChangedMeanwhile("the payment changed meanwhile; reload it and try again")


def _move_balance(account_id: int, amount: int, *, payment: Payment, kind: str, now: datetime) -> int:
    """Add ``amount`` (negative = debit) to the balance and its ledger; a debit never overdraws."""
    accounts = Account.objects.filter(pk=account_id)
    if amount < 0:
        accounts = accounts.filter(balance__gte=-amount)
    if accounts.update(balance=F("balance") + amount, updated_at=now) != 1:
        raise InsufficientBalance("the account balance does not cover the payment total", pointer="/balance")
    BalanceEntry.objects.create(account_id=account_id, kind=kind, amount=amount, payment=payment, created_at=now)
    return Account.objects.values_list("balance", flat=True).get(pk=account_id)


def record_payment_received(
    payment: Payment,
    from_status: str | None,  # None: the payment is new (a top-up received at once)
    to_status: str,
    *,
    how: str,
    actor: Actor,
    now: datetime,
    extra: dict | None = None,
) -> None:
    record_event(
        "payment.received",
        subject=payment,
        reseller_id=payment.reseller_id,
        account_id=payment.account_id,
        payload={
            "document_id": payment.document_id,
            "total": payment.total,
            "invoice_id": payment.invoice_id,
            "how": how,
            "changes": {"status": [from_status, to_status]},
            **(extra or {}),
        },
        actor=actor,
        now=now,
    )


@Reactions
def payment_status_changed(payment: Payment, *, actor: Actor, now: datetime) -> None:
    """Called by the services that settle ``payment`` or send it back from expired to waiting, inside their
    transaction: changes that can hold or release subscriptions (R44), which subscriptions react to by re-deriving
    the blocking of the payment's account (``arrears.subscriptions.apps``). ``payment`` is as the service read it,
    so a reaction reads its status from the database. Waiting ↔ processing and cancelling a waiting payment hold
    nothing, and the billing engine, which expires payments in bulk, refreshes the whole reseller's blocking itself.
    """


def pay_from_balance(payment: Payment, *, actor: Actor, now: datetime) -> Payment:
    """Customer or manager pays a payment for rendered services from the account balance (R18, R45)."""
    with transaction.atomic(durable=True):
        payment = _reread(payment)
        if payment.type != Payment.Type.RENDERED_SERVICES:
            raise BalancePaymentNotAllowed("a top-up can never be paid from the balance")
        _require_settleable(payment)
        if not payment.balance_payment_allowed:
            raise BalancePaymentNotAllowed(
                "the ERP stated an external total that differs from the payment; use another payment method"
            )
        from_status = payment.status
        change_status(payment, S.PAID_FROM_BALANCE, now=now, amount_paid_from_balance=payment.total, closed_at=now)
        balance = _move_balance(
            payment.account_id, -payment.total, payment=payment, kind=BalanceEntry.Kind.PAYMENT, now=now
        )
        record_payment_received(
            payment,
            from_status,
            S.PAID_FROM_BALANCE,
            how="balance",
            actor=actor,
            now=now,
            extra={"balance_after": balance},
        )
        payment_status_changed(payment, actor=actor, now=now)
    return _reread(payment)


def approve_payment(
    payment: Payment, *, payment_method: PaymentMethod | None = None, actor: Actor, now: datetime
) -> Payment:
    """A manager confirms money arrived: with a method (R31), or without one for an approved ERP
    invoice (R30). The payment becomes ``completed``; a top-up credits the balance."""
    with transaction.atomic(durable=True):
        payment = _reread(payment)
        _require_settleable(payment)
        erp_payment = payment.invoice is not None and payment.invoice.managed_externally
        if payment_method is None and not erp_payment:
            raise PaymentMethodRequired("choose the payment method the money came with", pointer="/payment_method_id")
        _require_usable_method(payment_method, payment.reseller)
        from_status = payment.status
        change_status(payment, S.COMPLETED, now=now, payment_method=payment_method, closed_at=now)
        extra = {"payment_method_id": payment_method.pk if payment_method else None}
        if payment.type == Payment.Type.TOP_UP:
            extra["balance_after"] = _move_balance(
                payment.account_id, payment.total, payment=payment, kind=BalanceEntry.Kind.TOP_UP, now=now
            )
        record_payment_received(
            payment, from_status, S.COMPLETED, how="manager_approval", actor=actor, now=now, extra=extra
        )
        payment_status_changed(payment, actor=actor, now=now)
    return _reread(payment)


def cancel_payment(payment: Payment, *, comment: str = "", actor: Actor, now: datetime) -> Payment:
    """Cancel a payment for rendered services of an unapproved ERP invoice (R32–R35), or a waiting top-up.

    Final: no new payment is created for the invoice, and nothing is blocked because of it.
    """
    with transaction.atomic(durable=True):
        payment = _reread(payment)
        if payment.type == Payment.Type.RENDERED_SERVICES:
            invoice = payment.invoice
            assert invoice is not None, "payment_invoice_only_for_rendered_services gives such payments an invoice"
            if not invoice.managed_externally:
                raise PaymentCancelNotAllowed(
                    "payments for rendered services cannot be cancelled when the platform issues the invoices"
                )
            if payment.status == S.CANCELLED:
                raise PaymentStatusForbids("the payment is already cancelled", pointer="/status")
            if invoice.approved:
                raise PaymentCancelNotAllowed("the invoice is approved; revoke the approval first")
        if payment.status != S.WAITING_FOR_PAYMENT:
            raise PaymentStatusForbids(f"the payment is {payment.status}", pointer="/status")
        comment = (comment or "").strip()
        new_comment = "\n".join(filter(None, [payment.comment, f"Cancelled: {comment}" if comment else ""]))
        change_status(payment, S.CANCELLED, now=now, closed_at=now, comment=new_comment)
        record_event(
            "payment.cancelled",
            subject=payment,
            reseller_id=payment.reseller_id,
            account_id=payment.account_id,
            payload={
                "document_id": payment.document_id,
                "invoice_id": payment.invoice_id,
                "reason": comment,
                "changes": {"status": [S.WAITING_FOR_PAYMENT, S.CANCELLED]},
            },
            actor=actor,
            now=now,
        )
    return _reread(payment)


def _new_top_up(
    account: Account, amount: int, status: str, *, payment_method: PaymentMethod | None, now: datetime
) -> Payment:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise PaymentFieldInvalid("amount must be positive", pointer="/amount")
    reseller = account.reseller
    number = reserve_numbers(reseller.pk, "payment", 1)
    return Payment.objects.create(
        reseller=reseller,
        account=account,
        type=Payment.Type.TOP_UP,
        status=status,
        number=number,
        document_id=document_number(reseller.payment_number_prefix, number),
        total=amount,
        initial_total=amount,
        currency=reseller.currency,
        payment_method=payment_method,
        created_at=now,
        updated_at=now,
        closed_at=now if status == S.COMPLETED else None,
    )


def top_up_balance(
    account: Account, amount: int, *, payment_method: PaymentMethod | None = None, actor: Actor, now: datetime
) -> Payment:
    """Record money received for the balance: a completed top-up payment and a ledger credit."""
    _require_usable_method(payment_method, account.reseller)
    with transaction.atomic(durable=True):
        payment = _new_top_up(account, amount, S.COMPLETED, payment_method=payment_method, now=now)
        balance = _move_balance(account.pk, amount, payment=payment, kind=BalanceEntry.Kind.TOP_UP, now=now)
        record_payment_received(
            payment, None, S.COMPLETED, how="top_up", actor=actor, now=now, extra={"balance_after": balance}
        )
    return payment


def request_top_up(account: Account, amount: int, *, actor: Actor, now: datetime) -> Payment:
    """A customer asks to top up: a waiting payment that a manager approves when the money arrives."""
    with transaction.atomic(durable=True):
        payment = _new_top_up(account, amount, S.WAITING_FOR_PAYMENT, payment_method=None, now=now)
        record_event(
            "payment.created",
            subject=payment,
            reseller_id=account.reseller_id,
            account_id=account.pk,
            payload={
                "document_id": payment.document_id,
                "type": payment.type,
                "total": amount,
                "changes": {"status": [None, S.WAITING_FOR_PAYMENT]},
            },
            actor=actor,
            now=now,
        )
    return payment
