"""Strict input (issue 12): the API refuses what it does not understand, naming it, and changes nothing.

An ERP that misspells a filter must not get every invoice back (and approve them all); a misspelt body field
must not silently fall back to a default; a number is a plain decimal string (or a JSON integer where the
contract allows one), never a boolean, an exponent or digits of another script; a path id is plain decimal.
Calls happen on the approval day of the ERP story (tests/service_support.py).
"""

import pytest
import time_machine

from arrears.customers.models import Account
from arrears.invoices.models import Invoice
from tests.api.conftest import MEDIA_TYPE, ApiClient, refused_over_http, token_for
from tests.api.erp_support import erp_body, erp_path
from tests.conftest import at
from tests.factories import AccountFactory, SubscriptionFactory
from tests.service_support import APPROVAL_DAY, JAN_1, closed_erp_invoice, reload


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(at(APPROVAL_DAY), tick=False):
        yield


@pytest.fixture
def invoice(erp_reseller) -> Invoice:
    """A closed ERP invoice awaiting approval, of an account whose February invoice is open."""
    return closed_erp_invoice(erp_reseller)


@pytest.fixture
def api(erp_reseller) -> ApiClient:
    return ApiClient(token_for(erp_reseller, scopes=["read", "erp", "platform"]))


def url(reseller, path: str) -> str:
    return f"/api/v3/resellers/{reseller.pk}{path}"


def listed(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["data"]]


# --- Unknown query parameters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "parameter",
    [
        "filter[stauts]",
        "filter[status][ne]",
        "page[sise]",
        "filter[total][gt]",
        "pagesize",
        "Filter[status]",
    ],
)
def test_an_unknown_list_parameter_is_refused_by_name(erp_reseller, api, invoice, parameter):
    error = refused_over_http(
        lambda: api.get(url(erp_reseller, "/invoices"), {parameter: "closed"}), 400, "INVOICE-0001", parameter=parameter
    )
    assert parameter in error["detail"] and "filter[status]" in error["detail"]  # says what it takes instead


def test_a_misspelt_filter_no_longer_lists_everything(erp_reseller, api, invoice):
    everything = listed(api.get(url(erp_reseller, "/invoices")))
    assert len(everything) == 2  # January (closed) and February (open)
    assert listed(api.get(url(erp_reseller, "/invoices"), {"filter[status]": "closed"})) == [str(invoice.pk)]
    assert api.get(url(erp_reseller, "/invoices"), {"filter[stauts]": "closed"}).status_code == 400


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"include": "subscriptions,taxez"}, "include"),
        ({"sort": "-stauts"}, "sort"),
        ({"sort": "attachment"}, "sort"),  # an attribute, but an object: not sortable
    ],
)
def test_an_unknown_include_or_sort_field_is_refused(erp_reseller, api, invoice, params, parameter):
    refused_over_http(lambda: api.get(url(erp_reseller, "/invoices"), params), 400, "INVOICE-0001", parameter=parameter)


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/invoices/{invoice}", "INVOICE-0001"),
        ("/payments", "PAYMENT-0001"),
        ("/charges", "CHARGE-0001"),
        ("/plans", "PLAN-0001"),
        ("/accounts", "ACCOUNT-0001"),
        ("/events", "EVENT-0001"),
    ],
)
def test_every_read_refuses_unknown_parameters(erp_reseller, api, invoice, path, code):
    path = path.format(invoice=invoice.pk)
    assert api.get(url(erp_reseller, path)).status_code == 200
    refused_over_http(lambda: api.get(url(erp_reseller, path), {"verbose": "1"}), 400, code, parameter="verbose")


def test_an_operation_without_parameters_refuses_any(erp_reseller, api, invoice):
    charge = invoice.charges.first()
    assert api.get(url(erp_reseller, f"/charges/{charge.pk}")).status_code == 200
    refused_over_http(
        lambda: api.get(url(erp_reseller, f"/charges/{charge.pk}"), {"include": "invoice"}),
        400,
        "CHARGE-0001",
        parameter="include",
    )


