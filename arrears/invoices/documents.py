"""Invoice documents (R23–R25): the standard PDF form, a reseller's replacement for it, and what a download serves.

The PDF is rendered by a task after the invoice closes, is approved or is revoked, never inside a request:
``request_documents`` marks the documents stale (``InvoiceDocument.version`` goes up) and enqueues their
rendering after commit; ``render_invoice_document`` renders the Liquid HTML form of the nearest reseller that has
one (else the shipped default) with WeasyPrint and stores the PDF through Django's default storage. A periodic
task renders what is still stale, in case an enqueue was lost.
"""

import hashlib
import logging
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache, partial
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
from huey.contrib.djhuey import db_task

from arrears.charges.models import Charge
from arrears.core import clock, sql
from arrears.core.actors import Actor
from arrears.core.liquid import ANY_FIELDS, CheckedTemplate, TemplateInvalid, check_template
from arrears.core.money import format_amount, format_quantity, format_rate
from arrears.core.tasks import RETRY_DELAY_SECONDS, TRANSIENT_RETRIES, retrying_transient_errors_only
from arrears.events.models import Event
from arrears.events.services import record_event
from arrears.invoices.attachments import PDF
from arrears.invoices.errors import DocumentNotAvailable, DocumentNotReady
from arrears.invoices.models import Invoice, InvoiceAttachmentFile, InvoiceDocument, InvoiceTemplate
from arrears.invoices.placeholders import (
    ACCOUNT,
    INVOICE,
    RESELLER,
    account_placeholders,
    invoice_placeholders,
    reseller_placeholders,
)
from arrears.invoices.selectors import invoice_with_terms
from arrears.tenants.models import Reseller

log = logging.getLogger(__name__)

DEFAULT_TEMPLATE = Path(__file__).resolve().parent / "templates" / "invoices" / "standard_invoice.liquid.html"

# --- placeholders ---------------------------------------------------------------------------------------------
# In the format of ``arrears.core.liquid``: the notifications' account, reseller and invoice, built by the same code
# (``arrears.invoices.placeholders``), so that a reseller writes ``invoice.document_number`` in both. Amounts are
# decimal strings in the currency's precision ("120.00"), dates ISO strings "YYYY-MM-DD" (Liquid's ``date`` filter
# reads them), absent values nil. ``document_context`` produces exactly these keys (a test holds the two together).

CHARGE_FIELDS = {
    "description": None,
    "kind": None,  # recurring | usage | setup
    "quantity": None,  # up to three decimals: "1.5"
    "unit_price": None,  # net, per unit
    "net_amount": None,
    "tax_percent": None,  # "20", "7.7"
    "tax_amount": None,
    "amount": None,  # net + tax
}
TAX_FIELDS = {
    "percent": None,
    "net": None,  # the net amounts of the charges at this rate
    "tax": None,
    "gross": None,
}
DOCUMENT_PLACEHOLDERS = {
    "reseller": RESELLER,  # the seller
    "account": ACCOUNT,  # the buyer; address has line breaks
    "invoice": {
        **INVOICE,
        "issue_date": None,  # the day it closed, in the reseller's calendar
        "net_total": None,
        "tax_total": None,
        "charges": ANY_FIELDS,  # a list; each charge has the fields of CHARGE_FIELDS
        "taxes": ANY_FIELDS,  # the tax summary, one per rate, lowest first; each has the fields of TAX_FIELDS
    },
}


