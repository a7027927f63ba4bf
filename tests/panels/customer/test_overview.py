"""The overview: the balance, payments waiting for payment or expired (how many, how much), the next due date, what
to pay and the latest invoices — in a few queries, however many there are."""

from datetime import date

from arrears.core.actors import SYSTEM
from arrears.payments.models import Payment
from arrears.payments.services import request_top_up
from tests.conftest import bill
from tests.factories import T0, AccountFactory, ResellerFactory, SubscriptionFactory


def test_the_overview_sums_up_what_is_owed_and_what_is_due_next(db, customer_client):
    reseller = ResellerFactory(name="Plain Hosting")
    account = AccountFactory(reseller=reseller, name="Globex", balance=30_00)
    SubscriptionFactory(account=account, fee=50_00, start_date=date(2026, 1, 1))
    bill(reseller, date(2026, 3, 2))  # January's payment expired; February's waits, due 2026-03-11
    request_top_up(account, 25_00, actor=SYSTEM, now=T0)  # waiting too, without a due date
    payments = Payment.objects.filter(account=account)
    assert sorted(payments.values_list("status", flat=True)) == [
        "completed",
        "expired",
        "waiting_for_payment",
        "waiting_for_payment",
    ]
    due = payments.get(status="waiting_for_payment", type="rendered_services")
    body = customer_client(account).get("/customer/").content.decode()
    assert "<title>Overview · Plain Hosting</title>" in body
    assert '<span class="value">30.00 EUR</span>' in body
    assert '<span class="label">Waiting for payment</span>\n    <span class="value">2</span>' in body
    assert "75.00 EUR" in body  # 50.00 + the 25.00 top-up
    assert '<span class="label">Expired</span>\n    <span class="value">1</span>' in body
    assert "50.00 EUR overdue" in body
    assert '<time datetime="2026-03-11" title="2026-03-11">11 Mar 2026</time>' in body
    assert f">Pay {due.document_id}</a>" in body
    # to pay: the expired one first (the earliest due), the top-up without a due date last
    expired = payments.get(status="expired")
    top_up = payments.get(type="top_up", status="waiting_for_payment")
    positions = [body.index(f">{payment.document_id}</a>") for payment in (expired, due, top_up)]
    assert positions == sorted(positions)
    assert body.count('href="/customer/invoices/') >= 2


def test_a_new_account_sees_helpful_empty_states(db, customer_client):
    body = customer_client(AccountFactory()).get("/customer/").content.decode()
    assert "Nothing to pay." in body and "No invoice yet." in body and "Nothing is due" in body
