"""Payment connectors and paying through them (connector protocol v1, docs/payment-connectors.md).

An attempt moves its payment to ``processing`` and back, or to ``completed``. Its HTTP requests run outside any
transaction (a slow connector must not hold the database), so an attempt is written in steps: opened (payment
``processing``), then redirected or failed. Outcomes arrive as signed callbacks or as status reads; each is applied
in one transaction that first locks the attempt's row, so concurrent copies of one outcome apply once:

* a callback's ``webhook-id`` is claimed once per connector (a unique index): a replay changes nothing;
* a success for an open attempt completes the payment; for an attempt that had already ended (timed out, failed,
  declined) it is a *late success* and completes the payment if nothing else settled it meanwhile;
* a success for a payment that is settled already is a second charge: the payment's total is credited to the
  account's balance and ``payment.duplicate_success`` tells the managers (the reference's rule).
"""

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from babel.numbers import list_currencies
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from arrears.core import sql
from arrears.core.actors import Actor
from arrears.customers.models import Account, BalanceEntry
from arrears.events.services import record_event
from arrears.gateways import protocol
from arrears.gateways.errors import (
    AttemptAlreadyOpen,
    AttemptNotFound,
    ConnectorAmountMismatch,
    ConnectorCurrencyUnsupported,
    ConnectorFieldInvalid,
    ConnectorMessageInvalid,
    ConnectorNotFound,
    ConnectorUnavailable,
)
from arrears.gateways.models import AttemptLogEntry, PaymentAttempt, PaymentConnector
from arrears.gateways.selectors import charge_of
from arrears.payments import state
from arrears.payments.errors import PaymentChangedMeanwhile, PaymentFieldInvalid, PaymentMethodInvalid
from arrears.payments.models import Payment, PaymentMethod
from arrears.payments.services import (
    _move_balance,
    _new_top_up,
    _require_settleable,
    _reread,
    cancel_payment,
    change_status,
    payment_status_changed,
    record_payment_received,
)

S = Payment.Status
A = PaymentAttempt.Status
Step = AttemptLogEntry.Step
ROTATION_OVERLAP = timedelta(hours=24)
SERVE = Actor.system("arrears serve")
TIMEOUT_SWEEP = Actor.system("payment attempt timeout")
MAX_PROCESSING_MINUTES = 10080  # a week
CALLBACK_TYPES = {"checkout.succeeded": A.SUCCEEDED, "checkout.declined": A.DECLINED, "checkout.cancelled": A.CANCELLED}
FINAL_STATUSES = {"succeeded": A.SUCCEEDED, "declined": A.DECLINED, "cancelled": A.CANCELLED}
_KNOWN_CURRENCIES = frozenset(list_currencies())


# --- connectors -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ConnectorFields:
    name: str
    url: str
    processing_minutes: int
    currencies: list[str]


def _validated(name, url, processing_minutes, currencies) -> _ConnectorFields:
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name or len(name) > 100:
        raise ConnectorFieldInvalid("name is required, at most 100 characters", pointer="/name")
    url = (url or "").strip() if isinstance(url, str) else ""
    parts = urlsplit(url)
    if (
        len(url) > 500
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or any(char.isspace() for char in url)
    ):
        raise ConnectorFieldInvalid(
            "url must be an http or https URL without query or fragment, at most 500 characters", pointer="/url"
        )
    if (
        not isinstance(processing_minutes, int)
        or isinstance(processing_minutes, bool)
        or not 1 <= processing_minutes <= MAX_PROCESSING_MINUTES
    ):
        raise ConnectorFieldInvalid(
            f"the period for payment processing is a whole number of minutes from 1 to {MAX_PROCESSING_MINUTES}",
            pointer="/processing_minutes",
        )
    if not isinstance(currencies, list | tuple) or not currencies:
        raise ConnectorFieldInvalid("name at least one currency", pointer="/currencies")
    codes = []
    for code in currencies:
        if not isinstance(code, str) or code.strip().upper() not in _KNOWN_CURRENCIES:
            raise ConnectorFieldInvalid(f"{code!r} is not an ISO 4217 currency code", pointer="/currencies")
        if code.strip().upper() not in codes:
            codes.append(code.strip().upper())
    return _ConnectorFields(name=name, url=url.rstrip("/"), processing_minutes=processing_minutes, currencies=codes)


