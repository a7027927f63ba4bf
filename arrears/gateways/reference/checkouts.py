"""Checkouts of the reference gateway: the request that opens one, and the outcomes it may reach.

Checkouts live in memory, keyed by ``attempt_id`` (Arrears' idempotency key): a restarted gateway has forgotten
them, and Arrears then times their attempts out. Every change goes through :class:`CheckoutBook` under one lock,
so a double click or two concurrent requests cannot both end a checkout.
"""

import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from babel.numbers import list_currencies

PROTOCOL = "arrears-connector/1"
PENDING, SUCCEEDED, DECLINED, CANCELLED = "pending", "succeeded", "declined", "cancelled"
MAX_AMOUNT = 10**15  # far above any real charge, well within a JSON number's exact integers
_ATTEMPT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_KNOWN_CURRENCIES = frozenset(list_currencies())


class RequestInvalid(ValueError):
    """A checkout request the gateway refuses; ``pointer`` names the field (JSON pointer into the body)."""

    def __init__(self, message: str, *, pointer: str = "", header: str = ""):
        super().__init__(message)
        self.pointer = pointer
        self.header = header


class AttemptReused(RequestInvalid):
    """A known ``attempt_id`` with another amount or currency: an idempotency key names one request only."""


class OutcomeRefused(Exception):
    """The checkout has ended already: its outcome cannot change."""

    def __init__(self, checkout: "Checkout"):
        super().__init__(f"the checkout has already {checkout.status}")
        self.checkout = checkout


@dataclass
class Delivery:
    """One callback to Arrears and the tries to deliver it (a retry keeps the ``webhook_id`` and the body)."""

    webhook_id: str
    type: str
    body: str
    tries: list[str] = field(default_factory=list)  # "200", "503", "ConnectError: ..." in order
    state: str = "sending"  # sending | delivered | refused | gave_up

    def as_dict(self) -> dict:
        return {"webhook_id": self.webhook_id, "type": self.type, "state": self.state, "tries": list(self.tries)}


@dataclass
class Checkout:
    attempt_id: str
    checkout_id: str
    amount: int
    currency: str
    return_url: str
    callback_url: str
    payment_id: int | None
    payment_number: str
    description: str
    expires_at: datetime | None
    created_at: datetime
    status: str = PENDING
    # "Never answer" was chosen: the shop has been sent back without an outcome; the page stays actionable.
    never_answered: bool = False
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def pending(self) -> bool:
        return self.status == PENDING

    def creation_answer(self, base_url: str) -> dict:
        return {
            "attempt_id": self.attempt_id,
            "checkout_id": self.checkout_id,
            "status": PENDING,
            "redirect_url": f"{base_url}/checkout/{self.checkout_id}",
        }

    def status_answer(self) -> dict:
        return {
            "attempt_id": self.attempt_id,
            "checkout_id": self.checkout_id,
            "status": self.status,
            "amount": self.amount,
            "currency": self.currency,
        }


def _text(body: dict, name: str, *, required: bool, limit: int) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        raise RequestInvalid(
            f"{name} is {'a non-empty' if required else 'a'} string of at most {limit} characters", pointer=f"/{name}"
        )
    return value.strip()


def _url(body: dict, name: str) -> str:
    value = body.get(name)
    parts = urlsplit(value) if isinstance(value, str) else None
    if (
        not isinstance(value, str)
        or parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or len(value) > 2000
        or any(char.isspace() for char in value)
    ):
        raise RequestInvalid(f"{name} is an absolute http or https URL of at most 2000 characters", pointer=f"/{name}")
    return value


