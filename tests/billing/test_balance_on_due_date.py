"""R21: on the due date the balance pays a waiting default-mode payment if it covers it; expired
payments and ERP-mode payments are never paid automatically."""

from datetime import date, timedelta

import pytest

from arrears.core.actors import SYSTEM
from arrears.customers.models import AccountClass, BalanceEntry
from arrears.invoices.services import approve_invoice
from arrears.payments.models import Payment
from arrears.payments.services import top_up_balance
from arrears.tenants.services import set_external_invoices
from tests.billing.helpers import business_time, events, refreshed
from tests.conftest import ERP, at, bill, closed_invoice

DUE = date(2026, 2, 6)  # January closes on 2 February; with a 5-day expiration period it is due on the 6th


def _account_with_january_payment(reseller, make_account, make_subscription, *, balance: int):
    account = make_account(reseller=reseller, expiration_days=5, balance=balance)
    make_subscription(account=account, fee=10_000, billing_day=1, start_date=date(2026, 1, 1))
    bill(reseller, DUE - timedelta(days=1))
    payment = closed_invoice(account).payment
    assert (payment.status, payment.due_date, refreshed(account).balance) == ("waiting_for_payment", DUE, balance)
    return account, payment


@pytest.mark.parametrize("balance", [10_000, 25_000])
def test_R21_balance_that_covers_the_payment_pays_it_on_the_due_date(
    reseller, make_account, make_subscription, balance
):
    # Given a payment of 100.00 due on 6 February and a balance that covers it
    account, payment = _account_with_january_payment(reseller, make_account, make_subscription, balance=balance)

    # When the due date is billed
    bill(reseller, DUE)

    # Then the balance paid it: status, ledger entry, balance and event
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID_FROM_BALANCE
    assert payment.amount_paid_from_balance == 10_000
    assert payment.closed_at == business_time(reseller, DUE)
    assert refreshed(account).balance == balance - 10_000
    entry = BalanceEntry.objects.get(account=account, kind=BalanceEntry.Kind.PAYMENT)
    assert (entry.amount, entry.payment_id, entry.created_at) == (-10_000, payment.pk, business_time(reseller, DUE))
    assert sum(account.balance_entries.values_list("amount", flat=True)) == account.balance
    (received,) = events("payment.received", subject=payment)
    assert received.actor_kind == "system"
    assert received.occurred_at == business_time(reseller, DUE)
    assert received.payload["changes"] == {"status": ["waiting_for_payment", "paid_from_balance"]}
    assert received.payload["total"] == 10_000

    # and the next day it does not expire
    bill(reseller, date(2026, 2, 20))
    assert refreshed(payment).status == Payment.Status.PAID_FROM_BALANCE


@pytest.mark.parametrize("balance", [0, 9_999])
def test_R21_balance_that_does_not_cover_the_payment_leaves_it_waiting(
    reseller, make_account, make_subscription, balance
):
    # Given a payment of 100.00 due on 6 February and a balance short of it
    account, payment = _account_with_january_payment(reseller, make_account, make_subscription, balance=balance)

    # When the due date is billed
    bill(reseller, DUE)

    # Then nothing was paid or debited
    assert refreshed(payment).status == Payment.Status.WAITING_FOR_PAYMENT
    assert refreshed(account).balance == balance
    assert not BalanceEntry.objects.filter(account=account, kind=BalanceEntry.Kind.PAYMENT).exists()
    assert not events("payment.received", subject=payment)


