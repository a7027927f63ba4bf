from django.apps import AppConfig


class InvoicesConfig(AppConfig):
    name = "arrears.invoices"
    label = "invoices"

    def ready(self):
        # Imported once the models are: the documents module imports them.
        from arrears.events import outbox
        from arrears.invoices.documents import DOCUMENT_EVENTS, request_documents_of

        # A closed, approved or revoked invoice gets its document (re)rendered: the audit log below hands the
        # events over without knowing who reacts to them.
        outbox.subscribe("invoice documents", DOCUMENT_EVENTS, request_documents_of)
