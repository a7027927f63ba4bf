"""Rendering invoice documents in the Huey consumer: the periodic sweep. The task that renders what a request
enqueued, ``render_invoice_documents``, is declared in ``documents`` beside the request that enqueues it."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from arrears.core import clock
from arrears.invoices.documents import render_invoice_document, render_invoice_documents, stale_document_ids

__all__ = ["render_invoice_documents", "render_stale_documents"]


@db_periodic_task(crontab(minute="*"))
def render_stale_documents() -> None:
    # No retries: the next minute's run is the retry.
    for invoice_id in stale_document_ids(now=clock.wall_clock()):
        render_invoice_document(invoice_id, now=clock.wall_clock())
