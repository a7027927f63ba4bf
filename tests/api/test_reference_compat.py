"""Reference compatibility (ActivePlatform API v3, issue 12): invoice tax lines, the payment's includes, a sort
on every documented attribute of every list, and the ERP's incremental sync by ``filter[updated_at]``.

The tax story: account A subscribes on 2026-01-01 to two plans at 20 % (100.00 and 50.00 EUR a month) and one at
7.5 % (33.33 EUR), posts usage of 2 × 12.34 EUR on the first 20 % subscription on 2026-01-15, and is billed until
2026-02-02: its January invoice is closed, its February invoice open with the three recurring fees.
"""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from arrears.charges.services import post_usage_charge
from arrears.core.actors import SYSTEM
from arrears.gateways.services import create_payment_method
from arrears.invoices.models import Invoice
from arrears.payments.services import approve_payment
from tests.api.conftest import MEDIA_TYPE, ApiClient, refused_over_http, token_for
from tests.conftest import MANAGER, at, bill
from tests.factories import AccountFactory, ResellerFactory, SubscriptionFactory

JAN_1, FEB_1, CLOSING_DAY = date(2026, 1, 1), date(2026, 2, 1), date(2026, 2, 2)


def ok(response) -> dict:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == MEDIA_TYPE
    return response.json()


def url(reseller, path: str) -> str:
    return f"/api/v3/resellers/{reseller.pk}{path}"


def reader(reseller) -> ApiClient:
    return ApiClient(token_for(reseller, scopes=["read"]))


def taxed_accounts(reseller, count: int = 1) -> list:
    """``count`` accounts like A of the tax story, billed until the closing day of their January invoices."""
    accounts = []
    for _ in range(count):
        account = AccountFactory(reseller=reseller)
        first = SubscriptionFactory(account=account, fee=10_000, tax_rate_bp=2000)
        SubscriptionFactory(account=account, fee=5_000, tax_rate_bp=2000)
        SubscriptionFactory(account=account, fee=3_333, tax_rate_bp=750)
        post_usage_charge(first, description="Traffic", quantity="2", unit_price=1234, usage_date=date(2026, 1, 15),
                          actor=SYSTEM, now=at(date(2026, 1, 15)))
        accounts.append(account)
    bill(reseller, CLOSING_DAY)
    return accounts


def taxed_account(reseller):
    return taxed_accounts(reseller)[0]


# --- 1. include=taxes: the invoice's tax lines per rate ------------------------------------------------------


def test_an_invoice_includes_one_tax_line_per_rate_that_add_up_to_its_total(reseller):
    # Given A's closed January invoice
    account = taxed_account(reseller)
    january = Invoice.objects.get(account=account, billing_date=JAN_1)
    # When the ERP reads it with its taxes
    document = ok(reader(reseller).get(url(reseller, f"/invoices/{january.pk}"), {"include": "taxes"}))
    # Then there is one tax line per rate: 20 % on 100.00 + 50.00 + 24.68 (the usage), 7.5 % on 33.33
    lines = {item["id"]: item for item in document["included"]}
    assert [item["type"] for item in document["included"]] == ["taxes", "taxes"]
    assert lines[f"{january.pk}-2000"]["attributes"] == {
        "invoice_id": january.pk, "tax_percent": "20", "amount_without_tax": "174.68", "amount": "34.94",
        "currency": "EUR"}
    assert lines[f"{january.pk}-750"]["attributes"] == {
        "invoice_id": january.pk, "tax_percent": "7.5", "amount_without_tax": "33.33", "amount": "2.50",
        "currency": "EUR"}
    # And the invoice links exactly these lines, and they add up to its total
    assert document["data"]["relationships"]["taxes"]["data"] == [
        {"id": f"{january.pk}-750", "type": "taxes"}, {"id": f"{january.pk}-2000", "type": "taxes"}]
    assert document["data"]["attributes"]["total"] == "245.45"  # 174.68 + 34.94 + 33.33 + 2.50


