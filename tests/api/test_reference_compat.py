"""Reference compatibility (ActivePlatform API v3, issue 12): invoice tax lines, the payment's includes, a sort
on every documented attribute of every list, and the ERP's incremental sync by ``filter[updated_at]``.

The tax story: account A subscribes on 2026-01-01 to two plans at 20 % (100.00 and 50.00 EUR a month) and one at
7.5 % (33.33 EUR), posts usage of 2 × 12.34 EUR on the first 20 % subscription on 2026-01-15, and is billed until
2026-02-02: its January invoice is closed, its February invoice open with the three recurring fees.
"""

import typing
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from arrears.api.schemas import (
    AccountListQuery,
    ChargeListQuery,
    InvoiceListQuery,
    PaymentListQuery,
    PlanListQuery,
    SubscriptionListQuery,
)
from arrears.catalog.models import Plan
from arrears.charges.models import Charge
from arrears.charges.services import post_usage_charge
from arrears.core.actors import SYSTEM
from arrears.customers.models import Account
from arrears.gateways.services import create_payment_method
from arrears.invoices.models import Invoice
from arrears.payments.models import Payment
from arrears.payments.services import approve_payment
from arrears.subscriptions.models import Subscription
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


# --- 3. every list sorts by every documented attribute -------------------------------------------------------
#
# The sort story: accounts under three account classes, subscribed on 2026-01-01 on billing days 1, 15 and 28
# (three plans, three service terms), one usage charge, and a fourth account that topped up its balance; billed
# until 2026-02-02. For the attribute under test every row of the resource is given its own value (one of them
# null where the column allows it) in an order unlike the ids', unless the story already varies it (keys,
# statuses that constraints tie to other columns); the list must then come in that order, ties by id.

WORDS = ["Juliet", "Alpha", "Hotel", "Delta", "Lima", "Bravo", "Kilo", "Echo", "India", "Charlie", "Golf",
         "Foxtrot", "Mike", "November"]
CURRENCIES = ["SEK", "CHF", "USD", "EUR", "NOK", "AUD", "JPY", "GBP", "PLN", "CAD", "DKK", "CZK"]
NATURAL = "natural"  # the story varies it already


