"""Event handlers: which ones serve a reseller (R43), what they render, and the services that write them."""

import base64
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import URLValidator, validate_email
from django.db import transaction
from django.db.models import Q

from arrears.core.actors import Actor
from arrears.core.clock import local_date
from arrears.core.errors import NotFound
from arrears.core.liquid import (
    CheckedTemplate,
    TemplateInvalid,
    TemplateRenderFailed,
    check_condition,
    check_template,
    condition_holds,
)
from arrears.events.models import Event
from arrears.events.services import record_event
from arrears.gateways.models import PaymentAttempt
from arrears.notifications.catalog import ATTEMPT_EVENTS, NOTIFIABLE_EVENTS, PLACEHOLDERS
from arrears.notifications.conditions import to_liquid
from arrears.notifications.errors import HandlerFieldInvalid, PlatformHandlerReadOnly
from arrears.notifications.models import EventHandler, WebhookEndpoint
from arrears.notifications.placeholders import placeholders_for
from arrears.subscriptions.models import Subscription
from arrears.tenants.models import Reseller

DEFAULT_RECIPIENTS = "{{ account.email }}"
# Plain http only on loopback, where tests and local receivers listen; anything else must be https.
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_RECIPIENT_SEPARATORS = re.compile(r"[\s,;]+")
_EDITABLE = ("event", "channel", "name", "recipients", "subject", "body", "condition", "endpoint", "active")


# --- which handlers serve a reseller -----------------------------------------------------------------


def _lineage(reseller_id: int) -> list[int]:
    """The reseller and its ancestors, nearest first, from its materialized path ("/1/5/9/")."""
    path = Reseller.objects.values_list("path", flat=True).get(pk=reseller_id)
    return [int(part) for part in reversed(path.strip("/").split("/"))]


def handlers_for(reseller_id: int, event_type: str) -> list[EventHandler]:
    """The active handlers serving ``reseller_id`` for ``event_type``. Per channel, the nearest of the reseller
    and its ancestors with any handler for (event, channel) wins, an inactive one too: that is how a reseller
    switches an inherited handler off (R43). Without one, the platform defaults serve."""
    lineage = _lineage(reseller_id)
    candidates = list(
        EventHandler.objects.filter(Q(reseller_id__in=lineage) | Q(reseller__isnull=True), event=event_type)
        .select_related("endpoint")
        .order_by("id")
    )
    in_force = in_force_among(candidates, lineage)
    return [handler for handler in candidates if handler.active and handler.pk in in_force]


def in_force_among(candidates: list[EventHandler], lineage: list[int]) -> set[int]:
    """The ids of ``candidates`` (handlers of one event, of ``lineage`` — a reseller and its ancestors, nearest
    first — and the platform) at the level in force per channel: the nearest level with any handler, an
    inactive one too. ``handlers_for`` keeps the active ones; the panel shows the rest as switched off."""
    rank: dict[int | None, int] = {reseller_id: depth for depth, reseller_id in enumerate(lineage)}
    platform = len(lineage)
    nearest: dict[str, int] = {}
    for handler in candidates:
        level = rank.get(handler.reseller_id, platform)
        nearest[handler.channel] = min(nearest.get(handler.channel, platform), level)
    return {handler.pk for handler in candidates if rank.get(handler.reseller_id, platform) == nearest[handler.channel]}


# --- rendering -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    recipients: list[str]
    subject: str
    body: str


def _render(source: str, placeholders: dict) -> str:
    return CheckedTemplate(source).render(placeholders)


def _recipient_list(rendered: str) -> list[str]:
    """Addresses split on commas, semicolons or spaces, in order, each once; what is not an address is dropped
    (a customer without an e-mail address gets no mail rather than a failing delivery)."""
    addresses = []
    for candidate in _RECIPIENT_SEPARATORS.split(rendered):
        try:
            validate_email(candidate)
        except ValidationError:
            continue
        if candidate not in addresses:
            addresses.append(candidate)
    return addresses


