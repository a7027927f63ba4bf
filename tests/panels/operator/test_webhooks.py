"""Webhook endpoints and the delivery log in the Operator Control Panel: adding an endpoint (its secret shown once),
the endpoint's delivery log, Resend, Send test event, Re-enable, and the list of every delivery."""

import json

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from standardwebhooks.webhooks import Webhook
from werkzeug import Response

from arrears.events.models import Event
from arrears.events.outbox import dispatch_pending_events
from arrears.notifications.handlers import create_event_handler, create_webhook_endpoint
from arrears.notifications.models import Delivery, DeliveryAttempt, WebhookEndpoint
from arrears.payments.services import top_up_balance
from arrears.tenants.models import Manager
from tests.conftest import MANAGER, at
from tests.factories import AccountFactory, ResellerFactory
from tests.service_support import APPROVAL_DAY

NOW = at(APPROVAL_DAY)
VIEWER, BILLING = Manager.Role.VIEWER, Manager.Role.BILLING_MANAGER


@pytest.fixture
def immediate_queue(monkeypatch):
    """Tasks run as they are enqueued, in this process."""
    monkeypatch.setattr(settings.HUEY, "immediate", True)


def endpoint_with_deliveries(reseller, url: str, count: int = 1, *, email: bool = False):
    """Given an endpoint at ``url`` with a webhook handler for received payments (and an e-mail one), and ``count``
    top-ups dispatched: the endpoint and its webhook deliveries."""
    endpoint = create_webhook_endpoint(reseller, url=url, description="ERP sync", actor=MANAGER, now=NOW)
    create_event_handler(
        reseller,
        event="payment.received",
        channel="webhook",
        name="to the ERP",
        endpoint=endpoint,
        actor=MANAGER,
        now=NOW,
    )
    if email:
        create_event_handler(
            reseller,
            event="payment.received",
            channel="email",
            name="receipt",
            subject="Thanks",
            body="Received {{ payment.total }}",
            actor=MANAGER,
            now=NOW,
        )
    for _ in range(count):
        top_up_balance(AccountFactory(reseller=reseller), 1_000, actor=MANAGER, now=NOW)
    dispatch_pending_events(now=NOW)
    return endpoint, list(Delivery.objects.filter(endpoint=endpoint).order_by("id"))


def failed(delivery: Delivery) -> Delivery:
    """The delivery as it is after giving up: 8 failed attempts, the last one logged."""
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.FAILED, attempts=8, next_attempt_at=None, last_error="HTTP 503: try later"
    )
    DeliveryAttempt.objects.create(
        delivery=delivery,
        attempted_at=NOW,
        succeeded=False,
        status_code=503,
        error="HTTP 503: try later",
        duration_ms=12,
    )
    delivery.refresh_from_db()
    return delivery


def disabled(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=False, disabled_at=NOW, consecutive_failures=10)
    endpoint.refresh_from_db()
    return endpoint


def receiving(httpserver, status: int = 200):
    received = []

    def handler(request):
        received.append(request)
        return Response("ok", status=status)

    httpserver.expect_request("/hook", method="POST").respond_with_handler(handler)
    return received


def verified(endpoint: WebhookEndpoint, request) -> dict:
    return Webhook(endpoint.secret).verify(request.get_data(as_text=True), dict(request.headers))


@pytest.fixture
def siblings(db):
    parent = ResellerFactory(name="Parent")
    return ResellerFactory(name="Reseller A", parent=parent), ResellerFactory(name="Reseller B", parent=parent)


# --- Adding an endpoint -------------------------------------------------------------------------------------


def test_an_admin_adds_an_endpoint_and_sees_its_secret_exactly_once(reseller, sign_in):
    client = sign_in(reseller)
    assert 'href="/operator/webhooks/add/"' in client.get("/operator/webhooks/").content.decode()

    response = client.post(
        "/operator/webhooks/add/", {"url": "https://erp.example.com/hooks", "description": "ERP sync"}
    )

    endpoint = WebhookEndpoint.objects.get(reseller=reseller)
    assert response.status_code == 302 and response["Location"] == f"/operator/webhooks/{endpoint.pk}/"
    assert (endpoint.url, endpoint.description, endpoint.secret[:6]) == (
        "https://erp.example.com/hooks",
        "ERP sync",
        "whsec_",
    )
    first = client.get(response["Location"]).content.decode()
    assert endpoint.secret in first and "Standard Webhooks" in first
    second = client.get(response["Location"]).content.decode()
    assert endpoint.secret not in second
    assert endpoint.secret not in client.get("/operator/webhooks/").content.decode()
    assert Event.objects.filter(type="webhook_endpoint.created", subject_id=endpoint.pk).count() == 1


