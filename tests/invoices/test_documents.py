"""Invoice documents: the standard PDF form, a reseller's own form, re-rendering, and downloads.

Rules: R15 (the number in the document), R23–R25 (what a download serves). The PDFs are checked as a reader
would see them: ``qpdf --check`` for their structure, ``pdftotext`` for what they say.
"""

import base64
import subprocess
from datetime import date, timedelta

import pytest
from django.conf import settings as django_settings
from django.core.files.storage import default_storage

from arrears.core.liquid import check_template
from arrears.events.models import Event
from arrears.invoices import documents
from arrears.invoices.attachments import DOCX, PDF
from arrears.invoices.documents import (
    CHARGE_FIELDS,
    DOCUMENT_PLACEHOLDERS,
    SWEEP_AFTER,
    TAX_FIELDS,
    default_template_source,
    document_context,
    invoice_document_for_download,
    render_invoice_document,
    request_documents,
    set_invoice_template,
    stale_document_ids,
)
from arrears.invoices.models import Invoice, InvoiceDocument, InvoiceTemplate
from arrears.invoices.selectors import invoice_with_terms
from arrears.invoices.services import post_usage_charge, revoke_invoice_approval
from tests.conftest import ERP, MANAGER, at, bill
from tests.factories import AccountFactory, ResellerFactory, SubscriptionFactory
from tests.sample_files import data_uri, docx_bytes, pdf_bytes
from tests.service_support import APPROVAL_DAY, CLOSING_DAY, START, approved, reload

DUE_DATE = date(2026, 2, 11)  # default mode: closing day + 10 days of the default account class − 1 (R20)
ERP_DUE_DATE = date(2026, 2, 20)
LATER = at(CLOSING_DAY) + timedelta(hours=1)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def invoices_with_lines(reseller, count: int = 1) -> list[Invoice]:
    """Given ``count`` accounts, each with three charges in its January invoice at two tax rates, closed on
    2026-02-02 (the engine bills a reseller's accounts together):

    * a plan at 20 %: 100.00 net (one day of 3,100.00), 20.00 tax, 120.00;
    * a plan at 7.7 %: 50.00 net, 3.85 tax, 53.85;
    * 12.5 GB of storage at 0.40: 5.00 net, 0.39 tax (0.385 rounded half-up), 5.39.
    Total 179.24 EUR.
    """
    accounts = [
        AccountFactory(
            reseller=reseller,
            name="Globex Corporation",
            email="billing@globex.example",
            address="Main Street 1\n1010 Vienna\nAustria",
        )
        for _ in range(count)
    ]
    for account in accounts:
        SubscriptionFactory(account=account, fee=310_000, tax_rate_bp=2000, start_date=START)
        storage = SubscriptionFactory(account=account, fee=155_000, tax_rate_bp=770, start_date=START)
        post_usage_charge(
            storage,
            description="Object storage",
            quantity="12.5",
            unit_price=40,
            usage_date=START,
            actor=MANAGER,
            now=at(START),
        )
    bill(reseller, CLOSING_DAY)
    return [Invoice.objects.select_related("payment").get(account=account, status="closed") for account in accounts]


def invoice_with_lines(reseller) -> Invoice:
    return invoices_with_lines(reseller)[0]


def rendered(invoice: Invoice, *, now=LATER) -> Invoice:
    """When the invoice's document is requested and the render task runs."""
    request_documents([invoice.pk], now=now)
    assert render_invoice_document(invoice.pk, now=now)
    return reload(invoice)