def _values(kind: str, count: int, *, nullable: bool) -> list:
    """``count`` distinct values of ``kind`` in an order unlike their rows' ids, one null in the middle if
    ``nullable``."""
    shuffled = [(index * 5 + 2) % count for index in range(count)] if count % 5 else list(reversed(range(count)))
    pools = {
        "int": lambda n: n + 1,
        "date": lambda n: date(2026, 1, 1) + timedelta(days=n),
        "datetime": lambda n: at(date(2026, 1, 1)) + timedelta(hours=n),
        "text": lambda n: WORDS[n],
        "currency": lambda n: CURRENCIES[n],
        "bool": lambda n: n % 2 == 0,
    }
    values = [pools[kind](n) for n in shuffled]
    if nullable:
        values[count // 2] = None
    return values


def _assign(model, column: str, kind: str, *, nullable: bool = False, together: tuple[str, ...] = ()) -> None:
    rows = list(model.objects.order_by("id").values_list("id", flat=True))
    for row_id, value in zip(rows, _values(kind, len(rows), nullable=nullable), strict=True):
        model.objects.filter(pk=row_id).update(**{name: value for name in (column, *together)})


def _assign_choices(model, column: str, choices: list[str]) -> None:
    for index, row_id in enumerate(model.objects.order_by("-id").values_list("id", flat=True)):
        model.objects.filter(pk=row_id).update(**{column: choices[index % len(choices)]})


def _column(model, column: str, kind: str):
    return lambda: _assign(model, column, kind, nullable=model._meta.get_field(column).null)


def _approved_alternately():
    Invoice.objects.update(managed_externally=True)  # approval exists only for ERP invoices
    _assign(Invoice, "approved", "bool")


def _due_dates_together():
    _assign(Payment, "due_date", "date", nullable=True, together=("expiration_date",))


def _external_totals_against_totals():
    """Some payments state no external total, some the same total and currency, some another amount."""
    for index, payment in enumerate(Payment.objects.order_by("-id")):
        external = [None, payment.total, payment.total + 1][index % 3]
        Payment.objects.filter(pk=payment.pk).update(external_total=external,
                                                     external_currency=None if external is None else payment.currency)


SORTED_LISTS = {
    "/invoices": (Invoice, InvoiceListQuery, {
        "id": NATURAL, "status": NATURAL, "account_id": NATURAL,
        "payment_model": lambda: _assign_choices(Invoice, "payment_model", ["prepay", "postpay"]),
        "currency": _column(Invoice, "currency", "currency"),
        "external_currency": lambda: _assign(Invoice, "external_currency", "currency", nullable=True),
        "approved": _approved_alternately,
        "has_attached": lambda: _assign_choices(Invoice, "attachment_kind", ["link", "", "file"]),
        "due_date": _due_dates_together,
    }),
    "/payments": (Payment, PaymentListQuery, {
        "id": NATURAL, "type": NATURAL, "account_id": NATURAL, "invoice_id": NATURAL,
        "status": lambda: _assign_choices(Payment, "status", ["expired", "cancelled", "processing", "completed"]),
        "currency_code": _column(Payment, "currency", "currency"),
        "external_currency": lambda: _assign(Payment, "external_currency", "currency", nullable=True),
        "due_date": _due_dates_together, "expiration_date": _due_dates_together,
        "balance_payment_allowed": _external_totals_against_totals,
    }),
    "/charges": (Charge, ChargeListQuery, {
        "id": NATURAL, "kind": NATURAL, "account_id": NATURAL, "subscription_id": NATURAL, "invoice_id": NATURAL,
        "status": lambda: _assign_choices(Charge, "status", ["new", "closed", "deleted", "blocked"]),
        "tax_rate": _column(Charge, "tax_rate_bp", "int"),
    }),
    "/accounts": (Account, AccountListQuery, {"id": NATURAL, "account_class_id": NATURAL}),
    "/subscriptions": (Subscription, SubscriptionListQuery, {
        "id": NATURAL, "account_id": NATURAL, "plan_id": NATURAL,
        "status": lambda: _assign_choices(Subscription, "status", ["stopped", "active", "blocked"]),
    }),
    "/plans": (Plan, PlanListQuery, {"id": NATURAL, "service_term_id": NATURAL, "billing_day": NATURAL,
                                     "tax_rate": _column(Plan, "tax_rate_bp", "int")}),
}
# What each sort orders by, read back from the rows (for the sorts not named like a column).
SORT_KEYS = {
    ("/invoices", "has_attached"): lambda invoice: invoice.has_attached,
    ("/invoices", "due_date"): lambda invoice: invoice.payment.due_date if hasattr(invoice, "payment") else None,
    ("/payments", "currency_code"): lambda payment: payment.currency,
    ("/payments", "balance_payment_allowed"): lambda payment: payment.balance_payment_allowed,
    ("/charges", "tax_rate"): lambda charge: charge.tax_rate_bp,
    ("/plans", "tax_rate"): lambda plan: plan.tax_rate_bp,
    ("/plans", "billing_day"): lambda plan: plan.service_term.billing_day,
}
# Attributes of which the story can hold only two values (the billing engine makes no setup charges).
TWO_VALUED = {("/invoices", "status"), ("/invoices", "payment_model"), ("/payments", "type"), ("/charges", "kind")}
FIELD_KINDS = {"BigIntegerField": "int", "PositiveIntegerField": "int", "PositiveSmallIntegerField": "int",
               "DateField": "date", "DateTimeField": "datetime", "CharField": "text", "TextField": "text",
               "EmailField": "text", "BooleanField": "bool"}


def _sort_choices(query) -> list[str]:
    return [choice for choice in typing.get_args(typing.get_args(query.model_fields["sort"].annotation)[0])
            if not choice.startswith("-")]


SORT_CASES = [(path, sort) for path, (_, query, _) in SORTED_LISTS.items() for sort in _sort_choices(query)]


def _arrangement(path: str, sort: str):
    model, _, special = SORTED_LISTS[path]
    if sort in special:
        return special[sort]
    field = model._meta.get_field(sort)  # a sort named like its column; any other needs an entry above
    return _column(model, sort, FIELD_KINDS[type(field).__name__])


@pytest.fixture
def sort_story(reseller):
    for billing_day, expiration_days in ((1, 10), (15, 20), (28, 30)):
        account = AccountFactory(reseller=reseller, expiration_days=expiration_days)
        subscription = SubscriptionFactory(account=account, billing_day=billing_day, tax_rate_bp=1000 + billing_day)
    post_usage_charge(subscription, description="Traffic", quantity="3", unit_price=250,
                      usage_date=date(2026, 1, 20), external_id="usage-1", actor=SYSTEM, now=at(date(2026, 1, 20)))
    AccountFactory(reseller=reseller, balance=5_000)
    bill(reseller, CLOSING_DAY)
    return reseller


@pytest.mark.parametrize(("path", "sort"), SORT_CASES, ids=[f"{path[1:]}-{sort}" for path, sort in SORT_CASES])
def test_a_list_sorts_by_each_documented_attribute_both_ways(sort_story, path, sort):
    # Given rows of the resource whose values of the attribute differ (in an order unlike their ids)
    model, _, _ = SORTED_LISTS[path]
    arrange = _arrangement(path, sort)
    if arrange is not NATURAL:
        arrange()
    key = SORT_KEYS.get((path, sort), lambda row: getattr(row, sort))
    rows = list(model.objects.filter(reseller=sort_story).order_by("id"))
    values = [key(row) for row in rows]
    two_valued = (path, sort) in TWO_VALUED or all(isinstance(value, bool) for value in values)
    assert len(set(values)) >= (2 if two_valued else 3), values
    # When the ERP lists them sorted by it, ascending and descending
    api = reader(sort_story)
    ascending = ids_of(ok(api.get(url(sort_story, path), {"sort": sort, "page[size]": 500}))["data"])
    descending = ids_of(ok(api.get(url(sort_story, path), {"sort": f"-{sort}", "page[size]": 500}))["data"])
    # Then they come in the order of the values (null first), ties by id, and exactly reversed when descending
    expected = [row.pk for row in sorted(rows, key=lambda row: (key(row) is not None, key(row), row.pk))]
    assert ascending == expected, values
    assert descending == expected[::-1]
