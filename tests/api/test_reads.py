"""Read operations over HTTP (erp-api.md, "Read operations"): invoices, payments, charges and plans.

The story: an ERP reseller with accounts A and B subscribed on 2026-01-31 and billed until 2026-02-02. Each
has a closed January invoice (100.00 EUR, billing_date 2026-01-01) and an open February one (billing_date
2026-02-01). The ERP approved A's January invoice on 2026-02-03 with due date 2026-02-20, an external total
of 15800 JPY and a link; B's waits for approval. Account C topped up its balance on 2026-01-01 (a completed
top-up payment). Every call happens on 2026-02-03.
"""

from dataclasses import dataclass
from datetime import date

import pytest
import time_machine

from arrears.catalog.services import create_plan
from arrears.charges.models import Charge
from arrears.core.actors import SYSTEM
from arrears.invoices.models import Invoice
from arrears.payments.models import Payment
from arrears.subscriptions.models import Subscription
from arrears.tenants.models import Reseller
from tests.api.conftest import MEDIA_TYPE, ApiClient, refused_over_http, token_for
from tests.conftest import at
from tests.factories import T0, AccountFactory, ResellerFactory
from tests.service_support import APPROVAL_DAY, JAN_1, approved, invoices_of

UNKNOWN_ID = 987_654_321
LINK = {"name": "INV-A", "data": "https://erp.example.com/inv/a.pdf"}


@dataclass
class Story:
    reseller: Reseller
    api: ApiClient
    invoices: dict[str, Invoice]  # jan_a (approved), jan_b (waiting), feb_a, feb_b (open)
    payments: dict[str, Payment]  # a, b (of the January invoices), top_up (account C)
    charges: dict[str, Charge]  # jan_a, jan_b (closed), feb_a, feb_b (blocked on the open invoices)
    subscriptions: dict[str, Subscription]

    def url(self, path: str) -> str:
        return f"/api/v3/resellers/{self.reseller.pk}{path}"

    def get(self, path: str, params: dict | None = None):
        return self.api.get(self.url(path), params)


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(at(APPROVAL_DAY), tick=False):
        yield


@pytest.fixture
def story(erp_reseller) -> Story:
    a, b = AccountFactory(reseller=erp_reseller), AccountFactory(reseller=erp_reseller)
    jan_a, jan_b = invoices_of(a, b)
    approved(
        jan_a, document_id="NS-A", due_date=date(2026, 2, 20), amount={"total": "15800", "currency": "JPY"}, link=LINK
    )
    top_up = AccountFactory(reseller=erp_reseller, balance=5_000).payments.get()
    invoices = {
        "jan_a": jan_a,
        "jan_b": jan_b,
        "feb_a": Invoice.objects.get(account=a, billing_date=date(2026, 2, 1)),
        "feb_b": Invoice.objects.get(account=b, billing_date=date(2026, 2, 1)),
    }
    invoices = {name: Invoice.objects.select_related("payment").get(pk=i.pk) for name, i in invoices.items()}
    return Story(
        reseller=erp_reseller,
        api=ApiClient(token_for(erp_reseller, scopes=["read"])),
        invoices=invoices,
        payments={"a": invoices["jan_a"].payment, "b": invoices["jan_b"].payment, "top_up": top_up},
        charges={name: Charge.objects.get(invoice=invoice) for name, invoice in invoices.items()},
        subscriptions={"a": Subscription.objects.get(account=a), "b": Subscription.objects.get(account=b)},
    )


def ok(response) -> dict:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == MEDIA_TYPE
    return response.json()


def ids(document: dict) -> list[int]:
    return [int(item["id"]) for item in document["data"]]


def named(objects: dict, *names: str) -> list[int]:
    return [objects[name].pk for name in names]


def listed(story: Story, path: str, params: dict) -> list[int]:
    """All ids the list answers for ``params`` in one page, after checking ``meta.total`` agrees."""
    document = ok(story.get(path, {**params, "page[size]": 500}))
    assert document["meta"]["total"] == len(document["data"])
    return ids(document)