def pdf_text(pdf: bytes, tmp_path) -> str:
    """Then the PDF is well-formed (qpdf exits 0: no errors, no warnings); its text, laid out as on the page."""
    path = tmp_path / "document.pdf"
    path.write_bytes(pdf)
    check = subprocess.run(["/usr/bin/qpdf", "--check", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    return subprocess.run(
        ["/usr/bin/pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def downloaded_text(invoice: Invoice, tmp_path) -> str:
    download = invoice_document_for_download(reload(invoice))
    assert (download.content_type, download.url) == (PDF, "")
    return pdf_text(download.data, tmp_path)


CHARGE_LINES = [  # description, then quantity, unit price, tax rate, tax and amount
    ("Plan 310000/1 (2026-01-31 – 2026-01-31, prorated 1/31 days)", "1 100.00 20 % 20.00 120.00"),
    ("Plan 155000/1 (2026-01-31 – 2026-01-31, prorated 1/31 days)", "1 50.00 7.7 % 3.85 53.85"),
    ("Object storage", "12.5 0.40 7.7 % 0.39 5.39"),
]


def assert_shows_charges(text: str) -> None:
    """Every charge line: a row with its figures, its description in the first column (wrapped onto the lines
    below when long)."""
    rows = [" ".join(line.split()) for line in text.splitlines()]
    for description, figures in CHARGE_LINES:
        matching = [index for index, row in enumerate(rows) if row.endswith(" " + figures)]
        assert len(matching) == 1, figures
        shown = [rows[matching[0]].removesuffix(" " + figures)]
        for row in rows[matching[0] + 1 :]:
            if not row:
                break
            shown.append(row)
        assert " ".join(shown) == description


def test_the_pdf_of_a_default_mode_invoice_shows_its_number_total_due_date_and_charges(reseller, tmp_path):
    # Given a closed default-mode invoice with three charges
    invoice = invoice_with_lines(reseller)
    assert (invoice.total, invoice.payment.due_date) == (17_924, DUE_DATE)
    # When its document is rendered and downloaded
    text = downloaded_text(rendered(invoice), tmp_path)
    # Then the PDF names it, totals it, says when it is due and lists every charge
    words = " ".join(text.split())
    assert invoice.document_id in words
    assert "Total 179.24 EUR" in words
    assert f"Due date {DUE_DATE.isoformat()}" in words
    assert "Billing period 2026-01-31 – 2026-01-31" in words  # to_date is exclusive: the period ends the day before
    assert "Globex Corporation" in words and "1010 Vienna" in words and reseller.name in words
    assert_shows_charges(text)
    # And the tax summary has one line per rate
    assert "7.7 % 55.00 4.24 59.24" in words and "20 % 100.00 20.00 120.00" in words
    assert "External total" not in words


def test_the_pdf_of_an_approved_erp_invoice_shows_the_erp_number_and_the_external_total(erp_reseller, tmp_path):
    # Given a closed ERP invoice that the ERP approved with its own number, a due date and a total in USD
    invoice = approved(
        invoice_with_lines(erp_reseller),
        document_id="NS-2026-0042",
        due_date=ERP_DUE_DATE,
        amount={"total": "195.50", "currency": "USD"},
    )
    # When its document is rendered and downloaded
    text = downloaded_text(rendered(invoice), tmp_path)
    # Then the PDF shows the ERP's number (R15), the platform total, the external total and the due date
    words = " ".join(text.split())
    assert "No. NS-2026-0042" in words and "Invoice number NS-2026-0042" in words
    assert f"Our reference {invoice.original_document_id}" in words
    assert "Total 179.24 EUR" in words
    assert "External total 195.50 USD" in words
    assert f"Due date {ERP_DUE_DATE.isoformat()}" in words
    assert f"Approval date {APPROVAL_DAY.isoformat()}" in words
    assert_shows_charges(text)


# --- the document follows the invoice ---------------------------------------------------------------------------


def test_closing_an_erp_invoice_creates_no_document_until_it_is_approved(erp_reseller):
    # Given a closed ERP invoice: nobody may download its document before approval (R25)
    invoice = invoice_with_lines(erp_reseller)
    # When invoice.closed requests its document
    # Then nothing is rendered
    assert request_documents([invoice.pk], now=LATER) == []
    assert not InvoiceDocument.objects.filter(pk=invoice.pk).exists()
    # And after approval it is
    approved(invoice)
    assert request_documents([invoice.pk], now=LATER) == [invoice.pk]


def test_approval_then_revocation_re_render_the_pdf_with_each_number(erp_reseller, tmp_path):
    # Given an approved ERP invoice whose PDF shows the ERP number
    invoice = rendered(approved(invoice_with_lines(erp_reseller), document_id="NS-7"))
    document = InvoiceDocument.objects.get(pk=invoice.pk)
    assert (document.version, document.rendered_version, document.stale) == (1, 1, False)
    first_file = document.file.name
    assert "No. NS-7" in downloaded_text(invoice, tmp_path)
    # When the approval is revoked and invoice.revoked requests the document again
    revoke_invoice_approval(
        invoice, document_id="NS-7", billing_date=invoice.billing_date, actor=ERP, now=at(APPROVAL_DAY)
    )
    request_documents([invoice.pk], now=LATER)
    # Then the document is stale until the task renders it
    assert InvoiceDocument.objects.get(pk=invoice.pk).stale
    assert render_invoice_document(invoice.pk, now=LATER)
    # And the new PDF carries the platform number again; the old file is gone
    document = InvoiceDocument.objects.get(pk=invoice.pk)
    assert (document.version, document.rendered_version) == (2, 2)
    assert not default_storage.exists(first_file)
    text = " ".join(pdf_text(document.file.read(), tmp_path).split())
    assert f"No. {invoice.original_document_id}" in text and "NS-7" not in text


def test_a_fresh_document_is_not_rendered_again(reseller):
    invoice = rendered(invoice_with_lines(reseller))
    assert not render_invoice_document(invoice.pk, now=LATER)
    assert InvoiceDocument.objects.get(pk=invoice.pk).rendered_version == 1


def test_a_change_during_a_render_leaves_the_document_stale_and_it_is_rendered_again(reseller, monkeypatch):
    # Given a stale document
    invoice = invoice_with_lines(reseller)
    request_documents([invoice.pk], now=LATER)
    real_html_to_pdf = documents.html_to_pdf
    rendered_versions = []

    def html_to_pdf_while_the_invoice_changes(html: str) -> bytes:
        rendered_versions.append(InvoiceDocument.objects.get(pk=invoice.pk).version)
        if len(rendered_versions) == 1:
            request_documents([invoice.pk], now=LATER)  # a change is requested while version 1 renders
        return real_html_to_pdf(html)

    monkeypatch.setattr(documents, "html_to_pdf", html_to_pdf_while_the_invoice_changes)
    # When the render task runs
    render_invoice_document(invoice.pk, now=LATER)
    # Then storing version 1 did not clear version 2, which was rendered next
    assert rendered_versions == [1, 2]
    document = InvoiceDocument.objects.get(pk=invoice.pk)
    assert (document.version, document.rendered_version) == (2, 2)


def test_a_render_that_finishes_after_a_newer_one_does_not_overwrite_it(reseller, monkeypatch):
    # Given a stale document whose render (version 1) is so slow that its claim expires meanwhile
    invoice = invoice_with_lines(reseller)
    request_documents([invoice.pk], now=LATER)
    much_later = LATER + documents.RENDER_LEASE + timedelta(minutes=1)
    real_html_to_pdf = documents.html_to_pdf
    calls = []

    def slow_html_to_pdf(html: str) -> bytes:
        calls.append(html)
        if len(calls) == 1:
            # meanwhile the invoice changes and another worker renders version 2
            request_documents([invoice.pk], now=much_later)
            assert render_invoice_document(invoice.pk, now=much_later)
        return real_html_to_pdf(html)

    monkeypatch.setattr(documents, "html_to_pdf", slow_html_to_pdf)
    # When the slow render of version 1 finishes
    assert not render_invoice_document(invoice.pk, now=LATER)
    # Then version 2 stays stored, and the slow render's file was removed
    document = InvoiceDocument.objects.get(pk=invoice.pk)
    assert (document.version, document.rendered_version, document.rendered_at) == (2, 2, much_later)
    assert default_storage.listdir(f"invoice-documents/{reseller.pk}")[1] == [document.file.name.split("/")[-1]]


def test_a_document_claimed_by_a_live_render_is_left_to_it(reseller):
    invoice = invoice_with_lines(reseller)
    request_documents([invoice.pk], now=LATER)
    InvoiceDocument.objects.filter(pk=invoice.pk).update(lease_expires_at=LATER + timedelta(minutes=1))
    assert not render_invoice_document(invoice.pk, now=LATER)
    # A worker that died mid-render lets the document go when its claim expires
    assert render_invoice_document(invoice.pk, now=LATER + timedelta(minutes=2))


def test_a_render_that_fails_is_recorded_and_tried_again_at_the_next_change(reseller):
    # Given a reseller's form that passes the check but fails on an invoice with fewer than 10 charges
    set_invoice_template(reseller, "<p>{{ invoice.charges[9].description }}</p>", actor=MANAGER, now=LATER)
    invoice = invoice_with_lines(reseller)
    request_documents([invoice.pk], now=LATER)
    # When the render task runs
    assert not render_invoice_document(invoice.pk, now=LATER)
    # Then the failure is recorded, the claim released, and neither the task nor the sweep tries it again
    document = InvoiceDocument.objects.get(pk=invoice.pk)
    assert (document.failed_version, document.rendered_version, document.lease_expires_at) == (1, 0, None)
    assert document.error.startswith("TemplateRenderFailed")
    assert not render_invoice_document(invoice.pk, now=LATER)
    assert stale_document_ids(now=LATER + SWEEP_AFTER * 2) == []
    # And the download says it is not ready
    with pytest.raises(documents.DocumentNotReady):
        invoice_document_for_download(invoice)
    # When the template is fixed, the document is rendered again
    set_invoice_template(reseller, "<p>{{ invoice.document_number }}</p>", actor=MANAGER, now=LATER)
    assert render_invoice_document(invoice.pk, now=LATER)


def test_an_error_outside_the_template_releases_the_claim_for_the_retry(reseller, monkeypatch):
    invoice = invoice_with_lines(reseller)
    request_documents([invoice.pk], now=LATER)

    def storage_down(name, content):
        raise OSError("disk full")

    monkeypatch.setattr(default_storage, "save", storage_down)
    with pytest.raises(OSError):
        render_invoice_document(invoice.pk, now=LATER)
    document = InvoiceDocument.objects.get(pk=invoice.pk)
    assert (document.lease_expires_at, document.failed_version, document.stale) == (None, 0, True)


# --- requesting documents: set-based, after commit --------------------------------------------------------------


def test_request_documents_creates_documents_only_where_the_standard_pdf_is_the_document(reseller, erp_reseller):
    # Given closed invoices in both modes, approved with and without attachments, and an open invoice
    default_invoice = invoice_with_lines(reseller)
    unapproved, with_file, with_link, plain = invoices_with_lines(erp_reseller, 4)
    approved(with_file, document_id="ERP-F", file={"name": "invoice.pdf", "data": data_uri(pdf_bytes())})
    approved(with_link, document_id="ERP-L", link={"name": "Invoice", "data": "https://erp.example/i/1"})
    approved(plain, document_id="ERP-P")
    open_invoice = Invoice.objects.filter(account=default_invoice.account, status="open").get()
    every = [default_invoice, unapproved, with_file, with_link, plain, open_invoice]
    # When their documents are requested
    stale = request_documents([invoice.pk for invoice in every], now=LATER)
    # Then only the default-mode invoice and the ERP invoice approved without attachment get one (R24, R25)
    assert stale == sorted([default_invoice.pk, plain.pk])
    assert set(InvoiceDocument.objects.values_list("pk", flat=True)) == set(stale)


def test_request_documents_twice_bumps_the_version_and_renders_once(reseller):
    invoice = invoice_with_lines(reseller)
    request_documents([invoice.pk], now=LATER)
    request_documents([invoice.pk, invoice.pk], now=LATER)
    assert InvoiceDocument.objects.get(pk=invoice.pk).version == 2
    assert render_invoice_document(invoice.pk, now=LATER)
    assert not render_invoice_document(invoice.pk, now=LATER)


def test_request_documents_is_a_few_statements_whatever_the_number_of_invoices(
    reseller, django_assert_num_queries, monkeypatch
):
    accounts = [AccountFactory(reseller=reseller) for _ in range(6)]
    for account in accounts:
        SubscriptionFactory(account=account, fee=310_000, start_date=START)
    bill(reseller, CLOSING_DAY)
    invoice_ids = list(Invoice.objects.filter(status="closed").values_list("pk", flat=True))
    # Two statements per chunk (bump, insert) inside a savepoint, whether the chunk holds 1 invoice or 6
    with django_assert_num_queries(4):
        request_documents(invoice_ids[:1], now=LATER)
    with django_assert_num_queries(4):
        request_documents(invoice_ids, now=LATER)
    monkeypatch.setattr(documents, "INVOICES_PER_STATEMENT", 3)
    with django_assert_num_queries(6):
        assert request_documents(invoice_ids, now=LATER) == sorted(invoice_ids)


@pytest.fixture
def immediate_queue():
    """Tasks run as they are enqueued."""
    huey = django_settings.HUEY
    huey.immediate = True
    yield
    huey.immediate = False


def test_the_render_task_is_enqueued_after_commit(reseller, immediate_queue, django_capture_on_commit_callbacks):
    invoice = invoice_with_lines(reseller)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        request_documents([invoice.pk], now=LATER)
    # Nothing renders before the commit
    assert InvoiceDocument.objects.get(pk=invoice.pk).stale
    # When the transaction commits, the task renders the document
    for callback in callbacks:
        callback()
    assert not InvoiceDocument.objects.get(pk=invoice.pk).stale


def test_the_sweep_renders_documents_left_stale_by_a_lost_enqueue(reseller):
    # Given documents requested at LATER whose render tasks were lost, and one requested just now
    first, second = invoices_with_lines(reseller, 2)
    request_documents([first.pk], now=LATER)
    request_documents([second.pk], now=LATER + SWEEP_AFTER)
    sweep_time = LATER + SWEEP_AFTER + timedelta(seconds=30)
    # Then the sweep picks only the one that waited longer than SWEEP_AFTER
    assert stale_document_ids(now=sweep_time) == [first.pk]
    assert render_invoice_document(first.pk, now=sweep_time)
    assert stale_document_ids(now=sweep_time) == []


# --- the reseller's own form ------------------------------------------------------------------------------------

CUSTOM_FORM = """<html><body>
<h1>Rechnung {{ invoice.document_number }}</h1>
<p>{{ account.name }}: {{ invoice.total }} {{ invoice.currency }}</p>
{% for charge in invoice.charges %}<p>{{ charge.description }}</p>{% endfor %}
</body></html>"""


def test_a_child_reseller_uses_the_nearest_ancestors_form(db, tmp_path):
    # Given an operator, a reseller below it with its own form, and a sub-reseller below that one
    operator = ResellerFactory()
    reseller = ResellerFactory(parent=operator)
    sub_reseller = ResellerFactory(parent=reseller)
    set_invoice_template(reseller, CUSTOM_FORM, actor=MANAGER, now=LATER)
    # When the sub-reseller's and the operator's invoices are rendered
    sub_invoice, operator_invoice = invoice_with_lines(sub_reseller), invoice_with_lines(operator)
    sub_text = " ".join(downloaded_text(rendered(sub_invoice), tmp_path).split())
    operator_text = " ".join(downloaded_text(rendered(operator_invoice), tmp_path).split())
    # Then the sub-reseller's invoice uses its parent's form, the operator's the standard one
    assert f"Rechnung {sub_invoice.document_id}" in sub_text and "Globex Corporation: 179.24 EUR" in sub_text
    assert "Object storage" in sub_text
    assert "Rechnung" not in operator_text and "Total 179.24 EUR" in operator_text


def test_changing_a_form_re_renders_the_documents_it_shapes_and_records_an_event(db, tmp_path):
    # Given rendered documents under an operator, a reseller and its two sub-resellers, one with its own form
    operator = ResellerFactory()
    reseller = ResellerFactory(parent=operator)
    inheriting, own_form = ResellerFactory(parent=reseller), ResellerFactory(parent=reseller)
    set_invoice_template(own_form, CUSTOM_FORM, actor=MANAGER, now=LATER)
    invoices = {
        name: rendered(invoice_with_lines(owner))
        for name, owner in (
            ("operator", operator),
            ("reseller", reseller),
            ("inheriting", inheriting),
            ("own", own_form),
        )
    }
    # When the reseller's form changes
    template = set_invoice_template(reseller, CUSTOM_FORM.replace("Rechnung", "Faktura"), actor=MANAGER, now=LATER)
    # Then exactly the documents of the reseller and of the sub-reseller that inherits its form are stale
    stale = {name for name, invoice in invoices.items() if InvoiceDocument.objects.get(pk=invoice.pk).stale}
    assert stale == {"reseller", "inheriting"}
    # And the change is an event
    event = Event.objects.filter(type="invoice_template.changed", reseller=reseller).get()
    assert (event.subject_type, event.subject_id, event.actor_label) == ("invoicetemplate", template.pk, MANAGER.label)
    assert event.payload["changes"]["sha256"][0] is None
    # And rendered again, the inheriting sub-reseller's invoice shows the new form
    assert render_invoice_document(invoices["inheriting"].pk, now=LATER)
    assert "Faktura" in downloaded_text(invoices["inheriting"], tmp_path)


@pytest.mark.parametrize(
    ("source", "line", "name"),
    [
        (
            "<html>\n<body>\n<p>{{ invoice.document_number }}</p>\n<p>{{ invoice.vat_id }}</p>\n</body>",
            4,
            "invoice.vat_id",
        ),
        ("<p>{{ account.name }}</p>\n{% for charge in invoice.charges %}\n<p>{{ charge.amount }}</p>\n", 2, None),
        ("<p>{{ invoice.total | money }}</p>", 1, "money"),
        ("", 1, None),
    ],
)
def test_a_form_with_an_unknown_placeholder_or_a_syntax_error_is_refused_with_its_line(reseller, source, line, name):
    with pytest.raises(documents.TemplateInvalid) as refusal:
        set_invoice_template(reseller, source, actor=MANAGER, now=LATER)
    assert (refusal.value.code, refusal.value.line, refusal.value.name) == ("TEMPLATE-0001", line, name)
    assert refusal.value.pointer == "/source"
    assert refusal.value.detail.startswith(f"line {line}:")
    assert not InvoiceTemplate.objects.exists()
    assert not Event.objects.filter(type="invoice_template.changed").exists()


def test_a_form_cannot_make_the_renderer_read_files_or_the_network(reseller, tmp_path):
    # Given a form that links a local stylesheet and an inline one
    secret = tmp_path / "secret.css"
    secret.write_text('body::before { content: "LEAKED" }')
    inline = base64.b64encode(b'body::after { content: "INLINE" }').decode()
    set_invoice_template(
        reseller,
        f"""<html><head>
<link rel="stylesheet" href="file://{secret}">
<link rel="stylesheet" href="data:text/css;base64,{inline}">
</head><body><p>{{{{ invoice.document_number }}}}</p><img src="http://127.0.0.1:9/logo.png"></body></html>""",
        actor=MANAGER,
        now=LATER,
    )
    # When an invoice is rendered
    text = downloaded_text(rendered(invoice_with_lines(reseller)), tmp_path)
    # Then only the data: URL was loaded
    assert "INLINE" in text and "LEAKED" not in text


# --- the placeholders -------------------------------------------------------------------------------------------


def _paths(value: dict, prefix: str = "") -> set[str]:
    paths = set()
    for key, child in value.items():
        paths.add(prefix + key)
        if isinstance(child, dict):
            paths |= _paths(child, f"{prefix}{key}.")
    return paths


def test_every_placeholder_of_the_context_is_documented_and_every_documented_one_is_there(erp_reseller):
    invoice = approved(invoice_with_lines(erp_reseller), amount={"total": "195.50", "currency": "USD"})
    context = document_context(invoice_with_terms(invoice.pk))
    assert _paths(context) == _paths(DOCUMENT_PLACEHOLDERS)
    assert all(set(charge) == set(CHARGE_FIELDS) for charge in context["invoice"]["charges"])
    assert len(context["invoice"]["charges"]) == 3
    assert [set(tax) for tax in context["invoice"]["taxes"]] == [set(TAX_FIELDS)] * 2


def test_the_standard_form_passes_the_check_a_resellers_form_must_pass():
    check_template(default_template_source(), DOCUMENT_PLACEHOLDERS, html=True)


# --- downloads (R23–R25) ----------------------------------------------------------------------------------------


def test_a_default_mode_invoice_downloads_as_the_standard_pdf_once_rendered(reseller):
    invoice = invoice_with_lines(reseller)
    # Not yet rendered
    with pytest.raises(documents.DocumentNotReady) as not_ready:
        invoice_document_for_download(invoice)
    assert not_ready.value.code == "INVOICE-0202"
    rendered(invoice)
    download = invoice_document_for_download(invoice)
    assert (download.name, download.content_type) == (f"{invoice.document_id}.pdf", PDF)
    assert download.data.startswith(b"%PDF-")
    # Stale again: refused until rendered, rather than serving what the invoice no longer says
    request_documents([invoice.pk], now=LATER)
    with pytest.raises(documents.DocumentNotReady):
        invoice_document_for_download(invoice)


def test_an_open_invoice_has_no_document(reseller):
    invoice = invoice_with_lines(reseller)
    open_invoice = Invoice.objects.filter(account=invoice.account, status="open").get()
    with pytest.raises(documents.DocumentNotAvailable) as refusal:
        invoice_document_for_download(open_invoice)
    assert (refusal.value.code, refusal.value.status) == ("INVOICE-0201", 409)


def test_R25_an_unapproved_erp_invoice_has_no_document_even_once_rendered(erp_reseller):
    # Given an ERP invoice whose PDF was rendered while approved, then revoked
    invoice = rendered(approved(invoice_with_lines(erp_reseller), document_id="NS-9"))
    invoice = revoke_invoice_approval(
        invoice, document_id="NS-9", billing_date=invoice.billing_date, actor=ERP, now=at(APPROVAL_DAY)
    )
    with pytest.raises(documents.DocumentNotAvailable) as refusal:
        invoice_document_for_download(invoice)
    assert refusal.value.code == "INVOICE-0201"


def test_R24_the_erps_file_is_the_document_of_an_invoice_approved_with_one(erp_reseller):
    data = docx_bytes()
    invoice = approved(
        invoice_with_lines(erp_reseller),
        file={"name": "NS-11.docx", "data": data_uri(data, "application/octet-stream")},
    )
    download = invoice_document_for_download(reload(invoice))
    # The bytes the ERP sent, with the type sniffed from them at approval (R23)
    assert (download.name, download.content_type, download.data, download.url) == ("NS-11.docx", DOCX, data, "")


def test_R23_the_erps_link_is_the_document_and_is_never_fetched(erp_reseller):
    invoice = approved(
        invoice_with_lines(erp_reseller),
        link={"name": "Invoice NS-12", "data": "https://erp.example/invoices/NS-12.pdf"},
    )
    download = invoice_document_for_download(reload(invoice))
    assert (download.name, download.url, download.data) == (
        "Invoice NS-12",
        "https://erp.example/invoices/NS-12.pdf",
        b"",
    )


def test_R24_an_erp_invoice_approved_without_attachment_downloads_as_the_standard_pdf(erp_reseller):
    invoice = rendered(approved(invoice_with_lines(erp_reseller), document_id="NS 13/A"))
    download = invoice_document_for_download(invoice)
    # The ERP's number, made a file name
    assert (download.name, download.content_type) == ("NS_13_A.pdf", PDF)
    assert download.data.startswith(b"%PDF-")