def test_a_write_with_a_query_parameter_is_refused_and_changes_nothing(erp_reseller, api, invoice):
    path = erp_path(invoice, "by_id", "approve") + "?dry_run=1"
    refused_over_http(lambda: api.post(path, erp_body("NS-1")), 400, "INVOICE-0001", parameter="dry_run")
    assert not reload(invoice).approved


def test_known_parameters_together_still_work(erp_reseller, api, invoice):
    params = {
        "filter[status]": "closed",
        "filter[created_at][lt]": "2030-01-01",
        "sort": "-created_at",
        "page[size]": "1",
        "page[number]": "1",
        "include": "payments",
    }
    assert listed(api.get(url(erp_reseller, "/invoices"), params)) == [str(invoice.pk)]
    feed = api.get(url(erp_reseller, "/events"), {"after": "0", "page[size]": "5", "filter[type]": "invoice.closed"})
    assert feed.status_code == 200


def test_the_unauthenticated_hear_401_before_any_parameter_check(erp_reseller, invoice):
    response = ApiClient(None).get(url(erp_reseller, "/invoices"), {"filter[stauts]": "closed"})
    assert response.status_code == 401


# --- Unknown body fields ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "pointer", "code"),
    [
        ({"due_dat": "2026-03-01"}, "/due_dat", "INVOICE-0001"),
        ({"external_total": "95.00"}, "/external_total", "INVOICE-0001"),
        ({"amount": {"total": "95.00", "currency": "USD", "curency": "USD"}}, "/amount/curency", "INVOICE-0106"),
        (
            {"link": {"name": "NS-1", "data": "https://erp.example.com/1.pdf", "url": "https://x"}},
            "/link/url",
            "INVOICE-0107",
        ),
    ],
)
def test_an_unknown_body_field_is_refused_by_pointer(erp_reseller, api, invoice, fields, pointer, code):
    error = refused_over_http(
        lambda: api.post(erp_path(invoice, "by_id", "approve"), erp_body("NS-1", **fields)), 400, code, pointer=pointer
    )
    assert "unknown field" in error["detail"]
    assert not reload(invoice).approved


def test_an_unknown_platform_body_field_is_refused(erp_reseller, api):
    refused_over_http(
        lambda: api.post(url(erp_reseller, "/accounts"), {"name": "Acme", "emial": "a@b.example"}),
        400,
        "ACCOUNT-0001",
        pointer="/emial",
    )


def test_accounts_also_take_the_reference_json_api_body(erp_reseller, api):
    body = {"data": {"type": "accounts", "attributes": {"name": "Acme GmbH", "email": "billing@acme.example"}}}
    response = api.post(url(erp_reseller, "/accounts"), body)
    assert response.status_code == 201, response.content
    assert response["Content-Type"] == MEDIA_TYPE
    created = Account.objects.get(pk=response.json()["data"]["id"])
    assert (created.name, created.email) == ("Acme GmbH", "billing@acme.example")


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"data": {"type": "accounts", "attributes": {"name": "Acme", "nmae": "x"}}}, "/data/attributes/nmae"),
        ({"data": {"type": "plans", "attributes": {"name": "Acme"}}}, "/data/type"),
        ({"data": {"type": "accounts", "attributes": {"name": "Acme"}, "id": "5"}}, "/data/id"),
        ({"data": {"type": "accounts"}}, "/data/attributes"),
        ({"data": "Acme"}, "/data"),
    ],
)
def test_a_bad_json_api_account_body_is_refused(erp_reseller, api, body, pointer):
    refused_over_http(lambda: api.post(url(erp_reseller, "/accounts"), body), 400, "ACCOUNT-0001", pointer=pointer)


# --- Strict numbers ----------------------------------------------------------------------------------------


def usage(**fields) -> dict:
    return {"description": "Storage", "quantity": "2", "unit_price": "0.40", "date": JAN_1.isoformat()} | fields


