"""The dashboard, the ERP hand-off board: each figure counts what its list shows, only of the current reseller."""

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext

from arrears.core import clock
from arrears.invoices.models import Invoice
from arrears.payments.models import Payment
from tests.panels.conftest import billed_accounts


def figures(response):
    context = response.context
    return {
        "awaiting": context["awaiting"]["count"],
        "approved_unpaid": context["approved_unpaid"]["count"],
        "expired": context["expired"]["count"],
    }


def test_the_board_counts_what_waits_for_the_erp_and_what_is_approved_but_unpaid(erp_world, sign_in):
    # Given reseller A with two closed ERP invoices waiting for approval
    client = sign_in(erp_world["a"])
    waiting = list(Invoice.objects.filter(reseller=erp_world["a"], status="closed").order_by("id"))
    assert figures(client.get("/operator/"))["awaiting"] == len(waiting) == 2
    assert all(payment.managed_externally for payment in Payment.objects.filter(reseller=erp_world["a"]))

    # When the manager approves one
    client.post(f"/operator/invoices/{waiting[0].pk}/approve/", {"document_id": "ERP-1"})

    # Then it moves from "awaiting" to "approved, not paid", with its amount, and the oldest waiting one is listed
    response = client.get("/operator/")
    assert figures(response) == {"awaiting": 1, "approved_unpaid": 1, "expired": 0}
    assert response.context["approved_unpaid"]["amount"] == waiting[0].total
    assert [invoice.pk for invoice in response.context["oldest_waiting"]] == [waiting[1].pk]
    listed = client.get(response.context["links"]["awaiting"]).context["table"].paginator.count
    assert listed == figures(response)["awaiting"]


def test_a_cancelled_payments_invoice_waits_for_no_one_on_the_board_nor_behind_its_link(erp_world, sign_in):
    client = sign_in(erp_world["a"])
    cancelled = Invoice.objects.filter(reseller=erp_world["a"], status="closed").order_by("id").first()
    Payment.objects.filter(invoice=cancelled).update(status="cancelled")
    response = client.get("/operator/")
    assert figures(response)["awaiting"] == 1
    listed = client.get(response.context["links"]["awaiting"]).context["table"]
    assert [row.record.pk for row in listed.page] == [
        pk
        for pk in Invoice.objects.filter(reseller=erp_world["a"], status="closed")
        .exclude(pk=cancelled.pk)
        .values_list("pk", flat=True)
    ]


def test_a_default_mode_payment_is_never_counted_as_awaiting_or_approved(db, reseller, sign_in):
    billed_accounts(reseller, 2)
    response = sign_in(reseller).get("/operator/")
    assert figures(response)["awaiting"] == figures(response)["approved_unpaid"] == 0
    today = clock.local_date(clock.wall_clock(), reseller.timezone)
    unpaid = Payment.objects.filter(reseller=reseller)
    assert (
        response.context["expiring"]["count"]
        == unpaid.filter(
            status="waiting_for_payment", due_date__gte=today, due_date__lte=today + timedelta(days=7)
        ).count()
    )
    assert response.context["expired"]["count"] == unpaid.filter(status="expired").count()


def test_a_siblings_invoices_never_reach_the_board(erp_world, sign_in):
    client = sign_in(erp_world["a"])
    Payment.objects.filter(reseller=erp_world["a"]).update(status="cancelled")
    response = client.get("/operator/")
    assert figures(response) == {"awaiting": 0, "approved_unpaid": 0, "expired": 0}
    assert erp_world["account_b"].name.encode() not in response.content


def test_the_board_has_a_fixed_query_budget(db, reseller, sign_in):
    client = sign_in(reseller)
    with CaptureQueriesContext(connection) as empty:
        client.get("/operator/")
    billed_accounts(reseller, 12)
    with CaptureQueriesContext(connection) as full:
        client.get("/operator/")
    assert len(full.captured_queries) <= len(empty.captured_queries) + 1  # +1: the chart, cached per day
