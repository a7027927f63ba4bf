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
from arrears.invoices.models import Invoice
from tests.api.conftest import MEDIA_TYPE, ApiClient, refused_over_http, token_for
from tests.conftest import at, bill
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
