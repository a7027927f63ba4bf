"""The OpenAPI description is the contract, and the API keeps it under fuzzing (erp-api.md, "Conventions").

Schemathesis reads ``/openapi.json`` from the WSGI application (``arrears.wsgi.application``, in-process, inside
the test's database transaction) and sends every operation generated requests with a valid token of an ERP
reseller holding every scope: valid data (positive) and data that breaks the schema (negative). Ids and body
fields are steered towards the story's data part of the time (tests/api/fuzz_support.py) so that requests get
past 404 and 400 into the success paths. Each example runs in a savepoint that is rolled back, so every request
meets the same story and a run is reproducible (``derandomize``).

Given the story on 2026-02-03, when schemathesis sends the generated requests, then for every response:

* ``not_a_server_error``: no 5xx, whatever the input;
* ``status_code_conformance``: the status is one the operation documents;
* ``content_type_conformance``: the content type is the documented one (``application/vnd.api+json``);
* ``response_schema_conformance``: the body matches the documented schema (nullable fields, formats, errors);
* ``response_headers_conformance``: documented headers are present and well-formed;
* ``negative_data_rejection`` (negative mode): data that breaks the schema is refused with a 4xx, never 2xx.
"""

import os
import time

import pytest
import time_machine
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from arrears.api import app as _routes  # noqa: F401  (declaring the routes fills OPERATIONS)
from arrears.api.operations import OPERATIONS
from tests.api.conftest import ApiClient, refused_over_http
from tests.api.fuzz_support import (
    FuzzStory,
    build_story,
    operation_named,
    rolled_back,
    served_schema,
    steered_cases,
)
from tests.conftest import at
from tests.service_support import APPROVAL_DAY, snapshot

