"""Rendering invoice documents in the Huey consumer. The task layer is where the wall clock is read."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from arrears.core import clock
from arrears.core.tasks import RETRY_DELAY_SECONDS, TRANSIENT_RETRIES, retrying_transient_errors_only
from arrears.invoices.documents import render_invoice_document, stale_document_ids


@db_task(retries=TRANSIENT_RETRIES, retry_delay=RETRY_DELAY_SECONDS)
def render_invoice_documents(invoice_ids: list[int]) -> None:
    """Render the documents of these invoices that are still stale (enqueued by ``request_documents``); on a
    retry the documents already rendered are skipped."""
    with retrying_transient_errors_only(f"rendering the documents of invoices {invoice_ids}"):
        for invoice_id in invoice_ids:
            render_invoice_document(invoice_id, now=clock.wall_clock())


@db_periodic_task(crontab(minute="*"))
def render_stale_documents() -> None:
    # No retries: the next minute's run is the retry.
    for invoice_id in stale_document_ids(now=clock.wall_clock()):
        render_invoice_document(invoice_id, now=clock.wall_clock())
