"""The billing runs page: billed days with their counts, the catch-up state, and Run billing now (queued, with its
progress on the page until done)."""

from datetime import UTC, date, datetime

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from arrears.billing import tasks
from arrears.billing.models import BillingRequest, BillingRun
from arrears.billing.services import request_billing_run
from arrears.core.actors import SYSTEM
from arrears.events.models import Event
from arrears.invoices.models import Invoice
from arrears.tenants.models import Manager
from tests.factories import AccountFactory, SubscriptionFactory
from tests.panels.conftest import BILLED_UNTIL, billed_accounts

TODAY = datetime(2026, 11, 5, 9, tzinfo=UTC)  # three days after BILLED_UNTIL


@pytest.fixture
def immediate_queue():
    """Tasks run as they are enqueued."""
    huey = settings.HUEY
    was = huey.immediate
    huey.immediate = True
    yield
    huey.immediate = was


@pytest.fixture
def today():
    with time_machine.travel(TODAY, tick=False):
        yield


def test_the_page_lists_the_billed_days_with_their_counts_and_the_catch_up_state(erp_world, sign_in, today):
    # Given reseller A billed up to 2 November and today is 5 November
    client = sign_in(erp_world["a"], Manager.Role.VIEWER)
    # When a viewer opens the page
    response = client.get("/operator/billing-runs/")
    body = response.content.decode()
    # Then the runs are listed newest first with their counts, and three days are due (3, 4 and 5 November)
    assert response.status_code == 200
    assert response.context["catch_up"]["last"] == BILLED_UNTIL
    assert response.context["catch_up"]["due"] == 3
    rows = list(response.context["table"].paginated_rows)
    assert rows[0].record.date == BILLED_UNTIL
    assert "Invoices closed" in body and "Paid from balance" in body
    # And a viewer gets no Run billing now button
    assert "Run billing now</button>" not in body
    # And B's runs are not A's
    assert {row.record.reseller_id for row in rows} == {erp_world["a"].pk}


def test_the_query_count_of_the_list_does_not_grow_with_its_page_size(reseller, sign_in, today):
    billed_accounts(reseller, 2)
    client = sign_in(reseller)
    counts = []
    for size in (25, 100):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/operator/billing-runs/?per_page={size}").status_code == 200
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]
    assert BillingRun.objects.filter(reseller=reseller).count() > 25


def test_run_billing_now_bills_the_due_days_and_ends_done_with_its_counts(
    reseller, sign_in, today, immediate_queue, django_capture_on_commit_callbacks
):
    # Given an account billed up to 2 November, and three days due
    account = billed_accounts(reseller, 1)[0]
    client = sign_in(reseller, Manager.Role.BILLING_MANAGER)
    assert "Run billing now</button>" in client.get("/operator/billing-runs/").content.decode()
    # When a billing manager runs billing now (the task runs once the request commits)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/operator/billing-runs/run/")
    # Then the due days are billed
    assert response.status_code == 302
    assert max(BillingRun.objects.filter(reseller=reseller).values_list("date", flat=True)) == date(2026, 11, 5)
    # And the request is done with its days and summed counts
    request = BillingRequest.objects.get(reseller=reseller)
    assert (request.status, request.days_total, request.days_done) == ("done", 3, 3)
    assert (request.first_date, request.last_date) == (date(2026, 11, 3), date(2026, 11, 5))
    assert request.requested_by == client.manager.user.email
    assert set(request.counts) >= {"charges_created", "invoices_closed", "payments_expired"}
    assert request.started_at and request.finished_at
    # And each state change has its event
    assert list(
        Event.objects.filter(subject_type="billingrequest", subject_id=request.pk)
        .order_by("id")
        .values_list("type", "actor_kind")
    ) == [
        ("billing_request.queued", "manager"),
        ("billing_request.started", "system"),
        ("billing_request.done", "system"),
    ]
    # And the page shows it done, and nothing more is due
    page = client.get("/operator/billing-runs/")
    assert page.context["catch_up"]["due"] == 0
    assert "Billed 3 days" in page.content.decode()
    assert Invoice.objects.filter(account=account).exists()


def test_a_second_request_is_refused_while_one_is_queued(reseller, sign_in, today):
    # Given a queued request (the queue has not run it)
    billed_accounts(reseller, 1)
    client = sign_in(reseller, Manager.Role.BILLING_MANAGER)
    assert client.post("/operator/billing-runs/run/").status_code == 302
    # When the manager asks again
    response = client.post("/operator/billing-runs/run/")
    # Then it is refused with a clear message, and there is still one request
    assert response.status_code == 409
    assert "already queued or running" in response.content.decode()
    assert "BILLING-0101" in response.content.decode()
    assert BillingRequest.objects.filter(reseller=reseller).count() == 1
    # And the disabled button says one runs
    assert "A run is in progress" in response.content.decode()


def test_a_request_of_another_reseller_does_not_block(erp_world, sign_in, today):
    request_billing_run(erp_world["b"], actor=SYSTEM, now=TODAY, start=tasks.run_billing_request)
    client = sign_in(erp_world["a"], Manager.Role.BILLING_MANAGER)
    assert client.post("/operator/billing-runs/run/").status_code == 302
    assert BillingRequest.objects.filter(reseller=erp_world["a"]).count() == 1
    # And A's page shows only A's request
    assert client.get("/operator/billing-runs/progress/").context["billing_request"].reseller_id == erp_world["a"].pk