@dataclass(frozen=True)
class CheckoutRequest:
    """A validated ``POST /checkouts`` body."""

    attempt_id: str
    amount: int
    currency: str
    return_url: str
    callback_url: str
    payment_id: int | None
    payment_number: str
    description: str
    expires_at: datetime | None

    @classmethod
    def parse(cls, body: object, *, idempotency_key: str | None) -> "CheckoutRequest":
        if not isinstance(body, dict):
            raise RequestInvalid("the body is a JSON object", pointer="")
        if body.get("protocol") != PROTOCOL:
            raise RequestInvalid(f"protocol is {PROTOCOL!r}", pointer="/protocol")
        attempt_id = body.get("attempt_id")
        if not isinstance(attempt_id, str) or not _ATTEMPT_ID.fullmatch(attempt_id):
            raise RequestInvalid("attempt_id is 1 to 64 letters, digits, '_' or '-'", pointer="/attempt_id")
        if idempotency_key is not None and idempotency_key != attempt_id:
            raise RequestInvalid("the Idempotency-Key header is the attempt_id", header="idempotency-key")
        amount = body.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= MAX_AMOUNT:
            raise RequestInvalid("amount is a positive integer in the currency's minor units", pointer="/amount")
        currency = body.get("currency")
        if not isinstance(currency, str) or currency not in _KNOWN_CURRENCIES or currency != currency.upper():
            raise RequestInvalid("currency is an ISO 4217 code such as EUR", pointer="/currency")
        payment_id = body.get("payment_id")
        if payment_id is not None and (not isinstance(payment_id, int) or isinstance(payment_id, bool)):
            raise RequestInvalid("payment_id is an integer", pointer="/payment_id")
        expires_at = None
        if body.get("expires_at") is not None:
            try:
                expires_at = datetime.fromisoformat(str(body["expires_at"]).replace("Z", "+00:00"))
            except ValueError:
                expires_at = None
            if expires_at is None or expires_at.tzinfo is None:
                raise RequestInvalid(
                    "expires_at is an ISO 8601 time with its offset, e.g. 2026-12-02T10:45:00Z", pointer="/expires_at"
                )
        return cls(
            attempt_id=attempt_id,
            amount=amount,
            currency=currency,
            return_url=_url(body, "return_url"),
            callback_url=_url(body, "callback_url"),
            payment_id=payment_id,
            payment_number=_text(body, "payment_number", required=False, limit=100),
            description=_text(body, "description", required=False, limit=500),
            expires_at=expires_at,
        )


class CheckoutBook:
    """The gateway's checkouts, by attempt id and by checkout id."""

    def __init__(self):
        self._lock = threading.Lock()
        self._by_attempt: dict[str, Checkout] = {}
        self._by_checkout: dict[str, Checkout] = {}

    def open(self, request: CheckoutRequest) -> tuple[Checkout, bool]:
        """The checkout for this attempt and whether it is new. The same attempt again is the same checkout;
        the same attempt with another amount or currency is refused (an idempotency key names one request)."""
        with self._lock:
            known = self._by_attempt.get(request.attempt_id)
            if known is not None:
                for name in ("amount", "currency"):
                    if getattr(known, name) != getattr(request, name):
                        raise AttemptReused(
                            f"this attempt_id opened a checkout with another {name}", pointer=f"/{name}"
                        )
                return known, False
            checkout = Checkout(
                attempt_id=request.attempt_id,
                checkout_id=f"chk_{secrets.token_hex(8)}",
                amount=request.amount,
                currency=request.currency,
                return_url=request.return_url,
                callback_url=request.callback_url,
                payment_id=request.payment_id,
                payment_number=request.payment_number,
                description=request.description,
                expires_at=request.expires_at,
                created_at=datetime.now(UTC),
            )
            self._by_attempt[checkout.attempt_id] = checkout
            self._by_checkout[checkout.checkout_id] = checkout
            return checkout, True

    def by_attempt(self, attempt_id: str) -> Checkout | None:
        return self._by_attempt.get(attempt_id)

    def by_checkout(self, checkout_id: str) -> Checkout | None:
        return self._by_checkout.get(checkout_id)

    def end(self, checkout: Checkout, status: str) -> None:
        """Pending → ``status``, once; raises :class:`OutcomeRefused` if the checkout has ended already."""
        with self._lock:
            if not checkout.pending:
                raise OutcomeRefused(checkout)
            checkout.status = status

    def leave_unanswered(self, checkout: Checkout) -> None:
        with self._lock:
            if not checkout.pending:
                raise OutcomeRefused(checkout)
            checkout.never_answered = True

    def add_delivery(self, checkout: Checkout, delivery: Delivery) -> None:
        with self._lock:
            checkout.deliveries.append(delivery)

    def deliveries(self, checkout: Checkout) -> list[dict]:
        with self._lock:
            return [delivery.as_dict() for delivery in checkout.deliveries]
