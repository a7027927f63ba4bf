"""R3–R6, R10: invoices close and are numbered the day after the billing day, one per account,
billing day and period, each with exactly one payment when its total is positive."""

from datetime import date, timedelta

import pytest

from arrears.catalog.errors import PlanFieldInvalid
from arrears.catalog.services import create_plan
from arrears.charges.errors import SubscriptionNotChargeable
from arrears.core.actors import SYSTEM
from arrears.invoices.models import Invoice
from arrears.invoices.services import post_usage_charge
from arrears.payments.models import Payment
from arrears.tenants.models import Reseller
from arrears.tenants.services import document_number, set_external_invoices
from tests.billing.helpers import business_time, events, refreshed
from tests.conftest import at, bill, closed_invoice
from tests.factories import T0, ResellerFactory


def test_R3_invoice_closes_on_billing_day_plus_one_not_before(any_mode_reseller, make_account, make_subscription):
    # Given a January invoice
    account = make_account(reseller=any_mode_reseller)
    make_subscription(account=account, fee=10_000, billing_day=1, start_date=date(2026, 1, 1))

    # When the billing day itself is billed
    bill(any_mode_reseller, date(2026, 2, 1))

    # Then the invoice is still open and unnumbered
    invoice = Invoice.objects.get(account=account, billing_date=date(2026, 1, 1))
    assert invoice.status == Invoice.Status.OPEN
    assert (invoice.number, invoice.document_id, invoice.original_document_id) == (None, None, None)

    # When the day after the billing day is billed
    bill(any_mode_reseller, date(2026, 2, 2))

    # Then it is closed, numbered, and totals its closed charges
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.CLOSED
    assert invoice.closed_at == business_time(any_mode_reseller, date(2026, 2, 2))
    assert invoice.number == 1
    assert invoice.document_id == invoice.original_document_id == "INV00000001"
    assert invoice.total == 10_000
    assert invoice.currency == any_mode_reseller.currency
    # and February's invoice stays open
    assert Invoice.objects.get(account=account, billing_date=date(2026, 2, 1)).status == Invoice.Status.OPEN


def test_R3_closed_invoice_never_changes_afterwards(any_mode_reseller, make_account, make_subscription):
    # Given a January invoice closed on 2 February
    account = make_account(reseller=any_mode_reseller)
    subscription = make_subscription(account=account, fee=10_000, billing_day=1, start_date=date(2026, 1, 1))
    bill(any_mode_reseller, date(2026, 2, 2))
    january = Invoice.objects.get(account=account, billing_date=date(2026, 1, 1))
    closed_state = (Invoice.objects.filter(pk=january.pk).values().get(), list(january.charges.order_by("id").values()))

    # When a late usage charge for January arrives and another month is billed
    with pytest.raises(SubscriptionNotChargeable):
        post_usage_charge(
            subscription,
            description="Late traffic",
            quantity="1",
            unit_price=500,
            usage_date=date(2026, 1, 30),
            actor=SYSTEM,
            now=at(date(2026, 1, 31), hour=23),
        )
    bill(any_mode_reseller, date(2026, 3, 2))

    # Then the closed invoice, its charges and its total are exactly as they were at closing
    assert (
        Invoice.objects.filter(pk=january.pk).values().get(),
        list(january.charges.order_by("id").values()),
    ) == closed_state


def test_R3_invoice_numbers_are_per_reseller_consecutive_and_in_closing_order(
    any_mode_reseller, make_account, make_subscription
):
    # Given two accounts of one reseller and one account of another reseller
    first, second = make_account(reseller=any_mode_reseller), make_account(reseller=any_mode_reseller)
    other_reseller = ResellerFactory()
    stranger = make_account(reseller=other_reseller)
    for account in (first, second, stranger):
        make_subscription(account=account, fee=1_000, billing_day=1, start_date=date(2026, 1, 1))

    # When two months close
    bill(any_mode_reseller, date(2026, 3, 2))
    bill(other_reseller, date(2026, 3, 2))

    # Then each reseller numbers its invoices 1, 2, … without gaps, oldest first
    closed = Invoice.objects.filter(reseller=any_mode_reseller, status="closed").order_by("id")
    assert [(i.account_id, i.billing_date, i.document_id) for i in closed] == [
        (first.pk, date(2026, 1, 1), "INV00000001"),
        (second.pk, date(2026, 1, 1), "INV00000002"),
        (first.pk, date(2026, 2, 1), "INV00000003"),
        (second.pk, date(2026, 2, 1), "INV00000004"),
    ]
    assert all(invoice.original_document_id == invoice.document_id for invoice in closed)
    assert list(
        Invoice.objects.filter(reseller=other_reseller, status="closed").values_list("document_id", flat=True)
    ) == ["INV00000001", "INV00000002"]


