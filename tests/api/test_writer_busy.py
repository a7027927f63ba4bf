"""Writer waits on SQLite are bounded for requests: while another process holds the writer (a long billing day),
an API write gives up after ``WRITER_WAIT_SECONDS`` with 503 and ``Retry-After`` and changes nothing, and reads go
on. (PostgreSQL has no single writer; there the test checks that writes simply work.)"""

import fcntl
import json
import os
import time

import pytest
from django.db import connection
from django.test import Client

from arrears.invoices.models import Invoice
from tests.api.conftest import MEDIA_TYPE, token_for
from tests.service_support import closed_erp_invoice

pytestmark = pytest.mark.django_db(transaction=True)
WAIT = 0.5


@pytest.fixture
def bounded_wait():
    connection.close()
    connection.settings_dict["WRITER_WAIT_SECONDS"] = WAIT
    yield
    connection.close()
    connection.settings_dict.pop("WRITER_WAIT_SECONDS", None)


def hold_writer_lock():
    """The writer lock as another process's long transaction holds it."""
    fd = os.open(f"{connection.settings_dict['NAME']}.writer-lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def approve(client, reseller, invoice, **headers):
    return client.post(
        f"/api/v3/resellers/{reseller.pk}/invoices/{invoice.pk}/approve",
        json.dumps({"document_id": "NS-77", "billing_date": invoice.billing_date.isoformat()}),
        content_type=MEDIA_TYPE,
        **headers,
    )


def test_a_write_behind_a_long_transaction_answers_503_and_changes_nothing(erp_reseller, bounded_wait):
    invoice = closed_erp_invoice(erp_reseller)
    client = Client(HTTP_X_API_TOKEN=token_for(erp_reseller))
    if connection.vendor != "sqlite":
        # No single writer to wait for: the bound is SQLite's alone, and writes go through as usual.
        assert approve(client, erp_reseller, invoice).status_code == 200
        return
    assert client.get(f"/api/v3/resellers/{erp_reseller.pk}/invoices").status_code == 200  # last_used_at written
    held = hold_writer_lock()
    try:
        started = time.monotonic()
        response = approve(client, erp_reseller, invoice)
        waited = time.monotonic() - started
        keyed = approve(client, erp_reseller, invoice, HTTP_IDEMPOTENCY_KEY="approve-77")
        read = client.get(f"/api/v3/resellers/{erp_reseller.pk}/invoices/{invoice.pk}")
    finally:
        os.close(held)

    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "5"
    assert response.json()["errors"][0]["code"] == "SERVER-0503"
    assert WAIT <= waited < WAIT + 2
    assert keyed.status_code == 503 and keyed.json()["errors"][0]["code"] == "SERVER-0503"
    assert read.status_code == 200, "reads do not wait for the writer"
    assert Invoice.objects.get(pk=invoice.pk).approved is False
    assert approve(client, erp_reseller, invoice, HTTP_IDEMPOTENCY_KEY="approve-77").status_code == 200
