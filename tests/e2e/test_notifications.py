"""End to end: invoices go through closing, approval, revoke, due-date reminders, receipt and expiry; every
notification arrives at a real SMTP server (aiosmtpd) and a real webhook receiver (pytest-httpserver), and running
the daily sweep again sends nothing twice."""

from datetime import UTC, date, datetime

import pytest
import time_machine
from standardwebhooks.webhooks import Webhook
from werkzeug import Response

from arrears.core import clock
from arrears.events.outbox import dispatch_pending_events
from arrears.invoices.services import approve_invoice, complete_invoice_payment, revoke_invoice_approval
from arrears.notifications.catalog import NOTIFIABLE_EVENTS
from arrears.notifications.handlers import create_event_handler, create_webhook_endpoint
from arrears.notifications.models import Delivery
from arrears.notifications.sending import deliver_due
from arrears.payments.models import Payment
from tests.conftest import ERP, MANAGER, at, bill
from tests.factories import AccountFactory, ResellerFactory
from tests.loopback import send_mail_to, smtp_server
from tests.service_support import APPROVAL_DAY, CLOSING_DAY, invoices_of


@pytest.fixture
def inbox(settings):
    with smtp_server() as (inbox, port):
        send_mail_to(settings, port)
        yield inbox


@pytest.fixture
def receiver(httpserver):
    received = []

    def handler(request):
        received.append(request)
        return Response("ok", status=200)

    httpserver.expect_request("/arrears", method="POST").respond_with_handler(handler)
    return received


def notify(day: date, hour: int = 12) -> None:
    """What the queue does after each commit and every minute: fan out the outbox, send what is due."""
    dispatch_pending_events(now=at(day, hour))
    deliver_due(now=at(day, hour))


def sweep(reseller, until: date) -> None:
    """The daily sweep: bill every day up to ``until``, notifying after each."""
    for day in clock.date_range(CLOSING_DAY, until):
        bill(reseller, day)
        notify(day, hour=1)


