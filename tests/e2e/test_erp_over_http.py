"""End to end: an ERP plays the Postpay hand-off against the real server (erp-api.md; R7, R13–R40).

Nothing here runs inside the test process's Django: a fresh database of the session's kind is migrated,
filled by a small setup script, billed with ``arrears billing run`` and given an API token with
``arrears token create``, all in subprocesses; gunicorn then serves it on 127.0.0.1, and the ERP is played
with httpx over real sockets, checking every effect through GETs and the change feed.

The server reads the wall clock, so the story is laid out relative to today (UTC, the resellers' time zone):
subscriptions start on the 1st of the month two months back on billing day 1, and billing runs up to
today, so the invoice of that first month (``billing_date`` = its 1st) is closed and waits for the ERP.
"""

import base64
import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from tests.e2e.live_server import arrears, gunicorn, python, separate_database, server_errors
from tests.sample_files import pdf_bytes

MEDIA_TYPE = "application/vnd.api+json"
PDF_BYTES = pdf_bytes()
TOTAL = "120.00"  # the monthly fee 100.00 EUR plus 20 % tax
EXPIRATION_DAYS = 10  # the default account class
FEED_CATCH_UP = 120  # s; on PostgreSQL the feed waits for every older transaction of the cluster (gap-free)
RACERS = 50

SETUP = """
import json
import sys
from datetime import date, datetime, time, timezone

import django

django.setup()

from arrears.catalog.services import create_plan
from arrears.core.actors import Actor
from arrears.customers.services import create_account
from arrears.subscriptions.services import create_subscription
from arrears.tenants.services import create_manager, create_reseller

start, resellers = date.fromisoformat(sys.argv[1]), json.loads(sys.argv[2])
SETUP = Actor.system("setup script")
T0 = datetime.combine(start, time(0), tzinfo=timezone.utc)
made = {}
for key, (name, accounts) in resellers.items():
    reseller = create_reseller(name=name, currency="EUR", external_invoices=True, actor=SETUP, now=T0)
    plan = create_plan(reseller=reseller, name="Cloud desktop", fee=10_000, billing_day=1, tax_rate_bp=2000,
                       actor=SETUP, now=T0)
    ids = []
    for n in range(accounts):
        account = create_account(reseller=reseller, name=f"{name} customer {n}", actor=SETUP, now=T0)
        create_subscription(account=account, plan=plan, start_date=start, actor=SETUP, now=T0)
        ids.append(account.pk)
    email = f"erp-{key}@example.com"
    create_manager(reseller=reseller, email=email, actor=SETUP, now=T0)
    made[key] = {"reseller_id": reseller.pk, "accounts": ids, "manager": email}
print(json.dumps(made))
"""


