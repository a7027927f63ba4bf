"""Payment attempts in both panels' words (the shared partial ``panels/attempts.html``): an attempt's status as a
badge, each log entry's step as a sentence a customer understands, and a stored message as indented JSON."""

import json

from django import template

from arrears.gateways.models import AttemptLogEntry, PaymentAttempt
from arrears.panels.templatetags.panels import ACTOR_LABELS, badge

register = template.Library()

A = PaymentAttempt.Status
Step = AttemptLogEntry.Step
Direction = AttemptLogEntry.Direction

# An attempt's status → (the badge's colour, taken from the payment statuses it resembles; its word).
# Keyed by str: the choices are strs, and a stored value is looked up with the plain str the database gave.
ATTEMPT_BADGES: dict[str, tuple[str, str]] = {
    A.OPEN: ("processing", "In progress"),
    A.SUCCEEDED: ("completed", "Succeeded"),
    A.DECLINED: ("expired", "Declined"),
    A.CANCELLED: ("cancelled", "Cancelled"),
    A.TIMED_OUT: ("waiting_for_payment", "Timed out"),
    A.FAILED: ("failed", "Failed"),
}

STEP_LABELS: dict[str, str] = {
    Step.STARTED: "Started",
    Step.REDIRECTED: "Sent to the checkout page",
    Step.START_FAILED: "Checkout could not be opened",
    Step.SUCCEEDED: "Succeeded",
    Step.DECLINED: "Declined",
    Step.CANCELLED: "Cancelled",
    Step.TIMED_OUT: "Timed out",
    Step.LATE_SUCCESS: "Late success",
    Step.DUPLICATE_SUCCESS: "Second success",
    Step.STATUS_CHECKED: "Status checked",
    Step.REFUSED: "Outcome ignored",
}

# What a connector's status read says, as the sentence under "Status checked".
REPORTED_STATUSES = {
    "pending": "the payment is still pending",
    "succeeded": "the payment is paid",
    "declined": "the payment was declined",
    "cancelled": "the payment was cancelled",
}

DIRECTION_LABELS: dict[str, str] = {
    Direction.SENT: "Sent to the connector",
    Direction.RECEIVED: "Received from the connector",
}

# Which step entries the outcome colours mark in the list (the rest are neutral).
_GOOD_STEPS = {Step.SUCCEEDED, Step.LATE_SUCCESS}
_BAD_STEPS = {Step.START_FAILED, Step.DECLINED, Step.TIMED_OUT, Step.REFUSED}


@register.simple_tag
def attempt_badge(attempt: PaymentAttempt):
    """The attempt's status with its word; a late success says so (colour is never the only signal)."""
    colour, word = ATTEMPT_BADGES.get(attempt.status, ("none", attempt.status))
    if attempt.status == A.SUCCEEDED and attempt.late:
        word = "Succeeded late"
    return badge(colour, word)


def _json_object(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _reported_status(entry: AttemptLogEntry) -> str:
    """The status a connector reported in a status read (``pending``, ``succeeded``…), when it answered one."""
    body = _json_object(_json_object(_json_object(entry.message).get("received")).get("body"))
    status = body.get("status")
    return status if isinstance(status, str) else ""


@register.filter
def step_label(entry: AttemptLogEntry) -> str:
    if entry.step == Step.STARTED and entry.direction == Direction.SENT:
        return "Checkout requested"
    return STEP_LABELS.get(entry.step, entry.get_step_display())


@register.filter
def step_outcome(entry: AttemptLogEntry) -> str:
    """``good``, ``bad`` or empty: the list marks the steps that decided something."""
    if entry.step in _GOOD_STEPS:
        return "good"
    if entry.step in _BAD_STEPS:
        return "bad"
    return ""


@register.filter
def step_explanation(entry: AttemptLogEntry, connector_name: str = "") -> str:
    """One plain sentence under the step, for a customer as well as for a manager."""
    connector = connector_name or "the payment service"
    explanations: dict[str, str] = {
        Step.REDIRECTED: f"{connector} opened its checkout page.",
        Step.START_FAILED: f"{connector} did not open a checkout; nothing was charged.",
        Step.SUCCEEDED: f"{connector} reported the payment as paid.",
        Step.DECLINED: f"{connector} reported the payment as declined; nothing was charged.",
        Step.CANCELLED: "The payment was cancelled at the checkout; nothing was charged.",
        Step.TIMED_OUT: "No outcome arrived within the period for payment processing; the payment can be paid again.",
        Step.LATE_SUCCESS: "The payment went through after the attempt had timed out: it is paid.",
        Step.DUPLICATE_SUCCESS: "A second charge for a payment already paid: its amount is credited to the balance.",
        Step.REFUSED: "The outcome arrived after the attempt had already succeeded and changed nothing.",
    }
    if entry.step == Step.STATUS_CHECKED:
        reported = _reported_status(entry)
        if reported:
            return f"{connector} says: {REPORTED_STATUSES.get(reported, reported.replace('_', ' '))}."
        return f"{connector} gave no usable answer."
    if entry.step == Step.STARTED:
        if entry.direction == Direction.SENT:
            return f"Arrears asked {connector} to open a checkout."
        return "The payment is processing until the outcome arrives."
    return explanations.get(entry.step, "")


@register.filter
def step_detail(entry: AttemptLogEntry) -> str:
    """The entry's technical detail for a manager; the opening entry's names who started the attempt."""
    detail = entry.detail or ""
    if entry.step == Step.STARTED and not entry.direction and detail:
        kind, _, label = detail.partition(" ")
        if kind in ACTOR_LABELS:
            return f"By {ACTOR_LABELS[kind].lower()}: {label}" if label else f"By {ACTOR_LABELS[kind].lower()}"
    return detail


@register.filter
def direction_label(direction: str) -> str:
    return DIRECTION_LABELS.get(direction, "")


@register.filter
def pretty_json(value) -> str:
    """A stored message as indented JSON (the service stored it with its secrets and signatures redacted)."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)