@pytest.mark.parametrize(
    ("next_number", "invoice_document_id", "payment_document_id"),
    [
        (1, "INV00000001", "PAY00000001"),
        (99_999_999, "INV99999999", "PAY99999999"),
        (123_456_789, "INV123456789", "PAY123456789"),
    ],
)
def test_R3_R5_engine_numbers_documents_like_the_services(
    reseller, make_account, make_subscription, next_number, invoice_document_id, payment_document_id
):
    # Given a reseller whose invoice and payment numbering has reached ``next_number``
    account = make_account(reseller=reseller)
    make_subscription(account=account, fee=1_000, billing_day=1, start_date=date(2026, 1, 1))
    Reseller.objects.filter(pk=reseller.pk).update(next_invoice_number=next_number, next_payment_number=next_number)

    # When January closes
    bill(reseller, date(2026, 2, 2))

    # Then the engine wrote the numbers in the one format the services use, never cut short
    invoice = closed_invoice(account)
    assert (invoice.number, invoice.document_id, invoice.original_document_id) == (
        next_number,
        invoice_document_id,
        invoice_document_id,
    )
    assert (invoice.payment.number, invoice.payment.document_id) == (next_number, payment_document_id)
    assert invoice.document_id == document_number("INV", invoice.number)
    assert invoice.payment.document_id == document_number("PAY", invoice.payment.number)
    # and the sequences moved on by one
    reseller.refresh_from_db()
    assert (reseller.next_invoice_number, reseller.next_payment_number) == (next_number + 1, next_number + 1)


@pytest.mark.parametrize("billing_day", [0, 29, 31])
def test_R4_billing_day_outside_1_to_28_is_refused(reseller, billing_day):
    # When a plan is created with a billing day outside 1..28
    with pytest.raises(PlanFieldInvalid) as refused:
        create_plan(reseller=reseller, name="Odd", fee=100, billing_day=billing_day, actor=SYSTEM, now=T0)

    # Then it is refused, naming the field
    assert refused.value.pointer == "/billing_day"


@pytest.mark.parametrize("billing_day", [1, 28])
def test_R4_billing_days_1_and_28_are_billed(any_mode_reseller, make_account, make_subscription, billing_day):
    # Given a subscription on the first or last allowed billing day, starting on that day
    account = make_account(reseller=any_mode_reseller)
    make_subscription(account=account, fee=2_000, billing_day=billing_day, start_date=date(2026, 1, billing_day))

    # When the billing runs through February's billing day + 1 (for day 28 that is 1 March)
    closing = date(2026, 2, billing_day) + timedelta(days=1)
    bill(any_mode_reseller, closing - timedelta(days=1))
    assert not Invoice.objects.filter(account=account, status="closed").exists()
    bill(any_mode_reseller, closing)

    # Then the January period closed that day with the full fee
    invoice = Invoice.objects.get(account=account, status="closed")
    assert (invoice.billing_date, invoice.to_date, invoice.total) == (
        date(2026, 1, billing_day),
        date(2026, 2, billing_day),
        2_000,
    )
    assert invoice.closed_at == business_time(any_mode_reseller, closing)


def test_R4_subscriptions_on_two_billing_days_get_separate_invoices(any_mode_reseller, make_account, make_subscription):
    # Given an account with a billing-day-1 and a billing-day-15 subscription
    account = make_account(reseller=any_mode_reseller)
    first = make_subscription(account=account, fee=10_000, billing_day=1, start_date=date(2026, 1, 1))
    fifteenth = make_subscription(account=account, fee=4_000, billing_day=15, start_date=date(2026, 1, 15))

    # When the billing runs to the day after the 15 February billing day
    bill(any_mode_reseller, date(2026, 2, 16))

    # Then each billing day closed its own invoice on its own day, with its own charges and payment
    day_1, day_15 = Invoice.objects.filter(account=account, status="closed").order_by("billing_day")
    assert (day_1.billing_day, day_1.billing_date, day_1.to_date, day_1.total) == (
        1,
        date(2026, 1, 1),
        date(2026, 2, 1),
        10_000,
    )
    assert (day_15.billing_day, day_15.billing_date, day_15.to_date, day_15.total) == (
        15,
        date(2026, 1, 15),
        date(2026, 2, 15),
        4_000,
    )
    assert day_1.closed_at == business_time(any_mode_reseller, date(2026, 2, 2))
    assert day_15.closed_at == business_time(any_mode_reseller, date(2026, 2, 16))
    assert set(day_1.charges.values_list("subscription_id", flat=True)) == {first.pk}
    assert set(day_15.charges.values_list("subscription_id", flat=True)) == {fifteenth.pk}
    assert Payment.objects.get(invoice=day_1).total == 10_000
    assert Payment.objects.get(invoice=day_15).total == 4_000