def message_for(handler: EventHandler, placeholders: dict) -> Message:
    """The e-mail of ``handler`` for one event; strict: TemplateRenderFailed when a placeholder is missing."""
    return Message(
        recipients=_recipient_list(_render(handler.recipients, placeholders)),
        subject=" ".join(_render(handler.subject, placeholders).split()),
        body=_render(handler.body, placeholders),
    )


@lru_cache(maxsize=1024)
def _condition(event_type: str, condition: str) -> CheckedTemplate:
    return check_condition(condition, PLACEHOLDERS[event_type])


def condition_holds_for(handler: EventHandler, placeholders: dict) -> bool:
    try:
        condition = _condition(handler.event, handler.condition)
    except TemplateInvalid as exc:  # saved before the catalog changed: it cannot hold any more
        raise TemplateRenderFailed(exc.detail) from exc
    return condition_holds(condition, placeholders)


# --- services ---------------------------------------------------------------------------------------------


def _validated(reseller: Reseller, fields: dict) -> dict:
    """``fields`` checked and normalized for saving; raises HandlerFieldInvalid or TemplateInvalid."""
    event = fields["event"]
    if event not in NOTIFIABLE_EVENTS:
        raise HandlerFieldInvalid(f"unknown event {event!r}; one of {', '.join(NOTIFIABLE_EVENTS)}", pointer="/event")
    channel = fields["channel"]
    if channel not in EventHandler.Channel.values:
        raise HandlerFieldInvalid(f"unknown channel {channel!r}; email or webhook", pointer="/channel")
    name = (fields["name"] or "").strip()
    if not name or len(name) > 200:
        raise HandlerFieldInvalid("a name of 1 to 200 characters is required", pointer="/name")
    if not isinstance(fields["active"], bool):
        raise HandlerFieldInvalid("active must be true or false", pointer="/active")
    placeholders = PLACEHOLDERS[event]
    # A reference-syntax query is stored in its Liquid form (arrears.notifications.conditions explains why).
    fields = {**fields, "condition": to_liquid(fields["condition"] or "")}
    check_condition(fields["condition"], placeholders, pointer="/condition")
    endpoint = fields["endpoint"]
    if channel == EventHandler.Channel.WEBHOOK:
        if endpoint is None:
            raise HandlerFieldInvalid("a webhook handler needs an endpoint", pointer="/endpoint")
        if endpoint.reseller_id not in _lineage(reseller.pk):
            raise HandlerFieldInvalid("the endpoint belongs to another reseller", pointer="/endpoint")
        # The webhook posts the placeholders as JSON; it has no recipients, subject or body of its own.
        return {**fields, "name": name, "recipients": "", "subject": "", "body": ""}
    if endpoint is not None:
        raise HandlerFieldInvalid("only a webhook handler has an endpoint", pointer="/endpoint")
    for field in ("recipients", "subject", "body"):
        if not (fields[field] or "").strip():
            raise HandlerFieldInvalid(f"an e-mail handler needs {field}", pointer=f"/{field}")
        check_template(fields[field], placeholders, pointer=f"/{field}")
    return {**fields, "name": name}


def _described(fields: dict) -> dict:
    """A handler's fields as an event payload records them."""
    endpoint = fields["endpoint"]
    return {**fields, "endpoint": endpoint.pk if endpoint is not None else None}


def create_event_handler(
    reseller: Reseller,
    *,
    event: str,
    channel: str,
    name: str,
    recipients: str = DEFAULT_RECIPIENTS,
    subject: str = "",
    body: str = "",
    condition: str = "",
    endpoint: WebhookEndpoint | None = None,
    active: bool = True,
    actor: Actor,
    now: datetime,
) -> EventHandler:
    """A handler of ``reseller``'s own; it serves its subtree in place of inherited ones (R43)."""
    fields = _validated(
        reseller,
        {
            "event": event,
            "channel": channel,
            "name": name,
            "recipients": recipients,
            "subject": subject,
            "body": body,
            "condition": condition,
            "endpoint": endpoint,
            "active": active,
        },
    )
    with transaction.atomic(durable=True):
        handler = EventHandler.objects.create(reseller=reseller, created_at=now, updated_at=now, **fields)
        record_event(
            "event_handler.created",
            subject=handler,
            reseller_id=reseller.pk,
            account_id=None,
            payload=_described(fields),
            actor=actor,
            now=now,
        )
    return handler


