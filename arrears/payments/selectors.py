"""Reading payments of a reseller the caller may see (see arrears.tenants.selectors)."""

from arrears.payments.errors import PaymentNotFound
from arrears.payments.models import Payment


def payments_of(reseller):
    return Payment.objects.filter(reseller=reseller)


def payment_of(reseller, payment_id: int) -> Payment:
    payment = payments_of(reseller).filter(pk=payment_id).first()
    if payment is None:
        raise PaymentNotFound(f"no payment {payment_id} is visible to this token")
    return payment
