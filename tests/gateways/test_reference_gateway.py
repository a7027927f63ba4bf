"""The reference gateway (``arrears gateway``) as a real separate process on loopback, speaking protocol v1 with a
real callback receiver: signatures both ways, idempotent checkouts, refused requests, the buttons' outcomes and
their callbacks (retried with the same ``webhook-id``), the checkout page in Chromium, and `arrears serve`
starting the demo's Demo Gateway by itself."""

import base64
import contextlib
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.e2e.live_server import BIN, REPO
from tests.loopback import free_port

STARTUP_TIMEOUT = 30
CALLBACK_WAIT = 10
QUIET_WAIT = 1.5  # long enough for a callback that should not come to have come


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def signed(secret: str, body: str = "", *, at: datetime | None = None, message_id: str | None = None) -> dict:
    moment = at or datetime.now(UTC)
    message_id = message_id or f"msg_{secrets.token_hex(8)}"
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, moment, body),
    }


# --- a callback receiver: Arrears' side of the callbacks, on loopback --------------------------------------


@dataclass
class Received:
    method: str
    path: str
    headers: dict
    body: bytes

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str = ""
    received: list[Received] = field(default_factory=list)
    planned: dict[str, list[int]] = field(default_factory=dict)  # path -> statuses to answer first, in order
    changed: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, path: str, count: int, timeout: float = CALLBACK_WAIT) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(calls := self.calls(path)) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(calls)} of {count} requests to {path} within {timeout} s"
                self.changed.wait(left)
            return calls

    def calls(self, path: str) -> list[Received]:
        return [call for call in self.received if call.path == path and call.method == "POST"]