# --- Invoices ------------------------------------------------------------------------------------------------


def test_get_invoice_answers_every_contract_attribute(story):
    # Given A's January invoice approved by the ERP as NS-A
    invoice = story.invoices["jan_a"]
    # When the ERP reads it
    document = ok(story.get(f"/invoices/{invoice.pk}"))
    # Then it carries the attributes of the contract, money in the currency's precision
    data = document["data"]
    assert (data["id"], data["type"]) == (str(invoice.pk), "invoices")
    assert data["attributes"] == {
        "document_id": "NS-A",
        "original_document_id": invoice.original_document_id,
        "status": "closed",
        "payment_model": "postpay",
        "total": "100.00",
        "currency": "EUR",
        "account_id": invoice.account_id,
        "from_date": "2026-01-31",
        "to_date": "2026-02-01",
        "billing_date": "2026-01-01",
        "managed_externally": True,
        "approved": True,
        "approval_date": "2026-02-03",
        "external_total": "15800",
        "external_currency": "JPY",
        "has_attached": True,
        "attachment": {"kind": "link", "name": "INV-A", "url": LINK["data"]},
        "due_date": "2026-02-20",
        "created_at": "2026-01-31T00:00:00+00:00",
        "updated_at": "2026-02-03T12:00:00+00:00",
        "closed_at": "2026-02-02T00:00:00+00:00",
    }
    assert invoice.original_document_id.startswith("INV")  # the platform's own number, kept (R15)
    assert data["relationships"] == {
        "subscriptions": {"data": [{"id": str(story.subscriptions["a"].pk), "type": "subscriptions"}]},
        "payments": {"data": [{"id": str(story.payments["a"].pk), "type": "payments"}]},
        "charges": {"data": [{"id": str(story.charges["jan_a"].pk), "type": "charges"}]},
        "corrections": {"data": []},  # the reference's relationship: no corrections in Arrears yet
        "taxes": {"data": [{"id": f"{invoice.pk}-0", "type": "taxes"}]},  # one tax line: the plan's 0 %
    }
    assert "included" not in document


def test_an_invoice_waiting_for_approval_has_its_own_number_and_no_due_date_or_external_total(story):
    attributes = ok(story.get(f"/invoices/{story.invoices['jan_b'].pk}"))["data"]["attributes"]
    # The platform's own number, until the ERP's replaces it (R15)
    assert attributes["document_id"] == story.invoices["jan_b"].document_id
    assert attributes["document_id"].startswith("INV")
    assert (attributes["approved"], attributes["approval_date"], attributes["due_date"]) == (False, None, None)
    assert (attributes["external_total"], attributes["external_currency"]) == (None, None)
    assert (attributes["has_attached"], attributes["attachment"]) == (False, None)


def test_include_puts_the_full_subscriptions_payments_and_charges_in_included(story):
    invoice = story.invoices["jan_a"]
    # When the ERP asks for the invoice with all its relations
    document = ok(story.get(f"/invoices/{invoice.pk}", {"include": "subscriptions,payments,charges"}))
    # Then every related resource comes in full, once
    included = {(item["type"], item["id"]): item for item in document["included"]}
    assert set(included) == {
        ("subscriptions", str(story.subscriptions["a"].pk)),
        ("payments", str(story.payments["a"].pk)),
        ("charges", str(story.charges["jan_a"].pk)),
    }
    assert len(document["included"]) == 3
    payment = included["payments", str(story.payments["a"].pk)]["attributes"]
    assert (payment["invoice_id"], payment["total"], payment["due_date"]) == (invoice.pk, "100.00", "2026-02-20")
    charge = included["charges", str(story.charges["jan_a"].pk)]["attributes"]
    assert (charge["amount"], charge["status"], charge["invoice_id"]) == ("100.00", "closed", invoice.pk)
    subscription = included["subscriptions", str(story.subscriptions["a"].pk)]["attributes"]
    assert (subscription["account_id"], subscription["start_date"]) == (invoice.account_id, "2026-01-31")


