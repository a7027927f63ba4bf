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
from arrears.catalog.services import create_plan
from arrears.charges.models import Charge
from arrears.core.actors import SYSTEM
from arrears.customers.models import Account
from arrears.gateways.services import create_payment_method
from arrears.invoices.models import Invoice
from arrears.invoices.services import approve_invoice, complete_invoice_payment, post_usage_charge
from arrears.payments.models import Payment
from arrears.payments.services import approve_payment, top_up_balance
from arrears.subscriptions.models import Subscription
from arrears.subscriptions.services import create_subscription
from tests.api.conftest import MEDIA_TYPE, ApiClient, refused_over_http, token_for
from tests.conftest import MANAGER, at, bill
from tests.factories import AccountFactory, ResellerFactory, SubscriptionFactory
from tests.service_support import invoices_of

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
        post_usage_charge(
            first,
            description="Traffic",
            quantity="2",
            unit_price=1234,
            usage_date=date(2026, 1, 15),
            actor=SYSTEM,
            now=at(date(2026, 1, 15)),
        )
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
        "invoice_id": january.pk,
        "tax_percent": "20",
        "amount_without_tax": "174.68",
        "amount": "34.94",
        "currency": "EUR",
    }
    assert lines[f"{january.pk}-750"]["attributes"] == {
        "invoice_id": january.pk,
        "tax_percent": "7.5",
        "amount_without_tax": "33.33",
        "amount": "2.50",
        "currency": "EUR",
    }
    # And the invoice links exactly these lines, and they add up to its total
    assert document["data"]["relationships"]["taxes"]["data"] == [
        {"id": f"{january.pk}-750", "type": "taxes"},
        {"id": f"{january.pk}-2000", "type": "taxes"},
    ]
    assert document["data"]["attributes"]["total"] == "245.45"  # 174.68 + 34.94 + 33.33 + 2.50


def test_an_open_invoice_shows_the_tax_lines_of_its_charges_so_far(reseller):
    account = taxed_account(reseller)
    february = Invoice.objects.get(account=account, billing_date=FEB_1)
    document = ok(reader(reseller).get(url(reseller, f"/invoices/{february.pk}"), {"include": "taxes"}))
    assert {
        item["id"]: (item["attributes"]["amount_without_tax"], item["attributes"]["amount"])
        for item in document["included"]
    } == {f"{february.pk}-2000": ("150.00", "30.00"), f"{february.pk}-750": ("33.33", "2.50")}


def test_the_taxes_relationship_is_there_without_the_include(reseller):
    account = taxed_account(reseller)
    january = Invoice.objects.get(account=account, billing_date=JAN_1)
    document = ok(reader(reseller).get(url(reseller, f"/invoices/{january.pk}")))
    assert "included" not in document
    assert [link["id"] for link in document["data"]["relationships"]["taxes"]["data"]] == [
        f"{january.pk}-750",
        f"{january.pk}-2000",
    ]


@pytest.mark.parametrize(
    ("currency", "fee", "net", "tax"), [("JPY", 1_000, "1000", "200"), ("KWD", 1_000, "1.000", "0.200")]
)
def test_tax_lines_are_in_the_currency_precision(db, currency, fee, net, tax):
    reseller = ResellerFactory(currency=currency)
    account = AccountFactory(reseller=reseller)
    SubscriptionFactory(account=account, fee=fee, tax_rate_bp=2000)
    bill(reseller, CLOSING_DAY)
    january = Invoice.objects.get(account=account, billing_date=JAN_1)
    [line] = ok(reader(reseller).get(url(reseller, f"/invoices/{january.pk}"), {"include": "taxes"}))["included"]
    assert (line["attributes"]["amount_without_tax"], line["attributes"]["amount"], line["attributes"]["currency"]) == (
        net,
        tax,
        currency,
    )


def test_include_corrections_adds_nothing(reseller):
    account = taxed_account(reseller)
    january = Invoice.objects.get(account=account, billing_date=JAN_1)
    document = ok(reader(reseller).get(url(reseller, f"/invoices/{january.pk}"), {"include": "corrections"}))
    assert document["included"] == []