@contextlib.contextmanager
def callback_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, status: int, body: bytes, content_type: str):
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # the shop's return page
            self._answer(200, b"<!doctype html><title>Back at the shop</title><h1>Back at the shop</h1>", "text/html")

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            with receiver.changed:
                receiver.received.append(
                    Received("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                plan = receiver.planned.get(self.path) or []
                status = plan.pop(0) if plan else 200
                receiver.changed.notify_all()
            self._answer(
                status,
                json.dumps({"result": "applied"} if status == 200 else {"errors": []}).encode(),
                "application/json",
            )

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


# --- the gateway as a process of its own -------------------------------------------------------------------


@dataclass
class Gateway:
    url: str
    secret: str
    log_path: Path
    process: subprocess.Popen

    def post_checkout(self, payload, *, secret: str | None = None, headers: dict | None = None) -> httpx.Response:
        body = payload if isinstance(payload, str) else json.dumps(payload)
        all_headers = {**signed(secret or self.secret, body), "content-type": "application/json", **(headers or {})}
        return httpx.post(f"{self.url}/checkouts", content=body.encode(), headers=all_headers, timeout=10)

    def status(self, attempt_id: str) -> httpx.Response:
        return httpx.get(f"{self.url}/checkouts/{attempt_id}", headers=signed(self.secret), timeout=10)

    def control(self, attempt_id: str) -> dict:
        response = httpx.get(f"{self.url}/_control/{attempt_id}", headers=signed(self.secret), timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def verified(self, response: httpx.Response) -> dict:
        """The answer's body, after checking its signature with the library."""
        return Webhook(self.secret).verify(response.content, dict(response.headers))

    def press(self, checkout_id: str, action: str) -> httpx.Response:
        """What the browser sends for a button of the checkout page."""
        return httpx.post(f"{self.url}/checkout/{checkout_id}", data={"action": action}, timeout=30)


def start_gateway(tmp_path: Path, secret: str) -> Gateway:
    env = {**os.environ, "ARREARS_GATEWAY_SECRET": secret, "ARREARS_DATA_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    for _ in range(3):
        port = free_port()
        log_path = tmp_path / f"gateway-{port}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [str(BIN / "arrears"), "gateway", "--port", str(port)],
                env=env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        gateway = Gateway(f"http://127.0.0.1:{port}", secret, log_path, process)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{gateway.url}/healthz", timeout=1).status_code == 200:
                    return gateway
            time.sleep(0.1)
        stop_gateway(gateway)
        if "Address already in use" not in log_path.read_text():
            raise AssertionError(f"the gateway did not start:\n{log_path.read_text()}")
    raise AssertionError("no free port for the gateway")


def stop_gateway(gateway: Gateway) -> None:
    if gateway.process.poll() is None:
        gateway.process.terminate()
        try:
            gateway.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            gateway.process.kill()
            gateway.process.wait()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with callback_receiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, receiver) -> Iterator[Gateway]:
    gateway = start_gateway(tmp_path_factory.mktemp("gateway"), new_secret())
    yield gateway
    stop_gateway(gateway)
    assert gateway.process.returncode == 0, gateway.log_path.read_text()  # SIGTERM stops it cleanly


def checkout_request(receiver: Receiver, **changes) -> dict:
    attempt_id = f"att_{secrets.token_hex(10)}"
    return {
        "protocol": "arrears-connector/1",
        "attempt_id": attempt_id,
        "payment_id": 4711,
        "payment_number": "PAY-000042",
        "description": "Invoice INV-000042, Skyline Cloud",
        "amount": 123450,
        "currency": "CHF",
        "return_url": f"{receiver.url}/return/{attempt_id}",
        "callback_url": f"{receiver.url}/callbacks/{attempt_id}",
        "expires_at": (datetime.now(UTC) + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **changes,
    }


def open_checkout(gateway: Gateway, receiver: Receiver, **changes) -> tuple[dict, dict]:
    request = checkout_request(receiver, **changes)
    response = gateway.post_checkout(request, headers={"idempotency-key": request["attempt_id"]})
    assert response.status_code == 201, response.text
    return request, gateway.verified(response)


def callback_path(request: dict) -> str:
    return f"/callbacks/{request['attempt_id']}"


# --- starting ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (None, "ARREARS_GATEWAY_SECRET is not set"),
        ("   ", "ARREARS_GATEWAY_SECRET is not set"),
        ("whsec_%%%", "not a Standard Webhooks secret"),
    ],
)
def test_the_gateway_refuses_to_start_without_a_secret(tmp_path, secret, message):
    env = {**os.environ, "ARREARS_DATA_DIR": str(tmp_path)}
    env.pop("ARREARS_GATEWAY_SECRET", None)
    if secret is not None:
        env["ARREARS_GATEWAY_SECRET"] = secret
    done = subprocess.run(
        [str(BIN / "arrears"), "gateway", "--port", str(free_port())],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr


# --- opening a checkout --------------------------------------------------------------------------------------


def test_a_checkout_opens_once_per_attempt_with_a_signed_answer(gateway, receiver):
    request = checkout_request(receiver)

    first = gateway.post_checkout(request, headers={"idempotency-key": request["attempt_id"]})
    again = gateway.post_checkout(request, headers={"idempotency-key": request["attempt_id"]})

    assert first.status_code == 201 and again.status_code == 200
    answer = gateway.verified(first)
    assert answer["attempt_id"] == request["attempt_id"] and answer["status"] == "pending"
    assert answer["checkout_id"].startswith("chk_")
    assert answer["redirect_url"] == f"{gateway.url}/checkout/{answer['checkout_id']}"
    assert gateway.verified(again) == answer  # the same checkout, never a second one
    assert first.headers["webhook-id"] != again.headers["webhook-id"]  # two answers, two messages


def test_the_same_attempt_with_another_amount_is_refused(gateway, receiver):
    request, answer = open_checkout(gateway, receiver)

    response = gateway.post_checkout({**request, "amount": request["amount"] + 1})

    assert response.status_code == 409
    assert gateway.verified(response)["errors"][0]["source"] == {"pointer": "/amount"}
    assert gateway.verified(gateway.status(request["attempt_id"]))["amount"] == request["amount"]


def _old(secret, body):
    return signed(secret, body, at=datetime.now(UTC) - timedelta(minutes=6))


@pytest.mark.parametrize(
    "forgery",
    ["other secret", "old timestamp", "future timestamp", "changed body", "no signature", "malformed signature"],
)
def test_a_checkout_request_that_is_not_signed_by_arrears_is_refused(gateway, receiver, forgery):
    request = checkout_request(receiver)
    body = json.dumps(request)
    headers = {
        "other secret": lambda: signed(new_secret(), body),
        "old timestamp": lambda: _old(gateway.secret, body),
        "future timestamp": lambda: signed(gateway.secret, body, at=datetime.now(UTC) + timedelta(minutes=6)),
        "changed body": lambda: signed(gateway.secret, body.replace("123450", "100")),
        "no signature": lambda: {},
        "malformed signature": lambda: {**signed(gateway.secret, body), "webhook-signature": "v1"},
    }[forgery]()

    response = httpx.post(f"{gateway.url}/checkouts", content=body, headers=headers, timeout=10)

    assert response.status_code == 401
    assert gateway.verified(response)["errors"][0]["source"] == {"header": "webhook-signature"}
    assert gateway.status(request["attempt_id"]).status_code == 404  # nothing was opened


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"protocol": "arrears-connector/2"}, "/protocol"),
        ({"attempt_id": ""}, "/attempt_id"),
        ({"attempt_id": "att/../x"}, "/attempt_id"),
        ({"attempt_id": 17}, "/attempt_id"),
        ({"amount": "125.00"}, "/amount"),
        ({"amount": 12.5}, "/amount"),
        ({"amount": 0}, "/amount"),
        ({"amount": -100}, "/amount"),
        ({"amount": True}, "/amount"),
        ({"amount": None}, "/amount"),
        ({"currency": "eur"}, "/currency"),
        ({"currency": "EURO"}, "/currency"),
        ({"currency": "XYZ"}, "/currency"),
        ({"return_url": "/customer/payments/1/return/"}, "/return_url"),
        ({"return_url": "javascript:alert(1)"}, "/return_url"),
        ({"callback_url": "ftp://127.0.0.1/cb"}, "/callback_url"),
        ({"callback_url": None}, "/callback_url"),
        ({"payment_id": "4711"}, "/payment_id"),
        ({"description": ["Invoice"]}, "/description"),
        ({"payment_number": "P" * 101}, "/payment_number"),
        ({"expires_at": "tomorrow"}, "/expires_at"),
        ({"expires_at": "2026-12-02T10:45:00"}, "/expires_at"),
    ],
)
def test_a_bad_checkout_body_is_refused_naming_the_field(gateway, receiver, change, pointer):
    request = {**checkout_request(receiver), **change}

    response = gateway.post_checkout(request)

    assert response.status_code == 400, response.text
    error = gateway.verified(response)["errors"][0]
    assert error["source"] == {"pointer": pointer}
    assert error["detail"].startswith(pointer.strip("/").split("/")[0])


