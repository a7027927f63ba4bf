"""The reference gateway's HTTP routes (connector protocol v1, docs/payment-connectors.md).

Protocol routes (signed both ways with the connector's secret, Standard Webhooks):

* ``POST /checkouts`` — open a checkout (201), or the same one again for a known ``attempt_id`` (200);
* ``GET /checkouts/{attempt_id}`` — its status; 404 for an unknown attempt.

Browser routes (no signature: the customer's browser holds no secret; the checkout id is unguessable):

* ``GET /checkout/{checkout_id}`` — the checkout page; ``POST`` it with ``action`` = ``pay``, ``decline``,
  ``never_answer`` or ``pay_twice``; ``GET /checkout/{checkout_id}/cancel`` — cancel and return;
* ``GET /static/…`` — the page's stylesheet and icon; ``GET /healthz``.

Test routes (signed like the protocol's, empty body): ``POST /_control/{attempt_id}/{action}`` does what the button
would, without a browser, and ``GET /_control/{attempt_id}`` lists the callbacks sent for the checkout.
"""

import json
import sys
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from standardwebhooks.webhooks import Webhook

from arrears.gateways.reference import page
from arrears.gateways.reference.callbacks import CallbackSender, new_webhook_id, signed_headers
from arrears.gateways.reference.checkouts import (
    CANCELLED,
    DECLINED,
    SUCCEEDED,
    AttemptReused,
    Checkout,
    CheckoutBook,
    CheckoutRequest,
    OutcomeRefused,
    RequestInvalid,
)

MAX_BODY_BYTES = 64 * 1024
ACTIONS = ("pay", "decline", "never_answer", "pay_twice", "cancel")


class SecretInvalid(ValueError):
    pass


def checked_secret(secret: str | None) -> str:
    """The connector's shared secret, ``whsec_`` + base64, as Arrears shows it once."""
    secret = (secret or "").strip()
    if not secret:
        raise SecretInvalid(
            "ARREARS_GATEWAY_SECRET is not set: export the connector's secret (whsec_…), e.g. "
            'ARREARS_GATEWAY_SECRET="whsec_$(head -c 24 /dev/urandom | base64)"'
        )
    try:
        Webhook(secret)
    except Exception as exc:  # noqa: BLE001 — the library raises several kinds for a secret it cannot decode
        raise SecretInvalid(
            f"ARREARS_GATEWAY_SECRET is not a Standard Webhooks secret (whsec_ + base64): {exc}"
        ) from exc
    return secret


class ReferenceGateway(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        host: str,
        port: int,
        secret: str,
        *,
        log: Callable[[str], None] | None = None,
        retry_delays: tuple[float, ...] | None = None,
    ):
        self.secret = checked_secret(secret)
        self.book = CheckoutBook()
        self._log_lock = threading.Lock()
        self._log = log or self._print
        sender_options = {} if retry_delays is None else {"retry_delays": retry_delays}
        self.callbacks = CallbackSender(self.secret, self.book, self.log, **sender_options)
        super().__init__((host, port), _Handler)
        # Where browsers and Arrears reach it: a wildcard address is reached on loopback.
        public_host = "127.0.0.1" if host in ("", "0.0.0.0") else host
        self.base_url = f"http://{public_host}:{self.server_address[1]}"

    def _print(self, line: str) -> None:
        with self._log_lock:
            sys.stdout.write(f"gateway: {line}\n")
            sys.stdout.flush()

    def log(self, line: str) -> None:
        self._log(line)

    # --- outcomes, shared by the buttons and the control route --------------------------------------------

    def act(self, checkout: Checkout, action: str) -> None:
        """Apply a button's outcome; raises OutcomeRefused if the checkout has ended already."""
        if action == "never_answer":
            self.book.leave_unanswered(checkout)
            self.log(f"checkout {checkout.checkout_id} ({checkout.attempt_id}): never answer, stays pending")
            return
        status = {"pay": SUCCEEDED, "pay_twice": SUCCEEDED, "decline": DECLINED, "cancel": CANCELLED}[action]
        self.book.end(checkout, status)
        self.log(f"checkout {checkout.checkout_id} ({checkout.attempt_id}): {action} -> {status}")
        self.callbacks.send(checkout, f"checkout.{status}")
        if action == "pay_twice":
            # A duplicated charge at the gateway: a second success, a message of its own (a new webhook-id).
            self.callbacks.send(checkout, f"checkout.{status}")