def document_context(invoice: Invoice) -> dict:
    """The placeholders of the document of ``invoice``, loaded with its terms (``invoice_with_terms``): those of
    the notifications, plus the charges and the tax summary, which one more query reads."""
    reseller, account = invoice.reseller, invoice.account
    payment = getattr(invoice, "payment", None)  # none for an invoice with a zero total (R6)
    currency = invoice.currency
    charges: list[dict[str, str | None]] = []
    taxes: dict[int, tuple[int, int, int]] = {}  # rate in basis points → (net, tax, gross)
    rows = (
        Charge.objects.filter(invoice_id=invoice.pk, status=Charge.Status.CLOSED)
        .order_by("id")
        .values_list(
            "description", "kind", "quantity", "unit_price", "net_amount", "tax_rate_bp", "tax_amount", "amount"
        )
    )
    for description, kind, quantity, unit_price, net_amount, tax_rate_bp, tax_amount, amount in rows:
        charges.append(
            {
                "description": description,
                "kind": kind,
                "quantity": format_quantity(quantity),
                "unit_price": format_amount(unit_price, currency),
                "net_amount": format_amount(net_amount, currency),
                "tax_percent": format_rate(tax_rate_bp),
                "tax_amount": format_amount(tax_amount, currency),
                "amount": format_amount(amount, currency),
            }
        )
        net, tax, gross = taxes.get(tax_rate_bp, (0, 0, 0))
        taxes[tax_rate_bp] = (net + net_amount, tax + tax_amount, gross + amount)
    issued_on = invoice.closed_at and clock.local_date(invoice.closed_at, reseller.timezone)
    return {
        "reseller": reseller_placeholders(reseller),
        "account": account_placeholders(account, reseller.currency),
        "invoice": {
            **invoice_placeholders(invoice, payment.due_date if payment is not None else None, payment=payment),
            "issue_date": None if not issued_on else issued_on.isoformat(),
            "net_total": format_amount(sum(net for net, _, _ in taxes.values()), currency),
            "tax_total": format_amount(sum(tax for _, tax, _ in taxes.values()), currency),
            "charges": charges,
            "taxes": [
                {
                    "percent": format_rate(rate),
                    "net": format_amount(net, currency),
                    "tax": format_amount(tax, currency),
                    "gross": format_amount(gross, currency),
                }
                for rate, (net, tax, gross) in sorted(taxes.items())
            ],
        },
    }


# --- templates ------------------------------------------------------------------------------------------------

MAX_TEMPLATE_CHARACTERS = 200_000


@cache
def default_template_source() -> str:
    return DEFAULT_TEMPLATE.read_text(encoding="utf-8")


def template_for(reseller: Reseller) -> CheckedTemplate:
    """The invoice form of the nearest reseller along ``reseller.path`` (itself first) that has one, else the
    shipped default."""
    lineage = [int(part) for part in reseller.path.strip("/").split("/") if part]
    sources = dict(InvoiceTemplate.objects.filter(reseller_id__in=lineage).values_list("reseller_id", "source"))
    for reseller_id in reversed(lineage):
        if reseller_id in sources:
            return CheckedTemplate(sources[reseller_id], html=True)
    return CheckedTemplate(default_template_source(), html=True)


def set_invoice_template(reseller: Reseller, source, *, actor: Actor, now: datetime) -> InvoiceTemplate:
    """Replace the reseller's invoice form (and that of the resellers below it without their own). The template
    is checked first (TEMPLATE-0001 names the line); the existing documents it shapes are rendered again."""
    if isinstance(source, str) and not source.strip():
        raise TemplateInvalid("line 1: the template is empty", line=1, pointer="/source")
    if isinstance(source, str) and len(source) > MAX_TEMPLATE_CHARACTERS:
        raise TemplateInvalid(
            f"the template is longer than {MAX_TEMPLATE_CHARACTERS} characters", line=1, pointer="/source"
        )
    check_template(source, DOCUMENT_PLACEHOLDERS, html=True, pointer="/source")
    digest = hashlib.sha256(source.encode()).hexdigest()
    with transaction.atomic(durable=True):
        template = InvoiceTemplate.objects.select_for_update().filter(reseller=reseller).first()
        previous_digest = None if template is None else hashlib.sha256(template.source.encode()).hexdigest()
        if template is None:
            template = InvoiceTemplate.objects.create(reseller=reseller, source=source, updated_at=now)
        else:
            template.source, template.updated_at = source, now
            template.save(update_fields=["source", "updated_at"])
        record_event(
            "invoice_template.changed",
            subject=template,
            reseller_id=reseller.pk,
            account_id=None,
            # The digests tell versions apart without copying the whole template into every event.
            payload={"characters": len(source), "changes": {"sha256": [previous_digest, digest]}},
            actor=actor,
            now=now,
        )
        stale = _bump_documents_shaped_by(reseller, now=now)
        if stale:
            transaction.on_commit(partial(_enqueue_renders, stale), robust=True)
    return template


