"""The payment transition table (domain §2.3). Services change status only along these edges."""

from arrears.payments.models import Payment

S = Payment.Status

TRANSITIONS: frozenset[tuple[str | None, str]] = frozenset(
    {
        (None, S.WAITING_FOR_PAYMENT),  # invoice closing; top-up requested
        (None, S.COMPLETED),  # top-up recorded by a manager
        (S.WAITING_FOR_PAYMENT, S.PAID_FROM_BALANCE),
        (S.EXPIRED, S.PAID_FROM_BALANCE),  # by hand only (R21)
        (S.WAITING_FOR_PAYMENT, S.COMPLETED),
        (S.EXPIRED, S.COMPLETED),
        (S.WAITING_FOR_PAYMENT, S.EXPIRED),
        (S.WAITING_FOR_PAYMENT, S.CANCELLED),  # ERP mode, unapproved (R32); waiting top-up
        (S.EXPIRED, S.WAITING_FOR_PAYMENT),  # approval revoked (R38)
        (S.WAITING_FOR_PAYMENT, S.PROCESSING),
        (S.EXPIRED, S.PROCESSING),
        (S.PROCESSING, S.COMPLETED),
        (S.PROCESSING, S.WAITING_FOR_PAYMENT),
        (S.PROCESSING, S.EXPIRED),
    }
)

# Statuses a payment with a due date can be settled from (paid, approved, completed).
PAYABLE = (S.WAITING_FOR_PAYMENT, S.EXPIRED)
SETTLED = (S.COMPLETED, S.PAID_FROM_BALANCE)


def is_allowed(from_status: str | None, to_status: str) -> bool:
    return (from_status, to_status) in TRANSITIONS
