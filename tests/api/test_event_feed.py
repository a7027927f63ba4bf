"""The change feed over HTTP (erp-api.md, "Read operations": ``GET …/events?after=<cursor>``).

Every recorded event of the reseller's subtree, oldest first, so that an ERP that was down can
resynchronise without webhooks: a client that stores ``meta.next_cursor`` and reads on sees each event
exactly once, and never an event of a reseller outside its subtree (R45, R46).
"""

import threading
import time

import pytest
import time_machine
from django.db import connection, transaction

from arrears.core.actors import SYSTEM
from arrears.events.models import Event
from arrears.events.services import record_event
from arrears.tenants.models import ApiToken
from tests.api.conftest import MEDIA_TYPE, ApiClient, refused_over_http, token_for
from tests.conftest import at
from tests.factories import AccountFactory, ResellerFactory
from tests.service_support import APPROVAL_DAY, closed_erp_invoice

UNKNOWN_ID = 987_654_321


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(at(APPROVAL_DAY), tick=False):
        yield


def feed_url(reseller) -> str:
    return f"/api/v3/resellers/{reseller.pk}/events"


def read(api: ApiClient, reseller, **params) -> dict:
    response = api.get(feed_url(reseller), params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == MEDIA_TYPE
    return response.json()


def ids(page: dict) -> list[int]:
    return [int(event["id"]) for event in page["data"]]


def types(page: dict) -> list[str]:
    return [event["attributes"]["type"] for event in page["data"]]


def subtree_events(*resellers) -> list[int]:
    return list(Event.objects.filter(reseller__in=resellers).order_by("id").values_list("id", flat=True))


@pytest.fixture
def tree(db):
    """Parent P with children A and B, each with two accounts."""
    parent = ResellerFactory()
    a, b = ResellerFactory(parent=parent), ResellerFactory(parent=parent)
    for reseller in (parent, a, b):
        AccountFactory(reseller=reseller)
        AccountFactory(reseller=reseller)
    return parent, a, b


def test_the_feed_lists_the_subtree_in_order_with_a_cursor(tree):
    parent, a, b = tree
    api = ApiClient(token_for(parent, scopes=["read"]))
    # When P's token reads the feed from the start
    page = read(api, parent)
    # Then it gets every event of P, A and B, oldest first
    expected = subtree_events(parent, a, b)
    assert ids(page) == expected
    assert {event["attributes"]["reseller_id"] for event in page["data"]} == {parent.pk, a.pk, b.pk}
    # And the cursor of the last one, with a link to read on from it
    assert page["meta"]["next_cursor"] == expected[-1]
    assert f"after={expected[-1]}" in page["links"]["next"]
    first = Event.objects.get(pk=expected[0])
    assert page["data"][0]["attributes"] == {
        "type": first.type,
        "reseller_id": first.reseller_id,
        "account_id": first.account_id,
        "subject_type": first.subject_type,
        "subject_id": first.subject_id,
        "payload": first.payload,
        "actor": {"kind": first.actor_kind, "id": first.actor_id, "label": first.actor_label},
        "occurred_at": "2026-01-01T00:00:00+00:00",
    }


def test_paging_by_two_returns_every_event_exactly_once(tree):
    parent, a, b = tree
    api = ApiClient(token_for(parent, scopes=["read"]))
    expected = subtree_events(parent, a, b)
    # When the client follows links.next two events at a time until a page comes back empty
    seen, page, pages = [], read(api, parent, **{"page[size]": 2}), 1
    while page["data"]:
        assert len(page["data"]) <= 2
        seen += ids(page)
        assert page["meta"]["next_cursor"] == seen[-1]
        response = api.get(page["links"]["next"])
        assert response.status_code == 200
        page, pages = response.json(), pages + 1
    # Then it has read every event once, in order
    assert seen == expected
    assert pages == -(-len(expected) // 2) + 1
    # And the empty page keeps the cursor where it was
    assert page["meta"]["next_cursor"] == expected[-1]


def test_after_the_last_cursor_the_page_is_empty_with_the_same_cursor(tree):
    parent, a, b = tree
    api = ApiClient(token_for(parent, scopes=["read"]))
    last = read(api, parent)["meta"]["next_cursor"]
    page = read(api, parent, after=last)
    assert page["data"] == []
    assert page["meta"]["next_cursor"] == last
    assert f"after={last}" in page["links"]["next"]
    # And an event recorded later is the next one read from there
    account = AccountFactory(reseller=b)
    page = read(api, parent, after=last)
    assert types(page) == ["account.created"]
    assert page["data"][0]["attributes"]["account_id"] == account.pk


def test_a_child_reads_its_own_events_never_a_siblings_or_its_parents(tree):
    parent, a, b = tree
    # When A's token reads A's feed
    page = read(ApiClient(token_for(a, scopes=["read"])), a, **{"page[size]": 1000})
    # Then it holds A's events only
    assert ids(page) == subtree_events(a)
    assert {event["attributes"]["reseller_id"] for event in page["data"]} == {a.pk}
    # And P's token reading A's feed sees the same: a parent reaches its child, the child's feed is the child's
    assert ids(read(ApiClient(token_for(parent, scopes=["read"])), a, **{"page[size]": 1000})) == ids(page)


def test_an_after_that_is_not_an_event_of_this_feed_is_refused(tree):
    parent, a, b = tree
    api = ApiClient(token_for(a, scopes=["read"]))
    siblings_event = subtree_events(b)[-1]
    parents_event = subtree_events(parent)[-1]
    for after in (siblings_event, parents_event, UNKNOWN_ID, -1, "first"):
        refused_over_http(
            lambda after=after: api.get(feed_url(a), {"after": after}), 400, "EVENT-0001", parameter="after"
        )
    refused_over_http(lambda: api.get(feed_url(a), {"page[size]": 0}), 400, "EVENT-0001", parameter="page[size]")


def test_filter_by_type_and_by_account(tree):
    parent, a, b = tree
    api = ApiClient(token_for(parent, scopes=["read"]))
    accounts = list(Event.objects.filter(type="account.created").order_by("id").values_list("id", flat=True))
    assert ids(read(api, parent, **{"filter[type]": "account.created"})) == accounts
    assert len(accounts) == 6
    account = AccountFactory(reseller=a)
    page = read(api, parent, **{"filter[account_id]": account.pk})
    assert types(page) == ["account.created"]
    assert page["data"][0]["attributes"]["account_id"] == account.pk
    assert read(api, parent, **{"filter[type]": "no.such.type"})["data"] == []
    # Filters combine with the cursor
    assert ids(read(api, parent, after=accounts[2], **{"filter[type]": "account.created"})) == [
        *accounts[3:],
        *ids(page),
    ]


def test_an_approval_over_the_api_appears_in_the_feed_as_the_tokens_doing(erp_reseller):
    # Given a closed ERP invoice and the feed read up to now
    invoice = closed_erp_invoice(erp_reseller)
    api = ApiClient(token_for(erp_reseller))
    token = ApiToken.objects.latest("pk")
    cursor = read(api, erp_reseller)["meta"]["next_cursor"]
    # When the ERP approves it over the API
    response = api.post(
        f"/api/v3/resellers/{erp_reseller.pk}/invoices/{invoice.pk}/approve",
        {"document_id": "NS-9", "billing_date": "2026-01-01"},
    )
    assert response.status_code == 200, response.content
    # Then the feed shows the approval, then the due date set on the payment, both by the token
    page = read(api, erp_reseller, after=cursor)
    assert types(page) == ["invoice.approved", "payment.due_date_set"]
    assert [event["attributes"]["actor"]["kind"] for event in page["data"]] == ["api_token", "api_token"]
    assert {event["attributes"]["actor"]["id"] for event in page["data"]} == {token.pk}
    assert {event["attributes"]["account_id"] for event in page["data"]} == {invoice.account_id}
    assert page["data"][1]["attributes"]["subject_id"] == invoice.payment.pk
    assert page["data"][0]["attributes"]["payload"]["due_date"] == "2026-02-12"
    assert page["data"][1]["attributes"]["payload"]["changes"]["due_date"] == [None, "2026-02-12"]
    assert page["meta"]["next_cursor"] == ids(page)[-1]


# --- Gap-freedom under concurrent writers ----------------------------------------------------------------


def _record(account, event_type: str) -> int:
    return record_event(
        event_type,
        subject=account,
        reseller_id=account.reseller_id,
        account_id=account.pk,
        payload={},
        actor=SYSTEM,
        now=at(APPROVAL_DAY),
    )


def _in_thread(target) -> threading.Thread:
    def run():
        try:
            target()
        finally:
            connection.close()  # the thread's own connection

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _read_until(api, reseller, count: int, **params) -> dict:
    """On PostgreSQL a transaction of another test database on the same server can hold the feed back for a
    moment too (transaction ids are server-wide); wait for it rather than fail."""
    for _ in range(600):
        page = read(api, reseller, **params)
        if len(page["data"]) >= count:
            return page
        time.sleep(0.1)
    return page


def test_a_later_commit_never_overtakes_an_open_older_transaction_in_the_feed(transactional_db):
    # Given a reseller's feed read up to its account's creation
    reseller = ResellerFactory()
    account = AccountFactory(reseller=reseller)
    api = ApiClient(token_for(reseller, scopes=["read"]))
    only_account = {"filter[account_id]": account.pk}
    cursor = _read_until(api, reseller, 1, **only_account)["meta"]["next_cursor"]
    assert cursor == Event.objects.get(type="account.created", account_id=account.pk).pk
    # And a slow transaction that has written an event and is still open
    written, release, done = threading.Event(), threading.Event(), threading.Event()
    slow_ids, quick_ids = [], []

    def slow_writer():
        with transaction.atomic():
            slow_ids.append(_record(account, "test.slow"))
            written.set()
            release.wait(60)

    def quick_writer():
        quick_ids.append(_record(account, "test.quick"))
        done.set()

    slow = _in_thread(slow_writer)
    assert written.wait(30)
    quick = None
    try:
        if connection.vendor == "postgresql":
            # When a later transaction writes an event and commits first
            quick_writer()
            assert quick_ids[0] > slow_ids[0]
            assert Event.objects.filter(pk=quick_ids[0]).exists()  # committed: any reader could see the row
            # Then the feed holds it back: a reader moving past it would never see the older event
            page = read(api, reseller, after=cursor, **only_account)
            assert page["data"] == []
            assert page["meta"]["next_cursor"] == cursor
        else:
            # When a second writer starts, SQLite makes it wait for the open transaction (one writer at a time),
            # so ids commit in their order
            quick = _in_thread(quick_writer)
            assert not done.wait(0.5), "a second writer ran beside an open write transaction"
            assert quick_ids == []
            # And readers go on meanwhile (WAL), seeing nothing uncommitted
            page = read(api, reseller, after=cursor, **only_account)
            assert page["data"] == []
            assert page["meta"]["next_cursor"] == cursor
    finally:
        release.set()
        slow.join(30)
        if quick is not None:
            quick.join(30)
    assert done.is_set()
    # When the older transaction commits, the reader resuming from its cursor gets both, the older first, once
    page = _read_until(api, reseller, 2, after=cursor, **only_account)
    assert types(page) == ["test.slow", "test.quick"]
    assert ids(page) == [slow_ids[0], quick_ids[0]]
    assert read(api, reseller, after=page["meta"]["next_cursor"], **only_account)["data"] == []