def _bump_documents_shaped_by(reseller: Reseller, *, now: datetime) -> list[int]:
    """Mark stale the documents of the invoices of ``reseller`` and of the resellers below it that have no
    template of their own between them and it; one statement."""
    document, invoice, template, resellers = (
        sql.table(model) for model in (InvoiceDocument, Invoice, InvoiceTemplate, Reseller)
    )
    rows = sql.fetch_all(
        f"UPDATE {document} SET version = version + 1, requested_at = %s WHERE invoice_id IN ("
        f" SELECT i.id FROM {invoice} i WHERE i.reseller_id IN ("
        f"  SELECT r.id FROM {resellers} r WHERE r.path LIKE %s AND NOT EXISTS ("
        f"   SELECT 1 FROM {template} t JOIN {resellers} own ON own.id = t.reseller_id"
        "    WHERE own.id <> %s AND own.path LIKE %s AND r.path LIKE own.path || %s)))"
        " RETURNING invoice_id",
        [sql.db_datetime(now), f"{reseller.path}%", reseller.pk, f"{reseller.path}%", "%"],
    )
    return sorted(row[0] for row in rows)


# --- requesting and rendering ---------------------------------------------------------------------------------

INVOICES_PER_STATEMENT = 500
# Documents per render task: small enough that a retry repeats little, large enough that a billing day does not
# write one queue entry per invoice.
DOCUMENTS_PER_TASK = 25
# How long a render holds its claim on a document: far longer than one render, so that only a worker that died
# mid-render lets another one take the document over.
RENDER_LEASE = timedelta(minutes=5)
# The periodic sweep leaves a document this long to the task enqueued for it before rendering it itself.
SWEEP_AFTER = timedelta(minutes=2)
SWEEP_LIMIT = 100
_ERROR_TEXT_LIMIT = 2000


def request_documents(invoice_ids, *, now: datetime) -> list[int]:
    """Mark the documents of these invoices stale and enqueue their rendering after commit; returns the invoice
    ids whose document will be rendered.

    An existing document is bumped whatever the invoice's state, so that it always shows the invoice as it is (a
    revoked invoice's PDF gets its platform number back). A missing one is created only for a closed invoice whose
    document is the standard PDF: in default mode, or approved by the ERP without an attachment (R24). Set-based,
    a few statements per 500 invoices; calling it twice only renders once more. Runs inside the caller's
    transaction, if any.
    """
    ids = sorted({int(invoice_id) for invoice_id in invoice_ids})
    document, invoice = sql.table(InvoiceDocument), sql.table(Invoice)
    stamp = sql.db_datetime(now)
    stale: list[int] = []
    with transaction.atomic():
        for start in range(0, len(ids), INVOICES_PER_STATEMENT):
            chunk = ids[start : start + INVOICES_PER_STATEMENT]
            marks = ", ".join(["%s"] * len(chunk))
            stale += [
                row[0]
                for row in sql.fetch_all(
                    f"UPDATE {document} SET version = version + 1, requested_at = %s WHERE invoice_id IN ({marks})"
                    " RETURNING invoice_id",
                    [stamp, *chunk],
                )
            ]
            # The WHERE clause also keeps SQLite from reading ON CONFLICT as a join constraint.
            stale += [
                row[0]
                for row in sql.fetch_all(
                    f"INSERT INTO {document} (invoice_id, file, content_type, size, sha256, version, rendered_version,"
                    " failed_version, error, requested_at, rendered_at, lease_expires_at)"
                    f" SELECT i.id, '', '', 0, '', 1, 0, 0, '', %s, NULL, NULL FROM {invoice} i"
                    f" WHERE i.id IN ({marks}) AND i.status = 'closed'"
                    " AND (i.managed_externally = FALSE OR (i.approved = TRUE AND i.attachment_kind = ''))"
                    f" AND NOT EXISTS (SELECT 1 FROM {document} d WHERE d.invoice_id = i.id)"
                    " ON CONFLICT (invoice_id) DO NOTHING RETURNING invoice_id",
                    [stamp, *chunk],
                )
            ]
        stale.sort()
        if stale:
            # robust: a queue that cannot be reached must not undo the caller's work; the sweep renders them later.
            transaction.on_commit(partial(_enqueue_renders, stale), robust=True)
    return stale


# The invoice events after which the invoice's document is (re)rendered. The invoices subscribe to them in the
# outbox (InvoicesConfig.ready), which hands them over once their transaction has committed.
DOCUMENT_EVENTS = frozenset({"invoice.closed", "invoice.approved", "invoice.revoked"})


