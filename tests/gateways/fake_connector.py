"""A scriptable connector on loopback for the service tests: a real HTTP server speaking protocol v1, whose
answers a test chooses (a good checkout, an error, an unsigned answer, a status). The reference gateway
(``arrears gateway``) is tested on its own and drives the browser tests."""

import contextlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
from standardwebhooks.webhooks import Webhook

from arrears.gateways.protocol import signed_headers


@dataclass
class FakeConnector:
    secret: str
    url: str = ""
    checkout_answer: str = "ok"  # ok | error | unsigned | wrong_attempt
    statuses: dict = field(default_factory=dict)  # attempt_id -> pending | succeeded | declined | cancelled
    received: list = field(default_factory=list)  # (method, path, headers, body dict or None)

    def checkout_request(self, attempt_id: str) -> dict:
        for method, path, _, body in self.received:
            if method == "POST" and path == "/checkouts" and body and body.get("attempt_id") == attempt_id:
                return body
        raise KeyError(attempt_id)


def _handler(fake: FakeConnector):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _answer(self, status: int, payload: dict, *, signed: bool = True):
            body = json.dumps(payload)
            self.send_response(status)
            self.send_header("content-type", "application/json")
            if signed:
                for name, value in signed_headers(fake.secret, body).items():
                    self.send_header(name, value)
            self.send_header("content-length", str(len(body.encode())))
            self.end_headers()
            self.wfile.write(body.encode())

        def _read(self):
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            Webhook(fake.secret).verify(raw.decode(), headers, json_parse=False)  # Arrears signs its requests
            body = json.loads(raw) if raw else None
            fake.received.append((self.command, self.path, headers, body))
            return body

        def do_POST(self):
            body = self._read()
            if fake.checkout_answer == "error":
                return self._answer(500, {"error": "down for maintenance"})
            answer = {
                "attempt_id": body["attempt_id"],
                "checkout_id": f"chk_{body['attempt_id'][-6:]}",
                "status": "pending",
                "redirect_url": f"{fake.url}/checkout/{body['attempt_id']}",
            }
            if fake.checkout_answer == "wrong_attempt":
                answer["attempt_id"] = "att_somebody_else"
            fake.statuses.setdefault(body["attempt_id"], "pending")
            self._answer(201, answer, signed=fake.checkout_answer != "unsigned")

        def do_GET(self):
            self._read()
            attempt_id = self.path.rsplit("/", 1)[-1]
            if attempt_id not in fake.statuses:
                return self._answer(404, {"error": "unknown attempt"})
            request = fake.checkout_request(attempt_id)
            self._answer(
                200,
                {
                    "attempt_id": attempt_id,
                    "checkout_id": f"chk_{attempt_id[-6:]}",
                    "status": fake.statuses[attempt_id],
                    "amount": request["amount"],
                    "currency": request["currency"],
                },
            )

    return Handler


@contextlib.contextmanager
def fake_connector(secret: str):
    fake = FakeConnector(secret=secret)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def signed_callback(secret: str, payload: dict, *, webhook_id: str | None = None) -> tuple[bytes, dict]:
    body = json.dumps(payload)
    return body.encode(), signed_headers(secret, body, message_id=webhook_id)


def post_callback(base_url: str, connector_id: int, secret: str, payload: dict, **options) -> httpx.Response:
    body, headers = signed_callback(secret, payload, **options)
    return httpx.post(
        f"{base_url}/connectors/{connector_id}/callback",
        content=body,
        headers={**headers, "content-type": "application/json"},
        timeout=10,
    )