def test_a_body_that_is_not_a_json_object_is_refused(gateway, receiver):
    for body in ("not json", "[1, 2]", '"text"'):
        response = gateway.post_checkout(body)
        assert response.status_code == 400, body
        assert "source" in gateway.verified(response)["errors"][0]


def test_an_idempotency_key_other_than_the_attempt_id_is_refused(gateway, receiver):
    request = checkout_request(receiver)

    response = gateway.post_checkout(request, headers={"idempotency-key": "att_other"})

    assert response.status_code == 400
    assert gateway.verified(response)["errors"][0]["source"] == {"header": "idempotency-key"}


# --- status ----------------------------------------------------------------------------------------------


def test_the_status_of_a_checkout_is_signed_and_an_unknown_attempt_is_404(gateway, receiver):
    request, answer = open_checkout(gateway, receiver, amount=12500, currency="JPY")

    known = gateway.status(request["attempt_id"])
    unknown = gateway.status("att_nobody")
    unsigned = httpx.get(f"{gateway.url}/checkouts/{request['attempt_id']}", timeout=10)
    stale = httpx.get(f"{gateway.url}/checkouts/{request['attempt_id']}", headers=_old(gateway.secret, ""), timeout=10)

    assert known.status_code == 200
    assert gateway.verified(known) == {
        "attempt_id": request["attempt_id"],
        "checkout_id": answer["checkout_id"],
        "status": "pending",
        "amount": 12500,
        "currency": "JPY",
    }
    assert unknown.status_code == 404 and gateway.verified(unknown)["errors"][0]["status"] == "404"
    assert unsigned.status_code == 401 and stale.status_code == 401