# CI runs 30 per operation and mode (about 1,300 requests); ARREARS_FUZZ_EXAMPLES=500 digs deeper locally.
EXAMPLES_PER_OPERATION_AND_MODE = int(os.environ.get("ARREARS_FUZZ_EXAMPLES", "30"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,  # schemathesis applies it to negative cases only
]
# Keep the contract in one place: the registry of operations is what the routes declare.
OPERATION_IDS = sorted(OPERATIONS)


@pytest.fixture
def story(db) -> FuzzStory:
    return build_story()


@pytest.fixture
def in_process_requests():
    """The WSGI handler closes "old" database connections around each request, which inside the test's
    transaction would end it; Django's own test client switches that off the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_the_served_description_lists_every_operation_of_the_api(db):
    """/openapi.json is the document the fuzzing runs on: it is the API's own and lists every operation."""
    served = served_schema().raw_schema
    operation_ids = {operation["operationId"] for methods in served["paths"].values() for operation in methods.values()}
    assert operation_ids == set(OPERATION_IDS)
    assert served["components"]["securitySchemes"] == {
        "TokenAuth": {"type": "apiKey", "in": "header", "name": "X-Api-Token"}
    }


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda mode: mode.value)
@pytest.mark.parametrize("operation_id", OPERATION_IDS)
def test_every_operation_keeps_its_contract_under_fuzzing(operation_id, mode, story, in_process_requests):
    """Given the story and a token with every scope, when schemathesis sends ``operation_id`` generated
    requests in ``mode``, then no response is a 5xx and every one matches the documented statuses, content
    type, headers and schemas; negative data is refused, and a refused request changes nothing."""
    operation = operation_named(operation_id)
    statuses: list[int] = []

    @settings(
        max_examples=EXAMPLES_PER_OPERATION_AND_MODE,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @given(case=steered_cases(operation, mode, story, operation_id))
    def keeps_the_contract(case):
        with rolled_back():  # the next example meets the same story
            before = snapshot()
            response = case.call_and_validate(headers={"X-Api-Token": story.secret}, checks=CHECKS)
            if 400 <= response.status_code < 500:
                assert snapshot() == before, f"a refused request changed data (R47): {response.content[:500]}"
        statuses.append(response.status_code)

    started = time.monotonic()
    with time_machine.travel(at(APPROVAL_DAY), tick=False):
        keeps_the_contract()
    print(
        f"{operation_id} {mode.value}: {len(statuses)} requests in {time.monotonic() - started:.1f}s, "
        f"{sum(200 <= status < 300 for status in statuses)} answered 2xx, statuses {sorted(set(statuses))}"
    )
    assert statuses, "schemathesis sent no request"
    assert all(status < 500 for status in statuses)
    if mode is GenerationMode.POSITIVE:  # the steering reaches the success path
        assert any(200 <= status < 300 for status in statuses), statuses
    else:  # negative_data_rejection judged each case; what it let pass ignores data the route does not read
        assert any(400 <= status < 500 for status in statuses), statuses


# --- What the fuzzing found, pinned (with the traps it reaches only rarely: huge numbers, NUL, far dates) ------


@pytest.mark.parametrize(
    ("params", "listed"),
    [
        # ISO 8601 and Python allow offsets up to ±23:59; PostgreSQL refused those beyond ±15:59 with a 500.
        ({"filter[created_at][gt]": "2025-12-31T03:59:00-20:00"}, 4),  # 2025-12-31T23:59Z: before the accounts
        ({"filter[created_at][gt]": "2025-12-31T04:01:00-20:00"}, 0),  # 2026-01-01T00:01Z: after them
        ({"filter[created_at][lt]": "2026-01-01T19:30:00+19:30"}, 0),  # 2026-01-01T00:00Z: not before them
        ({"filter[created_at]": "2026-01-01T19:30:00+19:30"}, 4),
        # The ends of the calendar: moments UTC cannot hold, and the day after 9999-12-31, failed with a 500.
        ({"filter[created_at][lt]": "0001-01-01T00:00:00+14:00"}, 0),
        ({"filter[created_at][gt]": "9999-12-31T23:59:59-10:00"}, 0),
        ({"filter[created_at]": "9999-12-31"}, 0),
        ({"filter[created_at][gt]": "0001-01-01"}, 4),
    ],
)
def test_date_time_filters_take_any_offset_and_the_ends_of_the_calendar(story, params, listed):
    """Given the story's four accounts created on 2026-01-01T00:00Z, when the list is filtered by a creation
    moment with an extreme offset or at the ends of the calendar, then it answers 200 with the right accounts."""
    with time_machine.travel(at(APPROVAL_DAY), tick=False):
        response = ApiClient(story.secret).get(f"/api/v3/resellers/{story.reseller.pk}/accounts", params)
    assert response.status_code == 200, response.content
    assert response.json()["meta"]["total"] == listed


@pytest.mark.parametrize("moment", ["0.0", "476841", "-1.8e-80", "1767225600"])
def test_a_number_is_no_date_time_filter(story, moment):
    """Given the story, when a date-time filter is a number, then it is refused as malformed (it was read as
    a Unix timestamp and answered 200), naming the parameter; the description says a date or a date-time."""
    with time_machine.travel(at(APPROVAL_DAY), tick=False):
        api = ApiClient(story.secret)
        refused_over_http(
            lambda: api.get(f"/api/v3/resellers/{story.reseller.pk}/accounts", {"filter[created_at][lt]": moment}),
            400,
            "ACCOUNT-0001",
            parameter="filter[created_at][lt]",
        )
    documented = next(
        parameter["schema"]
        for parameter in operation_named("list_accounts").definition.raw["parameters"]
        if parameter["name"] == "filter[created_at][lt]"
    )
    assert documented["anyOf"] == [{"format": "date", "type": "string"}, {"format": "date-time", "type": "string"}]


HUGE = "9" * 30


@pytest.mark.parametrize(
    ("operation_id", "body", "code", "pointer"),
    [
        # Numbers beyond the 64-bit columns overflowed in the database (SQLite OverflowError, PostgreSQL "bigint out
        # of range") and answered 500; so did a due date whose expiration falls beyond the calendar.
        ("post_usage_charge", {"quantity": HUGE}, "CHARGE-0001", "/quantity"),
        ("post_usage_charge", {"quantity": 10**30}, "CHARGE-0001", "/quantity"),
        ("post_usage_charge", {"unit_price": HUGE}, "CHARGE-0001", "/unit_price"),
        ("post_usage_charge", {"quantity": "1e999999999"}, "CHARGE-0001", "/quantity"),  # and no 10^999999999 in memory
        ("approve_invoices", {"amount": {"total": HUGE, "currency": "USD"}}, "INVOICE-0106", "/amount/total"),
        ("approve_invoices", {"due_date": "9999-12-31"}, "INVOICE-0001", "/due_date"),
        # Accepted before, and a subscription the billing engine could never bill.
        ("create_subscription", {"start_date": "9999-12-31"}, "SUBSCRIPTION-0001", "/start_date"),
        # NUL characters and lone surrogates cannot be stored by PostgreSQL.
        ("create_account", {"name": "A\x00B"}, "ACCOUNT-0001", "/name"),
        ("create_account", {"name": "\ud800"}, "ACCOUNT-0001", "/name"),
        ("post_usage_charge", {"external_id": "cdr\x00"}, "CHARGE-0001", "/external_id"),
    ],
)
def test_inputs_beyond_what_the_databases_hold_are_refused_not_failed(story, operation_id, body, code, pointer):
    """Given the story, when a body holds a number, a date or a character the databases cannot hold, then the
    call is refused with 400 naming the field, and nothing changes (R47)."""
    r = story.reseller.pk
    account, subscription, plan = story.ids["account_id"][2], story.ids["subscription_id"][0], story.ids["plan_id"][0]
    path, valid = {
        "post_usage_charge": (
            f"subscriptions/{subscription}/charges",
            {"description": "Calls", "quantity": "1", "unit_price": "1", "date": "2026-02-03"},
        ),
        "approve_invoices": (
            f"accounts/{account}/approve_invoices",
            {"document_id": "NS-C", "billing_date": "2026-01-01"},
        ),
        "create_subscription": (f"accounts/{account}/subscriptions", {"plan_id": plan, "start_date": "2026-03-01"}),
        "create_account": ("accounts", {"name": "Acme"}),
    }[operation_id]
    api = ApiClient(story.secret)
    with time_machine.travel(at(APPROVAL_DAY), tick=False):
        refused_over_http(
            lambda: api.post(f"/api/v3/resellers/{r}/{path}", {**valid, **body}), 400, code, pointer=pointer
        )


def test_the_largest_usage_charge_the_api_accepts_is_stored(story):
    """Given the story, when a usage charge has the largest quantity and unit price the API accepts, then it is
    stored with its exact amount: the bounds keep quantity × unit price inside the 64-bit columns."""
    path = f"/api/v3/resellers/{story.reseller.pk}/subscriptions/{story.ids['subscription_id'][0]}/charges"
    with time_machine.travel(at(APPROVAL_DAY), tick=False):
        response = ApiClient(story.secret).post(
            path, {"description": "Calls", "quantity": "9999999.999", "unit_price": "99999999.99", "date": "2026-02-03"}
        )
    assert response.status_code == 201, response.content
    assert response.json()["data"]["attributes"]["net_amount"] == "999999999800000.00"  # .00001 rounded off