@pytest.mark.parametrize(
    ("data", "field", "code"),
    [
        ({"url": "http://erp.example.com/hooks"}, "url", "HANDLER-0001"),
        ({"url": "not a url"}, "url", "HANDLER-0001"),
        ({"url": ""}, "url", "required"),
        ({"url": "https://erp.example.com/hooks", "description": "x" * 201}, "description", "max_length"),
    ],
    ids=["plain-http", "not-a-url", "missing", "long-description"],
)
def test_a_refused_endpoint_shows_the_error_on_its_field_and_creates_nothing(reseller, sign_in, data, field, code):
    client = sign_in(reseller)

    response = client.post("/operator/webhooks/add/", data)

    assert response.status_code == 400
    errors = response.context["form"].errors.as_data()
    assert [error.code for error in errors[field]] == [code]
    if "-" in code:
        assert f"· {code}" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()
    assert not Event.objects.filter(type="webhook_endpoint.created").exists()


# --- Resend -----------------------------------------------------------------------------------------------------


def test_resend_puts_a_failed_delivery_back_and_the_receiver_gets_it_signed(
    reseller, sign_in, httpserver, immediate_queue, django_capture_on_commit_callbacks
):
    # Given a delivery that gave up, and a receiver that is back
    endpoint, [delivery] = endpoint_with_deliveries(reseller, httpserver.url_for("/hook"))
    delivery = failed(delivery)
    received = receiving(httpserver)
    client = sign_in(reseller)
    page = client.get(f"/operator/webhooks/{endpoint.pk}/").content.decode()
    assert f"/operator/deliveries/{delivery.pk}/resend/" in page

    # When the admin resends it
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/operator/deliveries/{delivery.pk}/resend/", {"next": f"/operator/webhooks/{endpoint.pk}/"}
        )

    # Then the receiver got the event once, signed with the endpoint's secret, and the delivery is sent
    assert response.status_code == 302 and response["Location"] == f"/operator/webhooks/{endpoint.pk}/"
    [request] = received
    message = verified(endpoint, request)
    assert (message["id"], message["type"]) == (delivery.event_id, "payment.received")
    assert request.headers["webhook-id"] == f"msg_arrears_{delivery.pk}"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 1, "")
    assert [attempt.succeeded for attempt in delivery.log.all()] == [False, True]
    resent = Event.objects.get(type="delivery.resent", subject_id=delivery.pk)
    assert resent.payload["previous_status"] == "failed" and resent.actor_kind == "manager"


def test_resend_of_a_sent_delivery_makes_it_pending_and_due_now(reseller, sign_in, django_capture_on_commit_callbacks):
    endpoint, [delivery] = endpoint_with_deliveries(reseller, "https://erp.example.com/hooks")
    Delivery.objects.filter(pk=delivery.pk).update(status="sent", attempts=1, sent_at=NOW)
    client = sign_in(reseller)
    before = timezone.now()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(f"/operator/deliveries/{delivery.pk}/resend/")

    assert response.status_code == 302
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    assert delivery.next_attempt_at >= before
    assert len(callbacks) == 1  # the sending is enqueued once committed


def test_resend_to_a_disabled_endpoint_is_refused_with_its_code(reseller, sign_in):
    endpoint, [delivery] = endpoint_with_deliveries(reseller, "https://erp.example.com/hooks")
    delivery = failed(delivery)
    disabled(endpoint)
    client = sign_in(reseller)

    response = client.post(f"/operator/deliveries/{delivery.pk}/resend/", follow=True)

    assert "WEBHOOK-0002" in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == "failed"


# --- Send test event -------------------------------------------------------------------------------------------


def test_send_test_event_reaches_the_receiver_signed_and_leaves_the_delivery_log_alone(reseller, sign_in, httpserver):
    endpoint, _ = endpoint_with_deliveries(reseller, httpserver.url_for("/hook"), count=0)
    received = receiving(httpserver)
    client = sign_in(reseller)

    response = client.post(f"/operator/webhooks/{endpoint.pk}/test/", follow=True)

    [request] = received
    message = verified(endpoint, request)
    assert message["type"] == "test" and message["data"]["endpoint"]["id"] == endpoint.pk
    assert request.headers["webhook-id"] == message["id"]
    assert "was accepted: HTTP 200" in response.content.decode()
    assert not Delivery.objects.filter(endpoint=endpoint).exists()
    tested = Event.objects.get(type="webhook_endpoint.tested", subject_id=endpoint.pk)
    assert (tested.payload["succeeded"], tested.payload["status_code"]) == (True, 200)