def _months_back(day: date, months: int) -> date:
    month = day.year * 12 + day.month - 1 - months
    return date(month // 12, month % 12 + 1, 1)


def _closed_billing_dates(start: date, today: date) -> list[date]:
    """The billing periods from ``start`` whose invoice has closed by ``today`` (R3: billing day + 1)."""
    closed, period = [], start
    while _months_back(period, -1) + timedelta(days=1) <= today:
        closed.append(period)
        period = _months_back(period, -1)
    return closed


@dataclass
class Tenant:
    reseller_id: int
    accounts: list[int]
    token: str
    token_id: int


@dataclass
class Installation:
    url: str
    log_path: object
    today: date
    billing_dates: list[date]  # of the closed invoices, oldest first
    story: Tenant
    race: Tenant


@pytest.fixture(scope="module")
def installation(tmp_path_factory):
    """A billed ERP installation served by gunicorn: two ERP resellers, each with its own token."""
    tmp_path = tmp_path_factory.mktemp("e2e")
    today = datetime.now(UTC).date()
    start = _months_back(today, 2)
    with separate_database(tmp_path) as env:
        made = json.loads(
            python(env, SETUP, start.isoformat(), json.dumps({"story": ["Story Cloud", 3], "race": ["Race Cloud", 2]}))
        )
        billed = json.loads(arrears(env, "billing", "run", "--date", today.isoformat()))
        assert billed["days_billed"] == 2 * ((today - start).days + 1)
        tenants = {}
        for key, made_for in made.items():
            token = json.loads(arrears(env, "token", "create", "--manager", made_for["manager"], "--name", "ERP"))
            tenants[key] = Tenant(made_for["reseller_id"], made_for["accounts"], token["token"], token["id"])
        log_path = tmp_path / "gunicorn.log"
        with gunicorn(env, log_path) as url:
            yield Installation(url, log_path, today, _closed_billing_dates(start, today), **tenants)


class Erp:
    """The ERP's HTTP client: its token, JSON bodies, and the JSON:API answers parsed."""

    def __init__(self, installation: Installation, tenant: Tenant):
        self.tenant = tenant
        self.base = f"/api/v3/resellers/{tenant.reseller_id}"
        self.http = httpx.Client(base_url=installation.url, headers={"X-Api-Token": tenant.token}, timeout=60)

    def post(self, path: str, body: dict, **headers) -> httpx.Response:
        return self.http.post(
            self.base + path, content=json.dumps(body), headers={"Content-Type": MEDIA_TYPE, **headers}
        )

    def ok(self, path: str, body: dict, **headers) -> dict:
        response = self.post(path, body, **headers)
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"] == MEDIA_TYPE
        return response.json()["data"]

    def get(self, path: str, **params) -> dict:
        response = self.http.get(path if path.startswith("/api/") else self.base + path, params=params or None)
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"] == MEDIA_TYPE
        return response.json()

    def invoice(self, invoice_id) -> dict:
        return self.get(f"/invoices/{invoice_id}")["data"]

    def payment(self, payment_id) -> dict:
        return self.get(f"/payments/{payment_id}")["data"]

    def listed(self, path: str, **params) -> list[dict]:
        """Every item of a list, following ``links.next`` page by page."""
        document = self.get(path, **{"page[size]": 2, "sort": "id", **params})
        items, total = list(document["data"]), document["meta"]["total"]
        while document["links"]["next"]:
            document = self.get(document["links"]["next"])
            items += document["data"]
        assert len(items) == total
        return items

    def mark_the_feed(self) -> int:
        """A write of our own (a new account) whose event must show in the feed after everything before it."""
        response = self.post("/accounts", {"name": f"Feed marker {uuid.uuid4().hex[:8]}"})
        assert response.status_code == 201, response.text
        return int(response.json()["data"]["id"])

    def read_feed(self, after: int = 0) -> list[dict]:
        """The feed after ``after``, read with the cursor until a fresh marker shows and the feed is exhausted.

        The feed is gap-free: on PostgreSQL an event shows only once every older transaction has ended, so
        the marker written last proves that every event written before it has been read."""
        marker = self.mark_the_feed()
        events, cursor = [], after
        deadline = time.monotonic() + FEED_CATCH_UP
        while True:
            page = self.get("/events", after=cursor, **{"page[size]": 4})
            ids = [int(event["id"]) for event in page["data"]]
            assert page["meta"]["next_cursor"] == (ids[-1] if ids else cursor)
            assert f"after={page['meta']['next_cursor']}" in page["links"]["next"]
            events += page["data"]
            cursor = page["meta"]["next_cursor"]
            if not ids:
                if any(_is(event, "account.created", "account", marker) for event in events):
                    assert _is(events[-1], "account.created", "account", marker), "events after the marker"
                    return events
                assert time.monotonic() < deadline, f"the feed did not catch up with marker {marker}: {events[-3:]}"
                time.sleep(0.2)


def _is(event: dict, event_type: str, subject_type: str, subject_id) -> bool:
    attributes = event["attributes"]
    return (attributes["type"], attributes["subject_type"], attributes["subject_id"]) == (
        event_type,
        subject_type,
        int(subject_id),
    )


def _data_uri(data: bytes) -> str:
    return f"data:application/pdf;base64,{base64.b64encode(data).decode()}"


def _error(response: httpx.Response, status: int, code: str, pointer: str | None = None) -> None:
    """The call was refused with ``status`` and ``code``, naming the field ``pointer`` when one is given."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == MEDIA_TYPE
    [error] = response.json()["errors"]
    assert (error["status"], error["code"]) == (str(status), code), error
    if pointer is not None:
        assert error["source"] == {"pointer": pointer}, error


def _payment_id(invoice: dict) -> str:
    [payment] = invoice["relationships"]["payments"]["data"]
    return payment["id"]


def test_an_erp_approves_completes_revokes_and_approves_again_over_http(installation):
    """R7, R13–R18, R23, R26–R29, R36–R40, checked through GETs and the change feed of the real server."""
    erp = Erp(installation, installation.story)
    today, b0 = installation.today, installation.billing_dates[0]
    a0, a1, a2 = installation.story.accounts

    # Given the feed read up to now: the billing engine closed every elapsed period, oldest first
    history = erp.read_feed()
    cursor = int(history[-1]["id"])
    ids = [int(event["id"]) for event in history]
    assert ids == sorted(set(ids))
    engine = [
        event["attributes"]
        for event in history
        if event["attributes"]["actor"]["kind"] == "system"
        and event["attributes"]["actor"]["label"] == "billing engine"
    ]
    closed = [event for event in engine if event["type"] == "invoice.closed"]
    assert len(closed) == 3 * len(installation.billing_dates)
    assert [event["payload"]["billing_date"] for event in closed] == sorted(
        event["payload"]["billing_date"] for event in closed
    )

    # When the ERP lists the closed invoices nobody approved yet
    waiting = erp.listed(
        "/invoices", **{"filter[status]": "closed", "filter[approved]": "false", "filter[managed_externally]": "true"}
    )
    # Then it sees one per account and closed period, each without due date, total or attachment (R7)
    assert Counter((i["attributes"]["account_id"], i["attributes"]["billing_date"]) for i in waiting) == Counter(
        (account, day.isoformat()) for account in (a0, a1, a2) for day in installation.billing_dates
    )
    for invoice in waiting:
        attributes = invoice["attributes"]
        assert (
            attributes
            | {
                "total": TOTAL,
                "currency": "EUR",
                "payment_model": "postpay",
                "status": "closed",
                "approved": False,
                "approval_date": None,
                "due_date": None,
                "external_total": None,
                "external_currency": None,
                "has_attached": False,
                "attachment": None,
                "original_document_id": attributes["document_id"],
            }
            == attributes
        )
        payment = erp.payment(_payment_id(invoice))["attributes"]
        assert (payment["status"], payment["due_date"], payment["expiration_date"], payment["total"]) == (
            "waiting_for_payment",
            None,
            None,
            TOTAL,
        )
    first = {i["attributes"]["account_id"]: i for i in waiting if i["attributes"]["billing_date"] == b0.isoformat()}
    inv0, inv1 = first[a0], first[a1]
    pay0, pay1 = _payment_id(inv0), _payment_id(inv1)
    number0, number1 = inv0["attributes"]["document_id"], inv1["attributes"]["document_id"]
    payment0_before = erp.payment(pay0)["attributes"]

    # When the ERP approves a0's invoice by account and billing date, with its own total in USD and a PDF
    suffix = uuid.uuid4().hex[:6].upper()
    d0, d1 = f"NS-{suffix}-1", f"NS-{suffix}-2"
    due0 = today + timedelta(days=20)
    approved0 = erp.ok(
        f"/accounts/{a0}/approve_invoices",
        {
            "document_id": d0,
            "billing_date": b0.isoformat(),
            "due_date": due0.isoformat(),
            "amount": {"total": "133.70", "currency": "USD"},
            "file": {"name": f"{d0}.pdf", "data": _data_uri(PDF_BYTES)},
        },
    )
    # Then the invoice carries the ERP's number, the due date given, the external total and the file,
    # while its own total and currency stay (R13, R15, R17, R23)
    assert approved0["id"] == inv0["id"]
    attributes = approved0["attributes"]
    assert attributes["document_id"] == d0 and attributes["original_document_id"] == number0
    assert (attributes["approved"], attributes["approval_date"], attributes["due_date"]) == (
        True,
        today.isoformat(),
        due0.isoformat(),
    )
    assert (attributes["external_total"], attributes["external_currency"]) == ("133.70", "USD")
    assert (attributes["total"], attributes["currency"]) == (TOTAL, "EUR")
    assert attributes["has_attached"] is True
    assert attributes["attachment"]["kind"] == "file" and attributes["attachment"]["name"] == f"{d0}.pdf"
    # And a GET shows the same document
    assert erp.invoice(inv0["id"]) == approved0
    # And its payment is due then, expires the day after, and may not be paid from the balance (R13, R17, R18)
    payment0 = erp.payment(pay0)["attributes"]
    assert payment0 == payment0_before | {
        "due_date": due0.isoformat(),
        "expiration_date": (due0 + timedelta(days=1)).isoformat(),
        "external_total": "133.70",
        "external_currency": "USD",
        "balance_payment_allowed": False,
        "updated_at": payment0["updated_at"],
    }
    assert (payment0["total"], payment0["currency_code"], payment0["status"]) == (TOTAL, "EUR", "waiting_for_payment")

    # When the ERP completes it with the platform's number instead of its own, or with another billing date
    other_period = _months_back(b0, -1).isoformat()
    _error(
        erp.post(f"/invoices/{inv0['id']}/complete", {"document_id": number0, "billing_date": b0.isoformat()}),
        400,
        "INVOICE-0006",
        "/document_id",
    )
    _error(
        erp.post(f"/invoices/{inv0['id']}/complete", {"document_id": d0, "billing_date": other_period}),
        400,
        "INVOICE-0005",
        "/billing_date",
    )
    # Then both are refused and nothing changed (R28, R29, R47)
    assert erp.invoice(inv0["id"]) == approved0
    assert erp.payment(pay0)["attributes"] == payment0
    # When it completes it by account and billing date with its own number
    erp.ok(f"/accounts/{a0}/complete_invoices", {"document_id": d0, "billing_date": b0.isoformat()})
    # Then the payment is completed; its totals and due date stay (R17, R27)
    completed = erp.payment(pay0)["attributes"]
    assert completed["status"] == "completed" and completed["closed_at"] is not None
    assert (completed["total"], completed["external_total"], completed["due_date"]) == (
        TOTAL,
        "133.70",
        due0.isoformat(),
    )
    # And completing it again, or revoking the approval of a completed payment, is refused (R28, R36)
    invoice0_completed = erp.invoice(inv0["id"])
    _error(
        erp.post(f"/invoices/{inv0['id']}/complete", {"document_id": d0, "billing_date": b0.isoformat()}),
        400,
        "INVOICE-0103",
    )
    _error(
        erp.post(f"/invoices/{inv0['id']}/revoke", {"document_id": d0, "billing_date": b0.isoformat()}),
        400,
        "INVOICE-0103",
    )
    assert erp.invoice(inv0["id"]) == invoice0_completed
    assert erp.payment(pay0)["attributes"] == completed

    # When the ERP approves a1's invoice by id, stating the platform's own total and currency, with a link
    link = {"name": d1, "data": f"https://erp.example.com/invoices/{d1}.pdf"}
    approved1 = erp.ok(
        f"/invoices/{inv1['id']}/approve",
        {
            "document_id": d1,
            "billing_date": b0.isoformat(),
            "amount": {"total": TOTAL, "currency": "EUR"},
            "link": link,
        },
    )["attributes"]
    # Then the due date is today + the expiration period − 1, and the balance may pay it (R13, R18, R23)
    default_due = today + timedelta(days=EXPIRATION_DAYS - 1)
    assert (approved1["document_id"], approved1["due_date"]) == (d1, default_due.isoformat())
    assert approved1["attachment"] == {"kind": "link", "name": d1, "url": link["data"]}
    payment1 = erp.payment(pay1)["attributes"]
    assert (payment1["due_date"], payment1["expiration_date"]) == (
        default_due.isoformat(),
        (default_due + timedelta(days=1)).isoformat(),
    )
    assert (payment1["external_total"], payment1["external_currency"]) == (TOTAL, "EUR")
    assert payment1["balance_payment_allowed"] is True

    # When the ERP revokes that approval by account, giving a reason
    revoked = erp.ok(
        f"/accounts/{a1}/revoke_invoices",
        {"document_id": d1, "billing_date": b0.isoformat(), "comment": "credit note CN-7 replaces it"},
    )["attributes"]
    # Then the platform number returns and the approval's traces are gone (R15, R37)
    assert (
        revoked
        | {
            "document_id": number1,
            "approved": False,
            "approval_date": None,
            "due_date": None,
            "external_total": None,
            "external_currency": None,
            "has_attached": False,
            "attachment": None,
            "total": TOTAL,
        }
        == revoked
    )
    assert erp.invoice(inv1["id"])["attributes"] == revoked
    # And the payment waits again without a due date, its comment giving the reason (R38)
    payment1 = erp.payment(pay1)["attributes"]
    assert (payment1["status"], payment1["due_date"], payment1["expiration_date"]) == (
        "waiting_for_payment",
        None,
        None,
    )
    assert (payment1["external_total"], payment1["external_currency"]) == (None, None)
    assert payment1["comment"].endswith("The reason: credit note CN-7 replaces it")
    assert payment1["total"] == TOTAL

    # When the ERP approves it again — a due date in the past is refused first (R14) — for today (R40)
    yesterday = (today - timedelta(days=1)).isoformat()
    _error(
        erp.post(
            f"/invoices/{inv1['id']}/approve",
            {"document_id": d1, "billing_date": b0.isoformat(), "due_date": yesterday},
        ),
        400,
        "INVOICE-0108",
        "/due_date",
    )
    again = erp.ok(
        f"/invoices/{inv1['id']}/approve",
        {"document_id": d1, "billing_date": b0.isoformat(), "due_date": today.isoformat()},
    )["attributes"]
    # Then it is approved under the ERP's number once more, due today, expiring tomorrow
    assert (again["approved"], again["document_id"], again["due_date"], again["has_attached"]) == (
        True,
        d1,
        today.isoformat(),
        False,
    )
    assert erp.payment(pay1)["attributes"]["expiration_date"] == (today + timedelta(days=1)).isoformat()

    # And the feed, read on from the cursor until exhausted, tells exactly this story, in order, as the token's
    # doing; refused calls wrote nothing (R26, R27, R45, R47)
    story = erp.read_feed(cursor)
    ids = [int(event["id"]) for event in story]
    assert ids == sorted(set(ids)) and ids[0] > cursor
    seen = [
        (e["attributes"]["type"], e["attributes"]["subject_type"], str(e["attributes"]["subject_id"]))
        for e in story[:-1]
    ]
    assert seen == [
        ("invoice.approved", "invoice", inv0["id"]),
        ("payment.due_date_set", "payment", pay0),
        ("payment.received", "payment", pay0),
        ("invoice.approved", "invoice", inv1["id"]),
        ("payment.due_date_set", "payment", pay1),
        ("invoice.revoked", "invoice", inv1["id"]),
        ("payment.approval_revoked", "payment", pay1),
        ("invoice.approved", "invoice", inv1["id"]),
        ("payment.due_date_set", "payment", pay1),
    ]
    assert {(e["attributes"]["actor"]["kind"], e["attributes"]["actor"]["id"]) for e in story} == {
        ("api_token", installation.story.token_id)
    }
    payloads = [event["attributes"]["payload"] for event in story]
    assert (
        payloads[0]
        | {
            "document_id": d0,
            "original_document_id": number0,
            "due_date": due0.isoformat(),
            "external_total": 13370,
            "external_currency": "USD",
        }
        == payloads[0]
    )
    assert payloads[0]["attachment"]["kind"] == "file"
    assert payloads[2]["changes"] == {"status": ["waiting_for_payment", "completed"]}
    assert payloads[5]["reason"] == "credit note CN-7 replaces it"
    assert payloads[5]["changes"]["document_id"] == [d1, number1]

    # And the list of waiting invoices has lost exactly the two approved ones
    still_waiting = erp.listed("/invoices", **{"filter[status]": "closed", "filter[approved]": "false"})
    assert {i["id"] for i in still_waiting} == {i["id"] for i in waiting} - {inv0["id"], inv1["id"]}
    assert {i["id"] for i in erp.listed("/invoices", **{"filter[approved]": "true"})} == {inv0["id"], inv1["id"]}
    assert server_errors(installation.log_path) == []


def test_a_replayed_approve_answers_byte_for_byte_and_fifty_racing_approves_make_one(installation):
    """Idempotency-Key replays the first response and writes no second event; of 50 concurrent approves of
    one invoice exactly one succeeds, the others are refused as already approved (R16, R26), none fails."""
    erp = Erp(installation, installation.race)
    b0 = installation.billing_dates[0].isoformat()
    c0, c1 = installation.race.accounts
    invoices = {i["attributes"]["account_id"]: i for i in erp.listed("/invoices", **{"filter[billing_date]": b0})}
    replayed, raced = invoices[c0]["id"], invoices[c1]["id"]
    cursor = int(erp.read_feed()[-1]["id"])

    # When the ERP approves with an Idempotency-Key, then retries the very same request
    key = f"approve-{replayed}-{uuid.uuid4().hex}"
    body = {
        "document_id": f"RACE-{uuid.uuid4().hex[:8]}",
        "billing_date": b0,
        "amount": {"total": "99.90", "currency": "GBP"},
    }
    first = erp.post(f"/invoices/{replayed}/approve", body, **{"Idempotency-Key": key})
    retry = erp.post(f"/invoices/{replayed}/approve", body, **{"Idempotency-Key": key})
    # Then the retry gets the first response byte for byte, marked as a replay
    assert first.status_code == 200, first.text
    assert "Idempotent-Replayed" not in first.headers
    assert (retry.status_code, retry.content) == (200, first.content)
    assert retry.headers["Content-Type"] == MEDIA_TYPE and retry.headers["Idempotent-Replayed"] == "true"
    # And without the key the same request is a new call, refused as the invoice is approved (R16)
    _error(erp.post(f"/invoices/{replayed}/approve", body), 400, "INVOICE-0101")

    # When 50 ERP connections approve the other invoice at the same moment, each with its own number,
    # half of them without a key and half with keys of their own
    start = threading.Barrier(RACERS)
    answers: list = [None] * RACERS

    def approve(n: int) -> None:
        headers = {"X-Api-Token": installation.race.token, "Content-Type": MEDIA_TYPE}
        if n % 2:
            headers["Idempotency-Key"] = f"racer-{n}-{uuid.uuid4().hex}"
        with httpx.Client(base_url=installation.url, headers=headers, timeout=120) as client:
            start.wait(timeout=60)
            try:
                answers[n] = client.post(
                    f"{erp.base}/invoices/{raced}/approve",
                    content=json.dumps({"document_id": f"RACER-{n}", "billing_date": b0}),
                )
            except httpx.HTTPError as failure:
                answers[n] = failure

    racers = [threading.Thread(target=approve, args=(n,)) for n in range(RACERS)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=180)
    # Then every one got an answer: exactly one 200, and 49 × 400 INVOICE-0101, no 5xx
    assert all(isinstance(answer, httpx.Response) for answer in answers), answers
    assert Counter(answer.status_code for answer in answers) == {200: 1, 400: RACERS - 1}
    [winner] = [n for n, answer in enumerate(answers) if answer.status_code == 200]
    for answer in answers:
        if answer.status_code == 400:
            assert answer.json()["errors"][0]["code"] == "INVOICE-0101", answer.text
    # And the invoice carries the winner's number
    assert answers[winner].json()["data"]["attributes"]["document_id"] == f"RACER-{winner}"
    assert erp.invoice(raced)["attributes"]["document_id"] == f"RACER-{winner}"

    # And the feed holds one approval of each invoice, no second event from the replay or the losers (R26)
    events = erp.read_feed(cursor)
    approvals = Counter(
        (e["attributes"]["type"], str(e["attributes"]["subject_id"]))
        for e in events
        if e["attributes"]["subject_type"] == "invoice"
    )
    assert approvals == {("invoice.approved", replayed): 1, ("invoice.approved", raced): 1}
    assert [e["attributes"]["type"] for e in events] == [
        "invoice.approved",
        "payment.due_date_set",
        "invoice.approved",
        "payment.due_date_set",
        "account.created",
    ]
    assert server_errors(installation.log_path) == []
