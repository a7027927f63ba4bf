"""top_up_balance and request_top_up: money for the balance. Rules: R5, R42, R45, R47 and the ledger invariant."""

from datetime import date

import pytest

from arrears.customers.models import BalanceEntry
from arrears.events.models import Event
from arrears.payments.models import Payment, PaymentMethod
from arrears.payments.services import approve_payment, pay_from_balance, request_top_up, top_up_balance
from tests.conftest import MANAGER, at
from tests.factories import AccountFactory, ResellerFactory
from tests.service_support import refused

DAY = date(2026, 2, 3)


def balance_and_ledger(account) -> tuple[int, int]:
    account.refresh_from_db()
    return account.balance, sum(BalanceEntry.objects.filter(account=account).values_list("amount", flat=True))


@pytest.fixture
def account(reseller):
    return AccountFactory(reseller=reseller)


@pytest.fixture
def bank_transfer(reseller) -> PaymentMethod:
    return PaymentMethod.objects.create(reseller=reseller, name="Bank transfer")


# --- top_up_balance ------------------------------------------------------------------------------


def test_a_top_up_credits_the_balance_and_the_ledger(account):
    # When a manager records two top-ups
    first = top_up_balance(account, 12_345, actor=MANAGER, now=at(DAY))
    top_up_balance(account, 655, actor=MANAGER, now=at(DAY))
    # Then the balance is the sum of the ledger
    assert balance_and_ledger(account) == (13_000, 13_000)
    # And each top-up is a completed payment with no invoice (R5) and its own ledger credit
    assert (first.type, first.status, first.invoice_id) == (Payment.Type.TOP_UP, Payment.Status.COMPLETED, None)
    assert (first.total, first.currency, first.closed_at) == (12_345, "EUR", at(DAY))
    entry = BalanceEntry.objects.get(payment=first)
    assert (entry.kind, entry.amount) == (BalanceEntry.Kind.TOP_UP, 12_345)


def test_R42_a_top_up_records_payment_received(account):
    payment = top_up_balance(account, 5_000, actor=MANAGER, now=at(DAY))
    event = Event.objects.get(type="payment.received", subject_id=payment.pk)
    assert (event.actor_kind, event.actor_id) == (MANAGER.kind, MANAGER.id)
    assert event.payload["how"] == "top_up"
    assert event.payload["balance_after"] == 5_000


def test_a_top_up_may_name_its_payment_method(account, bank_transfer):
    payment = top_up_balance(account, 5_000, payment_method=bank_transfer, actor=MANAGER, now=at(DAY))
    assert payment.payment_method_id == bank_transfer.pk


@pytest.mark.parametrize("amount", [0, -100, "50.00", 12.5, True, None])
def test_R47_a_top_up_amount_must_be_a_positive_number_of_minor_units(account, amount):
    refused("PAYMENT-0001", top_up_balance, account, amount, actor=MANAGER, now=at(DAY), pointer="/amount")


def test_R47_another_resellers_payment_method_is_refused(account):
    foreign = PaymentMethod.objects.create(reseller=ResellerFactory(), name="Foreign bank")
    refused(
        "PAYMENT-0107",
        top_up_balance,
        account,
        5_000,
        payment_method=foreign,
        actor=MANAGER,
        now=at(DAY),
        pointer="/payment_method_id",
    )


def test_a_top_up_can_never_be_paid_from_the_balance(account):
    payment = top_up_balance(account, 5_000, actor=MANAGER, now=at(DAY))
    assert payment.balance_payment_allowed is False
    refused("PAYMENT-0106", pay_from_balance, payment, actor=MANAGER, now=at(DAY))


# --- request_top_up + approve_payment --------------------------------------------------------------


def test_a_requested_top_up_waits_without_touching_the_balance(account):
    payment = request_top_up(account, 7_500, actor=MANAGER, now=at(DAY))
    assert (payment.type, payment.status, payment.total) == (
        Payment.Type.TOP_UP,
        Payment.Status.WAITING_FOR_PAYMENT,
        7_500,
    )
    assert balance_and_ledger(account) == (0, 0)
    assert Event.objects.get(type="payment.created", subject_id=payment.pk).payload["total"] == 7_500


def test_R31_approving_a_requested_top_up_with_a_method_credits_the_balance(account, bank_transfer):
    payment = request_top_up(account, 7_500, actor=MANAGER, now=at(DAY))
    result = approve_payment(payment, payment_method=bank_transfer, actor=MANAGER, now=at(DAY))
    assert (result.status, result.payment_method_id) == (Payment.Status.COMPLETED, bank_transfer.pk)
    assert balance_and_ledger(account) == (7_500, 7_500)
    assert Event.objects.get(type="payment.received", subject_id=payment.pk).payload["balance_after"] == 7_500


def test_R31_a_requested_top_up_needs_a_payment_method_to_be_approved(account):
    payment = request_top_up(account, 7_500, actor=MANAGER, now=at(DAY))
    refused("PAYMENT-0103", approve_payment, payment, actor=MANAGER, now=at(DAY), pointer="/payment_method_id")


def test_a_requested_top_up_can_never_be_paid_from_the_balance(reseller):
    account = AccountFactory(reseller=reseller, balance=50_000)
    payment = request_top_up(account, 7_500, actor=MANAGER, now=at(DAY))
    refused("PAYMENT-0106", pay_from_balance, payment, actor=MANAGER, now=at(DAY))


def test_R47_an_approved_top_up_cannot_be_approved_twice(account, bank_transfer):
    payment = request_top_up(account, 7_500, actor=MANAGER, now=at(DAY))
    approve_payment(payment, payment_method=bank_transfer, actor=MANAGER, now=at(DAY))
    refused("PAYMENT-0101", approve_payment, payment, payment_method=bank_transfer, actor=MANAGER, now=at(DAY))
    assert balance_and_ledger(account) == (7_500, 7_500)


@pytest.mark.parametrize("amount", [0, -1, "75.00"])
def test_R47_a_requested_top_up_amount_must_be_positive(account, amount):
    refused("PAYMENT-0001", request_top_up, account, amount, actor=MANAGER, now=at(DAY), pointer="/amount")


def test_the_erp_mode_does_not_change_top_ups(erp_reseller):
    account = AccountFactory(reseller=erp_reseller)
    method = PaymentMethod.objects.create(reseller=erp_reseller, name="Bank transfer")
    payment = request_top_up(account, 2_000, actor=MANAGER, now=at(DAY))
    refused("PAYMENT-0103", approve_payment, payment, actor=MANAGER, now=at(DAY))
    approve_payment(payment, payment_method=method, actor=MANAGER, now=at(DAY))
    assert balance_and_ledger(account) == (2_000, 2_000)