def test_an_open_invoice_shows_the_tax_lines_of_its_charges_so_far(reseller):
    account = taxed_account(reseller)
    february = Invoice.objects.get(account=account, billing_date=FEB_1)
    document = ok(reader(reseller).get(url(reseller, f"/invoices/{february.pk}"), {"include": "taxes"}))
    assert {item["id"]: (item["attributes"]["amount_without_tax"], item["attributes"]["amount"])
            for item in document["included"]} == {f"{february.pk}-2000": ("150.00", "30.00"),
                                                  f"{february.pk}-750": ("33.33", "2.50")}


def test_the_taxes_relationship_is_there_without_the_include(reseller):
    account = taxed_account(reseller)
    january = Invoice.objects.get(account=account, billing_date=JAN_1)
    document = ok(reader(reseller).get(url(reseller, f"/invoices/{january.pk}")))
    assert "included" not in document
    assert [link["id"] for link in document["data"]["relationships"]["taxes"]["data"]] == [
        f"{january.pk}-750", f"{january.pk}-2000"]


@pytest.mark.parametrize(("currency", "fee", "net", "tax"), [("JPY", 1_000, "1000", "200"),
                                                             ("KWD", 1_000, "1.000", "0.200")])
def test_tax_lines_are_in_the_currency_precision(db, currency, fee, net, tax):
    reseller = ResellerFactory(currency=currency)
    account = AccountFactory(reseller=reseller)
    SubscriptionFactory(account=account, fee=fee, tax_rate_bp=2000)
    bill(reseller, CLOSING_DAY)
    january = Invoice.objects.get(account=account, billing_date=JAN_1)
    [line] = ok(reader(reseller).get(url(reseller, f"/invoices/{january.pk}"), {"include": "taxes"}))["included"]
    assert (line["attributes"]["amount_without_tax"], line["attributes"]["amount"],
            line["attributes"]["currency"]) == (net, tax, currency)


def test_include_corrections_adds_nothing(reseller):
    account = taxed_account(reseller)
    january = Invoice.objects.get(account=account, billing_date=JAN_1)
    document = ok(reader(reseller).get(url(reseller, f"/invoices/{january.pk}"), {"include": "corrections"}))
    assert document["included"] == []


def test_a_bad_invoice_include_is_still_refused_by_name(reseller):
    account = taxed_account(reseller)
    january = Invoice.objects.get(account=account, billing_date=JAN_1)
    api = reader(reseller)
    refused_over_http(lambda: api.get(url(reseller, f"/invoices/{january.pk}"), {"include": "tax"}),
                      400, "INVOICE-0001", parameter="include")


def test_the_invoice_list_includes_the_taxes_of_the_page_in_queries_that_do_not_grow_with_it(reseller):
    # Given six accounts of the tax story (twelve invoices)
    accounts = taxed_accounts(reseller, 6)
    api = reader(reseller)

    def list_taxes(size: int) -> dict:
        return ok(api.get(url(reseller, "/invoices"), {"include": "taxes", "page[size]": size}))

    list_taxes(1)  # the token's first use is recorded once
    # When the ERP lists the invoices with their taxes, in pages of 2 and of 12
    with CaptureQueriesContext(connection) as small_page:
        list_taxes(2)
    with CaptureQueriesContext(connection) as large_page:
        document = list_taxes(12)
    # Then each invoice brings its two tax lines, in as many queries for 12 invoices as for 2
    assert len(large_page) == len(small_page)
    assert len(document["data"]) == 12
    assert sorted(item["id"] for item in document["included"]) == sorted(
        f"{invoice.pk}-{rate}" for invoice in Invoice.objects.filter(account__in=accounts) for rate in (750, 2000))


# --- 2. payments include payment_method, reseller, charges, corrections --------------------------------------


def paid_payments(reseller, count: int) -> list:
    """The January payments of ``count`` tax-story accounts (default mode), each approved by a manager as paid by
    bank transfer."""
    method = create_payment_method(reseller, name="Bank transfer", actor=MANAGER, now=at(CLOSING_DAY))
    payments = []
    for account in taxed_accounts(reseller, count):
        payment = Invoice.objects.get(account=account, billing_date=JAN_1).payment
        payments.append(approve_payment(payment, payment_method=method, actor=MANAGER, now=at(CLOSING_DAY)))
    return payments


