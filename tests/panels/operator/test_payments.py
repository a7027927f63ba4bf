"""The payments pages of the Operator Control Panel: list, filters, CSV, the payment page and its three actions
(approve, cancel, pay from balance), tenancy, roles and the query budget."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from arrears.core.actors import SYSTEM
from arrears.customers.models import Account, BalanceEntry
from arrears.payments.models import Payment, PaymentMethod
from arrears.payments.services import top_up_balance
from arrears.tenants.models import Manager
from tests.factories import T0, ResellerFactory
from tests.panels.conftest import billed_accounts

ACTION_ROUTES = ("approve/", "cancel/", "pay-from-balance/")
PAYABLE = ("waiting_for_payment", "expired")


def payable_payment(account) -> Payment:
    """The oldest payment of ``account`` that is still waiting or expired."""
    return Payment.objects.filter(account=account, status__in=PAYABLE).select_related("invoice").order_by("id").first()


def snapshot(payment: Payment) -> tuple:
    payment = Payment.objects.get(pk=payment.pk)
    return (
        payment.status,
        payment.payment_method_id,
        payment.closed_at,
        payment.comment,
        Account.objects.get(pk=payment.account_id).balance,
        BalanceEntry.objects.filter(payment=payment).count(),
    )


def errors_of(response, form: str) -> dict:
    return response.context[form].errors.as_data()


def codes(errors, field="__all__") -> list[str]:
    return [error.code for error in errors.get(field, [])]


def approve_erp_invoice(client, payment, **extra) -> None:
    response = client.post(f"/operator/invoices/{payment.invoice_id}/approve/", {"document_id": "ERP-1", **extra})
    assert response.status_code == 302, response.content.decode()[:2000]


@pytest.fixture
def default_world(db):
    reseller = ResellerFactory(name="Default Co")
    accounts = billed_accounts(reseller, 3)
    method = PaymentMethod.objects.create(reseller=reseller, name="Bank transfer")
    return {"reseller": reseller, "accounts": accounts, "method": method}


# --- The list ----------------------------------------------------------------------------------------------


def test_an_anonymous_visit_goes_to_the_sign_in_page(client):
    response = client.get("/operator/payments/")
    assert response.status_code == 302
    assert response["Location"].startswith("/operator/login/?next=/operator/payments/")


def test_the_list_shows_the_resellers_payments_and_never_a_siblings(erp_world, sign_in):
    client = sign_in(erp_world["a"], Manager.Role.VIEWER)
    response = client.get("/operator/payments/")
    assert response.status_code == 200
    body = response.content.decode()
    own = set(Payment.objects.filter(reseller=erp_world["a"]).values_list("pk", flat=True))
    foreign = set(Payment.objects.filter(reseller=erp_world["b"]).values_list("pk", flat=True))
    assert own and foreign
    assert all(f'href="/operator/payments/{pk}/"' in body for pk in own)
    assert not any(f'href="/operator/payments/{pk}/"' in body for pk in foreign)
    assert f'href="/operator/accounts/{erp_world["account_a"].pk}/"' in body


def test_the_status_filter_keeps_only_that_status(default_world, sign_in):
    client = sign_in(default_world["reseller"])
    first = payable_payment(default_world["accounts"][0])
    Payment.objects.filter(pk=first.pk).update(status="cancelled")
    response = client.get("/operator/payments/?status=cancelled")
    assert [row.record.pk for row in response.context["table"].page.object_list] == [first.pk]


def test_the_due_date_range_is_inclusive_at_both_ends(default_world, sign_in):
    client = sign_in(default_world["reseller"])
    payments = Payment.objects.filter(reseller=default_world["reseller"]).exclude(due_date=None)
    due = payments.order_by("due_date").first().due_date
    response = client.get(f"/operator/payments/?due_from={due.isoformat()}&due_to={due.isoformat()}")
    shown = {row.record.pk for row in response.context["table"].page.object_list}
    assert shown == set(payments.filter(due_date=due).values_list("pk", flat=True)) and shown


def test_the_dashboards_links_open_filtered_lists(default_world, sign_in):
    client = sign_in(default_world["reseller"])
    for query in ("?status=waiting_for_payment&due_from=2026-11-01&due_to=2026-11-08", "?status=expired"):
        response = client.get(f"/operator/payments/{query}")
        assert response.status_code == 200
        assert response.context["filter"].is_valid()


def test_searching_by_number_finds_the_payment(default_world, sign_in):
    client = sign_in(default_world["reseller"])
    payment = payable_payment(default_world["accounts"][1])
    response = client.get(f"/operator/payments/?number={payment.document_id}")
    assert [row.record.pk for row in response.context["table"].page.object_list] == [payment.pk]


def test_an_empty_result_says_so(default_world, sign_in):
    client = sign_in(default_world["reseller"])
    response = client.get("/operator/payments/?number=NOPE")
    assert b"No payment matches these filters." in response.content


def test_the_query_count_of_the_list_does_not_grow_with_its_page_size(db, reseller, sign_in):
    billed_accounts(reseller, 30)
    client = sign_in(reseller)
    assert Payment.objects.filter(reseller=reseller).count() > 25
    counts = []
    for size in (25, 100):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/operator/payments/?per_page={size}").status_code == 200
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]


def test_the_csv_export_is_exactly_the_filtered_list(default_world, sign_in):
    client = sign_in(default_world["reseller"])
    expected = Payment.objects.filter(reseller=default_world["reseller"], status="waiting_for_payment")
    response = client.get("/operator/payments/export.csv?status=waiting_for_payment")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = b"".join(response.streaming_content).decode().strip().splitlines()
    assert rows[0].startswith("id,number,account_id,")
    assert sorted(int(row.split(",")[0]) for row in rows[1:]) == sorted(expected.values_list("pk", flat=True))
    assert expected.exists()


# --- Tenancy and roles -------------------------------------------------------------------------------------


def test_a_siblings_payment_answers_404_on_every_payment_route(erp_world, sign_in):
    client = sign_in(erp_world["a"])
    foreign = payable_payment(erp_world["account_b"])
    before = snapshot(foreign)
    assert client.get(f"/operator/payments/{foreign.pk}/").status_code == 404
    for suffix in ACTION_ROUTES:
        assert client.get(f"/operator/payments/{foreign.pk}/{suffix}").status_code == 404
        assert client.post(f"/operator/payments/{foreign.pk}/{suffix}", {"comment": "x"}).status_code == 404
    assert snapshot(foreign) == before
    assert client.get(f"/operator/payments/?account={erp_world['account_b'].pk}").context["table"].paginator.count == 0


def test_a_viewer_reads_the_page_sees_no_action_and_is_refused_every_post(default_world, sign_in):
    method = default_world["method"]
    account = default_world["accounts"][0]
    top_up_balance(account, 1_000_000, actor=SYSTEM, now=T0)
    payment = payable_payment(account)
    client = sign_in(default_world["reseller"], Manager.Role.VIEWER)
    page = client.get(f"/operator/payments/{payment.pk}/")
    assert page.status_code == 200
    for label in (b"Approve payment</button>", b"Cancel payment</button>", b"Pay from balance</button>"):
        assert label not in page.content
    before = snapshot(payment)
    for suffix in ACTION_ROUTES:
        assert (
            client.post(f"/operator/payments/{payment.pk}/{suffix}", {"payment_method": method.pk}).status_code == 403
        )
    assert snapshot(payment) == before


# --- Approve payment ---------------------------------------------------------------------------------------


def test_default_mode_approval_without_a_method_is_refused_on_the_method_field(default_world, sign_in):
    client = sign_in(default_world["reseller"], Manager.Role.BILLING_MANAGER)
    payment = payable_payment(default_world["accounts"][0])
    page = client.get(f"/operator/payments/{payment.pk}/")
    assert b"Approve payment</button>" in page.content and b"Bank transfer" in page.content
    assert b"Cancel payment</button>" not in page.content  # R33
    before = snapshot(payment)
    response = client.post(f"/operator/payments/{payment.pk}/approve/", {"payment_method": ""})
    assert response.status_code == 400
    assert codes(errors_of(response, "approve_form"), "payment_method") == ["PAYMENT-0103"]
    assert b"PAYMENT-0103" in response.content
    assert snapshot(payment) == before


def test_default_mode_approval_with_a_method_completes_the_payment(default_world, sign_in):
    client = sign_in(default_world["reseller"], Manager.Role.BILLING_MANAGER)
    payment = payable_payment(default_world["accounts"][0])
    response = client.post(f"/operator/payments/{payment.pk}/approve/", {"payment_method": default_world["method"].pk})
    assert response.status_code == 302
    payment.refresh_from_db()
    assert (payment.status, payment.payment_method_id) == ("completed", default_world["method"].pk)
    page = client.get(f"/operator/payments/{payment.pk}/")
    assert b"is approved by Bank transfer" in page.content and b"Payment has been received" in page.content
    assert b"Approve payment</button>" not in page.content


@pytest.mark.parametrize("kind", ["inactive", "foreign", "unknown"])
def test_an_unusable_method_is_refused_on_the_method_field(default_world, sign_in, kind):
    client = sign_in(default_world["reseller"])
    payment = payable_payment(default_world["accounts"][0])
    if kind == "inactive":
        method_id = PaymentMethod.objects.create(reseller=default_world["reseller"], name="Old", active=False).pk
    elif kind == "foreign":
        method_id = PaymentMethod.objects.create(reseller=ResellerFactory(), name="Theirs").pk
    else:
        method_id = 999_999
    before = snapshot(payment)
    response = client.post(f"/operator/payments/{payment.pk}/approve/", {"payment_method": method_id})
    assert response.status_code == 400
    assert codes(errors_of(response, "approve_form"), "payment_method") == ["PAYMENT-0107"]
    assert snapshot(payment) == before


def test_an_unapproved_erp_invoices_payment_cannot_be_approved(erp_world, sign_in):
    client = sign_in(erp_world["a"])
    payment = payable_payment(erp_world["account_a"])
    assert payment.due_date is None
    assert b"Approve payment</button>" not in client.get(f"/operator/payments/{payment.pk}/").content
    before = snapshot(payment)
    response = client.post(f"/operator/payments/{payment.pk}/approve/", {"payment_method": ""})
    assert response.status_code == 400
    assert codes(errors_of(response, "approve_form")) == ["PAYMENT-0102"]
    assert snapshot(payment) == before


def test_an_approved_erp_invoices_payment_is_approved_without_a_method(erp_world, sign_in):
    client = sign_in(erp_world["a"], Manager.Role.BILLING_MANAGER)
    payment = payable_payment(erp_world["account_a"])
    approve_erp_invoice(client, payment)
    page = client.get(f"/operator/payments/{payment.pk}/")
    assert b"Approve payment</button>" in page.content and b"No method (the ERP&#x27;s invoice)" in page.content
    assert client.post(f"/operator/payments/{payment.pk}/approve/", {"payment_method": ""}).status_code == 302
    payment.refresh_from_db()
    assert (payment.status, payment.payment_method_id) == ("completed", None)
    assert client.post(f"/operator/payments/{payment.pk}/approve/", {}).status_code == 400  # PAYMENT-0101 now


def test_approving_a_completed_payment_again_is_refused_on_top_of_the_form(default_world, sign_in):
    client = sign_in(default_world["reseller"])
    payment = payable_payment(default_world["accounts"][0])
    method = default_world["method"].pk
    assert client.post(f"/operator/payments/{payment.pk}/approve/", {"payment_method": method}).status_code == 302
    before = snapshot(payment)
    response = client.post(f"/operator/payments/{payment.pk}/approve/", {"payment_method": method})
    assert response.status_code == 400
    assert codes(errors_of(response, "approve_form")) == ["PAYMENT-0101"]
    assert snapshot(payment) == before


# --- Cancel payment ----------------------------------------------------------------------------------------


def test_cancelling_in_default_mode_is_refused_and_changes_nothing(default_world, sign_in):
    client = sign_in(default_world["reseller"])
    payment = payable_payment(default_world["accounts"][0])
    Payment.objects.filter(pk=payment.pk).update(status="waiting_for_payment")
    before = snapshot(payment)
    response = client.post(f"/operator/payments/{payment.pk}/cancel/", {"comment": "no"})
    assert response.status_code == 400
    assert codes(errors_of(response, "cancel_form")) == ["PAYMENT-0104"]
    assert b"PAYMENT-0104" in response.content
    assert snapshot(payment) == before


def test_cancelling_an_unapproved_erp_payment_with_a_comment(erp_world, sign_in):
    client = sign_in(erp_world["a"], Manager.Role.BILLING_MANAGER)
    payment = payable_payment(erp_world["account_a"])
    page = client.get(f"/operator/payments/{payment.pk}/")
    assert b"Cancel payment</button>" in page.content
    assert f"Cancel payment {payment.document_id} of ".encode() in page.content  # the confirmation
    response = client.post(f"/operator/payments/{payment.pk}/cancel/", {"comment": "duplicate order"})
    assert response.status_code == 302
    payment.refresh_from_db()
    assert payment.status == "cancelled" and "duplicate order" in payment.comment
    page = client.get(f"/operator/payments/{payment.pk}/")
    assert b"Payment cancelled" in page.content and b"Cancel payment</button>" not in page.content


def test_cancelling_an_approved_erp_payment_is_refused(erp_world, sign_in):
    client = sign_in(erp_world["a"])
    payment = payable_payment(erp_world["account_a"])
    approve_erp_invoice(client, payment)
    assert b"Cancel payment</button>" not in client.get(f"/operator/payments/{payment.pk}/").content
    before = snapshot(payment)
    response = client.post(f"/operator/payments/{payment.pk}/cancel/", {})
    assert response.status_code == 400
    assert codes(errors_of(response, "cancel_form")) == ["PAYMENT-0104"]
    assert snapshot(payment) == before


def test_a_too_long_comment_is_refused_on_its_field(erp_world, sign_in):
    client = sign_in(erp_world["a"])
    payment = payable_payment(erp_world["account_a"])
    before = snapshot(payment)
    response = client.post(f"/operator/payments/{payment.pk}/cancel/", {"comment": "x" * 1001})
    assert response.status_code == 400
    assert codes(errors_of(response, "cancel_form"), "comment") == ["max_length"]
    assert snapshot(payment) == before


# --- Pay from balance --------------------------------------------------------------------------------------


def test_paying_from_a_too_small_balance_is_refused_and_says_why(default_world, sign_in):
    client = sign_in(default_world["reseller"])
    payment = payable_payment(default_world["accounts"][0])
    page = client.get(f"/operator/payments/{payment.pk}/")
    assert b"Pay from balance</button>" not in page.content
    assert b"is lower than the total" in page.content
    before = snapshot(payment)
    response = client.post(f"/operator/payments/{payment.pk}/pay-from-balance/")
    assert response.status_code == 400
    assert codes(errors_of(response, "pay_form")) == ["PAYMENT-0105"]
    assert b"PAYMENT-0105" in response.content
    assert snapshot(payment) == before


def test_paying_from_the_balance_debits_it_and_shows_the_ledger_entry(default_world, sign_in):
    client = sign_in(default_world["reseller"], Manager.Role.BILLING_MANAGER)
    account = default_world["accounts"][0]
    top_up_balance(account, 1_000_000, actor=SYSTEM, now=T0)
    payment = payable_payment(account)
    page = client.get(f"/operator/payments/{payment.pk}/")
    assert b"Pay from balance</button>" in page.content
    assert f"Pay payment {payment.document_id} of ".encode() in page.content
    assert client.post(f"/operator/payments/{payment.pk}/pay-from-balance/").status_code == 302
    payment.refresh_from_db()
    assert payment.status == "paid_from_balance"
    assert Account.objects.get(pk=account.pk).balance == 1_000_000 - payment.total
    page = client.get(f"/operator/payments/{payment.pk}/")
    entries = page.context["ledger"]
    assert [(entry.kind, entry.amount) for entry in entries] == [("payment", -payment.total)]
    assert b"Pay from balance</button>" not in page.content


def test_an_unapproved_erp_payment_cannot_be_paid_from_the_balance(erp_world, sign_in):
    client = sign_in(erp_world["a"])
    account = erp_world["account_a"]
    top_up_balance(account, 1_000_000, actor=SYSTEM, now=T0)
    payment = payable_payment(account)
    page = client.get(f"/operator/payments/{payment.pk}/")
    assert b"No due date yet" in page.content and b"Pay from balance</button>" not in page.content
    before = snapshot(payment)
    response = client.post(f"/operator/payments/{payment.pk}/pay-from-balance/")
    assert response.status_code == 400
    assert codes(errors_of(response, "pay_form")) == ["PAYMENT-0102"]
    assert snapshot(payment) == before


def test_a_differing_external_total_rules_out_the_balance(erp_world, sign_in):
    client = sign_in(erp_world["a"])
    account = erp_world["account_a"]
    top_up_balance(account, 1_000_000, actor=SYSTEM, now=T0)
    payment = payable_payment(account)
    approve_erp_invoice(client, payment, external_total="123.45", currency="USD")
    page = client.get(f"/operator/payments/{payment.pk}/")
    assert b"External total 123.45 USD" in page.content
    assert b"differs from the payment" in page.content and b"Pay from balance</button>" not in page.content
    before = snapshot(payment)
    response = client.post(f"/operator/payments/{payment.pk}/pay-from-balance/")
    assert response.status_code == 400
    assert codes(errors_of(response, "pay_form")) == ["PAYMENT-0106"]
    assert snapshot(payment) == before


# --- The page ----------------------------------------------------------------------------------------------


def test_the_page_shows_the_facts_links_and_the_log_of_payment_and_invoice(erp_world, sign_in):
    client = sign_in(erp_world["a"], Manager.Role.VIEWER)
    payment = payable_payment(erp_world["account_a"])
    body = client.get(f"/operator/payments/{payment.pk}/").content.decode()
    assert payment.document_id in body
    assert f'href="/operator/invoices/{payment.invoice_id}/"' in body
    assert f'href="/operator/accounts/{payment.account_id}/"' in body
    assert "Invoice closed" in body and "Set when the ERP approves" in body
