"""The reconciliation page: approved ERP invoices of a billing period, platform total against the ERP's (R17, R18)."""

import csv
import io
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from arrears.core.actors import SYSTEM
from arrears.invoices.models import Invoice
from arrears.invoices.services import approve_invoice
from tests.conftest import at
from tests.factories import ResellerFactory
from tests.panels.conftest import billed_accounts

SEPTEMBER, OCTOBER = date(2026, 9, 1), date(2026, 10, 1)
NOW = at(date(2026, 11, 3))


def approve(invoice, number, amount=None):
    """Approve as the ERP would; ``amount`` is ``(total, currency)`` of the external total, or None."""
    external = {"total": f"{amount[0] / 100:.2f}", "currency": amount[1]} if amount else None
    return approve_invoice(
        invoice, document_id=number, billing_date=invoice.billing_date, amount=external, actor=SYSTEM, now=NOW
    )


def invoices_of(reseller, billing_date):
    return list(
        Invoice.objects.filter(reseller=reseller, billing_date=billing_date, status="closed")
        .select_related("payment", "account")
        .order_by("id")
    )


@pytest.fixture
def world(db):
    """Reseller A in ERP mode with four billed accounts (invoices of 144.00 EUR): in October one approved as is,
    one with a lower external total, one in another currency, one not approved; in September one approved.
    Its sibling B has an approved October invoice too."""
    parent = ResellerFactory(name="Parent")
    a = ResellerFactory(name="Reseller A", parent=parent, erp=True)
    b = ResellerFactory(name="Reseller B", parent=parent, erp=True)
    billed_accounts(a, 4)
    billed_accounts(b, 1)
    same, lower, other, waiting = invoices_of(a, OCTOBER)
    approve(same, "ERP-SAME")
    approve(lower, "ERP-LOWER", (14_000, lower.currency))
    approve(other, "ERP-USD", (15_500, "USD"))
    approve(invoices_of(a, SEPTEMBER)[0], "ERP-SEPT")
    approve(invoices_of(b, OCTOBER)[0], "ERP-SIBLING", (1, "EUR"))
    return {"a": a, "b": b, "same": same, "lower": lower, "other": other, "waiting": waiting, "currency": same.currency}


