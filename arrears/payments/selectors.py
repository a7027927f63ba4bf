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


def payment_methods_of(reseller):
    """Every payment method a manager of ``reseller`` sees: the reseller's own and its ancestors', active or not."""
    ancestor_ids = [int(part) for part in reseller.path.strip("/").split("/") if part] or [reseller.pk]
    return PaymentMethod.objects.filter(reseller_id__in=ancestor_ids).order_by("name", "id")


def usable_payment_methods(reseller):
    """The active manual payment methods a manager of ``reseller`` may approve a payment with: the reseller's own
    and its ancestors' (R31; the same rule ``approve_payment`` checks)."""
    return payment_methods_of(reseller).filter(active=True, kind=PaymentMethod.Kind.MANUAL)
