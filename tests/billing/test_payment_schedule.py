"""R7, R20, R22: the due and expiration dates the closing gives a payment, and when it expires."""

from datetime import date, timedelta

import pytest

from arrears.customers.models import BalanceEntry
from arrears.invoices.services import approve_invoice
from arrears.payments.models import Payment
from tests.billing.helpers import business_time, events, refreshed
from tests.conftest import ERP, at, bill, closed_invoice

CLOSING = date(2026, 2, 2)


@pytest.mark.parametrize(
    ("expiration_days", "due", "expires"),
    [
        (10, date(2026, 2, 11), date(2026, 2, 12)),
        (5, date(2026, 2, 6), date(2026, 2, 7)),
        (1, date(2026, 2, 2), date(2026, 2, 3)),
    ],
)
def test_R20_default_mode_due_date_is_closing_date_plus_expiration_period_minus_one(
    reseller, make_account, make_subscription, expiration_days, due, expires
):
    # Given an account whose class lets payments run for ``expiration_days``
    account = make_account(reseller=reseller, expiration_days=expiration_days)
    make_subscription(account=account, fee=10_000, billing_day=1, start_date=date(2026, 1, 1))

    # When January's invoice closes on 2 February
    bill(reseller, CLOSING)

    # Then its payment waits, due on closing + period − 1 and expiring the day after
    payment = closed_invoice(account).payment
    assert payment.status == Payment.Status.WAITING_FOR_PAYMENT
    assert payment.due_date == due == CLOSING + timedelta(days=expiration_days - 1)
    assert payment.expiration_date == expires == payment.due_date + timedelta(days=1)
    assert events("payment.created", subject=payment)[0].payload["due_date"] == due.isoformat()


def test_R7_erp_payment_waits_without_due_date_and_never_expires_or_draws_on_the_balance(
    erp_reseller, make_account, make_subscription
):
    # Given an ERP-mode account with a short expiration period and plenty of money
    account = make_account(reseller=erp_reseller, expiration_days=1, balance=1_000_000)
    make_subscription(account=account, fee=10_000, billing_day=1, start_date=date(2026, 1, 1))

    # When January closes
    bill(erp_reseller, CLOSING)

    # Then the payment waits with no due date and no expiration date
    payment = closed_invoice(account).payment
    assert (payment.status, payment.due_date, payment.expiration_date) == (
        Payment.Status.WAITING_FOR_PAYMENT,
        None,
        None,
    )
    assert events("payment.created", subject=payment)[0].payload["due_date"] is None

    # When months pass without the ERP approving it
    bill(erp_reseller, date(2026, 4, 30))

    # Then it still waits, unpaid, and the balance is untouched
    payment.refresh_from_db()
    assert (payment.status, payment.due_date, payment.amount_paid_from_balance) == (
        Payment.Status.WAITING_FOR_PAYMENT,
        None,
        0,
    )
    assert refreshed(account).balance == 1_000_000
    assert not BalanceEntry.objects.filter(account=account, kind=BalanceEntry.Kind.PAYMENT).exists()
    assert not events("payment.expired", reseller=erp_reseller)
    assert not events("payment.received", reseller=erp_reseller, subject=payment)
    assert (
        not Payment.objects.filter(account=account, type="rendered_services")
        .exclude(status=Payment.Status.WAITING_FOR_PAYMENT)
        .exists()
    )
    assert set(account.subscriptions.values_list("status", flat=True)) == {"active"}


def test_R22_unpaid_payment_expires_the_day_after_its_due_date_not_on_it(reseller, make_account, make_subscription):
    # Given a payment due on 6 February that the empty balance cannot pay
    account = make_account(reseller=reseller, expiration_days=5)
    make_subscription(account=account, fee=10_000, billing_day=1, start_date=date(2026, 1, 1))
    bill(reseller, CLOSING)
    payment = closed_invoice(account).payment
    assert payment.due_date == date(2026, 2, 6)

    # When the due date is billed
    bill(reseller, date(2026, 2, 6))

    # Then the payment still waits
    assert refreshed(payment).status == Payment.Status.WAITING_FOR_PAYMENT

    # When the day after the due date is billed
    bill(reseller, date(2026, 2, 7))

    # Then it is expired, stamped with that day, and the expiry is recorded
    payment.refresh_from_db()
    assert payment.status == Payment.Status.EXPIRED
    assert payment.updated_at == business_time(reseller, date(2026, 2, 7))
    (expired,) = events("payment.expired", subject=payment)
    assert expired.occurred_at == business_time(reseller, date(2026, 2, 7))
    assert expired.payload["changes"] == {"status": ["waiting_for_payment", "expired"]}


def test_R22_approved_erp_payment_expires_the_day_after_its_due_date(erp_reseller, make_account, make_subscription):
    # Given an ERP invoice approved on 3 February with due date 10 February
    account = make_account(reseller=erp_reseller)
    make_subscription(account=account, fee=10_000, billing_day=1, start_date=date(2026, 1, 1))
    bill(erp_reseller, date(2026, 2, 3))
    invoice = closed_invoice(account)
    approve_invoice(
        invoice,
        document_id="ERP-1",
        billing_date=invoice.billing_date,
        due_date=date(2026, 2, 10),
        actor=ERP,
        now=at(date(2026, 2, 3)),
    )

    # When the due date is billed, then the day after
    bill(erp_reseller, date(2026, 2, 10))
    assert refreshed(invoice.payment).status == Payment.Status.WAITING_FOR_PAYMENT
    bill(erp_reseller, date(2026, 2, 11))

    # Then it expired on the day after the due date
    assert refreshed(invoice.payment).status == Payment.Status.EXPIRED
    assert events("payment.expired", subject=invoice.payment)[0].occurred_at == business_time(
        erp_reseller, date(2026, 2, 11)
    )