# --- the buttons -----------------------------------------------------------------------------------------


def _assert_callback(gateway: Gateway, call: Received, request: dict, checkout_id: str, event_type: str) -> None:
    payload = gateway.verified(httpx.Response(200, content=call.body, headers=call.headers))
    assert payload["type"] == event_type
    assert (payload["attempt_id"], payload["checkout_id"]) == (request["attempt_id"], checkout_id)
    assert (payload["amount"], payload["currency"]) == (request["amount"], request["currency"])
    assert datetime.fromisoformat(payload["occurred_at"].replace("Z", "+00:00")) <= datetime.now(UTC)
    assert call.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("action", "status", "event_type"),
    [("pay", "succeeded", "checkout.succeeded"), ("decline", "declined", "checkout.declined")],
)
def test_a_button_ends_the_checkout_posts_a_signed_callback_and_returns_to_the_shop(
    gateway, receiver, action, status, event_type
):
    request, answer = open_checkout(gateway, receiver)

    response = gateway.press(answer["checkout_id"], action)

    assert response.status_code == 303 and response.headers["location"] == request["return_url"]
    [call] = receiver.wait_for(callback_path(request), 1)  # delivered before the browser is sent back
    _assert_callback(gateway, call, request, answer["checkout_id"], event_type)
    assert gateway.verified(gateway.status(request["attempt_id"]))["status"] == status

    # A second click (or the back button) changes nothing and shows where the checkout stands
    again = gateway.press(answer["checkout_id"], "pay")
    assert again.status_code == 303 and again.headers["location"] == f"/checkout/{answer['checkout_id']}"
    time.sleep(QUIET_WAIT)
    assert len(receiver.calls(callback_path(request))) == 1
    assert gateway.verified(gateway.status(request["attempt_id"]))["status"] == status


def test_cancel_and_return_cancels_the_checkout(gateway, receiver):
    request, answer = open_checkout(gateway, receiver)

    response = httpx.get(f"{gateway.url}/checkout/{answer['checkout_id']}/cancel", timeout=30)

    assert response.status_code == 303 and response.headers["location"] == request["return_url"]
    [call] = receiver.wait_for(callback_path(request), 1)
    _assert_callback(gateway, call, request, answer["checkout_id"], "checkout.cancelled")
    assert gateway.verified(gateway.status(request["attempt_id"]))["status"] == "cancelled"


def test_never_answer_returns_to_the_shop_without_a_word_and_a_later_pay_is_a_late_success(gateway, receiver):
    request, answer = open_checkout(gateway, receiver)

    response = gateway.press(answer["checkout_id"], "never_answer")

    assert response.status_code == 303 and response.headers["location"] == request["return_url"]
    time.sleep(QUIET_WAIT)
    assert receiver.calls(callback_path(request)) == []
    assert gateway.verified(gateway.status(request["attempt_id"]))["status"] == "pending"
    page = httpx.get(answer["redirect_url"], timeout=10).text
    assert "Still pending" in page and 'value="pay"' in page  # still actionable

    # Later (after Arrears timed the attempt out) the customer pays after all
    assert gateway.press(answer["checkout_id"], "pay").status_code == 303
    [call] = receiver.wait_for(callback_path(request), 1)
    _assert_callback(gateway, call, request, answer["checkout_id"], "checkout.succeeded")
    assert gateway.verified(gateway.status(request["attempt_id"]))["status"] == "succeeded"


def test_pay_twice_posts_two_successes_with_different_webhook_ids(gateway, receiver):
    request, answer = open_checkout(gateway, receiver)

    response = gateway.press(answer["checkout_id"], "pay_twice")

    assert response.status_code == 303 and response.headers["location"] == request["return_url"]
    calls = receiver.wait_for(callback_path(request), 2)
    for call in calls:
        _assert_callback(gateway, call, request, answer["checkout_id"], "checkout.succeeded")
    assert calls[0].headers["webhook-id"] != calls[1].headers["webhook-id"]
    time.sleep(QUIET_WAIT)
    assert len(receiver.calls(callback_path(request))) == 2