def request_documents_of(events: list[Event], *, now: datetime) -> None:
    """The outbox's hand-over of document events: request the documents of their invoices."""
    request_documents([event.subject_id for event in events], now=now)


def _enqueue_renders(invoice_ids: list[int]) -> None:
    for start in range(0, len(invoice_ids), DOCUMENTS_PER_TASK):
        render_invoice_documents(invoice_ids[start : start + DOCUMENTS_PER_TASK])


def stale_document_ids(*, now: datetime, limit: int = SWEEP_LIMIT) -> list[int]:
    """The invoices whose document has waited longer than SWEEP_AFTER for its render, oldest request first:
    what the periodic sweep renders (an enqueue was lost, or a worker died mid-render)."""
    return list(
        InvoiceDocument.objects.filter(
            rendered_version__lt=F("version"), failed_version__lt=F("version"), requested_at__lt=now - SWEEP_AFTER
        )
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .order_by("requested_at")
        .values_list("pk", flat=True)[:limit]
    )


def render_invoice_document(invoice_id: int, *, now: datetime) -> bool:
    """Render the invoice's standard PDF if its document is stale, and store it; True if this call stored one.

    The version is read before the invoice, so a change made meanwhile leaves the document stale and it is
    rendered again. A document another worker is rendering is left to it. Never call this inside a request.
    """
    stored = False
    while (version := _claim(invoice_id, now=now)) is not None:
        try:
            stored = _render_version(invoice_id, version, now=now) or stored
        except Exception:
            # Released at once, so that the task's retry (or the sweep) can claim it again.
            _release(invoice_id)
            raise
    return stored


def _claim(invoice_id: int, *, now: datetime) -> int | None:
    """Claim a stale document that no live render holds; its version, or None."""
    with transaction.atomic(durable=True):
        claimed = InvoiceDocument.objects.filter(
            Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now),
            pk=invoice_id,
            rendered_version__lt=F("version"),
            failed_version__lt=F("version"),
        ).update(lease_expires_at=now + RENDER_LEASE)
        if not claimed:
            return None
        return InvoiceDocument.objects.filter(pk=invoice_id).values_list("version", flat=True).get()


def _release(invoice_id: int) -> None:
    with transaction.atomic(durable=True):
        InvoiceDocument.objects.filter(pk=invoice_id).update(lease_expires_at=None)


def _render_version(invoice_id: int, version: int, *, now: datetime) -> bool:
    invoice = invoice_with_terms(invoice_id)
    template = template_for(invoice.reseller)
    try:
        pdf = html_to_pdf(template.render(document_context(invoice)))
    except Exception as exc:
        # A reseller's template that fails on this invoice's data, or WeasyPrint failing on its HTML: recorded on
        # the document and logged, and tried again at the invoice's next change rather than every minute.
        _record_failure(invoice_id, version, exc)
        return False
    name = default_storage.save(
        f"invoice-documents/{invoice.reseller_id}/{invoice_id}-v{version}.pdf", ContentFile(pdf)
    )
    with transaction.atomic(durable=True):
        current = (
            InvoiceDocument.objects.select_for_update()
            .filter(pk=invoice_id)
            .values_list("file", "rendered_version")
            .first()
        )
        stored = (
            current is not None
            and current[1] < version
            and InvoiceDocument.objects.filter(pk=invoice_id, rendered_version__lt=version).update(
                file=name,
                content_type=PDF,
                size=len(pdf),
                sha256=hashlib.sha256(pdf).hexdigest(),
                rendered_version=version,
                rendered_at=now,
                error="",
                lease_expires_at=None,
            )
            == 1
        )
    if current is None or not stored:  # a newer version was stored meanwhile, after this render's claim expired
        default_storage.delete(name)
        return False
    if current[0]:
        default_storage.delete(current[0])
    return True


def _record_failure(invoice_id: int, version: int, exc: Exception) -> None:
    error = f"{type(exc).__name__}: {exc}"[:_ERROR_TEXT_LIMIT]
    log.error("invoice %s: rendering version %s of its document failed: %s", invoice_id, version, error)
    with transaction.atomic(durable=True):
        InvoiceDocument.objects.filter(pk=invoice_id, failed_version__lt=version).update(
            failed_version=version, error=error, lease_expires_at=None
        )