def _require_unique_name(reseller_id: int, name: str, *, except_id: int | None = None) -> None:
    taken = PaymentConnector.objects.filter(reseller_id=reseller_id, name__iexact=name)
    if except_id is not None:
        taken = taken.exclude(pk=except_id)
    if taken.exists():
        raise ConnectorFieldInvalid("another connector of this reseller has this name", pointer="/name")


def _connector_event(
    event_type: str, connector: PaymentConnector, payload: dict, *, actor: Actor, now: datetime
) -> None:
    record_event(
        event_type,
        subject=connector,
        reseller_id=connector.reseller_id,
        account_id=None,
        payload={"name": connector.name, **payload},
        actor=actor,
        now=now,
    )


def create_connector(
    reseller,
    *,
    name,
    url,
    processing_minutes,
    currencies,
    active: bool = True,
    runs_with_serve: bool = False,
    actor: Actor,
    now: datetime,
) -> tuple[PaymentConnector, str]:
    """A new connector and its secret, which the caller shows once: only the connector keeps it afterwards."""
    fields = _validated(name, url, processing_minutes, currencies)
    secret = protocol.new_secret()
    with transaction.atomic(durable=True):
        _require_unique_name(reseller.pk, fields.name)
        connector = PaymentConnector.objects.create(
            reseller=reseller,
            name=fields.name,
            url=fields.url,
            secret=secret,
            processing_minutes=fields.processing_minutes,
            currencies=fields.currencies,
            runs_with_serve=runs_with_serve,
            active=bool(active),
            created_at=now,
            updated_at=now,
        )
        _connector_event(
            "payment_connector.created",
            connector,
            {
                "url": connector.url,
                "processing_minutes": connector.processing_minutes,
                "currencies": connector.currencies,
                "active": connector.active,
            },
            actor=actor,
            now=now,
        )
    return connector, secret


def update_connector(
    connector: PaymentConnector, *, name, url, processing_minutes, currencies, active: bool, actor: Actor, now: datetime
) -> PaymentConnector:
    fields = _validated(name, url, processing_minutes, currencies)
    with transaction.atomic(durable=True):
        current = PaymentConnector.objects.select_for_update().get(pk=connector.pk)
        _require_unique_name(current.reseller_id, fields.name, except_id=current.pk)
        new = {
            "name": fields.name,
            "url": fields.url,
            "processing_minutes": fields.processing_minutes,
            "currencies": fields.currencies,
            "active": bool(active),
        }
        changes = {key: [getattr(current, key), value] for key, value in new.items() if getattr(current, key) != value}
        if changes:
            PaymentConnector.objects.filter(pk=current.pk).update(**new, updated_at=now)
            current.refresh_from_db()
            _connector_event("payment_connector.updated", current, {"changes": changes}, actor=actor, now=now)
    return current


def rotate_connector_secret(
    connector: PaymentConnector, *, actor: Actor, now: datetime
) -> tuple[PaymentConnector, str]:
    """Sign with a new secret from now on; accept the previous one for 24 hours so the connector can switch."""
    secret = protocol.new_secret()
    with transaction.atomic(durable=True):
        current = PaymentConnector.objects.select_for_update().get(pk=connector.pk)
        valid_until = now + ROTATION_OVERLAP
        PaymentConnector.objects.filter(pk=current.pk).update(
            secret=secret, previous_secret=current.secret, previous_secret_valid_until=valid_until, updated_at=now
        )
        current.refresh_from_db()
        _connector_event(
            "payment_connector.secret_rotated",
            current,
            {"previous_secret_valid_until": valid_until.isoformat()},
            actor=actor,
            now=now,
        )
    return current, secret


