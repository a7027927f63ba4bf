"""Bad input, in one table (issue 12's acceptance; R47): whatever arrives, the API answers a JSON:API 4xx with a
code, names what it refused where a field or parameter caused it, and changes nothing — never a 5xx.

Every write operation gets malformed JSON, wrong types, huge numbers, amounts with too many decimals,
impossible dates, 100 KB strings and NUL characters; the approval also a 16 MB body, files that are no
document and path-traversal names; reads get bad parameters and impossible path ids. One ERP reseller holds
the story: a closed January invoice of an account with a subscription, on 2026-02-03.
"""

import base64
import json
import re
from dataclasses import dataclass

import pytest
import time_machine

from arrears.catalog.services import create_plan
from arrears.core.actors import SYSTEM
from arrears.subscriptions.models import Subscription
from tests.api.conftest import MEDIA_TYPE, ApiClient, api_snapshot, token_for
from tests.api.erp_support import erp_body
from tests.conftest import at
from tests.factories import T0
from tests.sample_files import data_uri, docx_bytes, pdf_bytes, zip_bytes
from tests.service_support import APPROVAL_DAY, closed_erp_invoice, snapshot

HUNDRED_KB = "x" * 100_000
CODE = re.compile(r"^[A-Z]+-\d{4}$")


@dataclass(frozen=True)
class Case:
    operation: str  # a key of PATHS
    body: object = None  # JSON-encoded unless raw is given
    raw: bytes | None = None
    status: int = 400
    pointer: str | None = None  # the field the error must name, when one field is at fault
    parameter: str | None = None


PATHS = {
    "create_account": "/accounts",
    "create_subscription": "/accounts/{account}/subscriptions",
    "post_usage": "/subscriptions/{subscription}/charges",
    "approve": "/invoices/{invoice}/approve",
    "approve_by_account": "/accounts/{account}/approve_invoices",
    "complete": "/invoices/{invoice}/complete",
    "revoke": "/invoices/{invoice}/revoke",
}


def erp(**fields) -> dict:
    return erp_body("NS2000015", **fields)


def usage(**fields) -> dict:
    return {"description": "API calls", "quantity": "12.5", "unit_price": "0.40", "date": "2026-02-03"} | fields


def pdf_file(data: bytes, name: str = "NS2000015.pdf", mime: str = "application/pdf") -> dict:
    return {"file": {"name": name, "data": data_uri(data, mime)}}


MALFORMED_JSON = {
    "cut-short": b'{"document_id": "NS1"',
    "trailing-comma": b'{"document_id": "NS1",}',
    "single-quotes": b"{'document_id': 'NS1'}",
    "empty-body": b"",
    "not-utf-8": b'{"document_id": "\xff\xfe"}',
    "lone-surrogate": b'{"document_id": "\\ud800"}',
    "nan": b'{"document_id": NaN}',
    "array": b"[]",
    "string": b'"approve"',
    "number": b"12",
    "null": b"null",
    "deeply-nested": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
}