@pytest.fixture
def subscription(erp_reseller):
    return SubscriptionFactory(account=AccountFactory(reseller=erp_reseller), start_date=JAN_1)


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        ({"quantity": True}, "/quantity"),
        ({"quantity": False}, "/quantity"),
        ({"quantity": 2.5}, "/quantity"),  # a JSON float: a decimal string says exactly what is meant
        ({"quantity": "1e3"}, "/quantity"),
        ({"quantity": "1_000"}, "/quantity"),
        ({"quantity": "１２"}, "/quantity"),  # full-width digits
        ({"quantity": "١٢"}, "/quantity"),  # Arabic-Indic digits
        ({"quantity": " 12"}, "/quantity"),
        ({"quantity": "+12"}, "/quantity"),
        ({"quantity": "12."}, "/quantity"),
        ({"quantity": ".5"}, "/quantity"),
        ({"quantity": "NaN"}, "/quantity"),
        ({"unit_price": "1e-999999999"}, "/unit_price"),
        ({"unit_price": "0.4e1"}, "/unit_price"),
        ({"unit_price": 1}, "/unit_price"),  # the contract: a decimal string
        ({"unit_price": True}, "/unit_price"),
        ({"unit_price": "Infinity"}, "/unit_price"),
    ],
)
def test_a_usage_number_must_be_a_plain_decimal(erp_reseller, api, subscription, fields, pointer):
    path = url(erp_reseller, f"/subscriptions/{subscription.pk}/charges")
    refused_over_http(lambda: api.post(path, usage(**fields)), 400, "CHARGE-0001", pointer=pointer)


@pytest.mark.parametrize("quantity", ["2", 2, "2.500", "-0"])
def test_plain_decimals_and_integer_quantities_are_taken(erp_reseller, api, subscription, quantity):
    response = api.post(url(erp_reseller, f"/subscriptions/{subscription.pk}/charges"), usage(quantity=quantity))
    if quantity == "-0":
        assert response.status_code == 400  # a plain decimal, but not a positive quantity: the service says so
        assert response.json()["errors"][0]["source"]["pointer"] == "/quantity"
    else:
        assert response.status_code == 201, response.content


@pytest.mark.parametrize("total", [True, 95, 95.0, "9.5e1", "９５.００", "95,00", "0x5F"])
def test_an_external_total_must_be_a_plain_decimal_string(erp_reseller, api, invoice, total):
    body = erp_body("NS-1", amount={"total": total, "currency": "USD"})
    refused_over_http(
        lambda: api.post(erp_path(invoice, "by_id", "approve"), body), 400, "INVOICE-0106", pointer="/amount/total"
    )


@pytest.mark.parametrize("bad_id", ["2.0", "+{id}", "{id}.0", "0{id}x", "{id}_0", "%20{id}", "１"])
def test_a_path_id_must_be_plain_decimal(erp_reseller, api, invoice, bad_id):
    path = url(erp_reseller, "/invoices/" + bad_id.format(id=invoice.pk))
    response = api.get(path)
    assert response.status_code == 404, response.content
    assert response.json()["errors"][0]["code"] in {"INVOICE-0404", "ROUTE-0404"}


def test_a_reseller_id_must_be_plain_decimal(erp_reseller, api):
    response = api.get(f"/api/v3/resellers/+{erp_reseller.pk}/invoices")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"page[size]": "0"}, "page[size]"),
        ({"page[number]": "x"}, "page[number]"),
        ({"filter[account_id]": "2.0"}, "filter[account_id]"),
        ({"filter[created_at][gt]": "yesterday"}, "filter[created_at][gt]"),
    ],
)
def test_a_bad_known_parameter_is_named_not_called_query(erp_reseller, api, invoice, params, parameter):
    error = refused_over_http(
        lambda: api.get(url(erp_reseller, "/invoices"), params), 400, "INVOICE-0001", parameter=parameter
    )
    assert error["detail"].startswith(f"{parameter}: ")