def end_secret_rotation(connector: PaymentConnector, *, actor: Actor, now: datetime) -> PaymentConnector:
    """Stop accepting the previous secret before its 24 hours are over."""
    with transaction.atomic(durable=True):
        ended = PaymentConnector.objects.filter(pk=connector.pk, previous_secret_valid_until__gt=now).update(
            previous_secret="", previous_secret_valid_until=None, updated_at=now
        )
        if ended != 1:
            raise ConnectorFieldInvalid("no rotation is in progress", pointer="/previous_secret")
        current = PaymentConnector.objects.get(pk=connector.pk)
        _connector_event("payment_connector.rotation_ended", current, {}, actor=actor, now=now)
    return current


def point_connector_at(connector_id: int, url: str, *, now: datetime) -> None:
    """``arrears serve`` started the reference gateway for this connector on a port of its own."""
    with transaction.atomic(durable=True):
        connector = PaymentConnector.objects.select_for_update().get(pk=connector_id, runs_with_serve=True)
        if connector.url == url:
            return
        PaymentConnector.objects.filter(pk=connector_id).update(url=url, updated_at=now)
        _connector_event(
            "payment_connector.updated", connector, {"changes": {"url": [connector.url, url]}}, actor=SERVE, now=now
        )


# --- payment methods --------------------------------------------------------------------------------------


def create_payment_method(
    reseller, *, name, connector: PaymentConnector | None = None, actor: Actor, now: datetime
) -> PaymentMethod:
    """Bank transfer (``connector`` None: a manager approves the payment when the money arrives) or a connector."""
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > 200:
        raise PaymentFieldInvalid("name is required, at most 200 characters", pointer="/name")
    if connector is not None and connector.reseller_id != reseller.pk:
        raise ConnectorNotFound("no such connector for this reseller", pointer="/connector_id")
    with transaction.atomic(durable=True):
        if PaymentMethod.objects.filter(reseller=reseller, name__iexact=name).exists():
            raise PaymentFieldInvalid("another payment method of this reseller has this name", pointer="/name")
        method = PaymentMethod.objects.create(
            reseller=reseller,
            name=name,
            connector=connector,
            kind=PaymentMethod.Kind.GATEWAY if connector else PaymentMethod.Kind.MANUAL,
        )
        record_event(
            "payment_method.created",
            subject=method,
            reseller_id=reseller.pk,
            account_id=None,
            payload={"name": name, "kind": method.kind, "connector_id": connector.pk if connector else None},
            actor=actor,
            now=now,
        )
    return method


def set_payment_method_active(
    payment_method: PaymentMethod, active: bool, *, actor: Actor, now: datetime
) -> PaymentMethod:
    with transaction.atomic(durable=True):
        changed = sql.conditional_update(
            PaymentMethod, where={"id": payment_method.pk, "active": not active}, values={"active": active}
        )
        if changed:
            record_event(
                "payment_method.activated" if active else "payment_method.deactivated",
                subject=payment_method,
                reseller_id=payment_method.reseller_id,
                account_id=None,
                payload={"name": payment_method.name},
                actor=actor,
                now=now,
            )
    return PaymentMethod.objects.select_related("connector").get(pk=payment_method.pk)


# --- attempts: start --------------------------------------------------------------------------------------


def _log(
    attempt: PaymentAttempt,
    step: str,
    *,
    now: datetime,
    direction: str = "",
    message: dict | None = None,
    http_status: int | None = None,
    detail: str = "",
    webhook_id: str | None = None,
) -> AttemptLogEntry:
    return AttemptLogEntry.objects.create(
        attempt=attempt,
        connector_id=attempt.connector_id,
        step=step,
        direction=direction,
        message=message,
        http_status=http_status,
        detail=detail[:2000],
        webhook_id=webhook_id,
        created_at=now,
    )


