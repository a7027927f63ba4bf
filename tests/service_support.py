"""Shared Given-steps and the R47 check for the service-level tests of invoices, payments and charges.

The standard story: an account subscribes on 2026-01-31 to a plan on billing day 1. Its first period
(2026-01-01 … 2026-02-01) is billed for its last day only, which keeps the engine's work to three days:
the prorated fee is exactly 100.00 EUR, the invoice (billing_date 2026-01-01) closes on 2026-02-02, and
in ERP mode its payment then waits without a due date until the ERP approves the invoice.
"""

from datetime import date

import pytest

from arrears.charges.models import Charge
from arrears.core.errors import ArrearsError
from arrears.customers.models import Account, BalanceEntry
from arrears.events.models import Event
from arrears.invoices.models import Invoice, InvoiceAttachmentFile
from arrears.invoices.services import approve_invoice
from arrears.payments.models import Payment
from arrears.subscriptions.models import Subscription
from arrears.tenants.models import Reseller
from tests.conftest import ERP, at, bill
from tests.factories import AccountFactory, SubscriptionFactory

JAN_1 = date(2026, 1, 1)  # billing_date of the invoice: the start of its billing period
START = date(2026, 1, 31)  # the subscription's start: the period's last day
CLOSING_DAY = date(2026, 2, 2)  # billing day 2026-02-01 + 1: the January invoice closes
APPROVAL_DAY = date(2026, 2, 3)
PLAN_FEE = 310_000  # per month; 1 day of January's 31 is 10_000.5 minor units, i.e. 100.00 EUR
FEE = 10_000  # the January invoice total

_WATCHED = (Invoice, InvoiceAttachmentFile, Payment, Event, BalanceEntry, Account, Subscription, Charge, Reseller)


def snapshot() -> dict[str, list[dict]]:
    """Every row a service of these domains may write, in a comparable form."""
    return {model._meta.label: list(model.objects.order_by("pk").values()) for model in _WATCHED}


def refused(code: str, call, *args, pointer: str | None = None, **kwargs) -> ArrearsError:
    """R47: ``call`` fails with ``code`` (and names ``pointer`` when given) and changes nothing."""
    before = snapshot()
    with pytest.raises(ArrearsError) as failure:
        call(*args, **kwargs)
    assert failure.value.code == code
    if pointer is not None:
        assert failure.value.pointer == pointer
    assert snapshot() == before, "a refused call changed data (R47)"
    return failure.value


def invoices_of(*accounts, billing_date: date = JAN_1, until: date = CLOSING_DAY, fee: int = PLAN_FEE) -> list[Invoice]:
    """Given a subscription of each account from 2026-01-31, billed until ``until``: their invoices of
    the period starting ``billing_date``. All accounts must be given at once: the engine refuses
    subscriptions starting on a day it has already billed."""
    for account in accounts:
        SubscriptionFactory(account=account, fee=fee, billing_day=1, start_date=START)
    bill(accounts[0].reseller, until)
    return [
        Invoice.objects.select_related("payment").get(account=account, billing_date=billing_date)
        for account in accounts
    ]


def invoice_of(account, **story) -> Invoice:
    """Given a subscription of ``account`` from 2026-01-31, billed until ``until``: its invoice."""
    return invoices_of(account, **story)[0]


def closed_erp_invoice(reseller, **account_terms) -> Invoice:
    """Given an ERP reseller's closed January invoice, waiting for approval."""
    account = AccountFactory(reseller=reseller, **account_terms)
    return invoice_of(account)


def approved(invoice: Invoice, *, document_id: str = "ERP-1", day: date = APPROVAL_DAY, **fields) -> Invoice:
    """Given the ERP approved ``invoice`` on ``day`` (defaults: no due date, no total, no attachment)."""
    return approve_invoice(
        invoice, document_id=document_id, billing_date=invoice.billing_date, actor=ERP, now=at(day), **fields
    )


def reload(invoice: Invoice) -> Invoice:
    return Invoice.objects.select_related("payment").get(pk=invoice.pk)


def assert_approval_matches_due_date(invoice: Invoice) -> None:
    """R9: an externally managed invoice is approved if and only if its payment has a due date."""
    invoice = reload(invoice)
    assert invoice.managed_externally
    assert invoice.approved == (invoice.payment.due_date is not None)
    assert (invoice.payment.due_date is None) == (invoice.payment.expiration_date is None)