def test_R21_balance_pays_only_the_payments_it_covers_oldest_first(reseller, make_account, make_subscription):
    # Given an account with a billing-day-1 (60.00) and a billing-day-5 (30.00) subscription
    account = make_account(reseller=reseller, expiration_days=10, balance=7_000)
    make_subscription(account=account, fee=6_000, billing_day=1, start_date=date(2026, 1, 1))
    make_subscription(account=account, fee=3_000, billing_day=5, start_date=date(2026, 1, 5))
    # January (day 1) closes on 2 February, due 11 February
    bill(reseller, date(2026, 2, 5))
    # an operator shortens the class's expiration period to 6 days before the day-5 invoice closes
    # on 6 February, so that its payment falls due on 11 February as well
    AccountClass.objects.filter(pk=account.account_class_id).update(payment_expiration_days=6)
    bill(reseller, date(2026, 2, 10))
    first, second = Payment.objects.filter(account=account, type="rendered_services").order_by("id")
    assert (first.total, first.due_date, second.total, second.due_date) == (
        6_000,
        date(2026, 2, 11),
        3_000,
        date(2026, 2, 11),
    )

    # When the common due date is billed with a balance of 70.00
    bill(reseller, date(2026, 2, 11))

    # Then only the first payment was paid; the second, which the rest does not cover, waits
    assert refreshed(first).status == Payment.Status.PAID_FROM_BALANCE
    assert refreshed(second).status == Payment.Status.WAITING_FOR_PAYMENT
    assert refreshed(account).balance == 1_000
    assert list(BalanceEntry.objects.filter(account=account, kind="payment").values_list("payment_id", "amount")) == [
        (first.pk, -6_000)
    ]
    assert len(events("payment.received", subject=first)) == 1
    assert not events("payment.received", subject=second)

    # and the next day the unpaid one expires
    bill(reseller, date(2026, 2, 12))
    assert refreshed(second).status == Payment.Status.EXPIRED


def test_R21_expired_payment_is_never_paid_automatically(reseller, make_account, make_subscription):
    # Given a January payment that expired on 7 February for lack of money
    account, january = _account_with_january_payment(reseller, make_account, make_subscription, balance=0)
    bill(reseller, date(2026, 2, 7))
    assert refreshed(january).status == Payment.Status.EXPIRED

    # When the customer then tops up enough for both months and the billing runs into March
    top_up_balance(account, 15_000, actor=SYSTEM, now=at(date(2026, 2, 7)))
    bill(reseller, date(2026, 3, 7))

    # Then the expired January payment stays expired, while February's was paid on its due date
    february = Payment.objects.get(invoice__account=account, invoice__billing_date=date(2026, 2, 1))
    assert refreshed(january).status == Payment.Status.EXPIRED
    assert (february.status, february.due_date, february.closed_at) == (
        Payment.Status.PAID_FROM_BALANCE,
        date(2026, 3, 6),
        business_time(reseller, date(2026, 3, 6)),
    )
    assert refreshed(account).balance == 5_000
    assert not events("payment.received", subject=january)


def test_R21_no_automatic_balance_payment_in_erp_mode(erp_reseller, make_account, make_subscription):
    # Given an approved ERP invoice due on 10 February and a balance that covers it
    account = make_account(reseller=erp_reseller, balance=50_000)
    make_subscription(account=account, fee=10_000, billing_day=1, start_date=date(2026, 1, 1))
    bill(erp_reseller, date(2026, 2, 3))
    invoice = closed_invoice(account)
    approve_invoice(
        invoice,
        document_id="ERP-7",
        billing_date=invoice.billing_date,
        due_date=date(2026, 2, 10),
        actor=ERP,
        now=at(date(2026, 2, 3)),
    )

    # When the due date is billed
    bill(erp_reseller, date(2026, 2, 10))

    # Then the balance did not pay it
    payment = refreshed(invoice.payment)
    assert (payment.status, payment.due_date) == (Payment.Status.WAITING_FOR_PAYMENT, date(2026, 2, 10))
    assert refreshed(account).balance == 50_000
    assert not events("payment.received", subject=payment)


def test_R10_R21_a_default_mode_invoice_is_still_paid_from_balance_after_switching_to_erp(
    reseller, make_account, make_subscription
):
    # Given a payment of a default-mode invoice, due on 6 February, and a balance that covers it
    account, payment = _account_with_january_payment(reseller, make_account, make_subscription, balance=10_000)

    # When the reseller switches to ERP mode before the due date, and the due date is billed
    set_external_invoices(reseller, True, actor=SYSTEM, now=at(date(2026, 2, 5)))
    bill(reseller, DUE)

    # Then the invoice keeps its default mode, so the balance pays it as usual
    assert refreshed(payment).status == Payment.Status.PAID_FROM_BALANCE
    assert refreshed(account).balance == 0