class _Handler(BaseHTTPRequestHandler):
    server: ReferenceGateway
    server_version = "ArrearsReferenceGateway/1"
    protocol_version = "HTTP/1.1"

    # --- plumbing -------------------------------------------------------------------------------------------

    def log_message(self, format: str, *args) -> None:  # noqa: A002 — the base class's signature
        # One line per request on stdout; the request line holds no secret (the signature is a header).
        self.server.log(f"{self.address_string()} {format % args}")

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: dict) -> None:
        """Every JSON answer is signed, errors included, so Arrears can tell it came from this connector."""
        body = json.dumps(payload, separators=(",", ":"))
        headers = {**signed_headers(self.server.secret, body, new_webhook_id()), "Cache-Control": "no-store"}
        self._send(status, body.encode(), "application/json", headers)

    def _error(self, status: int, detail: str, *, pointer: str | None = None, header: str | None = None) -> None:
        error: dict[str, str | dict[str, str]] = {
            "status": str(status),
            "title": HTTPStatus(status).phrase,
            "detail": detail,
        }
        if pointer is not None:
            error["source"] = {"pointer": pointer}
        elif header is not None:
            error["source"] = {"header": header}
        self._json(status, {"errors": [error]})

    def _html(self, status: int, html: str, *, checkout: Checkout | None = None) -> None:
        # The form posts here and is redirected to the shop: form-action must allow the shop's origin too.
        form_targets = "'self'"
        if checkout is not None:
            shop = urlsplit(checkout.return_url)
            form_targets += f" {shop.scheme}://{shop.netloc}"
        policy = (
            "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'; "
            f"form-action {form_targets}"
        )
        self._send(
            status,
            html.encode(),
            "text/html; charset=utf-8",
            {"Content-Security-Policy": policy, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
        )

    def _redirect(self, location: str) -> None:
        self._send(
            HTTPStatus.SEE_OTHER, b"", "text/plain; charset=utf-8", {"Location": location, "Cache-Control": "no-store"}
        )

    def _body(self) -> bytes | None:
        """The request body, or None after answering 413/400 for one too large or of a bad length."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self._error(HTTPStatus.BAD_REQUEST, "Content-Length is not a number", header="content-length")
            return None
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"a body is at most {MAX_BODY_BYTES} bytes")
            return None
        return self.rfile.read(length)

    def _verified(self, body: bytes) -> bool:
        """Standard Webhooks, as Arrears signs: the library checks the HMAC and the 5-minute tolerance."""
        try:
            Webhook(self.server.secret).verify(
                body.decode("utf-8", errors="replace"), dict(self.headers.items()), json_parse=False
            )
        # A bad or missing signature, an old timestamp, or a malformed signature header: not from Arrears.
        except Exception:  # noqa: BLE001
            self._error(
                HTTPStatus.UNAUTHORIZED,
                "the webhook signature does not verify with this connector's "
                "secret, or its timestamp is more than 5 minutes away",
                header="webhook-signature",
            )
            return False
        return True

    def _route(self) -> list[str]:
        return [part for part in urlsplit(self.path).path.split("/") if part]

    # --- methods --------------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        parts = self._route()
        match parts:
            case ["healthz"]:
                self._json(HTTPStatus.OK, {"status": "ok"})
            case ["static", name] if name in page.ASSETS:
                self._send(HTTPStatus.OK, page.asset(name), page.ASSETS[name], {"Cache-Control": "max-age=3600"})
            case ["favicon.ico"]:
                self._redirect("/static/favicon.svg")
            case ["checkouts", attempt_id]:
                self._status(attempt_id)
            case ["checkout", checkout_id]:
                self._page(checkout_id)
            case ["checkout", checkout_id, "cancel"]:
                self._browser_action(checkout_id, "cancel")
            case ["_control", attempt_id]:
                self._control_read(attempt_id)
            case _:
                self._not_found()

    do_HEAD = do_GET

    def do_POST(self) -> None:
        parts = self._route()
        match parts:
            case ["checkouts"]:
                self._create()
            case ["checkout", checkout_id]:
                body = self._body()
                if body is None:
                    return
                action = parse_qs(body.decode("utf-8", errors="replace")).get("action", [""])[0]
                self._browser_action(checkout_id, action)
            case ["_control", attempt_id, action]:
                self._control_act(attempt_id, action)
            case _:
                self._not_found()

    def _not_found(self) -> None:
        self._error(HTTPStatus.NOT_FOUND, f"no such route: {self.command} {urlsplit(self.path).path}")

    # --- protocol routes ------------------------------------------------------------------------------------

    def _create(self) -> None:
        body = self._body()
        if body is None or not self._verified(body):
            return
        try:
            payload = json.loads(body)
        except ValueError:
            return self._error(HTTPStatus.BAD_REQUEST, "the body is not JSON", pointer="")
        try:
            request = CheckoutRequest.parse(payload, idempotency_key=self.headers.get("Idempotency-Key"))
            checkout, created = self.server.book.open(request)
        except RequestInvalid as exc:
            if exc.header:
                return self._error(HTTPStatus.BAD_REQUEST, str(exc), header=exc.header)
            status = HTTPStatus.CONFLICT if isinstance(exc, AttemptReused) else HTTPStatus.BAD_REQUEST
            return self._error(status, str(exc), pointer=exc.pointer)
        self._json(HTTPStatus.CREATED if created else HTTPStatus.OK, checkout.creation_answer(self.server.base_url))

    def _status(self, attempt_id: str) -> None:
        if not self._verified(b""):
            return
        checkout = self.server.book.by_attempt(attempt_id)
        if checkout is None:
            return self._error(HTTPStatus.NOT_FOUND, "no checkout for this attempt_id", pointer="/attempt_id")
        self._json(HTTPStatus.OK, checkout.status_answer())

    # --- browser routes -------------------------------------------------------------------------------------

    def _page(self, checkout_id: str) -> None:
        checkout = self.server.book.by_checkout(checkout_id)
        if checkout is None:
            return self._html(
                HTTPStatus.NOT_FOUND,
                page.render_message(
                    "No such checkout",
                    "This checkout does not exist, or the gateway was restarted since it was "
                    "opened. Go back to the shop and start the payment again.",
                    status_code=404,
                ),
            )
        self._html(HTTPStatus.OK, page.render(checkout), checkout=checkout)

    def _browser_action(self, checkout_id: str, action: str) -> None:
        checkout = self.server.book.by_checkout(checkout_id)
        if checkout is None:
            return self._page(checkout_id)
        if action not in ACTIONS:
            return self._html(
                HTTPStatus.BAD_REQUEST,
                page.render_message(
                    "Unknown action",
                    f"Choose one of the buttons on the checkout page ({action!r} is not one).",
                    status_code=400,
                ),
            )
        try:
            self.server.act(checkout, action)
        except OutcomeRefused:
            # A second click, or the back button: show where the checkout stands instead.
            return self._redirect(f"/checkout/{checkout.checkout_id}")
        self._redirect(checkout.return_url)

    # --- test routes ----------------------------------------------------------------------------------------

    def _control_checkout(self, attempt_id: str) -> Checkout | None:
        checkout = self.server.book.by_attempt(attempt_id)
        if checkout is None:
            self._error(HTTPStatus.NOT_FOUND, "no checkout for this attempt_id", pointer="/attempt_id")
        return checkout

    def _control_answer(self, checkout: Checkout) -> None:
        self._json(
            HTTPStatus.OK,
            {
                **checkout.status_answer(),
                "never_answered": checkout.never_answered,
                "callbacks": self.server.book.deliveries(checkout),
            },
        )

    def _control_read(self, attempt_id: str) -> None:
        if not self._verified(b""):
            return
        checkout = self._control_checkout(attempt_id)
        if checkout is not None:
            self._control_answer(checkout)

    def _control_act(self, attempt_id: str, action: str) -> None:
        body = self._body()
        if body is None or not self._verified(body):
            return
        checkout = self._control_checkout(attempt_id)
        if checkout is None:
            return
        if action not in ACTIONS:
            return self._error(HTTPStatus.NOT_FOUND, f"action is one of {', '.join(ACTIONS)}", pointer="/action")
        try:
            self.server.act(checkout, action)
        except OutcomeRefused as exc:
            return self._error(HTTPStatus.CONFLICT, str(exc), pointer="/status")
        self._control_answer(checkout)
