"""Reads of the notification system for the operator panel: the handlers that concern a reseller, and what a
handler's preview renders on."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from django.db.models import Q, QuerySet

from arrears.core.errors import NotFound
from arrears.customers.models import Account, BalanceEntry
from arrears.gateways.models import PaymentAttempt
from arrears.invoices.models import Invoice
from arrears.notifications.catalog import NOTIFIABLE_EVENTS
from arrears.notifications.handlers import in_force_among
from arrears.notifications.models import EventHandler
from arrears.payments.models import Payment
from arrears.subscriptions.models import Subscription
from arrears.tenants.models import Reseller

# --- event handlers, as the operator panel shows them ------------------------------------------------------


@dataclass(frozen=True)
class HandlerRow:
    """A handler that concerns a reseller: its own, an ancestor's (``origin`` "inherited", ``owner`` the
    ancestor) or the platform's ("default"). ``in_force``: its level is the one that decides for its event and
    channel (R43); ``serving``: it is in force and active, so it sends."""

    handler: EventHandler
    origin: str  # own, inherited, default
    owner: Reseller | None
    in_force: bool

    @property
    def serving(self) -> bool:
        return self.in_force and self.handler.active


def handler_overview(
    reseller: Reseller, *, event: str | None = None, channel: str | None = None
) -> dict[str, list[HandlerRow]]:
    """Event → the handlers of ``reseller``, its ancestors and the platform for it, nearest level first, in the
    order of ``NOTIFIABLE_EVENTS``; two queries however many handlers there are."""
    lineage = [int(part) for part in reversed(reseller.path.strip("/").split("/"))]
    owners = Reseller.objects.in_bulk(lineage)
    handlers = EventHandler.objects.filter(Q(reseller_id__in=lineage) | Q(reseller__isnull=True)).select_related(
        "endpoint"
    )
    if event:
        handlers = handlers.filter(event=event)
    if channel:
        handlers = handlers.filter(channel=channel)
    by_event: dict[str, list[EventHandler]] = {}
    for handler in handlers.order_by("id"):
        by_event.setdefault(handler.event, []).append(handler)
    rank: dict[int | None, int] = {owner_id: depth for depth, owner_id in enumerate(lineage)}
    overview = {}
    for event_type in NOTIFIABLE_EVENTS:
        if event and event_type != event:
            continue
        candidates = by_event.get(event_type, [])
        in_force = in_force_among(candidates, lineage)
        rows = [
            HandlerRow(
                handler=handler,
                origin=(
                    "default"
                    if handler.reseller_id is None
                    else "own"
                    if handler.reseller_id == reseller.pk
                    else "inherited"
                ),
                owner=owners.get(handler.reseller_id),
                in_force=handler.pk in in_force,
            )
            for handler in candidates
        ]
        rows.sort(
            key=lambda row: (rank.get(row.handler.reseller_id, len(lineage)), row.handler.channel, row.handler.pk)
        )
        overview[event_type] = rows
    return overview


def own_handler_of(reseller: Reseller, handler_id: int) -> EventHandler:
    """A handler of ``reseller``'s own; an inherited, a platform or another reseller's handler is NotFound."""
    try:
        return EventHandler.objects.select_related("endpoint", "reseller").get(pk=handler_id, reseller=reseller)
    except EventHandler.DoesNotExist as exc:
        raise NotFound("no such event handler") from exc


def visible_handler_of(reseller: Reseller, handler_id: int) -> EventHandler:
    """A handler that concerns ``reseller``: its own, an ancestor's or a platform default; else NotFound."""
    lineage = [int(part) for part in reseller.path.strip("/").split("/")]
    handler = (
        EventHandler.objects.select_related("endpoint", "reseller")
        .filter(Q(reseller_id__in=lineage) | Q(reseller__isnull=True), pk=handler_id)
        .first()
    )
    if handler is None:
        raise NotFound("no such event handler")
    return handler


# --- what a preview renders on -----------------------------------------------------------------------------

PREVIEW_CHOICES = 20
_PAYMENT_FITS = {
    "payment.due_date_coming": Q(status=Payment.Status.WAITING_FOR_PAYMENT, due_date__isnull=False),
    "payment.received": Q(status__in=[Payment.Status.COMPLETED, Payment.Status.PAID_FROM_BALANCE]),
    "payment.expired": Q(status=Payment.Status.EXPIRED),
    # The gateway's events: payments that went through a connector; a second success, those paid twice.
    "payment.attempt_started": Q(pk__in=PaymentAttempt.objects.values("payment_id")),
    "payment.attempt_ended": Q(
        pk__in=PaymentAttempt.objects.exclude(status=PaymentAttempt.Status.OPEN).values("payment_id")
    ),
    "payment.duplicate_success": Q(
        pk__in=BalanceEntry.objects.filter(kind=BalanceEntry.Kind.DUPLICATE_SUCCESS).values("payment_id")
    ),
}
_INVOICE_FITS = {
    "invoice.closed": Q(),
    "invoice.approved": Q(approved=True),
    "invoice.revoked": Q(managed_externally=True),
}


PreviewSubject = Invoice | Payment | Account
_Subject = TypeVar("_Subject", Invoice, Payment, Account)


def preview_subjects(reseller: Reseller, event_type: str, *, limit: int = PREVIEW_CHOICES) -> Sequence[PreviewSubject]:
    """Recent invoices, payments or (for ``billing_day.coming``) accounts of ``reseller`` to preview a handler
    of ``event_type`` on, newest first: those the event could have happened to, or, without any, the newest of
    their kind."""
    if event_type.startswith("invoice."):
        return _newest(
            Invoice.objects.filter(reseller=reseller, status=Invoice.Status.CLOSED).select_related("account"),
            _INVOICE_FITS.get(event_type, Q()),
            limit,
        )
    if event_type.startswith("payment."):
        return _newest(
            Payment.objects.filter(reseller=reseller).select_related("account", "invoice"),
            _PAYMENT_FITS.get(event_type, Q()),
            limit,
        )
    return _newest(
        Account.objects.filter(reseller=reseller),
        Q(pk__in=Subscription.objects.filter(reseller=reseller, status="active").values("account_id")),
        limit,
    )


def _newest(rows: QuerySet[_Subject], fits: Q, limit: int) -> list[_Subject]:
    fitting = list(rows.filter(fits).order_by("-id")[:limit])
    return fitting or list(rows.order_by("-id")[:limit])


def preview_subject_of(reseller: Reseller, event_type: str, subject_id: int) -> PreviewSubject:
    """The invoice, payment or account ``subject_id`` of ``reseller`` that ``event_type`` is about; NotFound
    for another reseller's."""
    rows: QuerySet[Invoice] | QuerySet[Payment] | QuerySet[Account]
    if event_type.startswith("invoice."):
        rows = Invoice.objects.select_related("account")
    elif event_type.startswith("payment."):
        rows = Payment.objects.select_related("account", "invoice")
    else:
        rows = Account.objects.all()
    subject = rows.filter(reseller=reseller, pk=subject_id).first()
    if subject is None:
        raise NotFound("no such invoice, payment or account")
    return subject
