"""Connector protocol v1 on the wire (docs/payment-connectors.md): signing and verifying with Standard Webhooks,
the two requests Arrears sends, and the redaction of what is stored.

Every exchange is returned as an :class:`Exchange` rather than raised: the services store each message with its
attempt, whatever the connector answered, and decide from the exchange what happens to the payment.
"""

import base64
import json
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook

from arrears.gateways.errors import ConnectorSignatureInvalid
from arrears.gateways.models import PaymentConnector

PROTOCOL = "arrears-connector/1"
REQUEST_TIMEOUT_SECONDS = 10
USER_AGENT = "Arrears-Connector/1"
REDACTED = "[redacted]"
_SIGNATURE_HEADERS = ("webhook-signature",)
_ERROR_TEXT_LIMIT = 500


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def new_message_id() -> str:
    return f"msg_{secrets.token_hex(12)}"


def signed_headers(secret: str, body: str, *, message_id: str | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers. The timestamp is the wall clock's, not the caller's ``now``: it is a
    wire-level fact the receiver checks against its own clock (as the library's ``verify`` does here)."""
    timestamp = datetime.now(UTC)
    message_id = message_id or new_message_id()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(math.floor(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, timestamp, body),
    }


def secrets_accepted(connector: PaymentConnector, *, now: datetime) -> list[str]:
    """The current secret, and during a rotation the previous one until it lapses."""
    accepted = [connector.secret]
    valid_until = connector.previous_secret_valid_until
    if connector.previous_secret and valid_until and now < valid_until:
        accepted.append(connector.previous_secret)
    return accepted


def verify(connector: PaymentConnector, body: bytes | str, headers: Mapping[str, str], *, now: datetime) -> None:
    """Raise ``ConnectorSignatureInvalid`` unless the message is signed with a secret the connector may use now and
    its timestamp is within 5 minutes (the library's tolerance)."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    lowered = {name.lower(): value for name, value in headers.items()}
    for secret in secrets_accepted(connector, now=now):
        try:
            Webhook(secret).verify(text, lowered, json_parse=False)
        # The library raises its own error for a bad signature or timestamp, and ValueError for a malformed
        # signature header ("v1" without a comma, bad base64): both mean the message is not authentic.
        except Exception:  # noqa: BLE001, S112
            continue
        return
    raise ConnectorSignatureInvalid(
        "the webhook signature does not verify, or its timestamp is more than 5 minutes away",
        header="webhook-signature",
    )


def redacted(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers as stored with an attempt: signatures never are."""
    return {
        name.lower(): (REDACTED if name.lower() in _SIGNATURE_HEADERS else value)
        for name, value in headers.items()
        if name.lower() not in ("authorization", "cookie")
    }


@dataclass
class Exchange:
    """One request to a connector and what came back. ``answer`` is the verified JSON body, or None when the
    connector did not answer, answered unsigned or with something other than a JSON object."""

    method: str
    url: str
    request_headers: dict
    request_body: dict | None
    status: int | None = None
    answer: dict | None = None
    error: str = ""
    response_headers: dict = field(default_factory=dict)

    @property
    def sent(self) -> dict:
        return {
            "method": self.method,
            "url": self.url,
            "headers": redacted(self.request_headers),
            "body": self.request_body,
        }

    @property
    def received(self) -> dict:
        return {
            "status": self.status,
            "headers": redacted(self.response_headers),
            "body": self.answer,
            "error": self.error,
        }


def _exchange(
    connector: PaymentConnector,
    method: str,
    path: str,
    payload: dict | None,
    *,
    now: datetime,
    extra_headers: Mapping[str, str] | None = None,
) -> Exchange:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False) if payload is not None else ""
    url = connector.url.rstrip("/") + path
    headers = {"user-agent": USER_AGENT, **signed_headers(connector.secret, body), **(extra_headers or {})}
    if payload is not None:
        headers["content-type"] = "application/json"
    exchange = Exchange(method=method, url=url, request_headers=headers, request_body=payload)
    try:
        response = httpx.request(
            method, url, content=body.encode(), headers=headers, timeout=REQUEST_TIMEOUT_SECONDS, follow_redirects=False
        )
    # Whatever went wrong (refused, timed out, reset, a bad URL) is the exchange's outcome, stored and acted on.
    except Exception as exc:  # noqa: BLE001
        exchange.error = f"{type(exc).__name__}: {exc}"[:_ERROR_TEXT_LIMIT]
        return exchange
    exchange.status = response.status_code
    exchange.response_headers = {
        name: value
        for name, value in response.headers.items()
        if name.lower().startswith("webhook-") or name.lower() == "content-type"
    }
    try:
        # Answers are signed too, so a man in the middle cannot fake a checkout or a status.
        verify(connector, response.content, response.headers, now=now)
    except ConnectorSignatureInvalid:
        exchange.error = f"the answer (HTTP {response.status_code}) is not signed with the connector's secret"
        return exchange
    try:
        answer = json.loads(response.content)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        exchange.error = f"the answer (HTTP {response.status_code}) is not a JSON object"
        return exchange
    exchange.answer = answer
    return exchange


def create_checkout(connector: PaymentConnector, payload: dict, *, now: datetime) -> Exchange:
    return _exchange(
        connector, "POST", "/checkouts", payload, now=now, extra_headers={"idempotency-key": payload["attempt_id"]}
    )


def checkout_status(connector: PaymentConnector, attempt_id: str, *, now: datetime) -> Exchange:
    return _exchange(connector, "GET", f"/checkouts/{attempt_id}", None, now=now)