class _Renderer:
    """WeasyPrint with one font configuration for many renders: a new one per render leaks about 0.25 MB of
    native memory (Pango and fontconfig) each time. WeasyPrint does not promise that it can be shared between
    threads, so renders take turns; WeasyPrint is CPU-bound Python, and threads would gain little by rendering at
    once.
    It is replaced now and then, because fonts a reseller's template embeds (``@font-face``) accumulate in it."""

    RENDERS_PER_FONT_CONFIGURATION = 500

    def __init__(self):
        self._lock = threading.Lock()
        self._fonts = None  # a weasyprint FontConfiguration
        self._renders = 0

    def pdf(self, html: str) -> bytes:
        # Imported here: WeasyPrint takes most of a second to import, and only the task consumer renders; the web
        # workers import this module (events enqueue renders) and must not pay for it on their first write.
        import weasyprint
        from weasyprint.text.fonts import FontConfiguration
        from weasyprint.urls import URLFetcher

        # Only data: URLs load (an inline logo): a reseller's template must not make the worker read local files
        # or reach the network. A fetcher per render: it keeps state between the calls of one fetch.
        fetcher = URLFetcher(allowed_protocols=("data",), allow_redirects=False)
        with self._lock:
            if self._fonts is None or self._renders >= self.RENDERS_PER_FONT_CONFIGURATION:
                self._fonts, self._renders = FontConfiguration(), 0
            self._renders += 1
            return weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf(font_config=self._fonts)


_RENDERER = _Renderer()


def html_to_pdf(html: str) -> bytes:
    return _RENDERER.pdf(html)


# --- downloads ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Download:
    """What downloading an invoice's document serves: bytes, or for an ERP link the URL to send the client to
    (Arrears never fetches it, R23)."""

    name: str
    content_type: str = ""
    data: bytes = b""
    url: str = ""


def invoice_document_for_download(invoice: Invoice) -> Download:
    """The document of ``invoice`` (read through a selector that scoped it to the caller): the ERP's attachment
    when there is one, else the standard PDF (R24). An open invoice, or an ERP-managed one the ERP has not
    approved, has none (R25)."""
    if invoice.status != Invoice.Status.CLOSED:
        raise DocumentNotAvailable("the invoice is still open; its document exists once it closes")
    if invoice.managed_externally and not invoice.approved:
        raise DocumentNotAvailable("the ERP issues this invoice; its document is available once approved")
    if invoice.attachment_kind == Invoice.AttachmentKind.FILE:
        data = InvoiceAttachmentFile.objects.filter(invoice_id=invoice.pk).values_list("data", flat=True).get()
        return Download(name=invoice.attachment_name, content_type=invoice.attachment_content_type, data=bytes(data))
    if invoice.attachment_kind == Invoice.AttachmentKind.LINK:
        return Download(name=invoice.attachment_name, url=invoice.attachment_url)
    document = InvoiceDocument.objects.filter(pk=invoice.pk).first()
    stored_name = None if document is None else document.file.name
    if document is None or document.stale or not stored_name:
        raise DocumentNotReady("the invoice's PDF is being rendered; try again in a minute")
    try:
        with default_storage.open(stored_name, "rb") as stored:
            data = stored.read()
    except FileNotFoundError as exc:
        raise DocumentNotReady("the invoice's PDF is being rendered again; try again in a minute") from exc
    # The number as a file name: an ERP's number may hold spaces or slashes.
    stem = re.sub(r"[^\w.-]+", "_", invoice.document_id or "").strip("._") or f"invoice-{invoice.pk}"
    return Download(name=f"{stem}.pdf", content_type=document.content_type, data=data)


# The render task is declared beside what it runs, because requesting documents enqueues it: the tasks module (the
# periodic sweep) imports this one, never the other way round. The task layer is where the wall clock is read.
@db_task(retries=TRANSIENT_RETRIES, retry_delay=RETRY_DELAY_SECONDS)
def render_invoice_documents(invoice_ids: list[int]) -> None:
    """Render the documents of these invoices that are still stale (enqueued by ``request_documents``); on a
    retry the documents already rendered are skipped."""
    with retrying_transient_errors_only(f"rendering the documents of invoices {invoice_ids}"):
        for invoice_id in invoice_ids:
            render_invoice_document(invoice_id, now=clock.wall_clock())