def test_R4_subscriptions_with_the_same_billing_day_share_one_invoice(
    any_mode_reseller, make_account, make_subscription
):
    # Given an account with two billing-day-1 subscriptions, one starting mid-period
    account = make_account(reseller=any_mode_reseller)
    make_subscription(account=account, fee=10_000, billing_day=1, start_date=date(2026, 1, 1))
    make_subscription(account=account, fee=3_100, billing_day=1, tax_rate_bp=1000, start_date=date(2026, 1, 17))

    # When January closes
    bill(any_mode_reseller, date(2026, 2, 2))

    # Then both subscriptions' charges are on one invoice with one payment for the sum
    invoice = Invoice.objects.get(account=account, status="closed")
    assert invoice.charges.count() == 2
    assert invoice.total == 10_000 + 1_500 + 150
    assert Invoice.objects.filter(account=account, billing_date=date(2026, 1, 1)).count() == 1
    assert Payment.objects.filter(account=account, type="rendered_services").count() == 1


def test_R5_one_payment_for_rendered_services_per_closed_invoice_with_the_invoice_total(
    any_mode_reseller, make_account, make_subscription
):
    # Given an account with a subscription and money on its balance (a top-up is a payment too)
    account = make_account(reseller=any_mode_reseller, balance=50_000)
    make_subscription(account=account, fee=12_345, billing_day=1, tax_rate_bp=1900, start_date=date(2026, 1, 1))

    # When two periods close
    bill(any_mode_reseller, date(2026, 3, 2))

    # Then each closed invoice has exactly one payment for rendered services, equal to its total
    invoices = Invoice.objects.filter(account=account, status="closed").order_by("id")
    assert invoices.count() == 2
    for invoice in invoices:
        payment = Payment.objects.get(invoice=invoice)
        assert payment.type == Payment.Type.RENDERED_SERVICES
        assert payment.total == payment.initial_total == invoice.total == 12_345 + 2_346
        assert payment.currency == invoice.currency == any_mode_reseller.currency
        assert payment.account_id == account.pk
        assert payment.created_at == invoice.closed_at
    # and no other payment is linked to an invoice
    assert not Payment.objects.filter(type=Payment.Type.TOP_UP, invoice__isnull=False).exists()
    assert Payment.objects.filter(account=account, type=Payment.Type.RENDERED_SERVICES).count() == 2


def test_R5_payment_currency_is_the_reseller_currency(make_account, make_subscription):
    # Given a reseller selling in Japanese yen
    yen_reseller = ResellerFactory(currency="JPY")
    account = make_account(reseller=yen_reseller)
    make_subscription(account=account, fee=5_000, billing_day=1, start_date=date(2026, 1, 1))

    # When January closes
    bill(yen_reseller, date(2026, 2, 2))

    # Then invoice and payment are in yen
    payment = Payment.objects.get(account=account, type="rendered_services")
    assert (payment.currency, payment.invoice.currency, payment.total) == ("JPY", "JPY", 5_000)


def test_R6_zero_total_invoice_closes_without_a_payment(any_mode_reseller, make_account, make_subscription):
    # Given a subscription to a free plan
    account = make_account(reseller=any_mode_reseller)
    make_subscription(account=account, fee=0, billing_day=1, start_date=date(2026, 1, 1))

    # When January closes, and long after
    bill(any_mode_reseller, date(2026, 3, 2))

    # Then its invoices closed, numbered, with total 0, without any payment, and nothing is blocked
    january = Invoice.objects.get(account=account, billing_date=date(2026, 1, 1))
    assert (january.status, january.total, january.document_id) == ("closed", 0, "INV00000001")
    assert not Payment.objects.filter(account=account).exists()
    assert events("invoice.closed", subject=january)[0].payload["payment_id"] is None
    assert not events("payment.created", reseller=any_mode_reseller)
    assert set(account.subscriptions.values_list("status", flat=True)) == {"active"}


def test_R10_mode_is_fixed_per_invoice_when_it_closes(reseller, make_account, make_subscription):
    # Given a default-mode reseller whose January invoice closed
    account = make_account(reseller=reseller)
    make_subscription(account=account, fee=10_000, billing_day=1, start_date=date(2026, 1, 1))
    bill(reseller, date(2026, 2, 2))

    # When the reseller switches to ERP mode before February closes, and back before March closes
    set_external_invoices(reseller, True, actor=SYSTEM, now=at(date(2026, 2, 10)))
    bill(reseller, date(2026, 3, 2))
    set_external_invoices(reseller, False, actor=SYSTEM, now=at(date(2026, 3, 10)))
    bill(reseller, date(2026, 4, 2))

    # Then every invoice keeps the mode it closed with, and so does its payment
    january, february, march = Invoice.objects.filter(account=account, status="closed").order_by("billing_date")
    assert [i.managed_externally for i in (january, february, march)] == [False, True, False]
    assert events("invoice.closed", subject=february)[0].payload["managed_externally"] is True
    assert january.payment.due_date == date(2026, 2, 11)
    assert (february.payment.due_date, february.payment.expiration_date) == (None, None)
    assert february.payment.status == Payment.Status.WAITING_FOR_PAYMENT
    assert march.payment.due_date == date(2026, 4, 11)
    # and the January payment, closed in default mode, expired on schedule despite the switch
    assert refreshed(january.payment).status == Payment.Status.EXPIRED