def test_include_of_one_relation_includes_only_that_one(story):
    document = ok(story.get(f"/invoices/{story.invoices['jan_a'].pk}", {"include": "payments"}))
    assert [(item["type"], item["id"]) for item in document["included"]] == [("payments", str(story.payments["a"].pk))]


@pytest.mark.parametrize("include", ["nope", "payments,nope", "payment", "payments,,charges"])
def test_a_bad_include_is_refused_naming_the_parameter(story, include):
    refused_over_http(
        lambda: story.get(f"/invoices/{story.invoices['jan_a'].pk}", {"include": include}),
        400,
        "INVOICE-0001",
        parameter="include",
    )


def test_list_include_gathers_the_relations_of_the_page(story):
    document = ok(story.get("/invoices", {"filter[status]": "closed", "include": "payments"}))
    assert sorted(int(item["id"]) for item in document["included"]) == sorted(named(story.payments, "a", "b"))
    assert {item["type"] for item in document["included"]} == {"payments"}


INVOICE_FILTERS = [
    ({"filter[status]": "closed"}, ["jan_a", "jan_b"]),
    ({"filter[status]": "open"}, ["feb_a", "feb_b"]),
    ({"filter[approved]": "true"}, ["jan_a"]),
    ({"filter[approved]": "false"}, ["jan_b", "feb_a", "feb_b"]),
    ({"filter[managed_externally]": "true"}, ["jan_a", "jan_b"]),
    ({"filter[managed_externally]": "false"}, ["feb_a", "feb_b"]),
    ({"filter[payment_model]": "postpay"}, ["jan_a", "jan_b", "feb_a", "feb_b"]),
    ({"filter[payment_model]": "prepay"}, []),
    ({"filter[from_date]": "2026-01-31"}, ["jan_a", "jan_b"]),
    ({"filter[from_date][gt]": "2026-01-31"}, ["feb_a", "feb_b"]),
    ({"filter[from_date][lt]": "2026-02-01"}, ["jan_a", "jan_b"]),
    ({"filter[to_date]": "2026-03-01"}, ["feb_a", "feb_b"]),
    ({"filter[to_date][lt]": "2026-03-01"}, ["jan_a", "jan_b"]),
    ({"filter[billing_date]": "2026-01-01"}, ["jan_a", "jan_b"]),
    ({"filter[billing_date][gt]": "2026-01-01"}, ["feb_a", "feb_b"]),
    ({"filter[billing_date][lt]": "2026-02-01"}, ["jan_a", "jan_b"]),
    ({"filter[billing_date][gt]": "2025-12-31", "filter[billing_date][lt]": "2026-01-02"}, ["jan_a", "jan_b"]),
    ({"filter[billing_date][gt]": "2026-02-01"}, []),
    # A date on a date-time field means that whole day; a date-time is compared as the instant it names.
    ({"filter[created_at]": "2026-01-31"}, ["jan_a", "jan_b"]),
    ({"filter[created_at]": "2026-02-01"}, ["feb_a", "feb_b"]),
    ({"filter[created_at][gt]": "2026-01-31"}, ["feb_a", "feb_b"]),
    ({"filter[created_at][lt]": "2026-02-01"}, ["jan_a", "jan_b"]),
    ({"filter[created_at][gt]": "2026-01-31T00:00:00Z"}, ["feb_a", "feb_b"]),
    ({"filter[created_at][lt]": "2026-01-31T00:00:01+00:00"}, ["jan_a", "jan_b"]),
    ({"filter[updated_at]": "2026-02-03"}, ["jan_a"]),
    ({"filter[updated_at]": "2026-02-02"}, ["jan_b"]),
    ({"filter[updated_at][lt]": "2026-02-02"}, ["feb_a", "feb_b"]),
    ({"filter[updated_at][gt]": "2026-02-02T00:00:00Z"}, ["jan_a"]),
    # A's approval happened at 12:00 UTC: 13:00+02:00 is before it, 13:00+01:00 is the same instant.
    ({"filter[updated_at][gt]": "2026-02-03T13:00:00+02:00"}, ["jan_a"]),
    ({"filter[updated_at][gt]": "2026-02-03T13:00:00+01:00"}, []),
    (
        {"filter[updated_at][lt]": "2026-02-03T13:00:00+01:00", "filter[updated_at][gt]": "2026-02-01T12:00:00Z"},
        ["jan_b"],
    ),
]


