"""The operator's webhook services: resending one delivery, enabling a disabled endpoint, a signed test message."""

import pytest

from arrears.core.errors import NotFound
from arrears.events.models import Event
from arrears.events.outbox import dispatch_pending_events
from arrears.notifications.errors import WebhookEndpointDisabled, WebhookEndpointNotDisabled
from arrears.notifications.handlers import create_event_handler, create_webhook_endpoint
from arrears.notifications.models import Delivery, WebhookEndpoint
from arrears.notifications.sending import deliver
from arrears.notifications.webhooks import delivery_of, enable_webhook_endpoint, resend_delivery, send_test_event
from arrears.payments.services import top_up_balance
from tests.conftest import MANAGER, at
from tests.factories import AccountFactory, ResellerFactory
from tests.loopback import free_port
from tests.service_support import APPROVAL_DAY

NOW = at(APPROVAL_DAY)


def a_delivery(reseller, url="https://erp.example.com/hooks"):
    endpoint = create_webhook_endpoint(reseller, url=url, actor=MANAGER, now=NOW)
    create_event_handler(
        reseller, event="payment.received", channel="webhook", name="erp", endpoint=endpoint, actor=MANAGER, now=NOW
    )
    top_up_balance(AccountFactory(reseller=reseller), 1_000, actor=MANAGER, now=NOW)
    dispatch_pending_events(now=NOW)
    return endpoint, Delivery.objects.get(endpoint=endpoint)


def test_resend_makes_a_sent_delivery_due_again_from_a_fresh_schedule(reseller, django_capture_on_commit_callbacks):
    endpoint, delivery = a_delivery(reseller, url=f"http://127.0.0.1:{free_port()}/hook")
    Delivery.objects.filter(pk=delivery.pk).update(status="sent", attempts=3)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        resent = resend_delivery(delivery, actor=MANAGER, now=NOW)

    assert (resent.status, resent.attempts, resent.next_attempt_at) == ("pending", 0, NOW)
    assert len(callbacks) == 1
    assert Event.objects.get(type="delivery.resent").payload["previous_status"] == "sent"
    # and the next attempt is a real one (here refused: nothing listens), logged
    assert deliver(delivery.pk, now=NOW) == "pending"
    assert delivery.log.count() == 1


def test_resend_to_a_disabled_endpoint_is_refused(reseller):
    endpoint, delivery = a_delivery(reseller)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=False, disabled_at=NOW)
    with pytest.raises(WebhookEndpointDisabled) as refused:
        resend_delivery(delivery, actor=MANAGER, now=NOW)
    assert refused.value.code == "WEBHOOK-0002"
    assert Delivery.objects.get(pk=delivery.pk).status == "pending"


def test_enabling_is_for_disabled_endpoints_only_and_resets_the_count(reseller):
    endpoint, _ = a_delivery(reseller)
    with pytest.raises(WebhookEndpointNotDisabled) as refused:
        enable_webhook_endpoint(endpoint, actor=MANAGER, now=NOW)
    assert refused.value.code == "WEBHOOK-0001"
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=False, disabled_at=NOW, consecutive_failures=10)
    endpoint.refresh_from_db()

    enabled = enable_webhook_endpoint(endpoint, actor=MANAGER, now=NOW)

    assert (enabled.active, enabled.consecutive_failures, enabled.disabled_at) == (True, 0, None)
    assert Event.objects.filter(type="webhook_endpoint.enabled", subject_id=endpoint.pk).count() == 1


def test_a_test_message_to_a_dead_receiver_is_recorded_and_changes_nothing_else(reseller):
    endpoint = create_webhook_endpoint(reseller, url=f"http://127.0.0.1:{free_port()}/hook", actor=MANAGER, now=NOW)

    outcome = send_test_event(endpoint, actor=MANAGER, now=NOW)

    assert not outcome.succeeded and outcome.status_code is None and "ConnectError" in outcome.error
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.consecutive_failures) == (True, 0)
    assert not Delivery.objects.exists()
    event = Event.objects.get(type="webhook_endpoint.tested")
    assert event.payload["webhook_id"] == outcome.message_id and event.payload["succeeded"] is False


def test_a_delivery_is_found_only_within_its_reseller(reseller):
    _, delivery = a_delivery(reseller)
    assert delivery_of(reseller, delivery.pk) == delivery
    with pytest.raises(NotFound):
        delivery_of(ResellerFactory(), delivery.pk)