CASES: dict[str, Case] = {
    **{
        f"malformed-json-{name}-{operation}": Case(operation, raw=raw)
        for name, raw in MALFORMED_JSON.items()
        for operation in ("approve", "create_account", "post_usage")
    },
    # Wrong types
    "account-name-number": Case("create_account", {"name": 5}, pointer="/name"),
    "account-name-list": Case("create_account", {"name": ["Acme"]}, pointer="/name"),
    "account-class-id-string": Case(
        "create_account", {"name": "Acme", "account_class_id": "one"}, pointer="/account_class_id"
    ),
    "account-class-id-bool": Case(
        "create_account", {"name": "Acme", "account_class_id": True}, pointer="/account_class_id"
    ),
    "plan-id-float": Case("create_subscription", {"plan_id": 1.5, "start_date": "2026-03-01"}, pointer="/plan_id"),
    "plan-id-object": Case(
        "create_subscription", {"plan_id": {"id": 1}, "start_date": "2026-03-01"}, pointer="/plan_id"
    ),
    "quantity-bool": Case("post_usage", usage(quantity=True), pointer="/quantity"),
    "quantity-float": Case("post_usage", usage(quantity=12.5), pointer="/quantity"),
    "unit-price-number": Case("post_usage", usage(unit_price=0.4), pointer="/unit_price"),
    "usage-date-number": Case("post_usage", usage(date=20260203), pointer="/date"),
    "billing-date-bool": Case("approve", erp(billing_date=True), pointer="/billing_date"),
    "document-id-number": Case("approve", erp(document_id=15), pointer="/document_id"),
    "amount-string": Case("approve", erp(amount="95.00"), pointer="/amount"),
    "amount-total-number": Case("approve", erp(amount={"total": 95, "currency": "USD"}), pointer="/amount/total"),
    "file-list": Case("approve", erp(file=[]), pointer="/file"),
    "comment-number": Case("revoke", erp(comment=5), pointer="/comment"),
    # Huge numbers
    "plan-id-huge": Case("create_subscription", {"plan_id": 10**30, "start_date": "2026-03-01"}, pointer="/plan_id"),
    "account-class-id-above-bigint": Case(
        "create_account", {"name": "Acme", "account_class_id": 2**63}, pointer="/account_class_id"
    ),
    "quantity-huge-integer": Case("post_usage", usage(quantity=10**400), pointer="/quantity"),
    "quantity-huge-string": Case("post_usage", usage(quantity="1" + "0" * 400), pointer="/quantity"),
    "unit-price-huge": Case("post_usage", usage(unit_price="9" * 1000), pointer="/unit_price"),
    "total-huge": Case("approve", erp(amount={"total": "9" * 40 + ".00", "currency": "USD"}), pointer="/amount/total"),
    "total-exponent": Case("approve", erp(amount={"total": "1e999999", "currency": "USD"}), pointer="/amount/total"),
    # Too many decimals for the currency or the field
    "total-three-decimals": Case(
        "approve", erp(amount={"total": "95.005", "currency": "USD"}), pointer="/amount/total"
    ),
    "total-decimals-of-yen": Case("approve", erp(amount={"total": "95.5", "currency": "JPY"}), pointer="/amount/total"),
    "unit-price-nine-decimals": Case("post_usage", usage(unit_price="0.123456789"), pointer="/unit_price"),
    # Impossible dates
    "billing-date-feb-30": Case("approve", erp(billing_date="2026-02-30"), pointer="/billing_date"),
    "due-date-month-13": Case("approve", erp(due_date="2026-13-01"), pointer="/due_date"),
    "due-date-year-zero": Case("approve", erp(due_date="0000-01-01"), pointer="/due_date"),
    "due-date-five-digit-year": Case("approve", erp(due_date="99999-01-01"), pointer="/due_date"),
    "start-date-feb-29-of-2026": Case(
        "create_subscription", {"plan_id": 1, "start_date": "2026-02-29"}, pointer="/start_date"
    ),
    "usage-date-not-iso": Case("post_usage", usage(date="03.02.2026"), pointer="/date"),
    "usage-date-with-time": Case("post_usage", usage(date="2026-02-03T10:00:00"), pointer="/date"),
    # 100 KB strings
    "account-name-100kb": Case("create_account", {"name": HUNDRED_KB}, pointer="/name"),
    "account-email-100kb": Case("create_account", {"name": "Acme", "email": HUNDRED_KB}, pointer="/email"),
    "document-id-100kb": Case("approve", erp(document_id=HUNDRED_KB), pointer="/document_id"),
    "comment-100kb": Case("revoke", erp(comment=HUNDRED_KB), pointer="/comment"),
    "description-100kb": Case("post_usage", usage(description=HUNDRED_KB), pointer="/description"),
    "external-id-100kb": Case("post_usage", usage(external_id=HUNDRED_KB), pointer="/external_id"),
    "link-100kb": Case(
        "approve", erp(link={"name": "NS1", "data": "https://erp.example/" + HUNDRED_KB}), pointer="/link/data"
    ),
    # NUL characters, which PostgreSQL cannot store in text
    "account-name-nul": Case("create_account", {"name": "Acme\x00"}, pointer="/name"),
    "account-address-nul": Case("create_account", {"name": "Acme", "address": "\x00"}, pointer="/address"),
    "document-id-nul": Case("approve", erp(document_id="NS\x0015"), pointer="/document_id"),
    "document-id-nul-by-account": Case("approve_by_account", erp(document_id="NS\x0015"), pointer="/document_id"),
    "complete-document-id-nul": Case("complete", erp(document_id="\x00"), pointer="/document_id"),
    "comment-nul": Case("revoke", erp(comment="late\x00"), pointer="/comment"),
    "description-nul": Case("post_usage", usage(description="\x00"), pointer="/description"),
    "external-id-nul": Case("post_usage", usage(external_id="u\x001"), pointer="/external_id"),
    "file-name-nul": Case("approve", erp(**pdf_file(pdf_bytes(), name="NS1\x00.pdf")), pointer="/file/name"),
    # Files that are no document (INVOICE-0107), and names that would walk out of a directory
    "file-png": Case("approve", erp(**pdf_file(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)), pointer="/file/data"),
    "file-text-as-pdf": Case("approve", erp(**pdf_file(b"Invoice 15: 95.00 USD\n")), pointer="/file/data"),
    "file-pdf-header-only": Case("approve", erp(**pdf_file(b"%PDF-1.7\n%%EOF\n")), pointer="/file/data"),
    "file-executable": Case("approve", erp(**pdf_file(b"MZ\x90\x00" + b"\0" * 60)), pointer="/file/data"),
    "file-zip-of-a-program": Case("approve", erp(**pdf_file(zip_bytes({"run.exe": "MZ"}))), pointer="/file/data"),
    "file-docx-sent-as-pdf": Case("approve", erp(**pdf_file(docx_bytes())), pointer="/file/data"),
    "file-not-base64": Case(
        "approve", erp(file={"name": "NS1.pdf", "data": "data:application/pdf;base64,%%%"}), pointer="/file/data"
    ),
    "file-plain-base64": Case(
        "approve", erp(file={"name": "NS1.pdf", "data": base64.b64encode(pdf_bytes()).decode()}), pointer="/file/data"
    ),
    **{
        f"file-name-{label}": Case("approve", erp(**pdf_file(pdf_bytes(), name=name)), pointer="/file/name")
        for label, name in {
            "dot-dot-slash": "../../etc/passwd",
            "dot-dot-backslash": "..\\..\\boot.ini",
            "absolute": "/etc/passwd",
            "dot-dot": "..",
            "drive": "C:\\invoice.pdf",
            "encoded-slash-inside": "a/%2e%2e/b.pdf",
            "bidi-override": "invoice\u202efdp.exe",
        }.items()
    },
    "link-name-dot-dot-slash": Case(
        "approve", erp(link={"name": "../NS1", "data": "https://erp.example/1"}), pointer="/link/name"
    ),
    "link-with-line-break": Case(
        "approve", erp(link={"name": "NS1", "data": "https://erp.example/1\r\nSet-Cookie: a"}), pointer="/link/data"
    ),
    "link-javascript": Case("approve", erp(link={"name": "NS1", "data": "javascript:alert(1)"}), pointer="/link/data"),
    # A body bigger than the largest attachment can make it (10 MB of file is ~14 MB of base64)
    "body-16-mb": Case("approve", erp(**pdf_file(pdf_bytes(size=12 * 1024 * 1024))), status=413),
}

