"""``arrears events replay``: after the mail server is fixed, the failed deliveries are sent again."""

import io
import json
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command

from arrears.core.actors import SYSTEM
from arrears.events.models import Event, PendingDispatch
from arrears.events.outbox import dispatch_pending_events
from arrears.notifications.models import Delivery
from arrears.notifications.replay import replay_deliveries
from arrears.notifications.sending import MAX_ATTEMPTS, RETRY_DELAYS, deliver_due
from arrears.payments.services import top_up_balance
from tests.conftest import MANAGER, at
from tests.factories import AccountFactory, ResellerFactory
from tests.loopback import free_port
from tests.service_support import APPROVAL_DAY

NOW = at(APPROVAL_DAY)
LATER = NOW + timedelta(days=3)


@pytest.fixture
def broken_mail_server(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    yield
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def received(reseller, email: str) -> Delivery:
    top_up_balance(AccountFactory(reseller=reseller, email=email), 1_000, actor=MANAGER, now=NOW)
    dispatch_pending_events(now=NOW)
    return Delivery.objects.get(recipient=email)


def give_up_on_everything() -> None:
    moment = NOW
    for delay in (timedelta(), *RETRY_DELAYS):
        moment += delay
        deliver_due(now=moment)


def test_replay_sends_the_failed_deliveries_again_once(reseller, broken_mail_server, settings):
    # Given a delivery that failed all its attempts while the mail server was down, and one sent before
    failed = received(reseller, "ann@example.com")
    give_up_on_everything()
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == ("failed", MAX_ATTEMPTS)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    sent = received(reseller, "bob@example.com")
    deliver_due(now=NOW)
    assert [m.to for m in mail.outbox] == [["bob@example.com"]]

    # When the operator replays since the day before, and the queue sends what is due, twice
    counts = replay_deliveries(since=NOW - timedelta(days=1), now=LATER, actor=SYSTEM)
    deliver_due(now=LATER)
    deliver_due(now=LATER + timedelta(days=1))

    # Then the failed mail is sent once, the sent one not again, and the log keeps every attempt
    assert counts == {"deliveries_requeued": 1, "deliveries_skipped_endpoint_disabled": 0, "events_dispatched": 0}
    assert [m.to for m in mail.outbox] == [["bob@example.com"], ["ann@example.com"]]
    failed.refresh_from_db()
    assert failed.status == "sent"
    assert failed.log.count() == MAX_ATTEMPTS + 1
    sent.refresh_from_db()
    assert sent.log.count() == 1
    assert Event.objects.get(type="deliveries.replayed").payload["deliveries"] == 1


def test_replay_with_include_sent_sends_again_and_respects_since_and_reseller(reseller):
    other = ResellerFactory()
    ours = received(reseller, "ann@example.com")
    theirs = received(other, "bob@example.com")
    deliver_due(now=NOW)

    assert (
        replay_deliveries(since=NOW + timedelta(seconds=1), include_sent=True, now=LATER, actor=SYSTEM)[
            "deliveries_requeued"
        ]
        == 0
    )
    counts = replay_deliveries(since=NOW, reseller_id=reseller.pk, include_sent=True, now=LATER, actor=SYSTEM)
    deliver_due(now=LATER)

    assert counts["deliveries_requeued"] == 1
    assert [m.to for m in mail.outbox] == [["ann@example.com"], ["bob@example.com"], ["ann@example.com"]]
    theirs.refresh_from_db()
    assert theirs.log.count() == 1 and ours.log.count() == 2


def test_replay_dispatches_what_is_still_in_the_outbox(reseller):
    top_up_balance(AccountFactory(reseller=reseller, email="ann@example.com"), 1_000, actor=MANAGER, now=NOW)
    assert PendingDispatch.objects.exists()

    counts = replay_deliveries(since=NOW, now=LATER, actor=SYSTEM)
    deliver_due(now=LATER)

    assert counts["events_dispatched"] == 1
    assert not PendingDispatch.objects.exists()
    assert [m.to for m in mail.outbox] == [["ann@example.com"]]


def test_the_replay_command_prints_its_counts(reseller, broken_mail_server, settings):
    received(reseller, "ann@example.com")
    give_up_on_everything()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    out, err = io.StringIO(), io.StringIO()

    call_command(
        "events", "replay", "--since", APPROVAL_DAY.isoformat(), "--reseller", str(reseller.pk), stdout=out, stderr=err
    )

    assert json.loads(out.getvalue()) == {
        "deliveries_requeued": 1,
        "deliveries_skipped_endpoint_disabled": 0,
        "events_dispatched": 0,
    }
    assert "1 deliveries queued again" in err.getvalue()
    assert Delivery.objects.get(recipient="ann@example.com").status == "pending"