def test_notifications_from_closing_to_expiry(db, inbox, receiver, httpserver):
    # Given an ERP reseller whose webhook receives every notifiable event, and a default-mode reseller
    erp = ResellerFactory(erp=True, name="Cloudy ERP")
    endpoint = create_webhook_endpoint(erp, url=httpserver.url_for("/arrears"), actor=MANAGER, now=at(CLOSING_DAY))
    for event in NOTIFIABLE_EVENTS:
        create_event_handler(
            erp,
            event=event,
            channel="webhook",
            name=f"ERP {event}",
            endpoint=endpoint,
            actor=MANAGER,
            now=at(CLOSING_DAY),
        )
    ann = AccountFactory(reseller=erp, name="Ann", email="ann@example.com")
    bob = AccountFactory(reseller=erp, name="Bob", email="bob@example.com")
    plain = ResellerFactory(name="Plain Hosting")
    cid = AccountFactory(reseller=plain, name="Cid", email="cid@example.com")

    # When the invoices close (billing engine)
    ann_invoice, bob_invoice = invoices_of(ann, bob)
    [cid_invoice] = invoices_of(cid)
    ann_platform_number = ann_invoice.document_id
    notify(CLOSING_DAY)

    # Then the default-mode customer gets the invoice mail; ERP customers wait for the ERP's number
    [(subject, body)] = inbox.to("cid@example.com")
    assert subject == f"Your invoice {cid_invoice.document_id} from Plain Hosting"
    assert "Hello Cid" in body and "Total: 100.00 EUR" in body
    assert inbox.to("ann@example.com") == inbox.to("bob@example.com") == []

    # When the ERP approves both, Bob's with its own total
    approve_invoice(
        ann_invoice,
        document_id="ERP-A1",
        billing_date=ann_invoice.billing_date,
        due_date=date(2026, 2, 10),
        actor=ERP,
        now=at(APPROVAL_DAY),
    )
    approve_invoice(
        bob_invoice,
        document_id="ERP-B1",
        billing_date=bob_invoice.billing_date,
        due_date=date(2026, 2, 6),
        amount={"total": "121.00", "currency": "EUR"},
        actor=ERP,
        now=at(APPROVAL_DAY),
    )
    notify(APPROVAL_DAY)

    # Then each gets the approval mail with the ERP number, the due date and the total to pay
    [(subject, body)] = inbox.to("ann@example.com")
    assert subject == "Your invoice ERP-A1 from Cloudy ERP"
    assert "Please pay by: 2026-02-10" in body and "Total: 100.00 EUR" in body
    [(subject, body)] = inbox.to("bob@example.com")
    assert subject == "Your invoice ERP-B1 from Cloudy ERP"
    assert "Total: 121.00 EUR" in body and "Please pay by: 2026-02-06" in body

    # When the ERP revokes Ann's approval and approves again with a new number and due date
    revoke_invoice_approval(
        ann_invoice,
        document_id="ERP-A1",
        billing_date=ann_invoice.billing_date,
        comment="wrong number",
        actor=ERP,
        now=at(date(2026, 2, 4)),
    )
    approve_invoice(
        ann_invoice,
        document_id="ERP-A2",
        billing_date=ann_invoice.billing_date,
        due_date=date(2026, 2, 12),
        actor=ERP,
        now=at(date(2026, 2, 4), 13),
    )
    notify(date(2026, 2, 4), 14)
    subjects = [subject for subject, _ in inbox.to("ann@example.com")]
    assert len(subjects) == 3
    assert subjects[1:] == [
        f"Your invoice {ann_platform_number} is being corrected",
        "Your invoice ERP-A2 from Cloudy ERP",
    ]

    # When the daily sweep runs until Bob's payment expired, and Ann pays on the 11th
    sweep(erp, date(2026, 2, 10))
    complete_invoice_payment(
        ann_invoice, document_id="ERP-A2", billing_date=ann_invoice.billing_date, actor=ERP, now=at(date(2026, 2, 11))
    )
    notify(date(2026, 2, 11))
    sweep(erp, date(2026, 2, 14))

    # Then each got a reminder three days ahead, Ann a receipt, Bob an overdue notice
    ann_mail = inbox.to("ann@example.com")
    bob_mail = inbox.to("bob@example.com")
    [(ann_subject, ann_reminder)] = [(s, b) for s, b in ann_mail if s.startswith("Reminder")]
    [(bob_subject, bob_reminder)] = [(s, b) for s, b in bob_mail if s.startswith("Reminder")]
    assert ann_subject == f"Reminder: payment {ann_invoice.payment.document_id} is due in 3 days"
    assert "for invoice ERP-A2 is due on 2026-02-12" in ann_reminder
    assert "for invoice ERP-B1 is due on 2026-02-06" in bob_reminder and "Amount: 121.00 EUR" in bob_reminder
    assert any("we received payment" in body and "ERP-A2" in body for _, body in ann_mail)
    assert Payment.objects.get(invoice=bob_invoice).status == "expired"
    assert len(bob_mail) == 3  # approval, reminder, overdue
    assert Delivery.objects.filter(status="failed").count() == 0

    # And the webhook received every event, signed
    by_type: dict[str, list[dict]] = {}
    for request in receiver:
        body = request.get_data(as_text=True)
        signed_at = datetime.fromtimestamp(int(request.headers["webhook-timestamp"]), tz=UTC)
        with time_machine.travel(signed_at, tick=False):
            payload = Webhook(endpoint.secret).verify(body, dict(request.headers))
        by_type.setdefault(payload["type"], []).append(payload["data"])
    assert {
        "invoice.closed",
        "invoice.approved",
        "invoice.revoked",
        "payment.due_date_coming",
        "payment.received",
        "payment.expired",
    } <= set(by_type)
    assert sorted(data["invoice"]["document_number"] for data in by_type["invoice.approved"]) == [
        "ERP-A1",
        "ERP-A2",
        "ERP-B1",
    ]
    assert [
        data["invoice"]["external_total"]
        for data in by_type["invoice.approved"]
        if data["invoice"]["document_number"] == "ERP-B1"
    ] == ["121.00"]
    days_left = sorted(
        data["payment"]["days_left"]
        for data in by_type["payment.due_date_coming"]
        if data["invoice"]["document_number"] == "ERP-A2"
    )
    assert days_left == list(range(2, 10))  # announced on each billing day 02-03 … 02-10 (due 02-12)
    [expired] = by_type["payment.expired"]
    assert expired["account"]["email"] == "bob@example.com"

    # When the daily sweep runs again over the same days
    mails, webhooks = len(inbox.messages), len(receiver)
    sweep(erp, date(2026, 2, 14))
    notify(date(2026, 2, 16))

    # Then nothing is sent twice
    assert (len(inbox.messages), len(receiver)) == (mails, webhooks)
