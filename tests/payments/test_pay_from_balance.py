"""pay_from_balance: a customer or manager pays a payment for rendered services from the balance.

Rules: R8, R18, R19, R21, R42, R44, R47.
"""

from datetime import date

import pytest

from arrears.customers.models import BalanceEntry
from arrears.events.models import Event
from arrears.payments.models import Payment
from arrears.payments.services import pay_from_balance, request_top_up, top_up_balance
from arrears.subscriptions.models import Subscription
from tests.conftest import MANAGER, at, bill
from tests.factories import AccountFactory
from tests.service_support import (
    APPROVAL_DAY,
    CLOSING_DAY,
    FEE,
    approved,
    closed_erp_invoice,
    invoice_of,
    refused,
    reload,
)

PAYMENT_DAY = date(2026, 2, 6)


def pay(payment: Payment, *, day: date = PAYMENT_DAY) -> Payment:
    return pay_from_balance(payment, actor=MANAGER, now=at(day))


def pay_refused(code: str, payment: Payment, *, pointer: str | None = None, day: date = PAYMENT_DAY):
    return refused(code, pay_from_balance, payment, pointer=pointer, actor=MANAGER, now=at(day))


def balance_and_ledger(account) -> tuple[int, int]:
    account.refresh_from_db()
    return account.balance, sum(BalanceEntry.objects.filter(account=account).values_list("amount", flat=True))


@pytest.fixture
def funded_erp_invoice(erp_reseller):
    return closed_erp_invoice(erp_reseller, balance=50_000)


# --- R8: ERP mode before approval ---------------------------------------------------------------


def test_R8_a_waiting_payment_without_due_date_cannot_be_paid_from_balance(funded_erp_invoice):
    # Given an ERP invoice's payment waiting without a due date, on an account that could pay it
    payment = funded_erp_invoice.payment
    assert payment.status == Payment.Status.WAITING_FOR_PAYMENT and payment.due_date is None
    # When paying it from the balance, Then it is refused and nothing changes
    pay_refused("PAYMENT-0102", payment)


# --- R18 / R19: ERP mode after approval -----------------------------------------------------------


def test_R18_R19_an_approved_payment_without_external_total_is_paid_and_keeps_its_total(funded_erp_invoice):
    approved(funded_erp_invoice)
    payment = reload(funded_erp_invoice).payment
    assert payment.balance_payment_allowed
    result = pay(payment)
    assert result.status == Payment.Status.PAID_FROM_BALANCE
    assert (result.total, result.initial_total, result.amount_paid_from_balance) == (FEE, FEE, FEE)


def test_R18_an_external_total_equal_to_the_platform_total_allows_the_balance(funded_erp_invoice):
    approved(funded_erp_invoice, amount={"total": "100.00", "currency": "EUR"})
    result = pay(reload(funded_erp_invoice).payment)
    assert result.status == Payment.Status.PAID_FROM_BALANCE
    assert result.total == FEE
    assert balance_and_ledger(funded_erp_invoice.account) == (50_000 - FEE, 50_000 - FEE)


@pytest.mark.parametrize(
    "amount",
    [{"total": "105.00", "currency": "EUR"}, {"total": "100.00", "currency": "USD"}],
    ids=["other-amount", "other-currency"],
)
def test_R18_a_differing_external_total_rules_out_the_balance(funded_erp_invoice, amount):
    approved(funded_erp_invoice, amount=amount)
    payment = reload(funded_erp_invoice).payment
    assert payment.balance_payment_allowed is False
    pay_refused("PAYMENT-0106", payment)


# --- default mode -----------------------------------------------------------------------------


@pytest.fixture
def funded_invoice(reseller):
    return invoice_of(AccountFactory(reseller=reseller, balance=15_000))


def test_R42_paying_debits_the_balance_writes_the_ledger_and_records_payment_received(funded_invoice):
    # Given a default-mode payment due on 2026-02-11 and a balance of 150.00
    payment = funded_invoice.payment
    assert payment.due_date == date(2026, 2, 11) and payment.balance_payment_allowed
    # When the manager pays it from the balance before its due date
    result = pay(payment)
    # Then it is paid from the balance, the balance and its ledger drop by the total
    assert result.status == Payment.Status.PAID_FROM_BALANCE
    assert result.closed_at == at(PAYMENT_DAY)
    assert balance_and_ledger(funded_invoice.account) == (5_000, 5_000)
    entry = BalanceEntry.objects.filter(account=funded_invoice.account).latest("id")
    assert (entry.kind, entry.amount, entry.payment_id) == (BalanceEntry.Kind.PAYMENT, -FEE, payment.pk)
    # And payment.received is recorded with the actor
    event = Event.objects.get(type="payment.received", subject_id=payment.pk)
    assert (event.actor_kind, event.actor_id) == (MANAGER.kind, MANAGER.id)
    assert event.payload["how"] == "balance"
    assert event.payload["balance_after"] == 5_000
    assert event.payload["changes"] == {"status": ["waiting_for_payment", "paid_from_balance"]}


def test_R47_an_insufficient_balance_is_refused(reseller):
    invoice = invoice_of(AccountFactory(reseller=reseller, balance=FEE - 1))
    pay_refused("PAYMENT-0105", invoice.payment, pointer="/balance")


def test_R21_an_expired_payment_can_be_paid_from_the_balance_by_hand_and_unblocks(reseller):
    # Given a payment that expired on 2026-02-12 with a balance topped up too late for the due date
    account = AccountFactory(reseller=reseller)
    invoice = invoice_of(account, until=date(2026, 2, 12))
    assert reload(invoice).payment.status == Payment.Status.EXPIRED
    assert Subscription.objects.get(account=account).status == Subscription.Status.BLOCKED
    top_up_balance(account, FEE, actor=MANAGER, now=at(date(2026, 2, 12)))
    # When it is paid by hand
    result = pay(reload(invoice).payment, day=date(2026, 2, 13))
    # Then it is paid and the subscription works again
    assert result.status == Payment.Status.PAID_FROM_BALANCE
    assert Subscription.objects.get(account=account).status == Subscription.Status.ACTIVE


def test_R47_a_paid_payment_cannot_be_paid_again(funded_invoice):
    pay(funded_invoice.payment)
    pay_refused("PAYMENT-0101", funded_invoice.payment, pointer="/status")
    assert balance_and_ledger(funded_invoice.account) == (5_000, 5_000)


def test_a_top_up_can_never_be_paid_from_the_balance(reseller):
    account = AccountFactory(reseller=reseller, balance=50_000)
    top_up = request_top_up(account, 5_000, actor=MANAGER, now=at(CLOSING_DAY))
    assert top_up.balance_payment_allowed is False
    pay_refused("PAYMENT-0106", top_up)


def test_R21_the_balance_pays_on_the_due_date_in_default_mode_only(reseller, erp_reseller):
    # Given funded accounts in both modes, the ERP one approved with the same due date
    default_invoice = invoice_of(AccountFactory(reseller=reseller, balance=FEE))
    erp_invoice = closed_erp_invoice(erp_reseller, balance=FEE)
    approved(erp_invoice, day=APPROVAL_DAY, due_date=date(2026, 2, 11))
    # When both engines run through the due date
    bill(reseller, date(2026, 2, 11))
    bill(erp_reseller, date(2026, 2, 11))
    # Then only the default-mode payment was paid from the balance
    assert reload(default_invoice).payment.status == Payment.Status.PAID_FROM_BALANCE
    assert reload(erp_invoice).payment.status == Payment.Status.WAITING_FOR_PAYMENT
