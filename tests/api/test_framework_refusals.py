"""The HTTP layer's refusals under /api/ (issue 12): a body over the limit, a chunked body, a Host the site does
not serve, a method a route does not take, a Content-Length that is no number. Each is a JSON:API error with a
code and the header at fault, and changes nothing; the largest documented attachment still fits."""

import json

import pytest
import time_machine
from django.test import Client

from arrears.invoices.attachments import MAX_ATTACHMENT_BYTES
from arrears.invoices.models import Invoice, InvoiceAttachmentFile
from tests.api.conftest import MEDIA_TYPE, ApiClient, api_snapshot, token_for
from tests.api.erp_support import erp_body
from tests.conftest import at
from tests.sample_files import data_uri, pdf_bytes
from tests.service_support import APPROVAL_DAY, closed_erp_invoice


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(at(APPROVAL_DAY), tick=False):
        yield


@pytest.fixture
def invoice(erp_reseller) -> Invoice:
    return closed_erp_invoice(erp_reseller)


@pytest.fixture
def secret(erp_reseller) -> str:
    return token_for(erp_reseller, scopes=["read", "erp"])


def approve_path(invoice: Invoice) -> str:
    return f"/api/v3/resellers/{invoice.account.reseller_id}/invoices/{invoice.pk}/approve"


def approval_with_file(size: int) -> bytes:
    return json.dumps(
        erp_body("NS2000015", file={"name": "NS2000015.pdf", "data": data_uri(pdf_bytes(size=size), "application/pdf")})
    ).encode()


def refusal(response, status: int, code: str, header: str) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == MEDIA_TYPE
    assert response["Cache-Control"] == "no-store"
    (error,) = response.json()["errors"]
    assert (error["status"], error["code"], error["source"]) == (str(status), code, {"header": header}), error
    return error


def test_an_attachment_of_the_documented_10_mb_fits_in_the_body(invoice, secret):
    body = approval_with_file(MAX_ATTACHMENT_BYTES)
    assert len(body) > 13 * 1024 * 1024  # base64 and the rest of the approval
    response = ApiClient(secret).post(approve_path(invoice), raw=body)
    assert response.status_code == 200, response.content[:500]
    stored = InvoiceAttachmentFile.objects.get(invoice=invoice)
    assert len(bytes(stored.data)) == MAX_ATTACHMENT_BYTES


@pytest.mark.parametrize("idempotency_key", [None, "big-1"])
def test_a_body_over_the_limit_answers_413_before_it_is_read(invoice, secret, settings, idempotency_key):
    body = approval_with_file(MAX_ATTACHMENT_BYTES + 2 * 1024 * 1024)
    assert len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    before = api_snapshot()
    error = refusal(
        ApiClient(secret).post(approve_path(invoice), raw=body, **headers), 413, "REQUEST-0413", "Content-Length"
    )
    assert str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) in error["detail"]
    assert api_snapshot() == before  # no idempotency claim either


def test_a_chunked_body_is_asked_for_its_length(invoice, secret):
    before = api_snapshot()
    response = ApiClient(secret).post(
        approve_path(invoice), raw=json.dumps(erp_body("NS1")), **{"Transfer-Encoding": "chunked"}
    )
    refusal(response, 411, "REQUEST-0411", "Transfer-Encoding")
    assert api_snapshot() == before


def test_a_content_length_that_is_no_number_is_refused(invoice, secret):
    client = Client(HTTP_X_API_TOKEN=secret)
    response = client.generic("POST", approve_path(invoice), b"{}", content_type=MEDIA_TYPE, CONTENT_LENGTH="12abc")
    refusal(response, 400, "REQUEST-0400", "Content-Length")


def test_a_host_the_site_does_not_serve_is_refused_in_json_api(invoice, secret):
    response = Client(HTTP_X_API_TOKEN=secret).get(
        f"/api/v3/resellers/{invoice.account.reseller_id}/invoices", HTTP_HOST="billing.attacker.example"
    )
    refusal(response, 400, "REQUEST-0400", "Host")


def test_a_host_the_site_does_not_serve_keeps_the_html_page_outside_the_api():
    response = Client().get("/operator/login", HTTP_HOST="billing.attacker.example")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


def test_a_method_a_route_does_not_take_answers_405_with_allow(invoice, secret):
    before = api_snapshot()
    response = ApiClient(secret).client.delete(f"/api/v3/resellers/{invoice.account.reseller_id}/invoices/{invoice.pk}")
    error = refusal(response, 405, "REQUEST-0405", "Allow")
    assert response["Allow"] == "GET"
    assert "GET" in error["detail"]
    assert api_snapshot() == before


def test_a_get_on_a_post_route_answers_405(invoice, secret):
    response = ApiClient(secret).get(approve_path(invoice))
    refusal(response, 405, "REQUEST-0405", "Allow")
    assert response["Allow"] == "POST"
