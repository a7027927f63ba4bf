"""Issue 11: the default e-mails link to the exact Customer Control Panel page of their invoice or payment, as
absolute URLs under ARREARS_BASE_URL, and name what the customer finds there (Download, Pay from balance, Pay
with …, Top up; an invoice whose approval was revoked is being prepared). Sent through the real dispatch."""

from datetime import date

from django.test import override_settings

from arrears.events.outbox import dispatch_pending_events
from arrears.invoices.services import revoke_invoice_approval
from arrears.notifications.sending import deliver_due
from arrears.payments.services import pay_from_balance
from tests.conftest import ERP, at, bill
from tests.factories import AccountFactory
from tests.gateways.test_attempts import CUSTOMER
from tests.service_support import APPROVAL_DAY, CLOSING_DAY, approved, invoice_of

SITE = "https://billing.example.com"


def sent(mailoutbox, day: date, hour: int = 12) -> list:
    """What the queue sends after the events of ``day``: the messages, emptied from the outbox."""
    dispatch_pending_events(now=at(day, hour))
    deliver_due(now=at(day, hour))
    messages = list(mailoutbox)
    mailoutbox.clear()
    assert all("{{" not in message.body and "127.0.0.1" not in message.body for message in messages)
    return messages


def one(messages: list, subject_start: str):
    [message] = [message for message in messages if message.subject.startswith(subject_start)]
    return message


@override_settings(ARREARS_BASE_URL=SITE)
def test_a_default_mode_invoice_mail_links_its_invoice_and_payment_pages_and_the_receipt_its_payment(
    reseller, mailoutbox
):
    # Given a default-mode customer whose invoice closed
    account = AccountFactory(reseller=reseller, name="Ada", email="ada@example.com")
    invoice = invoice_of(account)
    payment = invoice.payment

    # When the invoice mail goes out
    [closed] = sent(mailoutbox, CLOSING_DAY)

    # Then it links the invoice's page (Download) and the payment's page, where the panel's buttons are
    assert closed.to == ["ada@example.com"]
    assert (
        "The invoice is on its page in your customer panel, where Download gives you its document:\n"
        f"{SITE}/customer/invoices/{invoice.pk}/\n"
    ) in closed.body
    assert (
        "Pay it on its page in your customer panel: Pay from balance, or Pay with one of the payment gateways "
        f"offered there.\n{SITE}/customer/payments/{payment.pk}/\n"
    ) in closed.body
    assert f"Top up on your balance page first: {SITE}/customer/balance/" in closed.body

    # When the customer pays it from the balance
    account.balance = 50_000
    account.save(update_fields=["balance"])
    pay_from_balance(payment, actor=CUSTOMER, now=at(CLOSING_DAY, 14))
    [receipt] = sent(mailoutbox, CLOSING_DAY, 15)

    # Then the receipt links the payment's page
    assert receipt.subject == f"Thank you: we received payment {payment.document_id}"
    assert f"The payment's page in your customer panel:\n{SITE}/customer/payments/{payment.pk}/" in receipt.body


@override_settings(ARREARS_BASE_URL=SITE)
def test_an_erp_invoice_with_its_own_total_is_paid_with_a_gateway_and_a_revoked_one_is_being_prepared(
    erp_reseller, mailoutbox
):
    # Given an ERP customer whose invoice the ERP approved with a total in USD (R18: not from the balance)
    account = AccountFactory(reseller=erp_reseller, name="Bob", email="bob@example.com")
    invoice = invoice_of(account)
    payment = invoice.payment
    approval = {"document_id": "ERP-9", "due_date": date(2026, 2, 10), "amount": {"total": "123.45", "currency": "USD"}}
    approved(invoice, **approval)
    invoice_page, payment_page = f"{SITE}/customer/invoices/{invoice.pk}/", f"{SITE}/customer/payments/{payment.pk}/"

    # When the approval mail goes out
    [approval_mail] = sent(mailoutbox, APPROVAL_DAY)

    # Then it offers only the gateways, on the payment's page, and Download on the invoice's page
    assert "Total: 123.45 USD" in approval_mail.body
    assert f"where Download gives you its document:\n{invoice_page}\n" in approval_mail.body
    assert (
        "Pay it on its page in your customer panel: Pay with one of the payment gateways offered there, which "
        "charge the total above"
    ) in approval_mail.body
    assert f"differs from your account's).\n{payment_page}\n" in approval_mail.body
    assert "Pay from balance" not in approval_mail.body and "Top up" not in approval_mail.body

    # When the ERP revokes the approval
    revoke_invoice_approval(
        invoice, document_id="ERP-9", billing_date=invoice.billing_date, actor=ERP, now=at(APPROVAL_DAY, 13)
    )
    [revoked] = sent(mailoutbox, APPROVAL_DAY, 14)

    # Then the customer reads, as on the panel, that the invoice is being prepared, with its page
    assert revoked.subject == "Your invoice INV00000001 is being corrected"
    assert (
        "Until then your invoice is being prepared; you can pay it and download it once it is issued. Its "
        f"page in your customer panel:\n{invoice_page}\n"
    ) in revoked.body

    # When it is approved again and its due date is three days ahead
    approved(invoice, day=APPROVAL_DAY + date.resolution, **approval)
    sent(mailoutbox, APPROVAL_DAY + date.resolution)
    bill(erp_reseller, date(2026, 2, 7))
    reminder = one(sent(mailoutbox, date(2026, 2, 7), 13), "Reminder")

    # Then the reminder links the payment's page and offers the gateways only
    assert "Amount: 123.45 USD" in reminder.body
    assert (
        "Pay it on its page in your customer panel: Pay with one of the payment gateways offered there.\n"
        f"{payment_page}\n"
    ) in reminder.body
    assert "Pay from balance" not in reminder.body


@override_settings(ARREARS_BASE_URL=SITE)
def test_a_reminder_of_a_payment_the_balance_may_pay_offers_pay_from_balance_and_top_up(reseller, mailoutbox):
    # Given a default-mode payment due 2026-02-11, three days ahead on 8 February
    account = AccountFactory(reseller=reseller, name="Cid", email="cid@example.com")
    payment = invoice_of(account).payment
    sent(mailoutbox, CLOSING_DAY)

    # When the reminder goes out
    bill(reseller, date(2026, 2, 8))
    reminder = one(sent(mailoutbox, date(2026, 2, 8), 13), "Reminder")

    # Then it links the payment's page with the panel's words, and the balance page to top up
    assert reminder.subject == f"Reminder: payment {payment.document_id} is due in 3 days"
    assert (
        "Pay it on its page in your customer panel: Pay from balance, or Pay with one of the payment gateways "
        f"offered there.\n{SITE}/customer/payments/{payment.pk}/\n"
    ) in reminder.body
    assert (
        f"If your balance does not cover it, Top up on your balance page first: {SITE}/customer/balance/"
        in reminder.body
    )