@pytest.mark.parametrize(("params", "expected"), INVOICE_FILTERS, ids=lambda value: str(value))
def test_invoice_filters(story, params, expected):
    assert listed(story, "/invoices", params) == named(story.invoices, *expected)


def test_invoice_filter_by_account(story):
    account_id = story.invoices["jan_a"].account_id
    assert listed(story, "/invoices", {"filter[account_id]": account_id}) == named(story.invoices, "jan_a", "feb_a")
    assert listed(story, "/invoices", {"filter[account_id]": UNKNOWN_ID}) == []


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (None, ["jan_a", "jan_b", "feb_a", "feb_b"]),
        ("billing_date", ["jan_a", "jan_b", "feb_a", "feb_b"]),
        # Ties (same billing date, same total) break by id, in the sort's direction, so pages never overlap.
        ("-billing_date", ["feb_b", "feb_a", "jan_b", "jan_a"]),
        ("total", ["feb_a", "feb_b", "jan_a", "jan_b"]),
        ("-total", ["jan_b", "jan_a", "feb_b", "feb_a"]),
        ("-id", ["feb_b", "feb_a", "jan_b", "jan_a"]),
    ],
)
def test_invoice_sort_is_total_and_stable_across_pages(story, sort, expected):
    params = {"sort": sort} if sort else {}
    assert listed(story, "/invoices", params) == named(story.invoices, *expected)
    # Paging one at a time yields the same order, each invoice exactly once.
    one_by_one = [ids(ok(story.get("/invoices", {**params, "page[size]": 1, "page[number]": n}))) for n in range(1, 5)]
    assert [page[0] for page in one_by_one] == named(story.invoices, *expected)


def test_pagination_links_lead_through_every_page(story):
    # Given four invoices, read three at a time
    first = ok(story.get("/invoices", {"page[size]": 3, "filter[payment_model]": "postpay"}))
    assert first["meta"]["total"] == 4
    assert first["meta"]["page"] == {"number": 1, "size": 3, "last": 2}
    assert first["links"]["prev"] is None
    assert "page%5Bnumber%5D=2" in first["links"]["next"]
    assert "filter%5Bpayment_model%5D=postpay" in first["links"]["next"]
    # When the client follows links.next
    second = ok(story.api.get(first["links"]["next"]))
    # Then it gets the rest, with the filter kept, and no next page
    assert second["meta"]["total"] == 4
    assert second["links"]["next"] is None
    assert ids(first) + ids(second) == named(story.invoices, "jan_a", "jan_b", "feb_a", "feb_b")
    # And links.prev leads back to the first page
    assert ids(ok(story.api.get(second["links"]["prev"]))) == ids(first)


def test_a_page_past_the_end_is_empty_and_still_counts_the_total(story):
    document = ok(story.get("/invoices", {"page[size]": 2, "page[number]": 7}))
    assert document["data"] == []
    assert document["meta"]["total"] == 4
    assert document["links"]["next"] is None
    assert "page%5Bnumber%5D=2" in document["links"]["prev"]  # back to the last page that has data


def test_the_default_page_size_is_50(story):
    document = ok(story.get("/invoices"))
    assert document["meta"]["page"] == {"number": 1, "size": 50, "last": 1}
    assert len(document["data"]) == 4


BAD_LIST_PARAMETERS = [
    ({"page[size]": 0}, "page[size]"),
    ({"page[size]": 501}, "page[size]"),
    ({"page[size]": "ten"}, "page[size]"),
    ({"page[number]": 0}, "page[number]"),
    ({"sort": "unknown"}, "sort"),
    ({"sort": "-unknown"}, "sort"),
]