def test_a_callback_arrears_does_not_take_is_retried_with_the_same_webhook_id(gateway, receiver):
    request, answer = open_checkout(gateway, receiver)
    receiver.planned[callback_path(request)] = [503, 502]  # Arrears is down, then back

    assert gateway.press(answer["checkout_id"], "pay").status_code == 303

    calls = receiver.wait_for(callback_path(request), 3)
    assert len({call.headers["webhook-id"] for call in calls}) == 1
    assert len({call.body for call in calls}) == 1  # the same message: same body, signed afresh
    for call in calls:
        _assert_callback(gateway, call, request, answer["checkout_id"], "checkout.succeeded")
    [delivery] = gateway.control(request["attempt_id"])["callbacks"]
    assert delivery == {
        "webhook_id": calls[0].headers["webhook-id"],
        "type": "checkout.succeeded",
        "state": "delivered",
        "tries": ["503", "502", "200"],
    }


def test_a_callback_arrears_refuses_is_not_retried(gateway, receiver):
    request, answer = open_checkout(gateway, receiver)
    receiver.planned[callback_path(request)] = [409]

    assert gateway.press(answer["checkout_id"], "pay").status_code == 303

    receiver.wait_for(callback_path(request), 1)
    time.sleep(QUIET_WAIT)
    assert len(receiver.calls(callback_path(request))) == 1
    assert gateway.control(request["attempt_id"])["callbacks"][0]["state"] == "refused"


def test_a_callback_nobody_answers_does_not_hold_the_browser_and_is_retried(gateway, receiver):
    nobody = f"http://127.0.0.1:{free_port()}/connectors/1/callback"
    request, answer = open_checkout(gateway, receiver, callback_url=nobody)

    started = time.monotonic()
    response = gateway.press(answer["checkout_id"], "pay")

    assert response.status_code == 303 and time.monotonic() - started < 5
    deadline = time.monotonic() + CALLBACK_WAIT
    while len(tries := gateway.control(request["attempt_id"])["callbacks"][0]["tries"]) < 2:
        assert time.monotonic() < deadline, tries
        time.sleep(0.2)
    assert all(attempt.startswith("ConnectError") for attempt in tries)


def test_the_control_route_acts_like_the_buttons_and_is_signed(gateway, receiver):
    request, answer = open_checkout(gateway, receiver)
    url = f"{gateway.url}/_control/{request['attempt_id']}/decline"

    assert httpx.post(url, timeout=10).status_code == 401
    response = httpx.post(url, headers=signed(gateway.secret), timeout=10)

    assert response.status_code == 200
    assert gateway.verified(response)["status"] == "declined"
    receiver.wait_for(callback_path(request), 1)
    assert httpx.post(url, headers=signed(gateway.secret), timeout=10).status_code == 409
    assert (
        httpx.post(f"{gateway.url}/_control/att_nobody/pay", headers=signed(gateway.secret), timeout=10).status_code
        == 404
    )


def test_an_unknown_checkout_page_or_action_is_a_plain_page(gateway, receiver):
    request, answer = open_checkout(gateway, receiver)

    missing = httpx.get(f"{gateway.url}/checkout/chk_nobody", timeout=10)
    unknown_action = gateway.press(answer["checkout_id"], "refund")

    assert missing.status_code == 404 and "No such checkout" in missing.text
    assert unknown_action.status_code == 400 and "Unknown action" in unknown_action.text
    assert gateway.verified(gateway.status(request["attempt_id"]))["status"] == "pending"


def test_every_request_is_logged_on_one_line_without_secrets(gateway, receiver):
    request, answer = open_checkout(gateway, receiver)
    gateway.status(request["attempt_id"])

    log = gateway.log_path.read_text()

    assert '"POST /checkouts HTTP/1.1" 201' in log
    assert f'"GET /checkouts/{request["attempt_id"]} HTTP/1.1" 200' in log
    assert gateway.secret not in log and gateway.secret.removeprefix("whsec_") not in log
    assert "v1," not in log  # no signature either


# --- the checkout page in a browser ------------------------------------------------------------------------