def test_a_viewer_may_not_run_billing(reseller, sign_in, today):
    billed_accounts(reseller, 1)
    client = sign_in(reseller, Manager.Role.VIEWER)
    assert client.post("/operator/billing-runs/run/").status_code == 403
    assert not BillingRequest.objects.exists()


def _request(reseller, **values) -> BillingRequest:
    return BillingRequest.objects.create(
        reseller=reseller, requested_by="someone@example.com", requested_at=TODAY, updated_at=TODAY, **values
    )


@pytest.mark.parametrize(
    ("values", "polls", "text"),
    [
        ({"status": "queued"}, True, "Waiting for the task consumer"),
        (
            {"status": "running", "days_total": 4, "days_done": 1, "current_step": "Billing 2026-11-04 (day 2 of 4)"},
            True,
            "Day 2 of 4",
        ),
        (
            {
                "status": "done",
                "days_total": 2,
                "days_done": 2,
                "first_date": date(2026, 11, 4),
                "last_date": date(2026, 11, 5),
                "counts": {"invoices_closed": 7},
                "finished_at": TODAY,
            },
            False,
            "Billed 2 days",
        ),
        (
            {
                "status": "failed",
                "days_total": 2,
                "days_done": 1,
                "error": "OperationalError: disk full",
                "finished_at": TODAY,
            },
            False,
            "disk full",
        ),
    ],
    ids=["queued", "running", "done", "failed"],
)
def test_the_progress_fragment_polls_while_the_request_is_active(reseller, sign_in, today, values, polls, text):
    _request(reseller, **values)
    client = sign_in(reseller, Manager.Role.VIEWER)
    response = client.get("/operator/billing-runs/progress/")
    body = response.content.decode()
    assert response.status_code == 200
    assert text in body
    assert ('hx-trigger="every 2s"' in body) is polls
    assert "<html" not in body  # a fragment
    # And the whole page shows the same
    assert text in client.get("/operator/billing-runs/").content.decode()


def test_the_poll_that_sees_the_end_reloads_the_page_once(reseller, sign_in, today):
    _request(reseller, status="done", finished_at=TODAY)
    client = sign_in(reseller, Manager.Role.VIEWER)
    assert client.get("/operator/billing-runs/progress/", HTTP_HX_REQUEST="true")["HX-Refresh"] == "true"
    assert "HX-Refresh" not in client.get("/operator/billing-runs/progress/")


def test_a_failing_day_ends_the_request_failed_and_keeps_the_days_before(
    reseller, sign_in, today, immediate_queue, django_capture_on_commit_callbacks, monkeypatch
):
    billed_accounts(reseller, 1)
    real = tasks.run_billing_day

    def fail_on_the_last_day(reseller, day, **kwargs):
        if day == date(2026, 11, 5):
            raise RuntimeError("boom")
        return real(reseller, day, **kwargs)

    monkeypatch.setattr(tasks, "run_billing_day", fail_on_the_last_day)
    client = sign_in(reseller, Manager.Role.BILLING_MANAGER)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/operator/billing-runs/run/")
    request = BillingRequest.objects.get(reseller=reseller)
    assert (request.status, request.days_done, request.days_total) == ("failed", 2, 3)
    assert "boom" in request.error
    assert max(BillingRun.objects.filter(reseller=reseller).values_list("date", flat=True)) == date(2026, 11, 4)
    # And a new request may be made
    assert client.post("/operator/billing-runs/run/").status_code == 302


def test_a_lost_request_no_longer_blocks_after_two_hours(reseller, sign_in):
    _request(reseller, status="running")
    with time_machine.travel(datetime(2026, 11, 5, 12, tzinfo=UTC), tick=False):
        client = sign_in(reseller, Manager.Role.BILLING_MANAGER)
        assert client.post("/operator/billing-runs/run/").status_code == 302
    assert list(BillingRequest.objects.filter(reseller=reseller).order_by("id").values_list("status", flat=True)) == [
        "failed",
        "queued",
    ]


def test_the_engine_progress_of_a_day_is_written_to_the_cache_only(reseller, today, monkeypatch):
    """The task writes nothing to the database inside a billing day: only between days."""
    account = AccountFactory(reseller=reseller)
    SubscriptionFactory(account=account, start_date=date(2026, 11, 4))
    request = request_billing_run(reseller, actor=SYSTEM, now=TODAY, start=tasks.run_billing_request)
    steps = []
    monkeypatch.setattr(tasks, "step_cache_key", lambda request_id: steps.append(request_id) or f"k{request_id}")
    tasks.run_billing_request.call_local(request.pk)
    request.refresh_from_db()
    assert request.status == "done" and request.days_total == 2
    assert steps and set(steps) == {request.pk}


def test_a_failed_scheduled_billing_shows_until_a_day_is_billed_again(sign_in, reseller, today, immediate_queue):
    from arrears.billing.services import record_billing_failure

    client = sign_in(reseller)
    record_billing_failure(reseller.pk, error="RuntimeError: a plan has no price", now=TODAY)
    page = client.get("/operator/billing-runs/").content.decode()
    assert "Scheduled billing failed" in page and "a plan has no price" in page

    SubscriptionFactory(account=AccountFactory(reseller=reseller), start_date=date(2026, 11, 5))
    with time_machine.travel(datetime(2026, 11, 5, 9, 30, tzinfo=UTC), tick=False):
        tasks.bill_reseller(reseller.pk)  # and its day's chunks, as a worker runs them
    assert "Scheduled billing failed" not in client.get("/operator/billing-runs/").content.decode()