def _attempt_event(event_type: str, attempt: PaymentAttempt, payload: dict, *, actor: Actor, now: datetime) -> None:
    record_event(
        event_type,
        subject=attempt.payment,
        reseller_id=attempt.reseller_id,
        account_id=attempt.account_id,
        payload={
            "document_id": attempt.payment.document_id,
            "attempt_id": attempt.public_id,
            "connector_id": attempt.connector_id,
            "connector_name": attempt.connector.name,
            "amount": attempt.amount,
            "currency": attempt.currency,
            **payload,
        },
        actor=actor,
        now=now,
    )


def _require_gateway_method(payment_method: PaymentMethod, reseller) -> PaymentConnector:
    connector = payment_method.connector if payment_method is not None else None
    if (
        payment_method is None
        or payment_method.kind != PaymentMethod.Kind.GATEWAY
        or not payment_method.active
        or connector is None
        or not connector.active
        or payment_method.reseller_id != reseller.pk
    ):
        raise PaymentMethodInvalid(
            "the payment method is not an active connector of this reseller", pointer="/payment_method_id"
        )
    return connector


def _open_attempt(payment: Payment, payment_method: PaymentMethod, *, actor: Actor, now: datetime) -> PaymentAttempt:
    connector = _require_gateway_method(payment_method, payment.reseller)
    with transaction.atomic(durable=True):
        payment = _reread(payment)
        if payment.status == S.PROCESSING or PaymentAttempt.objects.filter(payment=payment, status=A.OPEN).exists():
            raise AttemptAlreadyOpen(
                "a payment through a gateway is in progress for this payment; wait for its outcome", pointer="/status"
            )
        _require_settleable(payment)
        amount, currency = charge_of(payment)
        if currency not in connector.currencies:
            raise ConnectorCurrencyUnsupported(
                f"{connector.name} does not accept {currency}", pointer="/payment_method_id"
            )
        change_status(payment, S.PROCESSING, now=now)
        try:
            # The partial unique index is the last word on "one open attempt per payment".
            with transaction.atomic():
                attempt = PaymentAttempt.objects.create(
                    public_id=f"att_{secrets.token_hex(10)}",
                    reseller_id=payment.reseller_id,
                    account_id=payment.account_id,
                    payment=payment,
                    payment_method=payment_method,
                    connector=connector,
                    previous_status=payment.status,
                    amount=amount,
                    currency=currency,
                    started_at=now,
                    deadline_at=now + timedelta(minutes=connector.processing_minutes),
                )
        except IntegrityError as exc:
            raise AttemptAlreadyOpen(
                "a payment through a gateway is in progress for this payment", pointer="/status"
            ) from exc
        _log(attempt, Step.STARTED, now=now, detail=f"{actor.kind} {actor.label}".strip())
        _attempt_event(
            "payment.attempt_started",
            attempt,
            {"changes": {"status": [payment.status, S.PROCESSING]}},
            actor=actor,
            now=now,
        )
    return attempt


def _checkout_request(attempt: PaymentAttempt, *, return_url: str, callback_url: str) -> dict:
    payment = attempt.payment
    invoice = payment.invoice
    if invoice is not None:
        description = f"Invoice {invoice.document_id}, {payment.account.name}"
    else:
        description = f"Balance top-up {payment.document_id}, {payment.account.name}"
    return {
        "protocol": protocol.PROTOCOL,
        "attempt_id": attempt.public_id,
        "payment_id": payment.pk,
        "payment_number": payment.document_id,
        "description": description,
        "amount": attempt.amount,
        "currency": attempt.currency,
        "return_url": return_url,
        "callback_url": callback_url,
        "expires_at": attempt.deadline_at.isoformat().replace("+00:00", "Z"),
    }


def _redirect_of(exchange: protocol.Exchange, attempt: PaymentAttempt) -> str | None:
    answer = exchange.answer or {}
    redirect = answer.get("redirect_url")
    if exchange.status not in (200, 201) or answer.get("attempt_id") != attempt.public_id:
        return None
    if not isinstance(redirect, str) or urlsplit(redirect).scheme not in ("http", "https") or len(redirect) > 2000:
        return None
    return redirect