def test_the_checkout_page_shows_the_amount_and_its_buttons(gateway, receiver):
    from tests.browser import (
        assert_clean_console,
        assert_no_serious_axe_violations,
        browser,
        new_page,
        screenshot_both,
    )

    request, answer = open_checkout(gateway, receiver)
    jpy_request, jpy_answer = open_checkout(
        gateway,
        receiver,
        amount=1250000,
        currency="JPY",
        description="Balance top-up PAY-000043, Alpine Dental Clinic",
        payment_number="PAY-000043",
    )
    with browser() as chromium:
        page = new_page(chromium, gateway.url)
        response = page.goto(answer["redirect_url"])
        csp = response.headers["content-security-policy"]
        assert "'unsafe-inline'" not in csp and "default-src 'none'" in csp

        assert page.title() == "Demo Gateway"
        assert page.locator(".amount").inner_text() == "CHF\u00a01,234.50"
        assert page.get_by_text("Invoice INV-000042, Skyline Cloud").is_visible()
        assert page.get_by_text("PAY-000042").is_visible()
        for name in ("Pay", "Decline", "Never answer", "Pay twice"):
            assert page.get_by_role("button", name=name, exact=True).is_visible()
        assert page.get_by_role("link", name="Cancel and return").is_visible()
        assert page.locator("[style]").count() == 0 and page.locator("script").count() == 0
        screenshot_both(page, "gateway-checkout")
        assert_no_serious_axe_violations(page)

        page.goto(jpy_answer["redirect_url"])
        assert page.locator(".amount").inner_text() == "JPY\u00a01,250,000"

        # Never answer: back at the shop; the checkout page still offers the buttons and says it is pending
        page.goto(answer["redirect_url"])
        page.get_by_role("button", name="Never answer").click()
        page.wait_for_url(request["return_url"])
        page.goto(answer["redirect_url"])
        assert page.get_by_role("status").inner_text().startswith("Still pending.")
        screenshot_both(page, "gateway-checkout-never-answered")
        assert_no_serious_axe_violations(page)

        # A late Pay: the shop is told, and the page says the checkout is paid
        page.get_by_role("button", name="Pay", exact=True).click()
        page.wait_for_url(request["return_url"])
        receiver.wait_for(callback_path(request), 1)
        page.goto(answer["redirect_url"])
        assert page.locator(".status").inner_text() == "Paid"
        assert page.get_by_role("button", name="Pay", exact=True).count() == 0
        assert page.get_by_role("link", name="Return to the shop").get_attribute("href") == request["return_url"]
        screenshot_both(page, "gateway-checkout-paid")
        assert_no_serious_axe_violations(page)
        assert_clean_console(page)


# --- arrears serve starts the demo's Demo Gateway ----------------------------------------------------------

CONNECTORS_SCRIPT = """
import json, django
django.setup()
from arrears.gateways.models import PaymentConnector
print(json.dumps([{"id": c.pk, "url": c.url, "secret": c.secret, "name": c.name}
                  for c in PaymentConnector.objects.filter(runs_with_serve=True).order_by("id")]))
"""

PAY_SCRIPT = """
import json, sys, django
django.setup()
from arrears.core import clock
from arrears.core.actors import Actor
from arrears.gateways.services import start_attempt
from arrears.payments.models import Payment, PaymentMethod
base_url, connector_id = sys.argv[1], int(sys.argv[2])
payment = (Payment.objects.filter(status__in=("waiting_for_payment", "expired"), type="rendered_services",
                                  due_date__isnull=False, invoice__managed_externally=False,
                                  reseller__payment_connectors__id=connector_id)
           .select_related("invoice", "account").order_by("id").first())
method = PaymentMethod.objects.get(connector_id=connector_id)
return_url = f"{base_url}/customer/payments/{payment.pk}/return/?attempt={{attempt_id}}"
attempt = start_attempt(payment, method, return_url=return_url,
                        callback_url=f"{base_url}/connectors/{connector_id}/callback", actor=Actor.system("test"),
                        now=clock.wall_clock())
print(json.dumps({"payment_id": payment.pk, "attempt_id": attempt.public_id, "redirect_url": attempt.redirect_url,
                  "status": Payment.objects.get(pk=payment.pk).status, "total": payment.total}))
"""

