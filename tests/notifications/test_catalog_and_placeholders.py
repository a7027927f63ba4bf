"""R42: the notifiable events and their documented placeholders, built for a whole batch in a few queries."""

from datetime import date

from arrears.events.models import Event
from arrears.invoices.services import revoke_invoice_approval
from arrears.notifications.catalog import NOTIFIABLE_EVENTS, PLACEHOLDERS
from arrears.notifications.placeholders import placeholders_for
from tests.conftest import ERP, at, bill
from tests.factories import AccountFactory, SubscriptionFactory
from tests.service_support import APPROVAL_DAY, approved, invoice_of

R42_EVENTS = {
    "invoice.closed",
    "invoice.approved",
    "invoice.revoked",
    "payment.due_date_coming",
    "payment.received",
    "payment.expired",
    "billing_day.coming",
}
# Written by the gateway's services (arrears.gateways.services); tests/notifications/test_gateway_notifications.py.
GATEWAY_EVENTS = {"payment.attempt_started", "payment.attempt_ended", "payment.duplicate_success"}


def shape(values: dict) -> dict:
    """The key structure of placeholders in the catalog's format: a dict per object, None per value."""
    return {key: shape(value) if isinstance(value, dict) else None for key, value in values.items()}


def notifiable_events(reseller) -> list[Event]:
    return list(Event.objects.filter(reseller=reseller, type__in=list(NOTIFIABLE_EVENTS)).order_by("id"))


def test_R42_the_catalog_holds_exactly_the_notifiable_events_each_with_placeholders():
    assert set(NOTIFIABLE_EVENTS) == R42_EVENTS | GATEWAY_EVENTS
    assert set(PLACEHOLDERS) == R42_EVENTS | GATEWAY_EVENTS
    assert all(description.strip() for description in NOTIFIABLE_EVENTS.values())


def test_R42_every_event_type_yields_exactly_its_documented_placeholders(erp_reseller):
    # Given an ERP account whose invoice closed, was approved with a due date, an external total and a link,
    # was revoked, approved again, reminded of its due date and expired; a top-up; a coming billing day
    account = AccountFactory(reseller=erp_reseller, name="Ada", email="ada@example.com", balance=5_000)
    invoice = invoice_of(account)
    approval = {
        "due_date": date(2026, 2, 10),
        "amount": {"total": "123.45", "currency": "USD"},
        "link": {"name": "Invoice ERP-1", "data": "https://erp.example.com/invoices/1.pdf"},
    }
    approved(invoice, **approval)
    revoke_invoice_approval(
        invoice, document_id="ERP-1", billing_date=invoice.billing_date, actor=ERP, now=at(APPROVAL_DAY, 13)
    )
    approved(invoice, document_id="ERP-1", **approval)
    bill(erp_reseller, date(2026, 2, 11))
    events = notifiable_events(erp_reseller)
    assert {event.type for event in events} == R42_EVENTS

    # When their placeholders are built in one batch
    placeholders = placeholders_for(events, now=at(date(2026, 2, 11)))

    # Then each event has exactly the placeholders its type documents (a top-up payment has no invoice)
    for event in events:
        values = placeholders[event.pk]
        expected = PLACEHOLDERS[event.type]
        if values.get("invoice", {}) is None:
            assert event.type == "payment.received"
            expected = {**expected, "invoice": None}
        assert shape(values) == expected, event.type