def test_a_payment_includes_its_method_reseller_and_the_charges_of_its_invoice(reseller):
    # Given A's January payment, paid by bank transfer
    [payment] = paid_payments(reseller, 1)
    # When the ERP reads it with every relation the reference names
    document = ok(reader(reseller).get(url(reseller, f"/payments/{payment.pk}"),
                                       {"include": "payment_method,reseller,charges,corrections"}))
    # Then the method, the reseller and the invoice's four charges come in full, and no correction
    relationships = document["data"]["relationships"]
    charge_ids = [str(pk) for pk in payment.invoice.charges.order_by("id").values_list("id", flat=True)]
    assert relationships["payment_method"]["data"] == {"id": str(payment.payment_method_id), "type": "payment_methods"}
    assert relationships["reseller"]["data"] == {"id": str(reseller.pk), "type": "resellers"}
    assert [link["id"] for link in relationships["charges"]["data"]] == charge_ids
    assert relationships["corrections"]["data"] == []
    included = {(item["type"], item["id"]): item["attributes"] for item in document["included"]}
    assert set(included) == {("payment_methods", str(payment.payment_method_id)), ("resellers", str(reseller.pk)),
                             *(("charges", charge_id) for charge_id in charge_ids)}
    assert included["payment_methods", str(payment.payment_method_id)] == {
        "name": "Bank transfer", "kind": "manual", "active": True, "reseller_id": reseller.pk, "connector_id": None}
    assert included["resellers", str(reseller.pk)] == {
        "name": reseller.name, "currency": "EUR", "timezone": "UTC", "external_invoices": False,
        "created_at": "2026-01-01T00:00:00+00:00"}
    assert sorted(attributes["net_amount"] for (kind, _), attributes in included.items() if kind == "charges") == [
        "100.00", "24.68", "33.33", "50.00"]


def test_a_top_up_has_no_charges_and_no_method_until_paid(reseller):
    top_up = AccountFactory(reseller=reseller, balance=5_000).payments.get()
    document = ok(reader(reseller).get(url(reseller, f"/payments/{top_up.pk}"),
                                       {"include": "payment_method,charges"}))
    assert document["data"]["relationships"]["charges"]["data"] == []
    assert document["included"] == []


@pytest.mark.parametrize("include", ["invoices", "account", "payment_method", "reseller", "charges", "corrections",
                                     "invoices,account,payment_method,reseller,charges,corrections"])
def test_every_payment_include_takes_as_many_queries_for_a_large_page_as_for_a_small_one(reseller, include):
    # Given six paid payments
    payments = paid_payments(reseller, 6)
    api = reader(reseller)

    def list_payments(size: int) -> dict:
        return ok(api.get(url(reseller, "/payments"), {"include": include, "page[size]": size}))

    list_payments(1)  # the token's first use is recorded once
    # When the ERP lists them with the include, in pages of 2 and of 6
    with CaptureQueriesContext(connection) as small_page:
        list_payments(2)
    with CaptureQueriesContext(connection) as large_page:
        document = list_payments(6)
    # Then the large page costs no more queries, and brings the relations of all six
    assert len(large_page) == len(small_page)
    assert ids_of(document["data"]) == [payment.pk for payment in payments]
    kinds = {item["type"] for item in document["included"]}
    expected = {"invoices": {"invoices"}, "account": {"accounts"}, "payment_method": {"payment_methods"},
                "reseller": {"resellers"}, "charges": {"charges"}, "corrections": set()}
    assert kinds == set().union(*(expected[part] for part in include.split(",")))
    if include == "charges":
        assert len(document["included"]) == 6 * 4


def test_a_bad_payment_include_is_refused_by_name(reseller):
    [payment] = paid_payments(reseller, 1)
    api = reader(reseller)
    refused_over_http(lambda: api.get(url(reseller, f"/payments/{payment.pk}"), {"include": "orders"}),
                      400, "PAYMENT-0001", parameter="include")


def ids_of(data: list[dict]) -> list[int]:
    return [int(item["id"]) for item in data]
