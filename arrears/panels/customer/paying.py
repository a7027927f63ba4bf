"""What a customer can do with a payment, and why not, in plain words (R8, R18, R19).

The services have the last word (``pay_from_balance`` and ``start_attempt`` check every rule again inside their
transaction); this module only decides what the payment page offers, and says why when it offers less, instead of
hiding a button silently.
"""

from dataclasses import dataclass, field

from arrears.core.money import format_amount
from arrears.gateways.models import PaymentAttempt
from arrears.panels.templatetags.panels import format_money
from arrears.payments import state
from arrears.payments.models import Payment

S = Payment.Status


@dataclass
class BalanceChoice:
    """Whether the balance can pay the payment now; if not, ``reason`` (a key the tests and the template know),
    ``text`` (the sentence the customer reads) and, when the balance is short, the missing amount."""

    allowed: bool
    reason: str = ""
    text: str = ""
    shortfall: int = 0
    shortfall_text: str = ""  # the missing amount in major units, as the Top up form takes it ("80.00")


@dataclass
class PaymentOptions:
    balance: BalanceChoice
    online: bool  # whether the payment can be paid through a payment service now
    notice: str = ""  # why the payment cannot be paid at all now (no due date yet, in progress, paid, cancelled)
    open_attempt: PaymentAttempt | None = None
    methods: list = field(default_factory=list)  # the gateway methods offered, when ``online``


def is_view_only(payment: Payment) -> bool:
    """An ERP payment without a due date: its invoice is not approved yet, so nothing can pay it (R8)."""
    return payment.type == Payment.Type.RENDERED_SERVICES and payment.due_date is None


def _status_notice(payment: Payment, open_attempt: PaymentAttempt | None) -> str:
    if payment.status == S.COMPLETED:
        return "This payment is completed: there is nothing left to pay."
    if payment.status == S.PAID_FROM_BALANCE:
        return "This payment was paid from your balance: there is nothing left to pay."
    if payment.status == S.CANCELLED:
        return "This payment is cancelled: there is nothing to pay."
    if payment.status == S.PROCESSING:
        through = f"through {open_attempt.connector.name} " if open_attempt is not None else ""
        return f"A payment {through}is in progress. Wait for its outcome: if it does not go through, you can pay again."
    return ""


def balance_choice(payment: Payment, balance: int) -> BalanceChoice:
    """Whether ``balance`` (the account's, in the payment's currency) can pay ``payment`` now, and if not why."""
    if payment.status not in state.PAYABLE:
        return BalanceChoice(False, "status", _status_notice(payment, None))
    if payment.type == Payment.Type.TOP_UP:
        return BalanceChoice(False, "top_up", "A top-up adds money to your balance, so the balance cannot pay it.")
    if is_view_only(payment):
        return BalanceChoice(False, "no_due_date", "Your invoice is being prepared; you can pay it once it is issued.")
    if not payment.balance_payment_allowed:
        return BalanceChoice(
            False,
            "external_total",
            (
                f"Your invoice states {format_money(payment.external_total, payment.external_currency)}, which is not "
                f"the platform total of {format_money(payment.total, payment.currency)}, so your balance cannot pay "
                "it. Pay it through a payment service instead."
            ),
        )
    if balance < payment.total:
        shortfall = payment.total - balance
        return BalanceChoice(
            False,
            "insufficient",
            (
                f"Your balance of {format_money(balance, payment.currency)} is "
                f"{format_money(shortfall, payment.currency)} short of the total of "
                f"{format_money(payment.total, payment.currency)}. Top up your balance to pay from it."
            ),
            shortfall=shortfall,
            shortfall_text=format_amount(shortfall, payment.currency),
        )
    return BalanceChoice(True)


def payment_options(payment: Payment, balance: int, *, attempts: list[PaymentAttempt], methods) -> PaymentOptions:
    """What the payment page offers: ``methods`` is ``gateway_methods_for(payment)``, asked only when it matters."""
    open_attempt = next((attempt for attempt in attempts if attempt.status == PaymentAttempt.Status.OPEN), None)
    choice = balance_choice(payment, balance)
    if payment.status not in state.PAYABLE:
        return PaymentOptions(
            choice, online=False, notice=_status_notice(payment, open_attempt), open_attempt=open_attempt
        )
    if is_view_only(payment):
        return PaymentOptions(choice, online=False, notice=choice.text)
    return PaymentOptions(choice, online=True, methods=list(methods() if callable(methods) else methods))