def test_R42_invoice_and_payment_placeholders_carry_the_erp_values(erp_reseller, settings):
    # Given an approved ERP invoice with an external total and a link, reminded 3 days before its due date, on a
    # site reached at https://billing.example.com
    settings.ARREARS_BASE_URL = "https://billing.example.com"
    account = AccountFactory(reseller=erp_reseller, name="Ada", email="ada@example.com")
    invoice = invoice_of(account)
    approved(
        invoice,
        document_id="ERP-7",
        due_date=date(2026, 2, 10),
        amount={"total": "123.45", "currency": "USD"},
        link={"name": "Invoice ERP-7", "data": "https://erp.example.com/7.pdf"},
    )
    bill(erp_reseller, date(2026, 2, 7))
    events = notifiable_events(erp_reseller)

    # When the placeholders are built
    placeholders = placeholders_for(events, now=at(date(2026, 2, 9)))

    # Then the approval shows the ERP's number, due date, external total and link
    approval = next(placeholders[e.pk] for e in events if e.type == "invoice.approved")
    assert approval["account"] == {
        "id": account.pk,
        "name": "Ada",
        "email": "ada@example.com",
        "address": "",
        "balance": "0.00",
        "currency": "EUR",
        "panel_link": "https://billing.example.com/customer/",
        "balance_panel_link": "https://billing.example.com/customer/balance/",
    }
    assert approval["reseller"]["currency"] == "EUR"
    assert approval["invoice"]["panel_link"] == f"https://billing.example.com/customer/invoices/{invoice.pk}/"
    assert approval["invoice"]["payment_panel_link"] == (
        f"https://billing.example.com/customer/payments/{invoice.payment.pk}/"
    )
    assert approval["invoice"] | {"id": None, "panel_link": None, "payment_panel_link": None} == {
        "id": None,
        "document_number": "ERP-7",
        "original_document_number": "INV00000001",
        "status": "closed",
        "total": "100.00",
        "currency": "EUR",
        "from_date": "2026-01-31",
        "to_date": "2026-02-01",
        "to_date_human": "2026-01-31",
        "billing_date": "2026-01-01",
        "managed_externally": True,
        "approved": True,
        "approval_date": "2026-02-03",
        "due_date": "2026-02-10",
        "has_attached": True,
        "file": {"name": None},
        "link": {"name": "Invoice ERP-7", "data": "https://erp.example.com/7.pdf"},
        "external_total": "123.45",
        "external_currency": "USD",
        "panel_link": None,
        "payment_panel_link": None,
        "balance_payment_allowed": False,
    }
    # and the reminder of 7 February says 3 days left, whatever day it is dispatched
    reminder = next(
        placeholders[e.pk] for e in events if e.type == "payment.due_date_coming" and e.payload["days_left"] == 3
    )
    assert reminder["payment"]["days_left"] == 3
    assert reminder["payment"]["due_date"] == reminder["invoice"]["due_date"] == "2026-02-10"
    assert reminder["payment"]["external_total"] == "123.45"
    assert reminder["payment"]["balance_payment_allowed"] is False  # R18: the external total differs
    assert reminder["payment"]["panel_link"] == f"https://billing.example.com/customer/payments/{invoice.payment.pk}/"
    assert reminder["payment"]["operator_link"] == (
        f"https://billing.example.com/operator/payments/{invoice.payment.pk}/"
    )
    assert reminder["invoice"]["document_number"] == "ERP-7"
    assert reminder["event"]["type"] == "payment.due_date_coming"


def test_R41_days_left_of_other_payment_events_counts_from_now_in_the_resellers_time_zone(reseller):
    # Given a default-mode payment due 2026-02-11 (closed 2 February, 10-day terms)
    account = AccountFactory(reseller=reseller)
    invoice = invoice_of(account)
    assert invoice.payment.due_date == date(2026, 2, 11)
    closing = Event.objects.get(type="invoice.closed", subject_id=invoice.pk)
    expired_like = Event(
        pk=10**9,
        type="payment.expired",
        reseller_id=reseller.pk,
        account_id=account.pk,
        subject_type="payment",
        subject_id=invoice.payment.pk,
        payload={},
        occurred_at=at(date(2026, 2, 5)),
    )

    # When placeholders are built on 5 February
    placeholders = placeholders_for([closing, expired_like], now=at(date(2026, 2, 5)))

    # Then days_left counts from that day, and the invoice shows its payment's due date
    assert placeholders[expired_like.pk]["payment"]["days_left"] == 6
    assert placeholders[closing.pk]["invoice"]["due_date"] == "2026-02-11"
    assert placeholders[closing.pk]["invoice"]["approved"] is False


def test_placeholders_of_a_batch_take_the_same_few_queries_however_many_events(reseller, django_assert_max_num_queries):
    # Given one account's events, and then those of ten accounts
    SubscriptionFactory(account=AccountFactory(reseller=reseller), billing_day=1, start_date=date(2026, 1, 31))
    accounts = [AccountFactory(reseller=reseller) for _ in range(10)]
    for account in accounts:
        SubscriptionFactory(account=account, billing_day=1, start_date=date(2026, 1, 31))
    bill(reseller, date(2026, 2, 12))
    events = notifiable_events(reseller)
    assert len(events) > 40

    # When the placeholders of all of them are built, then a handful of queries suffice
    with django_assert_max_num_queries(6):
        placeholders = placeholders_for(events, now=at(date(2026, 2, 12)))
    assert len(placeholders) == len(events)