ROTATE_SCRIPT = """
import sys, django
django.setup()
from arrears.core import clock
from arrears.core.actors import Actor
from arrears.gateways.models import PaymentConnector
from arrears.gateways.services import rotate_connector_secret
connector = PaymentConnector.objects.get(pk=int(sys.argv[1]))
print(rotate_connector_secret(connector, actor=Actor.system("test"), now=clock.wall_clock())[1])
"""

PAYMENT_STATUS_SCRIPT = """
import sys, django
django.setup()
from arrears.payments.models import Payment
print(Payment.objects.get(pk=int(sys.argv[1])).status)
"""


@pytest.mark.slow
def test_serve_starts_the_demo_gateway_and_points_its_connector_at_it(tmp_path):
    from tests.browser import live_arrears
    from tests.e2e.live_server import python

    with live_arrears(tmp_path, schedule=False) as site:
        connectors = json.loads(python(site.env, CONNECTORS_SCRIPT))

        # Then each reseller's Demo Gateway runs on a loopback port of its own, and answers signed
        assert [connector["name"] for connector in connectors] == ["Demo Gateway", "Demo Gateway"]
        ports = {connector["url"].rsplit(":", 1)[1] for connector in connectors}
        assert len(ports) == 2 and site.base_url.rsplit(":", 1)[1] not in ports
        for connector in connectors:
            assert connector["url"].startswith("http://127.0.0.1:")
            response = httpx.get(
                f"{connector['url']}/checkouts/att_unknown", headers=signed(connector["secret"]), timeout=10
            )
            assert response.status_code == 404
            Webhook(connector["secret"]).verify(response.content, dict(response.headers))
            assert connector["secret"] not in site.log_tail(100_000)

        # And a payment started through it reaches its page, and Pay completes the payment in Arrears
        operator_gateway = connectors[0]
        started = json.loads(python(site.env, PAY_SCRIPT, site.base_url, str(operator_gateway["id"])))
        assert started["status"] == "processing"
        assert started["redirect_url"].startswith(operator_gateway["url"] + "/checkout/")
        page = httpx.get(started["redirect_url"], timeout=10)
        assert page.status_code == 200 and "Demo Gateway" in page.text
        checkout_id = started["redirect_url"].rsplit("/", 1)[1]
        pressed = httpx.post(f"{operator_gateway['url']}/checkout/{checkout_id}", data={"action": "pay"}, timeout=30)
        assert pressed.status_code == 303
        assert pressed.headers["location"].startswith(f"{site.base_url}/customer/payments/{started['payment_id']}/")
        assert python(site.env, PAYMENT_STATUS_SCRIPT, str(started["payment_id"])).strip() == "completed"

        # When an admin rotates the connector's secret, then its gateway follows within seconds
        new_secret = python(site.env, ROTATE_SCRIPT, str(operator_gateway["id"])).strip()
        assert new_secret.startswith("whsec_") and new_secret != operator_gateway["secret"]
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            with contextlib.suppress(httpx.TransportError):
                answer = httpx.get(
                    f"{operator_gateway['url']}/checkouts/att_unknown", headers=signed(new_secret), timeout=5
                )
                if answer.status_code == 404:
                    break
            assert time.monotonic() < deadline, site.log_tail()
            time.sleep(0.5)
        Webhook(new_secret).verify(answer.content, dict(answer.headers))
        assert "was rotated; restarting its gateway" in site.log_tail(100_000)
        assert new_secret not in site.log_tail(100_000)
    assert "serve: stopped" in site.log_tail()


# --- the documentation's example -------------------------------------------------------------------------------


def test_the_documented_example_runs_against_the_reference_gateway(gateway):
    doc = (REPO / "docs/payment-connectors.md").read_text()
    section = doc[doc.index("## Trying it against the reference gateway") :]
    assert "arrears gateway --port 8765" in section
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    script = example.replace('GATEWAY = "http://127.0.0.1:8765"', f'GATEWAY = "{gateway.url}"')
    assert script != example

    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "ARREARS_GATEWAY_SECRET": gateway.secret},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    created, status = done.stdout.splitlines()
    assert created.startswith("201 {'attempt_id': 'att_") and f"'redirect_url': '{gateway.url}/checkout/chk_" in created
    assert status.startswith("200 {'attempt_id': 'att_") and "'status': 'pending', 'amount': 123450" in status