def callback_url_of(connector_id: int) -> str:
    """Where a connector posts its outcomes: the callback route under the configured base URL."""
    base = getattr(settings, "ARREARS_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
    return f"{base}/connectors/{connector_id}/callback"


def start_attempt(
    payment: Payment,
    payment_method: PaymentMethod,
    *,
    return_url: str,
    callback_url: str | None = None,
    actor: Actor,
    now: datetime,
) -> PaymentAttempt:
    """Open a checkout at the connector for ``payment`` and return the attempt; send the browser to its
    ``redirect_url``. ``return_url`` may hold ``{attempt_id}``. If the connector does not open the checkout, the
    attempt ends as failed, the payment is back where it was, and ``ConnectorUnavailable`` is raised."""
    attempt = _open_attempt(payment, payment_method, actor=actor, now=now)
    attempt = PaymentAttempt.objects.select_related("payment__invoice", "payment__account", "connector").get(
        pk=attempt.pk
    )
    request = _checkout_request(
        attempt,
        return_url=return_url.replace("{attempt_id}", attempt.public_id),
        callback_url=callback_url or callback_url_of(attempt.connector_id),
    )
    exchange = protocol.create_checkout(attempt.connector, request, now=now)
    redirect = _redirect_of(exchange, attempt)
    with transaction.atomic(durable=True):
        _log(attempt, Step.STARTED, now=now, direction=AttemptLogEntry.Direction.SENT, message=exchange.sent)
        if redirect is not None:
            PaymentAttempt.objects.filter(pk=attempt.pk).update(
                checkout_id=str((exchange.answer or {}).get("checkout_id", ""))[:200], redirect_url=redirect
            )
            _log(
                attempt,
                Step.REDIRECTED,
                now=now,
                direction=AttemptLogEntry.Direction.RECEIVED,
                message=exchange.received,
                http_status=exchange.status,
            )
        else:
            _log(
                attempt,
                Step.START_FAILED,
                now=now,
                direction=AttemptLogEntry.Direction.RECEIVED,
                message=exchange.received,
                http_status=exchange.status,
                detail=exchange.error or f"HTTP {exchange.status}: no checkout in the answer",
            )
            _end_open_attempt(_locked_attempt(attempt.pk), A.FAILED, actor=actor, now=now)
    if redirect is None:
        raise ConnectorUnavailable(
            f"{attempt.connector.name} did not open a checkout; nothing was charged. Try again in a moment.",
            pointer="/payment_method_id",
        )
    attempt.refresh_from_db()
    return attempt


def start_top_up_attempt(
    account: Account,
    amount: int,
    payment_method: PaymentMethod,
    *,
    return_url: str,
    callback_url: str | None = None,
    actor: Actor,
    now: datetime,
) -> PaymentAttempt:
    """A top-up paid through a connector: a waiting top-up payment, and an attempt on it. ``return_url`` may hold
    ``{payment_id}`` and ``{attempt_id}``. If the checkout cannot be opened the top-up is cancelled again."""
    _require_gateway_method(payment_method, account.reseller)
    with transaction.atomic(durable=True):
        payment = _new_top_up(account, amount, S.WAITING_FOR_PAYMENT, payment_method=None, now=now)
        record_event(
            "payment.created",
            subject=payment,
            reseller_id=account.reseller_id,
            account_id=account.pk,
            payload={
                "document_id": payment.document_id,
                "type": payment.type,
                "total": amount,
                "changes": {"status": [None, S.WAITING_FOR_PAYMENT]},
            },
            actor=actor,
            now=now,
        )
    try:
        return start_attempt(
            payment,
            payment_method,
            return_url=return_url.replace("{payment_id}", str(payment.pk)),
            callback_url=callback_url,
            actor=actor,
            now=now,
        )
    except ConnectorUnavailable:
        cancel_payment(payment, comment="the payment service did not open a checkout", actor=actor, now=now)
        raise


# --- attempts: outcomes -----------------------------------------------------------------------------------


def _locked_attempt(attempt_id: int) -> PaymentAttempt:
    # The row lock (PostgreSQL; SQLite's writer lock does the same) serialises everything that decides an
    # attempt's outcome: concurrent callbacks, status reads and the timeout sweep apply one after the other.
    return (
        PaymentAttempt.objects.select_for_update(of=("self",)).select_related("connector", "payment").get(pk=attempt_id)
    )


def _end_open_attempt(attempt: PaymentAttempt, outcome: str, *, actor: Actor, now: datetime) -> bool:
    """An open attempt ends without a payment: the payment goes back to the status it had before."""
    if attempt.status != A.OPEN:
        return False
    sql.conditional_update(
        PaymentAttempt, where={"id": attempt.pk, "status": A.OPEN}, values={"status": outcome, "finished_at": now}
    )
    payment = _reread(attempt.payment)
    changes = {}
    if payment.status == S.PROCESSING:
        change_status(payment, attempt.previous_status, now=now)
        changes = {"status": [S.PROCESSING, attempt.previous_status]}
    attempt.status = outcome
    _attempt_event(
        "payment.attempt_ended", attempt, {"outcome": outcome, "late": False, "changes": changes}, actor=actor, now=now
    )
    return True


def _settle(attempt: PaymentAttempt, payment: Payment, *, actor: Actor, now: datetime) -> None:
    """The connector charged the payment: it is completed (a top-up credits the balance)."""
    from_status = payment.status
    change_status(payment, S.COMPLETED, now=now, payment_method=attempt.payment_method_id, closed_at=now)
    extra = {
        "payment_method_id": attempt.payment_method_id,
        "attempt_id": attempt.public_id,
        "connector_id": attempt.connector_id,
        "charged": {"amount": attempt.amount, "currency": attempt.currency},
    }
    if payment.type == Payment.Type.TOP_UP:
        extra["balance_after"] = _move_balance(
            payment.account_id, payment.total, payment=payment, kind=BalanceEntry.Kind.TOP_UP, now=now
        )
    record_payment_received(payment, from_status, S.COMPLETED, how="gateway", actor=actor, now=now, extra=extra)
    payment_status_changed(payment, actor=actor, now=now)


def _credit_second_charge(attempt: PaymentAttempt, payment: Payment, *, actor: Actor, now: datetime) -> None:
    balance = _move_balance(
        payment.account_id, payment.total, payment=payment, kind=BalanceEntry.Kind.DUPLICATE_SUCCESS, now=now
    )
    _attempt_event(
        "payment.duplicate_success",
        attempt,
        {
            "credited": payment.total,
            "credited_currency": payment.currency,
            "balance_after": balance,
            "payment_status": payment.status,
        },
        actor=actor,
        now=now,
    )


def _apply_success(attempt: PaymentAttempt, *, from_callback: bool, actor: Actor, now: datetime) -> str:
    """Apply a success to a locked attempt; returns the log step that says what it did."""
    payment = _reread(attempt.payment)
    if from_callback:
        PaymentAttempt.objects.filter(pk=attempt.pk).update(callback_successes=F("callback_successes") + 1)
    if attempt.status == A.SUCCEEDED:
        if from_callback and attempt.callback_successes >= 1:
            _credit_second_charge(attempt, payment, actor=actor, now=now)
            return Step.DUPLICATE_SUCCESS
        return Step.SUCCEEDED  # the callback confirming a success read earlier, or a status read after it
    late = attempt.status != A.OPEN
    sql.conditional_update(
        PaymentAttempt,
        where={"id": attempt.pk, "status": attempt.status},
        values={"status": A.SUCCEEDED, "late": late, "finished_at": now},
    )
    settled = False
    if payment.status in (S.PROCESSING, *state.PAYABLE):
        try:
            with transaction.atomic():
                _settle(attempt, payment, actor=actor, now=now)
            settled = True
        except PaymentChangedMeanwhile:
            # Paid from the balance between the re-read and the UPDATE: this success is a second charge.
            payment = _reread(payment)
    if settled:
        changes = {"status": [payment.status, S.COMPLETED]}
        step = Step.LATE_SUCCESS if late else Step.SUCCEEDED
    else:
        # Paid meanwhile (from the balance, by another attempt, approved by a manager): a second charge.
        _credit_second_charge(attempt, payment, actor=actor, now=now)
        changes = {}
        step = Step.DUPLICATE_SUCCESS
    attempt.status = A.SUCCEEDED
    _attempt_event(
        "payment.attempt_ended",
        attempt,
        {"outcome": A.SUCCEEDED, "late": late, "changes": changes},
        actor=actor,
        now=now,
    )
    return step


def _apply_outcome(attempt: PaymentAttempt, outcome: str, *, from_callback: bool, now: datetime) -> str:
    actor = Actor.system(attempt.connector.name)
    if outcome == A.SUCCEEDED:
        return _apply_success(attempt, from_callback=from_callback, actor=actor, now=now)
    if _end_open_attempt(attempt, outcome, actor=actor, now=now):
        return Step.DECLINED if outcome == A.DECLINED else Step.CANCELLED
    return (
        Step.REFUSED if attempt.status == A.SUCCEEDED else (Step.DECLINED if outcome == A.DECLINED else Step.CANCELLED)
    )


@dataclass(frozen=True)
class _Callback:
    webhook_id: str
    type: str
    attempt_id: str
    amount: int
    currency: str


def _parsed_callback(body: bytes, headers: Mapping[str, str]) -> _Callback:
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ConnectorMessageInvalid("the body is not JSON") from exc
    if not isinstance(payload, dict):
        raise ConnectorMessageInvalid("the body is not a JSON object")
    if payload.get("type") not in CALLBACK_TYPES:
        raise ConnectorMessageInvalid(f"type is one of {', '.join(CALLBACK_TYPES)}", pointer="/type")
    attempt_id = payload.get("attempt_id")
    if not isinstance(attempt_id, str) or not 1 <= len(attempt_id) <= 40:
        raise ConnectorMessageInvalid("attempt_id is the attempt's id", pointer="/attempt_id")
    amount = payload.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        raise ConnectorMessageInvalid("amount is an integer in minor units", pointer="/amount")
    currency = payload.get("currency")
    if not isinstance(currency, str) or len(currency) != 3:
        raise ConnectorMessageInvalid("currency is an ISO 4217 code", pointer="/currency")
    webhook_id = {name.lower(): value for name, value in headers.items()}.get("webhook-id", "")
    if not 1 <= len(webhook_id) <= 200:
        raise ConnectorMessageInvalid("webhook-id is 1 to 200 characters", header="webhook-id")
    return _Callback(
        webhook_id=webhook_id, type=payload["type"], attempt_id=attempt_id, amount=amount, currency=currency
    )


def receive_callback(connector_id: int, body: bytes, headers: Mapping[str, str], *, now: datetime) -> str:
    """Apply one signed callback; answers ``"applied"`` or ``"duplicate"`` (this ``webhook-id`` was seen)."""
    connector = PaymentConnector.objects.filter(pk=connector_id).first()
    if connector is None:
        raise ConnectorNotFound("no such connector")
    protocol.verify(connector, body, headers, now=now)
    callback = _parsed_callback(body, headers)
    attempt = PaymentAttempt.objects.filter(connector=connector, public_id=callback.attempt_id).first()
    if attempt is None:
        raise AttemptNotFound("no such attempt at this connector", pointer="/attempt_id")
    message = {"headers": protocol.redacted(headers), "body": _json_or_text(body)}
    if callback.amount != attempt.amount or callback.currency != attempt.currency:
        raise ConnectorAmountMismatch(
            f"the attempt charges {attempt.amount} {attempt.currency}",
            pointer="/amount" if callback.amount != attempt.amount else "/currency",
        )
    with transaction.atomic(durable=True):
        attempt = _locked_attempt(attempt.pk)
        try:
            with transaction.atomic():
                entry = _log(
                    attempt,
                    Step.STATUS_CHECKED,
                    now=now,
                    direction=AttemptLogEntry.Direction.RECEIVED,
                    message=message,
                    webhook_id=callback.webhook_id,
                    detail=callback.type,
                )
        except IntegrityError:
            return "duplicate"
        step = _apply_outcome(attempt, CALLBACK_TYPES[callback.type], from_callback=True, now=now)
        AttemptLogEntry.objects.filter(pk=entry.pk).update(step=step)
    return "applied"


def _json_or_text(body: bytes):
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", errors="replace")[:2000]


# --- attempts: asking the connector -----------------------------------------------------------------------


def check_attempt(attempt: PaymentAttempt, *, now: datetime) -> PaymentAttempt:
    """Ask the connector about an open attempt and apply a final status; past its deadline, an attempt the
    connector still calls pending (or cannot answer for) times out and its payment goes back."""
    if attempt.status != A.OPEN:
        return attempt
    connector = PaymentConnector.objects.get(pk=attempt.connector_id)
    exchange = protocol.checkout_status(connector, attempt.public_id, now=now)
    answer = exchange.answer or {}
    final = None
    if exchange.status == 200 and answer.get("attempt_id") == attempt.public_id:
        # Any JSON may stand there: only a string can name a status (a list or an object is no outcome).
        status = answer.get("status")
        reported = FINAL_STATUSES.get(status) if isinstance(status, str) else None
        if reported is not None and (
            reported != A.SUCCEEDED
            or (answer.get("amount") == attempt.amount and answer.get("currency") == attempt.currency)
        ):
            final = reported
    with transaction.atomic(durable=True):
        attempt = _locked_attempt(attempt.pk)
        PaymentAttempt.objects.filter(pk=attempt.pk).update(last_checked_at=now)
        entry = _log(
            attempt,
            Step.STATUS_CHECKED,
            now=now,
            direction=AttemptLogEntry.Direction.RECEIVED,
            message={"sent": exchange.sent, "received": exchange.received},
            http_status=exchange.status,
            detail=exchange.error,
        )
        if attempt.status == A.OPEN:
            if final is not None:
                step = _apply_outcome(attempt, final, from_callback=False, now=now)
                AttemptLogEntry.objects.filter(pk=entry.pk).update(step=step)
            elif now >= attempt.deadline_at:
                _end_open_attempt(attempt, A.TIMED_OUT, actor=TIMEOUT_SWEEP, now=now)
                _log(
                    attempt, Step.TIMED_OUT, now=now, detail=f"no outcome within {connector.processing_minutes} minutes"
                )
    return PaymentAttempt.objects.select_related("connector", "payment").get(pk=attempt.pk)


def sweep_open_attempts(*, now: datetime, limit: int = 500) -> int:
    """The periodic job: ask about every attempt still open, oldest deadline first. Returns how many it asked."""
    open_ids = list(
        PaymentAttempt.objects.filter(status=A.OPEN).order_by("deadline_at", "id").values_list("pk", flat=True)[:limit]
    )
    for attempt in PaymentAttempt.objects.filter(pk__in=open_ids).order_by("deadline_at", "id"):
        check_attempt(attempt, now=now)
    return len(open_ids)


__all__ = [
    "check_attempt",
    "create_connector",
    "create_payment_method",
    "end_secret_rotation",
    "point_connector_at",
    "receive_callback",
    "rotate_connector_secret",
    "set_payment_method_active",
    "start_attempt",
    "start_top_up_attempt",
    "sweep_open_attempts",
    "update_connector",
]