@pytest.mark.parametrize(
    ("path", "code", "params", "parameter"),
    [
        *[("/invoices", "INVOICE-0001", params, parameter) for params, parameter in BAD_LIST_PARAMETERS],
        ("/invoices", "INVOICE-0001", {"filter[status]": "nope"}, "filter[status]"),
        ("/invoices", "INVOICE-0001", {"filter[approved]": "perhaps"}, "filter[approved]"),
        ("/invoices", "INVOICE-0001", {"filter[billing_date]": "2026-13-01"}, "filter[billing_date]"),
        ("/invoices", "INVOICE-0001", {"filter[billing_date][gt]": "yesterday"}, "filter[billing_date][gt]"),
        ("/invoices", "INVOICE-0001", {"filter[account_id]": "0"}, "filter[account_id]"),
        ("/invoices", "INVOICE-0001", {"include": "accounts"}, "include"),
        *[("/payments", "PAYMENT-0001", params, parameter) for params, parameter in BAD_LIST_PARAMETERS],
        ("/payments", "PAYMENT-0001", {"filter[status]": "nope"}, "filter[status]"),
        ("/payments", "PAYMENT-0001", {"filter[due_date][lt]": "2026-02-30"}, "filter[due_date][lt]"),
        ("/payments", "PAYMENT-0001", {"include": "orders"}, "include"),
        *[("/charges", "CHARGE-0001", params, parameter) for params, parameter in BAD_LIST_PARAMETERS],
        ("/charges", "CHARGE-0001", {"filter[status]": "nope"}, "filter[status]"),
        ("/charges", "CHARGE-0001", {"filter[close_date][gt]": "soon"}, "filter[close_date][gt]"),
    ],
)
def test_bad_list_parameters_are_refused_with_the_list_code(story, path, code, params, parameter):
    error = refused_over_http(lambda: story.get(path, params), 400, code, parameter=parameter)
    assert parameter in error["detail"]


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/invoices/{}", "INVOICE-0404"),
        ("/payments/{}", "PAYMENT-0404"),
        ("/charges/{}", "CHARGE-0404"),
        ("/plans/{}", "PLAN-0404"),
    ],
)
def test_an_unknown_id_is_404_with_the_resource_code(story, path, code):
    refused_over_http(lambda: story.get(path.format(UNKNOWN_ID)), 404, code)


# --- Payments ------------------------------------------------------------------------------------------------


def test_get_payment_answers_every_contract_attribute(story):
    # Given the payment of A's approved invoice, whose external total differs from the invoice's (R18)
    payment = story.payments["a"]
    data = ok(story.get(f"/payments/{payment.pk}"))["data"]
    assert (data["id"], data["type"]) == (str(payment.pk), "payments")
    assert data["attributes"] == {
        "document_id": payment.document_id,
        "type": "rendered_services",
        "status": "waiting_for_payment",
        "total": "100.00",
        "initial_total": "100.00",
        "amount_paid_from_balance": "0.00",
        "discount_amount": "0.00",  # the reference's attribute: no discounts in Arrears yet
        "currency_code": "EUR",
        "due_date": "2026-02-20",
        "expiration_date": "2026-02-21",
        "external_total": "15800",
        "external_currency": "JPY",
        "balance_payment_allowed": False,
        "comment": "",
        "account_id": payment.account_id,
        "invoice_id": story.invoices["jan_a"].pk,
        "created_at": "2026-02-02T00:00:00+00:00",
        "updated_at": "2026-02-03T12:00:00+00:00",
        "closed_at": None,
    }
    assert data["relationships"] == {
        "invoices": {"data": [{"id": str(story.invoices["jan_a"].pk), "type": "invoices"}]},
        "account": {"data": {"id": str(payment.account_id), "type": "accounts"}},
        "payment_method": {"data": None},  # the ERP's invoice is not paid yet
        "reseller": {"data": {"id": str(story.reseller.pk), "type": "resellers"}},
        "charges": {"data": [{"id": str(story.charges["jan_a"].pk), "type": "charges"}]},
        "corrections": {"data": []},
    }