def update_event_handler(handler: EventHandler, *, actor: Actor, now: datetime, **changes) -> EventHandler:
    """Change some fields of a reseller's handler, validated as on creation. Platform defaults stay as they
    ship: a reseller replaces one with a handler of its own."""
    unknown = sorted(set(changes) - set(_EDITABLE))
    if unknown:
        raise HandlerFieldInvalid(f"{unknown[0]} cannot be changed", pointer=f"/{unknown[0]}")
    reseller = handler.reseller
    if reseller is None:
        raise PlatformHandlerReadOnly("create a handler of your own for this event and channel instead")
    before = {field: getattr(handler, field) for field in _EDITABLE}
    fields = _validated(reseller, {**before, **changes})
    changed = {
        field: [value, fields[field]]
        for field, value in _described(before).items()
        if value != _described(fields)[field]
    }
    if not changed:
        return handler
    with transaction.atomic(durable=True):
        EventHandler.objects.filter(pk=handler.pk).update(updated_at=now, **fields)
        record_event(
            "event_handler.updated",
            subject=handler,
            reseller_id=reseller.pk,
            account_id=None,
            payload={"changes": changed},
            actor=actor,
            now=now,
        )
    return EventHandler.objects.select_related("endpoint").get(pk=handler.pk)


def draft_event_handler(
    reseller: Reseller,
    *,
    event: str,
    channel: str,
    name: str,
    recipients: str = DEFAULT_RECIPIENTS,
    subject: str = "",
    body: str = "",
    condition: str = "",
    endpoint: WebhookEndpoint | None = None,
    active: bool = True,
) -> EventHandler:
    """An unsaved handler of ``reseller``, validated exactly as ``create_event_handler`` validates (its condition
    in Liquid form): what a preview or a test message renders before anything is saved."""
    fields = _validated(
        reseller,
        {
            "event": event,
            "channel": channel,
            "name": name,
            "recipients": recipients,
            "subject": subject,
            "body": body,
            "condition": condition,
            "endpoint": endpoint,
            "active": active,
        },
    )
    return EventHandler(reseller=reseller, **fields)


def switch_off_event_handler(reseller: Reseller, handler: EventHandler, *, actor: Actor, now: datetime) -> EventHandler:
    """Stop ``handler`` serving ``reseller``'s subtree (R43). The reseller's own handler is deactivated. An
    inherited or platform handler in force for the reseller cannot be changed from here; the reseller gets an
    inactive handler of its own for the same event and channel — a copy, so that enabling it later sends the
    same message from this level — and the nearest level with a handler wins, so the inherited one stops."""
    if handler.reseller_id == reseller.pk:
        return update_event_handler(handler, active=False, actor=actor, now=now)
    if handler.reseller_id is not None and handler.reseller_id not in _lineage(reseller.pk):
        raise NotFound("no such event handler")
    if handler.pk not in {serving.pk for serving in handlers_for(reseller.pk, handler.event)}:
        raise HandlerFieldInvalid(
            "the handler does not serve this reseller: there is nothing to switch off", pointer="/active"
        )
    return create_event_handler(
        reseller,
        event=handler.event,
        channel=handler.channel,
        name=handler.name,
        recipients=handler.recipients,
        subject=handler.subject,
        body=handler.body,
        condition=handler.condition,
        endpoint=handler.endpoint,
        active=False,
        actor=actor,
        now=now,
    )