READ_CASES = {
    "page-size-zero": ("/invoices", {"page[size]": "0"}, 400, "page[size]"),
    "page-size-huge": ("/invoices", {"page[size]": "9" * 40}, 400, "page[size]"),
    "page-number-negative": ("/payments", {"page[number]": "-1"}, 400, "page[number]"),
    "filter-impossible-date": ("/invoices", {"filter[billing_date]": "2026-02-30"}, 400, "filter[billing_date]"),
    "filter-nul": ("/invoices", {"filter[status]": "closed\x00"}, 400, "filter[status]"),
    "filter-100kb": ("/invoices", {"filter[status]": HUNDRED_KB}, 400, "filter[status]"),
    "filter-unknown": ("/invoices", {"filter[stauts]": "closed"}, 400, "filter[stauts]"),
    "include-unknown": ("/payments", {"include": "passwords"}, 400, "include"),
    "events-after-huge": ("/events", {"after": "1" + "0" * 30}, 400, "after"),
    "id-huge": ("/invoices/" + "9" * 30, {}, 404, None),
    "id-not-a-number": ("/invoices/abc", {}, 404, None),
    "id-negative": ("/payments/-1", {}, 404, None),
    "id-traversal": ("/invoices/..%2f..%2fetc%2fpasswd", {}, 404, None),
}


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(at(APPROVAL_DAY), tick=False):
        yield


@pytest.fixture
def story(erp_reseller) -> dict:
    invoice = closed_erp_invoice(erp_reseller)
    create_plan(
        reseller=erp_reseller, name="Metered", fee=2_000, billing_day=1, tax_rate_bp=2_000, actor=SYSTEM, now=T0
    )
    subscription = Subscription.objects.filter(account=invoice.account).first()
    return {
        "reseller": erp_reseller,
        "invoice": invoice.pk,
        "account": invoice.account_id,
        "subscription": subscription.pk,
    }


@pytest.fixture
def api(story) -> ApiClient:
    return ApiClient(token_for(story["reseller"], scopes=["read", "erp", "platform"]))


def base(story) -> str:
    return f"/api/v3/resellers/{story['reseller'].pk}"


def assert_refused(response, status: int, *, pointer=None, parameter=None) -> dict:
    assert response.status_code == status, response.content[:2000]
    assert response["Content-Type"] == MEDIA_TYPE
    error = response.json()["errors"][0]
    assert CODE.match(error.get("code", "")), error
    assert error["status"] == str(status)
    if pointer is not None:
        assert error.get("source", {}).get("pointer") == pointer, error
    if parameter is not None:
        assert error.get("source", {}).get("parameter") == parameter, error
    return error


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
@pytest.mark.parametrize("idempotency_key", [None, "retry-1"], ids=["plain", "with-idempotency-key"])
def test_bad_input_is_refused_by_name_and_changes_nothing(story, api, case, idempotency_key):
    path = base(story) + PATHS[case.operation].format(**story)
    raw = case.raw if case.raw is not None else json.dumps(case.body).encode()
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    before = snapshot()
    response = api.post(path, raw=raw, **headers)
    assert_refused(response, case.status, pointer=case.pointer)
    assert snapshot() == before, "refused input changed data (R47)"
    if idempotency_key:
        # The refusal is the key's answer: a retry replays it byte for byte (erp-api.md, "Conventions").
        replay = api.post(path, raw=raw, **headers)
        assert (replay.status_code, replay.content) == (response.status_code, response.content)
        assert snapshot() == before


@pytest.mark.parametrize(("path", "params", "status", "parameter"), READ_CASES.values(), ids=READ_CASES.keys())
def test_bad_read_parameters_and_ids_are_refused_by_name(story, api, path, params, status, parameter):
    before = api_snapshot()
    assert_refused(api.get(base(story) + path, params), status, parameter=parameter)
    assert api_snapshot() == before