def test_a_payment_waiting_for_approval_may_be_paid_from_balance_and_a_top_up_may_not(story):
    waiting = ok(story.get(f"/payments/{story.payments['b'].pk}"))["data"]["attributes"]
    assert (waiting["due_date"], waiting["expiration_date"], waiting["external_total"]) == (None, None, None)
    assert waiting["balance_payment_allowed"] is True
    top_up = ok(story.get(f"/payments/{story.payments['top_up'].pk}"))["data"]["attributes"]
    assert (top_up["type"], top_up["status"], top_up["total"]) == ("top_up", "completed", "50.00")
    assert (top_up["invoice_id"], top_up["balance_payment_allowed"]) == (None, False)
    assert ok(story.get(f"/payments/{story.payments['top_up'].pk}"))["data"]["relationships"]["invoices"] == {
        "data": []
    }


def test_payment_include_invoices_and_account(story):
    payment = story.payments["a"]
    document = ok(story.get(f"/payments/{payment.pk}", {"include": "invoices,account"}))
    included = {(item["type"], item["id"]): item["attributes"] for item in document["included"]}
    assert set(included) == {("invoices", str(story.invoices["jan_a"].pk)), ("accounts", str(payment.account_id))}
    assert included["invoices", str(story.invoices["jan_a"].pk)]["document_id"] == "NS-A"
    assert included["accounts", str(payment.account_id)]["currency"] == "EUR"
    refused_over_http(
        lambda: story.get(f"/payments/{payment.pk}", {"include": "subscriptions"}),
        400,
        "PAYMENT-0001",
        parameter="include",
    )


def test_payment_list_include_gathers_invoices_of_the_page(story):
    document = ok(story.get("/payments", {"include": "invoices", "filter[type]": "rendered_services"}))
    assert sorted(int(item["id"]) for item in document["included"]) == named(story.invoices, "jan_a", "jan_b")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"filter[status]": "waiting_for_payment"}, ["a", "b"]),
        ({"filter[status]": "completed"}, ["top_up"]),
        ({"filter[status]": "expired"}, []),
        ({"filter[due_date]": "2026-02-20"}, ["a"]),
        ({"filter[due_date][gt]": "2026-02-19"}, ["a"]),
        ({"filter[due_date][gt]": "2026-02-20"}, []),
        ({"filter[due_date][lt]": "2026-02-21"}, ["a"]),
        ({"filter[due_date][lt]": "2026-02-20"}, []),  # a payment without a due date matches no due_date range
        ({"filter[created_at][lt]": "2026-02-01"}, ["top_up"]),
        ({"filter[created_at]": "2026-02-02"}, ["a", "b"]),
        ({"filter[updated_at][gt]": "2026-02-03T11:59:59Z"}, ["a"]),
        ({"sort": "-due_date", "filter[status]": "waiting_for_payment", "filter[due_date][gt]": "2026-01-01"}, ["a"]),
    ],
)
def test_payment_filters(story, params, expected):
    assert listed(story, "/payments", params) == named(story.payments, *expected)


def test_payment_filters_by_account_and_invoice(story):
    assert listed(story, "/payments", {"filter[account_id]": story.payments["b"].account_id}) == named(
        story.payments, "b"
    )
    assert listed(story, "/payments", {"filter[invoice_id]": story.invoices["jan_a"].pk}) == named(story.payments, "a")
    assert listed(story, "/payments", {"filter[invoice_id]": story.invoices["feb_a"].pk}) == []


# --- Charges -------------------------------------------------------------------------------------------------