def rows_of(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_an_anonymous_visit_goes_to_the_sign_in_page(client):
    response = client.get("/operator/reconciliation/")
    assert response.status_code == 302
    assert response["Location"].startswith("/operator/login/?next=/operator/reconciliation/")


def test_the_default_period_is_the_latest_with_approved_invoices_and_shows_only_approved_ones(world, sign_in):
    client = sign_in(world["a"], "viewer")
    response = client.get("/operator/reconciliation/")
    assert response.status_code == 200
    body = response.content.decode()
    assert response.context["period"] == OCTOBER
    assert response.context["periods"] == [OCTOBER, SEPTEMBER]
    for number in ("ERP-SAME", "ERP-LOWER", "ERP-USD"):
        assert number in body
    assert "ERP-SEPT" not in body
    assert world["waiting"].document_id not in body
    assert "ERP-SIBLING" not in body


def test_differences_are_integers_and_other_currencies_are_not_subtracted(world, sign_in):
    client = sign_in(world["a"])
    table = client.get("/operator/reconciliation/").context["table"]
    rows = {row.record.document_id: row.record for row in table.paginated_rows}
    assert rows["ERP-SAME"].difference == 0 and rows["ERP-SAME"].same_currency is True
    assert rows["ERP-LOWER"].difference == 14_000 - world["lower"].total
    assert isinstance(rows["ERP-LOWER"].difference, int)
    assert rows["ERP-USD"].difference is None and rows["ERP-USD"].same_currency is False
    body = client.get("/operator/reconciliation/").content.decode()
    assert "Other currency" in body and "Same as platform" in body


def test_the_blocking_flag_follows_r18(world, sign_in):
    client = sign_in(world["a"])
    table = client.get("/operator/reconciliation/").context["table"]
    flags = {row.record.document_id: row.record.blocks_balance for row in table.paginated_rows}
    assert flags == {"ERP-SAME": False, "ERP-LOWER": True, "ERP-USD": True}
    # The flag is the payment's own rule (R18).
    for invoice in Invoice.objects.filter(document_id__in=flags).select_related("payment"):
        assert invoice.payment.balance_payment_allowed is not flags[invoice.document_id]


def test_an_external_total_equal_to_the_platforms_does_not_block(db, sign_in):
    reseller = ResellerFactory(erp=True)
    billed_accounts(reseller, 1)
    invoice = invoices_of(reseller, OCTOBER)[0]
    approve(invoice, "ERP-EQUAL", (invoice.total, invoice.currency))
    record = sign_in(reseller).get("/operator/reconciliation/").context["table"].paginated_rows[0].record
    assert (record.difference, record.blocks_balance) == (0, False)


def test_the_totals_per_currency(world, sign_in):
    totals = sign_in(world["a"]).get("/operator/reconciliation/").context["totals"]
    by_currency = {item["currency"]: item for item in totals}
    eur, usd = by_currency[world["currency"]], by_currency["USD"]
    platform = world["same"].total + world["lower"].total + world["other"].total
    assert (eur["platform"], eur["external"], eur["count"]) == (platform, world["same"].total + 14_000, 3)
    assert eur["difference"] == 14_000 - world["lower"].total
    assert (eur["blocking"], eur["other_currency"]) == (2, 1)
    assert (usd["platform"], usd["external"], usd["count"]) == (0, 15_500, 0)


def test_only_differences_and_the_account_filter(world, sign_in):
    client = sign_in(world["a"])
    response = client.get("/operator/reconciliation/", {"differences": "yes"})
    numbers = {row.record.document_id for row in response.context["table"].paginated_rows}
    assert numbers == {"ERP-LOWER", "ERP-USD"}
    response = client.get("/operator/reconciliation/", {"account": world["lower"].account_id})
    numbers = {row.record.document_id for row in response.context["table"].paginated_rows}
    assert numbers == {"ERP-LOWER"}
    response = client.get("/operator/reconciliation/", {"period": SEPTEMBER.isoformat()})
    numbers = {row.record.document_id for row in response.context["table"].paginated_rows}
    assert numbers == {"ERP-SEPT"}


def test_an_unknown_period_is_a_field_error_and_shows_nothing(world, sign_in):
    response = sign_in(world["a"]).get("/operator/reconciliation/", {"period": "2020-01-01"})
    assert response.status_code == 200
    assert "period" in response.context["filter"].form.errors
    assert response.context["table"].paginator.count == 0


def test_sorting_by_difference(world, sign_in):
    client = sign_in(world["a"])
    rows = client.get("/operator/reconciliation/", {"sort": "-difference"}).context["table"].paginated_rows
    assert [row.record.document_id for row in rows][:2] == ["ERP-SAME", "ERP-LOWER"]
    rows = client.get("/operator/reconciliation/", {"sort": "difference"}).context["table"].paginated_rows
    assert [row.record.document_id for row in rows][0] == "ERP-USD"


def test_the_csv_is_exactly_the_filtered_list(world, sign_in):
    client = sign_in(world["a"])
    for query in (
        {},
        {"differences": "yes"},
        {"account": world["other"].account_id},
        {"period": SEPTEMBER.isoformat()},
        {"sort": "-total"},
    ):
        page = client.get("/operator/reconciliation/", {**query, "per_page": 100}).context["table"]
        response = client.get("/operator/reconciliation/export.csv", query)
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        rows = rows_of(response)
        assert [row["number"] for row in rows] == [row.record.document_id for row in page.paginated_rows]
    rows = {row["number"]: row for row in rows_of(client.get("/operator/reconciliation/export.csv"))}
    assert rows["ERP-LOWER"]["difference"] == f"{(14_000 - world['lower'].total) / 100:.2f}"
    assert rows["ERP-LOWER"]["blocks_balance"] == "yes"
    assert rows["ERP-USD"]["difference"] == "other currency"
    assert (rows["ERP-SAME"]["erp_total"], rows["ERP-SAME"]["blocks_balance"]) == ("", "no")
    assert "ERP-SIBLING" not in rows


def test_a_sibling_resellers_rows_are_never_shown(world, sign_in):
    client = sign_in(world["b"])
    response = client.get("/operator/reconciliation/")
    body = response.content.decode()
    assert "ERP-SIBLING" in body
    assert not any(number in body for number in ("ERP-SAME", "ERP-LOWER", "ERP-USD"))
    # A's account id as a filter finds nothing in B, and B's CSV holds only B's invoice.
    response = client.get("/operator/reconciliation/", {"account": world["lower"].account_id})
    assert response.context["table"].paginator.count == 0
    assert [row["number"] for row in rows_of(client.get("/operator/reconciliation/export.csv"))] == ["ERP-SIBLING"]


def test_the_empty_state_explains(db, sign_in):
    reseller = ResellerFactory(erp=True)
    billed_accounts(reseller, 1)
    body = sign_in(reseller).get("/operator/reconciliation/").content.decode()
    assert "No approved ERP invoice in this period." in body
    assert "Invoices appear here once the ERP approves them." in body


def test_the_query_count_does_not_grow_with_the_page_size(db, sign_in):
    reseller = ResellerFactory(erp=True)
    billed_accounts(reseller, 30)
    for index, invoice in enumerate(invoices_of(reseller, OCTOBER)):
        approve(invoice, f"ERP-{index}", (invoice.total + index, invoice.currency) if index % 3 else None)
    client = sign_in(reseller)
    counts = []
    for size in (25, 100):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/operator/reconciliation/?per_page={size}")
        assert response.status_code == 200
        assert len(response.context["table"].paginated_rows) == min(size, 30)
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]