def test_a_failing_test_event_is_reported_and_counts_no_failure(reseller, sign_in, httpserver):
    endpoint, _ = endpoint_with_deliveries(reseller, httpserver.url_for("/hook"), count=0)
    receiving(httpserver, status=500)
    client = sign_in(reseller)

    response = client.post(f"/operator/webhooks/{endpoint.pk}/test/", follow=True)

    assert "was not accepted" in response.content.decode() and "HTTP 500" in response.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0 and endpoint.active
    tested = Event.objects.get(type="webhook_endpoint.tested", subject_id=endpoint.pk)
    assert (tested.payload["succeeded"], tested.payload["status_code"]) == (False, 500)


# --- Re-enable ---------------------------------------------------------------------------------------------------


def test_re_enable_resets_the_failure_count_and_writes_an_event(reseller, sign_in):
    endpoint, _ = endpoint_with_deliveries(reseller, "https://erp.example.com/hooks", count=0)
    disabled(endpoint)
    client = sign_in(reseller)
    page = client.get(f"/operator/webhooks/{endpoint.pk}/").content.decode()
    assert "Re-enable" in page and "Disabled since" in page

    response = client.post(f"/operator/webhooks/{endpoint.pk}/enable/")

    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.consecutive_failures, endpoint.disabled_at) == (True, 0, None)
    enabled = Event.objects.get(type="webhook_endpoint.enabled", subject_id=endpoint.pk)
    assert enabled.payload["consecutive_failures"] == 10
    # an active endpoint is not enabled twice
    again = client.post(f"/operator/webhooks/{endpoint.pk}/enable/", follow=True)
    assert "WEBHOOK-0001" in again.content.decode()
    assert Event.objects.filter(type="webhook_endpoint.enabled").count() == 1


# --- Roles ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [VIEWER, BILLING])
def test_viewers_and_billing_managers_read_but_are_refused_every_admin_action(reseller, sign_in, role, httpserver):
    endpoint, [delivery] = endpoint_with_deliveries(reseller, httpserver.url_for("/hook"))
    delivery = failed(delivery)
    disabled(endpoint)
    client = sign_in(reseller, role)

    listing = client.get("/operator/webhooks/")
    page = client.get(f"/operator/webhooks/{endpoint.pk}/")
    deliveries = client.get("/operator/deliveries/")
    assert (listing.status_code, page.status_code, deliveries.status_code) == (200, 200, 200)
    for body in (listing.content.decode(), page.content.decode(), deliveries.content.decode()):
        assert 'href="/operator/webhooks/add/"' not in body and "/resend/" not in body
        assert "Re-enable</button>" not in body and "Send test event</button>" not in body

    assert client.get("/operator/webhooks/add/").status_code == 200  # the form explains who may add
    assert client.post("/operator/webhooks/add/", {"url": "https://x.example.com/"}).status_code == 403
    assert client.post(f"/operator/webhooks/{endpoint.pk}/test/").status_code == 403
    assert client.post(f"/operator/webhooks/{endpoint.pk}/enable/").status_code == 403
    assert client.post(f"/operator/deliveries/{delivery.pk}/resend/").status_code == 403

    assert WebhookEndpoint.objects.count() == 1
    endpoint.refresh_from_db()
    assert not endpoint.active
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert not Event.objects.filter(
        type__in=["delivery.resent", "webhook_endpoint.tested", "webhook_endpoint.enabled"]
    ).exists()
    assert not httpserver.log


# --- Tenancy -------------------------------------------------------------------------------------------------------


def test_a_siblings_endpoint_and_delivery_answer_404_on_every_route(siblings, sign_in):
    a, b = siblings
    endpoint_with_deliveries(a, "https://a.example.com/hooks")
    theirs, [their_delivery] = endpoint_with_deliveries(b, "https://b.example.com/hooks")
    their_delivery = failed(their_delivery)
    disabled(theirs)
    client = sign_in(a)

    for suffix in ("", "test/", "enable/"):
        assert client.get(f"/operator/webhooks/{theirs.pk}/{suffix}").status_code == 404
        assert client.post(f"/operator/webhooks/{theirs.pk}/{suffix}").status_code == 404
    assert client.get(f"/operator/deliveries/{their_delivery.pk}/resend/").status_code == 404
    assert client.post(f"/operator/deliveries/{their_delivery.pk}/resend/").status_code == 404

    theirs.refresh_from_db()
    their_delivery.refresh_from_db()
    assert (theirs.active, their_delivery.status) == (False, "failed")
    assert not Event.objects.filter(
        type__in=["delivery.resent", "webhook_endpoint.tested", "webhook_endpoint.enabled"]
    ).exists()
    for url in ("/operator/webhooks/", "/operator/deliveries/"):
        body = client.get(url).content.decode()
        assert "b.example.com" not in body
    assert "a.example.com" in client.get("/operator/deliveries/").content.decode()


