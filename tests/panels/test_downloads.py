"""Every download's Content-Disposition is built one way (RFC 6266 with RFC 8187's ``filename*``), whatever the
file's name holds: the operator's and the customer's invoice downloads and the CSV exports (issue 12)."""

import re
from urllib.parse import unquote

from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import given
from hypothesis import strategies as st

from arrears.core.downloads import attachment_disposition
from arrears.invoices.models import Invoice
from tests.sample_files import pdf_bytes

HOSTILE_NAME = 'Rechnung "Q1"; März, 50% — 請求書.pdf'


DISPOSITION = re.compile(r"""attachment; filename="([A-Za-z0-9._-]+)"; filename\*=UTF-8''([A-Za-z0-9%._~-]+)""")


def filename_in(header: str) -> str:
    """The name a browser reads from the header: RFC 6266's ``filename*`` (RFC 8187), which they prefer to the
    plain fallback. The whole header must be exactly these two parameters."""
    match = DISPOSITION.fullmatch(header)
    assert match, header
    return unquote(match[2], errors="strict")


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60))
def test_any_name_comes_back_exactly_and_cannot_break_the_header(name):
    header = attachment_disposition(name)
    assert header.isascii() and header.isprintable()
    assert header.startswith('attachment; filename="')
    fallback = header.split('"')[1]
    assert fallback and all(ch.isalnum() or ch in "._-" for ch in fallback) and fallback.strip("._")
    assert filename_in(header) == name


def test_a_name_of_dots_or_only_foreign_letters_gets_a_plain_fallback():
    assert attachment_disposition("..").startswith('attachment; filename="download"')
    assert attachment_disposition("請求書").startswith('attachment; filename="download"')


def test_the_operators_download_of_an_erp_file_keeps_its_exact_name(erp_world, sign_in):
    client = sign_in(erp_world["a"])
    invoice = Invoice.objects.filter(account=erp_world["account_a"], status="closed").order_by("id").first()
    upload = SimpleUploadedFile(HOSTILE_NAME, pdf_bytes(), "application/pdf")
    approval = client.post(f"/operator/invoices/{invoice.pk}/approve/", {"document_id": "ERP-9", "file": upload})
    assert approval.status_code == 302, approval.content[:2000]
    response = client.get(f"/operator/invoices/{invoice.pk}/download/")
    assert response.status_code == 200 and response.content == pdf_bytes()
    assert filename_in(response["Content-Disposition"]) == HOSTILE_NAME
    assert response["Content-Disposition"].isascii()


def test_csv_exports_name_their_file_the_same_way(erp_world, sign_in):
    client = sign_in(erp_world["a"])
    for path, stem in (("/operator/invoices/export.csv", "invoices"), ("/operator/payments/export.csv", "payments")):
        header = client.get(path)["Content-Disposition"]
        name = f"{stem}-{erp_world['a'].pk}.csv"
        assert header == f"attachment; filename=\"{name}\"; filename*=UTF-8''{name}"