def test_a_bad_invoice_include_is_still_refused_by_name(reseller):
    account = taxed_account(reseller)
    january = Invoice.objects.get(account=account, billing_date=JAN_1)
    api = reader(reseller)
    refused_over_http(
        lambda: api.get(url(reseller, f"/invoices/{january.pk}"), {"include": "tax"}),
        400,
        "INVOICE-0001",
        parameter="include",
    )


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
        f"{invoice.pk}-{rate}" for invoice in Invoice.objects.filter(account__in=accounts) for rate in (750, 2000)
    )


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
    document = ok(
        reader(reseller).get(
            url(reseller, f"/payments/{payment.pk}"), {"include": "payment_method,reseller,charges,corrections"}
        )
    )
    # Then the method, the reseller and the invoice's four charges come in full, and no correction
    relationships = document["data"]["relationships"]
    charge_ids = [str(pk) for pk in payment.invoice.charges.order_by("id").values_list("id", flat=True)]
    assert relationships["payment_method"]["data"] == {"id": str(payment.payment_method_id), "type": "payment_methods"}
    assert relationships["reseller"]["data"] == {"id": str(reseller.pk), "type": "resellers"}
    assert [link["id"] for link in relationships["charges"]["data"]] == charge_ids
    assert relationships["corrections"]["data"] == []
    included = {(item["type"], item["id"]): item["attributes"] for item in document["included"]}
    assert set(included) == {
        ("payment_methods", str(payment.payment_method_id)),
        ("resellers", str(reseller.pk)),
        *(("charges", charge_id) for charge_id in charge_ids),
    }
    assert included["payment_methods", str(payment.payment_method_id)] == {
        "name": "Bank transfer",
        "kind": "manual",
        "active": True,
        "reseller_id": reseller.pk,
        "connector_id": None,
    }
    assert included["resellers", str(reseller.pk)] == {
        "name": reseller.name,
        "currency": "EUR",
        "timezone": "UTC",
        "external_invoices": False,
        "created_at": "2026-01-01T00:00:00+00:00",
    }
    assert sorted(attributes["net_amount"] for (kind, _), attributes in included.items() if kind == "charges") == [
        "100.00",
        "24.68",
        "33.33",
        "50.00",
    ]


def test_a_top_up_has_no_charges_and_no_method_until_paid(reseller):
    top_up = AccountFactory(reseller=reseller, balance=5_000).payments.get()
    document = ok(reader(reseller).get(url(reseller, f"/payments/{top_up.pk}"), {"include": "payment_method,charges"}))
    assert document["data"]["relationships"]["charges"]["data"] == []
    assert document["included"] == []


@pytest.mark.parametrize(
    "include",
    [
        "invoices",
        "account",
        "payment_method",
        "reseller",
        "charges",
        "corrections",
        "invoices,account,payment_method,reseller,charges,corrections",
    ],
)
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
    expected = {
        "invoices": {"invoices"},
        "account": {"accounts"},
        "payment_method": {"payment_methods"},
        "reseller": {"resellers"},
        "charges": {"charges"},
        "corrections": set(),
    }
    assert kinds == set().union(*(expected[part] for part in include.split(",")))
    if include == "charges":
        assert len(document["included"]) == 6 * 4


def test_a_bad_payment_include_is_refused_by_name(reseller):
    [payment] = paid_payments(reseller, 1)
    api = reader(reseller)
    refused_over_http(
        lambda: api.get(url(reseller, f"/payments/{payment.pk}"), {"include": "orders"}),
        400,
        "PAYMENT-0001",
        parameter="include",
    )


def ids_of(data: list[dict]) -> list[int]:
    return [int(item["id"]) for item in data]


# --- 3. every list sorts by every documented attribute -------------------------------------------------------
#
# The sort story: accounts under three account classes, subscribed on 2026-01-01 on billing days 1, 15 and 28
# (three plans, three service terms), one usage charge, and a fourth account that topped up its balance; billed
# until 2026-02-02. For the attribute under test every row of the resource is given its own value (one of them
# null where the column allows it) in an order unlike the ids', unless the story already varies it (keys,
# statuses that constraints tie to other columns); the list must then come in that order, ties by id.

WORDS = [
    "Juliet",
    "Alpha",
    "Hotel",
    "Delta",
    "Lima",
    "Bravo",
    "Kilo",
    "Echo",
    "India",
    "Charlie",
    "Golf",
    "Foxtrot",
    "Mike",
    "November",
]
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
        Payment.objects.filter(pk=payment.pk).update(
            external_total=external, external_currency=None if external is None else payment.currency
        )


