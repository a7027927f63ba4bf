"""The accounts pages of the Operator Control Panel: the list with search, the account page, the top-up."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from arrears.customers.models import Account, BalanceEntry
from arrears.events.models import Event
from arrears.payments.models import Payment
from arrears.tenants.models import Manager
from tests.factories import AccountFactory
from tests.panels.conftest import billed_accounts


def test_an_anonymous_visit_goes_to_the_sign_in_page(client):
    response = client.get("/operator/accounts/")
    assert response.status_code == 302
    assert response["Location"].startswith("/operator/login/?next=/operator/accounts/")


def test_the_list_shows_the_resellers_accounts_and_never_a_siblings(erp_world, sign_in):
    # Given a viewer of reseller A
    client = sign_in(erp_world["a"], Manager.Role.VIEWER)
    # When the list opens
    response = client.get("/operator/accounts/")
    # Then A's account is listed with its balance and unpaid payments, B's is not
    assert response.status_code == 200
    body = response.content.decode()
    assert erp_world["account_a"].name in body
    assert erp_world["account_b"].name not in body
    assert f"/operator/accounts/{erp_world['account_a'].pk}/" in body


@pytest.mark.parametrize("term", ["name", "email", "id"])
def test_the_search_finds_an_account_by_name_email_or_id(reseller, sign_in, term):
    # Given two accounts
    wanted = AccountFactory(reseller=reseller, name="Zebra Hosting", email="billing@zebra.example")
    other = AccountFactory(reseller=reseller, name="Other Ltd", email="ops@other.example")
    client = sign_in(reseller, Manager.Role.VIEWER)
    query = {"name": "zebra", "email": "billing@zebra", "id": str(wanted.pk)}[term]
    # When a manager searches
    response = client.get("/operator/accounts/", {"q": query})
    # Then only the wanted account is listed
    body = response.content.decode()
    assert response.status_code == 200
    assert "Zebra Hosting" in body
    assert other.name not in body


def test_a_search_without_results_says_so(reseller, sign_in):
    AccountFactory(reseller=reseller, name="Zebra Hosting")
    response = sign_in(reseller).get("/operator/accounts/", {"q": "no such customer"})
    assert response.status_code == 200
    assert "No account matches." in response.content.decode()


def test_the_list_can_be_sorted_by_balance(reseller, sign_in):
    AccountFactory(reseller=reseller, name="Poor", balance=100)
    AccountFactory(reseller=reseller, name="Rich", balance=900_000)
    body = sign_in(reseller).get("/operator/accounts/", {"sort": "-balance"}).content.decode()
    assert body.index("Rich") < body.index("Poor")


def test_the_query_count_of_the_list_does_not_grow_with_its_page_size(reseller, sign_in):
    billed_accounts(reseller, 30)
    client = sign_in(reseller)
    counts = []
    for size in (25, 100):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/operator/accounts/?per_page={size}").status_code == 200
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]


def test_the_account_page_shows_the_ledger_invoices_payments_and_subscriptions(reseller, sign_in):
    # Given a billed account that was topped up
    account = billed_accounts(reseller, 1)[0]
    client = sign_in(reseller, Manager.Role.VIEWER)
    # When its page opens
    response = client.get(f"/operator/accounts/{account.pk}/")
    body = response.content.decode()
    # Then it links to its invoices and payments, and a viewer gets no Top up form
    assert response.status_code == 200
    payment = Payment.objects.filter(account=account).first()
    assert f"/operator/payments/{payment.pk}/" in body
    assert f"/operator/invoices/{payment.invoice_id}/" in body
    subscription = account.subscriptions.get()
    assert f'<span class="badge badge--{subscription.status}">' in body
    assert 'id="top-up"' not in body


def test_a_siblings_account_answers_404_on_every_account_route(erp_world, sign_in):
    client = sign_in(erp_world["a"])
    foreign = erp_world["account_b"]
    assert client.get(f"/operator/accounts/{foreign.pk}/").status_code == 404
    assert client.get(f"/operator/accounts/{foreign.pk}/top-up/").status_code == 404
    assert client.post(f"/operator/accounts/{foreign.pk}/top-up/", {"amount": "10.00"}).status_code == 404
    assert Account.objects.get(pk=foreign.pk).balance == 0


def test_a_billing_manager_tops_up_the_balance(reseller, sign_in):
    # Given a billing manager on an account's page
    account = AccountFactory(reseller=reseller)
    client = sign_in(reseller, Manager.Role.BILLING_MANAGER)
    page = client.get(f"/operator/accounts/{account.pk}/").content.decode()
    assert 'data-confirm="' in page and 'id="top-up"' in page
    # When they top it up by 100.00
    response = client.post(f"/operator/accounts/{account.pk}/top-up/", {"amount": "100.00"})
    # Then the balance, the ledger and the events say so
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.balance == 10_000
    entry = BalanceEntry.objects.get(account=account)
    assert (entry.kind, entry.amount) == ("top_up", 10_000)
    event = Event.objects.get(type="payment.received", subject_id=entry.payment_id)
    assert (event.actor_kind, event.actor_label) == ("manager", client.manager.user.email)
    # And the page shows the new ledger entry with its payment
    body = client.get(f"/operator/accounts/{account.pk}/").content.decode()
    assert entry.payment.document_id in body
    assert "100.00 EUR" in body


@pytest.mark.parametrize(
    "amount", ["", "abc", "0", "-5.00", "1.001"], ids=["empty", "text", "zero", "negative", "too-many-decimals"]
)
def test_a_refused_top_up_shows_the_error_on_the_amount_and_changes_nothing(reseller, sign_in, amount):
    account = AccountFactory(reseller=reseller)
    client = sign_in(reseller, Manager.Role.BILLING_MANAGER)
    response = client.post(f"/operator/accounts/{account.pk}/top-up/", {"amount": amount})
    assert response.status_code == 400
    errors = response.context["top_up_form"].errors.as_data()
    assert list(errors) == ["amount"]
    assert errors["amount"][0].code == ("required" if amount == "" else "PAYMENT-0001")
    if amount:
        assert "PAYMENT-0001" in response.content.decode()
    account.refresh_from_db()
    assert account.balance == 0
    assert not BalanceEntry.objects.filter(account=account).exists()


def test_a_viewer_may_not_top_up(reseller, sign_in):
    account = AccountFactory(reseller=reseller)
    client = sign_in(reseller, Manager.Role.VIEWER)
    assert client.post(f"/operator/accounts/{account.pk}/top-up/", {"amount": "10.00"}).status_code == 403
    account.refresh_from_db()
    assert account.balance == 0


def test_a_top_up_takes_a_manual_payment_method_of_the_reseller_and_refuses_a_siblings(erp_world, sign_in):
    from arrears.payments.models import PaymentMethod

    # Given a method of A's and one of B's
    own = PaymentMethod.objects.create(reseller=erp_world["a"], name="Bank transfer")
    foreign = PaymentMethod.objects.create(reseller=erp_world["b"], name="B's bank")
    account = erp_world["account_a"]
    client = sign_in(erp_world["a"], Manager.Role.BILLING_MANAGER)
    # When the top-up names B's method, it is refused on the field and nothing changes
    response = client.post(f"/operator/accounts/{account.pk}/top-up/", {"amount": "5.00", "payment_method": foreign.pk})
    assert response.status_code == 400
    assert list(response.context["top_up_form"].errors) == ["payment_method"]
    assert not BalanceEntry.objects.filter(account=account, kind="top_up").exists()
    # And with A's own method it is recorded on the payment
    assert (
        client.post(
            f"/operator/accounts/{account.pk}/top-up/", {"amount": "5.00", "payment_method": own.pk}
        ).status_code
        == 302
    )
    entry = BalanceEntry.objects.get(account=account, kind="top_up")
    assert (entry.amount, entry.payment.payment_method_id) == (500, own.pk)
