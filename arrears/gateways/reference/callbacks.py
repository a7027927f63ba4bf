"""Signed callbacks to Arrears (``POST {callback_url}``), as protocol v1 asks of a connector.

The first try happens while the browser waits, so that Arrears knows the outcome by the time the customer is back;
if Arrears does not answer, or answers 5xx, the tries go on in the background with the **same** ``webhook-id`` and
body (a fresh timestamp and signature each time), which Arrears recognises as one message. A 4xx answer is final:
Arrears refused the message, and sending it unchanged again would not help.
"""

import json
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook

from arrears.gateways.reference.checkouts import Checkout, CheckoutBook, Delivery

TIMEOUT_SECONDS = 10
RETRY_DELAYS_SECONDS = (1, 2, 4, 8, 16)  # after the first try: six tries within about half a minute
USER_AGENT = "Arrears-Reference-Gateway/1"


def new_webhook_id() -> str:
    return f"msg_{secrets.token_hex(12)}"


def signed_headers(secret: str, body: str, webhook_id: str) -> dict[str, str]:
    """The three Standard Webhooks headers, signed now."""
    now = datetime.now(UTC)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, now, body),
    }


class CallbackSender:
    def __init__(
        self,
        secret: str,
        book: CheckoutBook,
        log: Callable[[str], None],
        retry_delays: tuple[float, ...] = RETRY_DELAYS_SECONDS,
    ):
        self.secret = secret
        self.book = book
        self.log = log
        self.retry_delays = retry_delays

    def send(self, checkout: Checkout, event_type: str) -> Delivery:
        """Post one new callback (a new ``webhook-id``); returns once the first try is over."""
        payload = {
            "type": event_type,
            "attempt_id": checkout.attempt_id,
            "checkout_id": checkout.checkout_id,
            "amount": checkout.amount,
            "currency": checkout.currency,
            "occurred_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        delivery = Delivery(
            webhook_id=new_webhook_id(), type=event_type, body=json.dumps(payload, separators=(",", ":"))
        )
        self.book.add_delivery(checkout, delivery)
        if not self._try(delivery, checkout):
            threading.Thread(
                target=self._retry, args=(delivery, checkout), daemon=True, name=f"callback {delivery.webhook_id}"
            ).start()
        return delivery

    def _retry(self, delivery: Delivery, checkout: Checkout) -> None:
        for delay in self.retry_delays:
            time.sleep(delay)
            if self._try(delivery, checkout):
                return
        delivery.state = "gave_up"
        self.log(
            f"callback {delivery.type} {delivery.webhook_id} for {checkout.attempt_id}: gave up after "
            f"{len(delivery.tries)} tries"
        )

    def _try(self, delivery: Delivery, checkout: Checkout) -> bool:
        """One try; True when it is settled (delivered, or refused for good)."""
        headers = {
            **signed_headers(self.secret, delivery.body, delivery.webhook_id),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }
        try:
            response = httpx.post(
                checkout.callback_url,
                content=delivery.body.encode(),
                headers=headers,
                timeout=TIMEOUT_SECONDS,
                follow_redirects=False,
            )
        # Refused, reset, timed out: Arrears did not answer, so the message goes again later.
        except httpx.HTTPError as exc:
            delivery.tries.append(f"{type(exc).__name__}: {exc}"[:200])
            self.log(
                f"callback {delivery.type} {delivery.webhook_id} for {checkout.attempt_id}: no answer "
                f"({type(exc).__name__})"
            )
            return False
        delivery.tries.append(str(response.status_code))
        self.log(
            f"callback {delivery.type} {delivery.webhook_id} for {checkout.attempt_id}: "
            f"{response.status_code} {response.text[:200]!r}"
        )
        if response.status_code >= 500:
            return False
        delivery.state = "delivered" if response.is_success else "refused"
        return True