# --- The lists ------------------------------------------------------------------------------------------------------


def test_the_deliveries_list_filters_by_status_channel_and_event(reseller, sign_in):
    endpoint, deliveries = endpoint_with_deliveries(reseller, "https://erp.example.com/hooks", count=3, email=True)
    failed(deliveries[0])
    client = sign_in(reseller)

    everything = client.get("/operator/deliveries/")
    only_failed = client.get("/operator/deliveries/?status=failed")
    only_email = client.get("/operator/deliveries/?channel=email")
    other_event = client.get("/operator/deliveries/?event=invoice.closed")

    assert everything.context["table"].paginator.count == 6
    assert [row.pk for row in only_failed.context["table"].page.object_list.data] == [deliveries[0].pk]
    assert "HTTP 503: try later" in only_failed.content.decode()
    assert "Payment has been received" in only_failed.content.decode()
    assert {row.channel for row in only_email.context["table"].page.object_list.data} == {"email"}
    assert other_event.context["table"].paginator.count == 0
    assert "No delivery matches these filters." in other_event.content.decode()
    # the htmx filter bar gets the results alone
    partial = client.get("/operator/deliveries/?status=failed", headers={"HX-Request": "true"}).content.decode()
    assert partial.startswith('<div id="results">')


def test_the_endpoint_page_lists_its_deliveries_newest_first_with_their_attempts(reseller, sign_in):
    endpoint, deliveries = endpoint_with_deliveries(reseller, "https://erp.example.com/hooks", count=2)
    failed(deliveries[0])
    client = sign_in(reseller)

    response = client.get(f"/operator/webhooks/{endpoint.pk}/")

    rows = list(response.context["table"].page.object_list.data)
    assert [row.pk for row in rows] == [deliveries[1].pk, deliveries[0].pk]
    body = response.content.decode()
    assert "503" in body and "12 ms" in body and "Not tried yet" in body


def test_the_webhooks_list_shows_state_failures_and_last_delivery(reseller, sign_in):
    endpoint, [delivery] = endpoint_with_deliveries(reseller, "https://erp.example.com/hooks")
    failed(delivery)
    disabled(endpoint)
    client = sign_in(reseller)

    body = client.get("/operator/webhooks/").content.decode()

    assert "https://erp.example.com/hooks" in body and "ERP sync" in body
    assert "badge--disabled" in body and "since" in body and "badge--failed" in body


def test_empty_lists_say_what_to_do(reseller, sign_in):
    client = sign_in(reseller)
    assert "No webhook endpoint yet." in client.get("/operator/webhooks/").content.decode()
    assert "No delivery matches these filters." in client.get("/operator/deliveries/").content.decode()


@pytest.mark.parametrize("url", ["/operator/deliveries/", "/operator/webhooks/", "endpoint"])
def test_the_query_count_of_the_lists_does_not_grow_with_their_page_size(reseller, sign_in, url):
    endpoint, deliveries = endpoint_with_deliveries(reseller, "https://erp.example.com/hooks", count=30, email=True)
    for delivery in deliveries[:5]:
        failed(delivery)
    for number in range(30):
        create_webhook_endpoint(reseller, url=f"https://erp{number}.example.com/", actor=MANAGER, now=NOW)
    if url == "endpoint":
        url = f"/operator/webhooks/{endpoint.pk}/"
    client = sign_in(reseller)
    counts = []
    for size in (25, 100):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"{url}?per_page={size}").status_code == 200
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]


def test_the_dashboards_failed_deliveries_link_opens_the_filtered_list(reseller, sign_in):
    endpoint, [delivery] = endpoint_with_deliveries(reseller, "https://erp.example.com/hooks")
    failed(delivery)
    client = sign_in(reseller)
    response = client.get("/operator/deliveries/?status=failed")
    assert response.status_code == 200
    assert json.loads(json.dumps(response.context["filter"].form.cleaned_data))["status"] == "failed"
