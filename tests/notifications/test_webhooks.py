"""Webhooks: signed with Standard Webhooks, retried with backoff, an endpoint disabled after 10 failed events."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from standardwebhooks.webhooks import Webhook
from werkzeug import Response

from arrears.events.models import Event
from arrears.events.outbox import dispatch_pending_events
from arrears.notifications.handlers import create_event_handler, create_webhook_endpoint
from arrears.notifications.models import Delivery, DeliveryAttempt
from arrears.notifications.sending import DISABLE_AFTER_FAILED_EVENTS, MAX_ATTEMPTS, RETRY_DELAYS, deliver, deliver_due
from arrears.payments.services import top_up_balance
from tests.conftest import MANAGER, at
from tests.factories import AccountFactory
from tests.loopback import free_port
from tests.service_support import APPROVAL_DAY

NOW = at(APPROVAL_DAY)


def test_retries_span_at_least_eight_attempts_over_a_day():
    assert MAX_ATTEMPTS >= 8
    assert sum(RETRY_DELAYS, timedelta()) >= timedelta(hours=24)


@pytest.fixture
def endpoint(reseller, httpserver):
    endpoint = create_webhook_endpoint(reseller, url=httpserver.url_for("/hook"), actor=MANAGER, now=NOW)
    create_event_handler(
        reseller,
        event="payment.received",
        channel="webhook",
        name="to the ERP",
        endpoint=endpoint,
        actor=MANAGER,
        now=NOW,
    )
    return endpoint


def payments_received(reseller, count: int = 1) -> list[Delivery]:
    """Given ``count`` top-ups received and dispatched: their webhook deliveries."""
    events = []
    for _ in range(count):
        top_up_balance(AccountFactory(reseller=reseller), 1_000, actor=MANAGER, now=NOW)
        events.append(Event.objects.filter(type="payment.received").latest("id"))
    dispatch_pending_events(now=NOW)
    return list(Delivery.objects.filter(event__in=events, channel="webhook").order_by("id"))


def answering(*statuses: int):
    """A receiver handler answering ``statuses`` in turn, then 200; it records every request."""
    received = []

    def handler(request):
        received.append(request)
        status = statuses[len(received) - 1] if len(received) <= len(statuses) else 200
        return Response("ok" if status < 300 else "try later", status=status)

    return handler, received


def run_the_retry_schedule(start, *, deliveries=None):
    """Try again at every retry time of the schedule, and once more two days later."""
    moment = start
    for delay in (timedelta(), *RETRY_DELAYS, timedelta(days=2)):
        moment += delay
        if deliveries is None:
            deliver_due(now=moment)
        else:
            for delivery in deliveries:
                deliver(delivery.pk, now=moment)
    return moment


def test_the_webhook_body_is_the_event_and_its_signature_verifies(reseller, endpoint, httpserver):
    handler, received = answering()
    httpserver.expect_request("/hook", method="POST").respond_with_handler(handler)
    [delivery] = payments_received(reseller)

    assert deliver(delivery.pk, now=NOW) == "sent"

    [request] = received
    body = request.get_data(as_text=True)
    with time_machine.travel(NOW, tick=False):  # Standard Webhooks refuses timestamps 5 minutes off the clock
        verified = Webhook(endpoint.secret).verify(body, dict(request.headers))
    assert verified["id"] == delivery.event_id
    assert verified["type"] == "payment.received"
    assert verified["data"]["payment"]["total"] == "10.00"
    assert verified["data"]["account"]["id"] == delivery.event.account_id
    assert request.headers["webhook-id"] == f"msg_arrears_{delivery.pk}"
    with time_machine.travel(NOW, tick=False), pytest.raises(Exception, match="signature"):
        Webhook(endpoint.secret).verify(body.replace("10.00", "99.00"), dict(request.headers))


def test_a_receiver_that_fails_three_times_then_succeeds_gets_the_event_exactly_once_more(
    reseller, endpoint, httpserver
):
    # Given a receiver answering 500, 503, 502, then 200
    handler, received = answering(500, 503, 502)
    httpserver.expect_request("/hook").respond_with_handler(handler)
    [delivery] = payments_received(reseller)

    # When the sweep runs at every retry time and later
    run_the_retry_schedule(NOW)

    # Then it got 4 requests, the same message each time, and the last one succeeded
    assert len(received) == 4
    assert {request.headers["webhook-id"] for request in received} == {f"msg_arrears_{delivery.pk}"}
    assert len({request.get_data() for request in received}) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 4)
    assert [(a.succeeded, a.status_code) for a in delivery.log.all()] == [
        (False, 500),
        (False, 503),
        (False, 502),
        (True, 200),
    ]
    # the attempts follow the backoff schedule
    times = [attempt.attempted_at for attempt in delivery.log.all()]
    assert [later - earlier for earlier, later in zip(times, times[1:], strict=False)] == list(RETRY_DELAYS[:3])
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0 and endpoint.active


def test_a_delivery_gives_up_after_the_last_attempt(reseller, endpoint, httpserver):
    handler, received = answering(*[500] * 100)
    httpserver.expect_request("/hook").respond_with_handler(handler)
    [delivery] = payments_received(reseller)

    run_the_retry_schedule(NOW)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, len(received)) == ("failed", MAX_ATTEMPTS, MAX_ATTEMPTS)
    assert "HTTP 500" in delivery.last_error
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.consecutive_failures) == (True, 1)


def test_an_endpoint_that_always_fails_is_disabled_after_10_events_and_its_log_is_kept(reseller, endpoint, httpserver):
    # Given a receiver that always fails, and 11 events for it
    handler, received = answering(*[500] * 1000)
    httpserver.expect_request("/hook").respond_with_handler(handler)
    deliveries = payments_received(reseller, DISABLE_AFTER_FAILED_EVENTS + 1)
    first_nine, tenth, eleventh = deliveries[:9], deliveries[9], deliveries[10]

    # When nine events have failed, the endpoint is still on
    run_the_retry_schedule(NOW, deliveries=first_nine)
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.consecutive_failures) == (True, 9)

    # When the tenth fails too
    later = run_the_retry_schedule(NOW, deliveries=[tenth])

    # Then the endpoint is disabled, the waiting eleventh delivery cancelled, the log kept
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.consecutive_failures) == (False, DISABLE_AFTER_FAILED_EVENTS)
    assert endpoint.disabled_at is not None
    eleventh.refresh_from_db()
    assert eleventh.status == "cancelled"
    assert DeliveryAttempt.objects.filter(delivery__endpoint=endpoint).count() == 10 * MAX_ATTEMPTS
    assert len(received) == 10 * MAX_ATTEMPTS
    disabled = Event.objects.get(type="webhook_endpoint.disabled", subject_id=endpoint.pk)
    assert disabled.payload["deliveries_cancelled"] == 1

    # And later events are not sent to it
    payments_received(reseller)
    deliver_due(now=later)
    assert len(received) == 10 * MAX_ATTEMPTS
    assert not Delivery.objects.filter(endpoint=endpoint, status="pending").exists()


def test_a_success_resets_the_count_of_failed_events(reseller, endpoint, httpserver):
    handler, received = answering(*[500] * MAX_ATTEMPTS)
    httpserver.expect_request("/hook").respond_with_handler(handler)
    failing, succeeding = payments_received(reseller, 2)
    run_the_retry_schedule(NOW, deliveries=[failing])
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 1

    deliver(succeeding.pk, now=NOW + timedelta(days=3))

    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0


def test_two_workers_never_send_one_delivery_twice(reseller, endpoint, httpserver):
    handler, received = answering()
    httpserver.expect_request("/hook").respond_with_handler(handler)
    [delivery] = payments_received(reseller)

    assert deliver(delivery.pk, now=NOW) == "sent"
    assert deliver(delivery.pk, now=NOW) == "skipped"
    deliver_due(now=NOW + timedelta(days=1))
    assert deliver(delivery.pk, now=NOW + timedelta(days=1)) == "skipped"
    assert len(received) == 1


def test_an_e_mail_that_the_mail_server_refuses_is_retried(reseller, settings):
    # Given no mail server listening
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    top_up_balance(AccountFactory(reseller=reseller, email="ann@example.com"), 1_000, actor=MANAGER, now=NOW)
    dispatch_pending_events(now=NOW)

    # When the delivery is tried
    assert deliver_due(now=NOW) == 1

    # Then it waits for its next attempt, the failure in the log
    delivery = Delivery.objects.get(recipient="ann@example.com")
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("pending", 1, NOW + RETRY_DELAYS[0])
    assert "ConnectionRefused" in delivery.log.get().error
    assert deliver_due(now=NOW + RETRY_DELAYS[0] - timedelta(seconds=1)) == 0

    # And once the mail server works, the retry sends it
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert deliver_due(now=NOW + RETRY_DELAYS[0]) == 1
    assert [m.to for m in mail.outbox] == [["ann@example.com"]]
    assert [attempt.succeeded for attempt in delivery.log.all()] == [False, True]