def test_get_charge_answers_its_amounts_in_the_currency_precision(story):
    charge = story.charges["feb_a"]
    attributes = ok(story.get(f"/charges/{charge.pk}"))["data"]["attributes"]
    assert attributes | {"description": None, "created_at": None} == {
        "kind": "recurring",
        "description": None,
        "status": "blocked",
        "quantity": "1",
        "unit_price": "3100.00",
        "net_amount": "3100.00",
        "tax_rate": "0",
        "tax_amount": "0.00",
        "amount": "3100.00",
        "currency": "EUR",
        "period_from": "2026-02-01",
        "period_to": "2026-03-01",
        "close_date": "2026-03-01",
        "external_id": None,
        "account_id": charge.account_id,
        "subscription_id": story.subscriptions["a"].pk,
        "invoice_id": story.invoices["feb_a"].pk,
        "created_at": None,
        "updated_at": "2026-02-01T00:00:00+00:00",
        "closed_at": None,
    }
    assert attributes["created_at"] == "2026-02-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"filter[status]": "closed"}, ["jan_a", "jan_b"]),
        ({"filter[status]": "blocked"}, ["feb_a", "feb_b"]),
        ({"filter[close_date]": "2026-03-01"}, ["feb_a", "feb_b"]),
        ({"filter[close_date][gt]": "2026-02-01"}, ["feb_a", "feb_b"]),
        ({"filter[close_date][lt]": "2026-03-01"}, ["jan_a", "jan_b"]),
        ({"filter[close_date][gt]": "2026-01-31", "filter[close_date][lt]": "2026-03-01"}, ["jan_a", "jan_b"]),
        ({"filter[created_at][gt]": "2026-01-31T12:00:00Z"}, ["feb_a", "feb_b"]),
        ({"sort": "-amount"}, ["feb_b", "feb_a", "jan_b", "jan_a"]),
    ],
)
def test_charge_filters(story, params, expected):
    assert listed(story, "/charges", params) == named(story.charges, *expected)


def test_charge_filters_by_subscription_and_account(story):
    assert listed(story, "/charges", {"filter[subscription_id]": story.subscriptions["a"].pk}) == named(
        story.charges, "jan_a", "feb_a"
    )
    assert listed(story, "/charges", {"filter[account_id]": story.subscriptions["b"].account_id}) == named(
        story.charges, "jan_b", "feb_b"
    )
    assert listed(story, "/charges", {"filter[subscription_id]": UNKNOWN_ID}) == []


# --- Plans ---------------------------------------------------------------------------------------------------


def test_plans_list_and_get(story):
    plan_ids = sorted(subscription.plan_id for subscription in story.subscriptions.values())
    document = ok(story.get("/plans"))
    assert ids(document) == plan_ids
    assert document["meta"]["total"] == 2
    data = ok(story.get(f"/plans/{plan_ids[0]}"))["data"]
    assert (data["id"], data["type"]) == (str(plan_ids[0]), "plans")
    attributes = data["attributes"]
    assert (attributes["fee"], attributes["currency"], attributes["billing_day"], attributes["tax_rate"]) == (
        "3100.00",
        "EUR",
        1,
        "0",
    )
    assert attributes["created_at"] == "2026-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("currency", "fee", "shown"),
    [("EUR", 12_345, "123.45"), ("JPY", 1_500, "1500"), ("KWD", 12_345, "12.345"), ("EUR", 5, "0.05")],
)
def test_money_is_shown_in_the_currency_precision(db, currency, fee, shown):
    reseller = ResellerFactory(currency=currency)
    plan = create_plan(reseller=reseller, name="Metered", fee=fee, billing_day=1, tax_rate_bp=750, actor=SYSTEM, now=T0)
    attributes = ok(ApiClient(token_for(reseller)).get(f"/api/v3/resellers/{reseller.pk}/plans/{plan.pk}"))["data"][
        "attributes"
    ]
    assert (attributes["fee"], attributes["currency"], attributes["tax_rate"]) == (shown, currency, "7.5")


def test_a_listed_invoice_is_the_same_resource_as_the_single_read(story):
    """The list and the single read render the same resource."""
    listed_invoice = ok(story.get("/invoices", {"filter[billing_date]": JAN_1.isoformat(), "page[size]": 1}))["data"][0]
    assert listed_invoice == ok(story.get(f"/invoices/{listed_invoice['id']}"))["data"]