SORTED_LISTS = {
    "/invoices": (
        Invoice,
        InvoiceListQuery,
        {
            "id": NATURAL,
            "status": NATURAL,
            "account_id": NATURAL,
            "payment_model": lambda: _assign_choices(Invoice, "payment_model", ["prepay", "postpay"]),
            "currency": _column(Invoice, "currency", "currency"),
            "external_currency": lambda: _assign(Invoice, "external_currency", "currency", nullable=True),
            "approved": _approved_alternately,
            "has_attached": lambda: _assign_choices(Invoice, "attachment_kind", ["link", "", "file"]),
            "due_date": _due_dates_together,
        },
    ),
    "/payments": (
        Payment,
        PaymentListQuery,
        {
            "id": NATURAL,
            "type": NATURAL,
            "account_id": NATURAL,
            "invoice_id": NATURAL,
            "status": lambda: _assign_choices(Payment, "status", ["expired", "cancelled", "processing", "completed"]),
            "currency_code": _column(Payment, "currency", "currency"),
            "external_currency": lambda: _assign(Payment, "external_currency", "currency", nullable=True),
            "due_date": _due_dates_together,
            "expiration_date": _due_dates_together,
            "balance_payment_allowed": _external_totals_against_totals,
        },
    ),
    "/charges": (
        Charge,
        ChargeListQuery,
        {
            "id": NATURAL,
            "kind": NATURAL,
            "account_id": NATURAL,
            "subscription_id": NATURAL,
            "invoice_id": NATURAL,
            "status": lambda: _assign_choices(Charge, "status", ["new", "closed", "deleted", "blocked"]),
            "tax_rate": _column(Charge, "tax_rate_bp", "int"),
        },
    ),
    "/accounts": (Account, AccountListQuery, {"id": NATURAL, "account_class_id": NATURAL}),
    "/subscriptions": (
        Subscription,
        SubscriptionListQuery,
        {
            "id": NATURAL,
            "account_id": NATURAL,
            "plan_id": NATURAL,
            "status": lambda: _assign_choices(Subscription, "status", ["stopped", "active", "blocked"]),
        },
    ),
    "/plans": (
        Plan,
        PlanListQuery,
        {
            "id": NATURAL,
            "service_term_id": NATURAL,
            "billing_day": NATURAL,
            "tax_rate": _column(Plan, "tax_rate_bp", "int"),
        },
    ),
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
FIELD_KINDS = {
    "BigIntegerField": "int",
    "PositiveIntegerField": "int",
    "PositiveSmallIntegerField": "int",
    "DateField": "date",
    "DateTimeField": "datetime",
    "CharField": "text",
    "TextField": "text",
    "EmailField": "text",
    "BooleanField": "bool",
}


def _sort_choices(query) -> list[str]:
    return [
        choice
        for choice in typing.get_args(typing.get_args(query.model_fields["sort"].annotation)[0])
        if not choice.startswith("-")
    ]


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
    post_usage_charge(
        subscription,
        description="Traffic",
        quantity="3",
        unit_price=250,
        usage_date=date(2026, 1, 20),
        external_id="usage-1",
        actor=SYSTEM,
        now=at(date(2026, 1, 20)),
    )
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


# --- 4. filter[updated_at][gt|lt]: the ERP's incremental sync ------------------------------------------------
#
# The sync story: an ERP reseller with accounts A and B subscribed on 2026-01-31 and billed until 2026-02-02;
# on 2026-02-03 one row of each resource changes at its own hour, through its service, and the ERP asks each list
# for what changed since just before.

LISTS = ["/invoices", "/payments", "/charges", "/accounts", "/subscriptions", "/plans"]


def changed_since(api, reseller, path: str, moment) -> list[int]:
    return ids_of(
        ok(api.get(url(reseller, path), {"filter[updated_at][gt]": moment.isoformat(), "page[size]": 500}))["data"]
    )


def unchanged_before(api, reseller, path: str, moment) -> list[int]:
    return ids_of(
        ok(api.get(url(reseller, path), {"filter[updated_at][lt]": moment.isoformat(), "page[size]": 500}))["data"]
    )


def test_each_list_answers_exactly_the_row_its_service_changed_since_a_moment(erp_reseller):
    a, b = AccountFactory(reseller=erp_reseller), AccountFactory(reseller=erp_reseller)
    jan_a, _ = invoices_of(a, b)
    api = reader(erp_reseller)
    day = date(2026, 2, 3)

    def after_change(path: str, hour: int, change) -> None:
        """``change`` at ``hour``:30 changes one row of ``path``'s resource: the list since ``hour``:00 is exactly
        that row, the list before it every other row."""
        before = at(day, hour)
        changed = change(before + timedelta(minutes=30))
        assert changed_since(api, erp_reseller, path, before) == [changed.pk], path
        others = unchanged_before(api, erp_reseller, path, before)
        assert changed.pk not in others and others, path

    after_change(
        "/invoices",
        8,
        lambda now: approve_invoice(jan_a, document_id="NS-A", billing_date=JAN_1, actor=MANAGER, now=now),
    )
    after_change(
        "/payments",
        9,
        lambda now: (
            complete_invoice_payment(jan_a, document_id="NS-A", billing_date=JAN_1, actor=MANAGER, now=now).payment
        ),
    )
    subscription_b = Subscription.objects.get(account=b)
    after_change(
        "/charges",
        10,
        lambda now: post_usage_charge(
            subscription_b, description="Traffic", quantity="1", unit_price=100, usage_date=day, actor=SYSTEM, now=now
        )[0],
    )
    after_change(
        "/accounts", 11, lambda now: Account.objects.get(pk=top_up_balance(b, 1_000, actor=MANAGER, now=now).account_id)
    )
    after_change(
        "/plans",
        12,
        lambda now: create_plan(reseller=erp_reseller, name="Gold", fee=1_000, billing_day=1, actor=MANAGER, now=now),
    )
    after_change(
        "/subscriptions",
        13,
        lambda now: create_subscription(
            account=a, plan=Plan.objects.get(name="Gold"), start_date=date(2026, 2, 10), actor=MANAGER, now=now
        ),
    )


def test_a_billing_day_stamps_the_rows_it_writes(reseller):
    # Given default-mode accounts A (with 300.00 EUR on its balance) and B, their January invoices closed on
    # 2026-02-02 with payments due 2026-02-11
    a, b = AccountFactory(reseller=reseller, balance=30_000), AccountFactory(reseller=reseller)
    jan_a, jan_b = invoices_of(a, b)
    api = reader(reseller)
    before = at(date(2026, 2, 10))
    # When the billing day 2026-02-11 runs: the balance pays A's payment
    bill(reseller, date(2026, 2, 11))
    # Then since the day before, exactly A's account and payment changed, and no invoice or charge
    assert changed_since(api, reseller, "/accounts", before) == [a.pk]
    assert changed_since(api, reseller, "/payments", before) == [jan_a.payment.pk]
    assert changed_since(api, reseller, "/invoices", before) == []
    assert changed_since(api, reseller, "/charges", before) == []
    # When the billing day 2026-03-01 closes the February charges and opens March with new ones
    february_charges = set(Charge.objects.filter(invoice__billing_date=FEB_1).values_list("id", flat=True))
    before = at(date(2026, 2, 28))
    bill(reseller, date(2026, 3, 1))
    # Then the charges since the day before are exactly those it closed and created, stamped with its business time
    march_charges = set(Charge.objects.filter(invoice__billing_date=date(2026, 3, 1)).values_list("id", flat=True))
    assert len(february_charges) == len(march_charges) == 2
    changed = changed_since(api, reseller, "/charges", before)
    assert set(changed) == february_charges | march_charges
    document = ok(api.get(url(reseller, f"/charges/{min(march_charges)}")))
    assert document["data"]["attributes"]["updated_at"] == "2026-03-01T00:00:00+00:00"


def test_updated_at_is_an_attribute_of_every_resource_of_the_lists(reseller):
    a = AccountFactory(reseller=reseller)
    invoices_of(a)
    api = reader(reseller)
    for path in LISTS:
        data = ok(api.get(url(reseller, path)))["data"]
        assert data and all(item["attributes"]["updated_at"] for item in data), path


def test_an_rfc_3339_moment_with_an_offset_compares_as_the_same_instant(reseller):
    a = AccountFactory(reseller=reseller, balance=1_000)  # created at T0 = 2026-01-01T00:00Z
    api = reader(reseller)
    for moment, listed in (("2025-12-31T23:59:59-01:00", []), ("2026-01-01T00:59:59+01:00", [a.pk])):
        document = ok(api.get(url(reseller, "/accounts"), {"filter[updated_at][gt]": moment}))
        assert ids_of(document["data"]) == listed, moment


LIST_CODES = {
    "/invoices": "INVOICE-0001",
    "/payments": "PAYMENT-0001",
    "/charges": "CHARGE-0001",
    "/accounts": "ACCOUNT-0001",
    "/subscriptions": "SUBSCRIPTION-0001",
    "/plans": "PLAN-0001",
}


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("operator", ["gt", "lt"])
@pytest.mark.parametrize("moment", ["yesterday", "2026-02-30T00:00:00Z", "1770000000", "2026-02-03T25:00:00Z"])
def test_a_malformed_updated_at_bound_is_refused_by_name(reseller, path, operator, moment):
    api = reader(reseller)
    parameter = f"filter[updated_at][{operator}]"
    refused_over_http(
        lambda: api.get(url(reseller, path), {parameter: moment}), 400, LIST_CODES[path], parameter=parameter
    )
