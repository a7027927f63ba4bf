"""Reading payments of a reseller the caller may see (see arrears.tenants.selectors)."""

from arrears.payments.errors import PaymentNotFound
from arrears.payments.models import Payment, PaymentMethod


def payments_of(reseller):
    return Payment.objects.filter(reseller=reseller)


def payment_of(reseller, payment_id: int) -> Payment:
    payment = payments_of(reseller).filter(pk=payment_id).first()
    if payment is None:
        raise PaymentNotFound(f"no payment {payment_id} is visible to this token")
    return payment


def payments_of_account(account):
    """The payments of ``account`` (for its invoices and its top-ups): all a customer user of that account may see
    (R46)."""
    return Payment.objects.filter(account=account, reseller_id=account.reseller_id)


def payment_of_account(account, payment_id: int) -> Payment:
    """The payment ``payment_id`` if it is ``account``'s, with its invoice and method; another account's id is not
    found."""
    payment = payments_of_account(account).select_related("invoice", "payment_method").filter(pk=payment_id).first()
    if payment is None:
        raise PaymentNotFound(f"no payment {payment_id} is visible here")
    return payment


def payment_methods_of(reseller):
    """Every payment method a manager of ``reseller`` sees: the reseller's own and its ancestors', active or not."""
    ancestor_ids = [int(part) for part in reseller.path.strip("/").split("/") if part] or [reseller.pk]
    return PaymentMethod.objects.filter(reseller_id__in=ancestor_ids).order_by("name", "id")


def usable_payment_methods(reseller):
    """The active manual payment methods a manager of ``reseller`` may approve a payment with: the reseller's own
    and its ancestors' (R31; the same rule ``approve_payment`` checks)."""
    return payment_methods_of(reseller).filter(active=True, kind=PaymentMethod.Kind.MANUAL)