def preview_placeholders(reseller: Reseller, event_type: str, subject, *, now: datetime) -> dict:
    """The placeholders ``event_type`` would carry if it happened now to ``subject`` — an invoice, a payment,
    or for ``billing_day.coming`` an account, of ``reseller`` — built by the dispatcher's own builder."""
    subject_type = subject._meta.model_name
    account_id = subject.pk if subject_type == "account" else subject.account_id
    payload = {}
    if event_type == "billing_day.coming":
        payload = _coming_billing_day(reseller, subject, now=now)
    elif event_type in ATTEMPT_EVENTS:
        payload = _newest_attempt_payload(event_type, subject)
    event = Event(
        type=event_type,
        reseller_id=reseller.pk,
        account_id=account_id,
        subject_type=subject_type,
        subject_id=subject.pk,
        payload=payload,
        occurred_at=now,
    )
    return placeholders_for([event], now=now)[None]


def _newest_attempt_payload(event_type: str, payment) -> dict:
    """The payload the gateway's services would record for the payment's newest attempt (none without one); a
    second success credits the payment's total, which the placeholders default to."""
    attempt = PaymentAttempt.objects.filter(payment=payment).select_related("connector").order_by("-id").first()
    if attempt is None:
        return {}
    payload = {
        "document_id": payment.document_id,
        "attempt_id": attempt.public_id,
        "connector_id": attempt.connector_id,
        "connector_name": attempt.connector.name,
        "amount": attempt.amount,
        "currency": attempt.currency,
    }
    if event_type == "payment.attempt_ended" and attempt.status != PaymentAttempt.Status.OPEN:
        payload |= {"outcome": attempt.status, "late": attempt.late}
    return payload


def _coming_billing_day(reseller: Reseller, account, *, now: datetime) -> dict:
    today = local_date(now, reseller.timezone)
    days = set(Subscription.objects.filter(account=account, status="active").values_list("billing_day", flat=True))
    for days_left in range(1, 32):
        day = today + timedelta(days=days_left)
        if day.day in days or not days:
            return {"billing_day": day.day, "billing_date": day.isoformat(), "days_left": days_left}
    return {"billing_day": today.day, "billing_date": today.isoformat(), "days_left": 0}


def send_test_message(message: Message, *, to: str) -> None:
    """Send ``message`` once to ``to`` through the configured mail backend, as a delivery would (same headers),
    marked as a test in its subject; no Delivery row, no event (nothing changed)."""
    to = (to or "").strip()
    try:
        validate_email(to)
    except ValidationError as exc:
        raise HandlerFieldInvalid(f"{to!r} is not an e-mail address", pointer="/test_to") from exc
    EmailMessage(
        subject=f"[Test] {message.subject}",
        body=message.body,
        to=[to],
        headers={"Auto-Submitted": "auto-generated", "X-Arrears-Test": "yes"},
    ).send()


def _check_webhook_url(url: str) -> str:
    url = (url or "").strip()
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError as exc:
        raise HandlerFieldInvalid(f"{url!r} is not a URL", pointer="/url") from exc
    parts = urlsplit(url)
    if parts.scheme != "https" and parts.hostname not in _LOOPBACK_HOSTS:
        raise HandlerFieldInvalid(
            "a webhook URL must use https (plain http only on 127.0.0.1 or localhost)", pointer="/url"
        )
    if len(url) > 2000:
        raise HandlerFieldInvalid("the URL is longer than 2000 characters", pointer="/url")
    return url


def create_webhook_endpoint(
    reseller: Reseller, *, url: str, description: str = "", actor: Actor, now: datetime
) -> WebhookEndpoint:
    """An endpoint with a new Standard Webhooks secret, which the receiver uses to verify the signatures."""
    url = _check_webhook_url(url)
    if len(description) > 200:
        raise HandlerFieldInvalid("the description is longer than 200 characters", pointer="/description")
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    with transaction.atomic(durable=True):
        endpoint = WebhookEndpoint.objects.create(
            reseller=reseller, url=url, secret=secret, description=description, created_at=now, updated_at=now
        )
        record_event(
            "webhook_endpoint.created",
            subject=endpoint,
            reseller_id=reseller.pk,
            account_id=None,
            payload={"url": url, "description": description},
            actor=actor,
            now=now,
        )
    return endpoint
