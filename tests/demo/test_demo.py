"""``arrears demo``: a believable data set with every invoice and payment state, built once.

The history is lived through the real services and the real billing engine, so these tests also
check that the product can reach each state the panels must show.
"""

import io
import json
from datetime import date

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import TestCase

from arrears.billing.models import BillingRun
from arrears.charges.models import Charge
from arrears.customers.models import Account
from arrears.demo.builder import (
    CUSTOMER_PASSWORD,
    MANAGER_PASSWORDS,
    OPERATOR_EMAIL,
    OPERATOR_NAME,
    SUB_RESELLER_NAME,
    build_demo,
)
from arrears.events.models import Event
from arrears.gateways.models import PaymentConnector
from arrears.invoices.models import Invoice
from arrears.payments.models import Payment, PaymentMethod
from arrears.subscriptions.models import Subscription
from arrears.tenants.models import Reseller

TODAY = date(2026, 11, 25)
S = Payment.Status

_MODELS = (
    Reseller,
    Account,
    Subscription,
    Charge,
    Invoice,
    Payment,
    PaymentMethod,
    Event,
    BillingRun,
    get_user_model(),
)


def row_counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in _MODELS}


class BuiltDemoTests(TestCase):
    """The demo built once as of TODAY; each test looks at one aspect of it."""

    @classmethod
    def setUpTestData(cls):
        cls.demo = build_demo(today=TODAY)

    def test_demo_has_an_operator_and_an_erp_mode_sub_reseller(self):
        operator = Reseller.objects.get(name=OPERATOR_NAME)
        sub_reseller = Reseller.objects.get(name=SUB_RESELLER_NAME)

        assert operator.parent_id is None and operator.currency == "EUR"
        assert operator.external_invoices is False
        assert sub_reseller.parent_id == operator.pk
        assert sub_reseller.external_invoices is True  # R1
        assert 18 <= Account.objects.count() <= 22
        assert Account.objects.filter(reseller=sub_reseller).exists()
        assert Account.objects.filter(account_class__grace_days__gt=0).exists()
        assert Account.objects.filter(balance__gt=0).exists()
        assert PaymentMethod.objects.filter(reseller=operator, name="Bank transfer", kind="manual").exists()
        assert self.demo["created"] is True
        assert self.demo["accounts"] == Account.objects.count()

    def test_demo_history_is_about_three_months_billed_by_the_engine_every_day(self):
        for reseller in Reseller.objects.all():
            days = list(BillingRun.objects.filter(reseller=reseller).order_by("date").values_list("date", flat=True))
            assert days[-1] == TODAY
            assert 85 <= (TODAY - days[0]).days <= 95
            assert len(days) == (TODAY - days[0]).days + 1  # no day skipped
        assert Charge.objects.filter(kind="usage").count() > 500
        assert Charge.objects.filter(kind="recurring").exists()
        assert self.demo["billed_until"] == TODAY

    def test_demo_holds_every_invoice_state(self):
        invoices = Invoice.objects.all()
        erp_closed = invoices.filter(status="closed", managed_externally=True)

        assert invoices.filter(status="open").exists()
        assert invoices.filter(status="closed", managed_externally=False).exists()
        assert erp_closed.filter(approved=True).exists()
        assert erp_closed.filter(approved=False).exists()
        assert erp_closed.filter(approved=True).exclude(attachment_url="").exists()  # R23 link
        assert erp_closed.filter(approved=True, external_total__isnull=False).exists()  # R17
        assert erp_closed.filter(approved=True).exclude(document_id__startswith="INV").exists()  # R15 ERP number
        assert Event.objects.filter(type="invoice.revoked").count() == 1  # R36–R40, then approved again
        revoked = Invoice.objects.get(pk=Event.objects.get(type="invoice.revoked").subject_id)
        assert revoked.approved is True
        assert self.demo["invoices"]["open"] == invoices.filter(status="open").count()
        assert self.demo["invoices"]["approved"] == erp_closed.filter(approved=True).count()
        assert self.demo["invoices"]["unapproved"] == erp_closed.filter(approved=False).count()

    def test_demo_holds_every_payment_state(self):
        payments = Payment.objects.filter(type="rendered_services")

        for status in (S.WAITING_FOR_PAYMENT, S.EXPIRED, S.PAID_FROM_BALANCE, S.COMPLETED, S.CANCELLED):
            assert payments.filter(status=status).exists(), status
        assert payments.filter(
            status=S.COMPLETED, invoice__managed_externally=False, payment_method__name="Bank transfer"
        ).exists()  # R31
        assert payments.filter(status=S.COMPLETED, invoice__managed_externally=True).exists()  # R27, R30
        assert payments.filter(status=S.PAID_FROM_BALANCE, invoice__managed_externally=True).exists()  # R18
        assert payments.filter(status=S.EXPIRED, invoice__managed_externally=True).exists()
        assert payments.filter(status=S.CANCELLED, invoice__managed_externally=True, invoice__approved=False).exists()
        assert Event.objects.filter(type="payment.received", payload__how="balance_on_due_date").exists()  # R21
        assert Subscription.objects.filter(status="blocked").exists()  # R44
        assert self.demo["payments"] == {
            status: payments.filter(status=status).count()
            for status in payments.values_list("status", flat=True).distinct()
        }

    def test_demo_is_consistent_with_the_erp_rules(self):
        """R9: an ERP invoice is approved exactly when its payment has a due date; R5: one payment each."""
        for invoice in Invoice.objects.filter(status="closed", total__gt=0).select_related("payment"):
            payment = invoice.payment
            assert payment.total == invoice.total
            if invoice.managed_externally and payment.status != S.CANCELLED:
                assert invoice.approved == (payment.due_date is not None)
        for account in Account.objects.all():
            assert account.balance >= 0
            assert account.balance == sum(account.balance_entries.values_list("amount", flat=True))

    def test_demo_logins_sign_in(self):
        logins = self.demo["logins"]
        panels = {login["panel"] for login in logins}
        user_model = get_user_model()

        assert panels == {"operator", "customer"}
        assert {
            "panel": "operator",
            "reseller": OPERATOR_NAME,
            "role": "admin",
            "email": OPERATOR_EMAIL,
            "password": MANAGER_PASSWORDS[OPERATOR_EMAIL],
        } in logins
        assert any(login["reseller"] == SUB_RESELLER_NAME and login["panel"] == "operator" for login in logins)
        assert sum(login["panel"] == "customer" for login in logins) == Account.objects.count()
        for email, password in MANAGER_PASSWORDS.items():
            assert user_model.objects.get(username=email).check_password(password)
        customer = next(login for login in logins if login["panel"] == "customer")
        assert customer["email"].endswith("example.com")
        assert user_model.objects.get(username=customer["email"]).check_password(CUSTOMER_PASSWORD)

    def test_each_reseller_offers_its_own_demo_gateway_beside_bank_transfer(self):
        connectors = list(PaymentConnector.objects.order_by("reseller_id"))
        resellers = {reseller.pk: reseller for reseller in Reseller.objects.all()}

        assert [connector.reseller_id for connector in connectors] == sorted(resellers)
        for connector in connectors:
            assert connector.name == "Demo Gateway" and connector.runs_with_serve and connector.active
            assert connector.secret.startswith("whsec_")
            assert resellers[connector.reseller_id].currency in connector.currencies
            methods = {method.name: method for method in PaymentMethod.objects.filter(reseller=connector.reseller_id)}
            assert methods["Demo Gateway"].kind == "gateway" and methods["Demo Gateway"].connector_id == connector.pk
            assert methods["Bank transfer"].kind == "manual"
        stated = set(Invoice.objects.exclude(external_currency=None).values_list("external_currency", flat=True))
        assert stated and all(stated <= set(connector.currencies) for connector in connectors)
        listed = self.demo["payment_connectors"]
        assert [(entry["id"], entry["name"], entry["runs_with_serve"]) for entry in listed] == [
            (connector.pk, "Demo Gateway", True) for connector in connectors
        ]
        assert "whsec_" not in json.dumps(listed)  # the secrets are shown once, when created

    def test_a_second_build_changes_nothing_and_prints_the_same_logins(self):
        before = row_counts()

        again = build_demo(today=date(2026, 12, 20))

        assert row_counts() == before
        assert again["created"] is False
        assert again["logins"] == self.demo["logins"]
        assert again["invoices"] == self.demo["invoices"]

    def test_cli_rerun_prints_the_logins_and_changes_nothing(self):
        before = row_counts()
        out = io.StringIO()

        call_command("demo", stdout=out, stderr=io.StringIO())

        again = json.loads(out.getvalue())
        assert again["created"] is False
        assert again["logins"] == self.demo["logins"]
        assert row_counts() == before


def test_cli_builds_the_demo_and_a_rerun_only_prints_the_logins(db):
    out, err = io.StringIO(), io.StringIO()
    call_command("demo", today="2026-11-25", stdout=out, stderr=err)
    first = json.loads(out.getvalue())
    counts = row_counts()

    out = io.StringIO()
    call_command("demo", today="2026-11-25", stdout=out, stderr=io.StringIO())
    second = json.loads(out.getvalue())

    assert first["created"] is True and second["created"] is False
    assert "Living the history" in err.getvalue()  # progress on stderr, JSON alone on stdout
    assert first["logins"][0] == {
        "panel": "operator",
        "reseller": OPERATOR_NAME,
        "role": "admin",
        "email": OPERATOR_EMAIL,
        "password": MANAGER_PASSWORDS[OPERATOR_EMAIL],
    }
    assert second["logins"] == first["logins"]
    assert row_counts() == counts


def test_cli_refuses_a_malformed_today(db):
    with pytest.raises(CommandError, match="--today"):
        call_command("demo", today="25.11.2026", stdout=io.StringIO(), stderr=io.StringIO())
    assert not Reseller.objects.exists()
