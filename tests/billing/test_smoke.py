from datetime import date

from arrears.payments.models import Payment
from tests.conftest import bill, closed_invoice


def test_first_month_is_prorated_and_invoiced_the_day_after_the_billing_day(reseller, make_account, make_subscription):
    account = make_account(reseller=reseller)
    make_subscription(account=account, fee=3000, billing_day=1, start_date=date(2026, 1, 17), tax_rate_bp=2000)
    bill(reseller, date(2026, 2, 2))
    invoice = closed_invoice(account)
    # 15 of 31 days of 30.00, half-up: 14.516… -> 14.52; tax 20 % -> 2.90; gross 17.42
    assert invoice.total == 1742
    assert invoice.payment.status == Payment.Status.WAITING_FOR_PAYMENT
