"""Checking what the ERP hands over at approval: the external total and the attachment (R17, R23)."""

import base64
import binascii
import io
import re
import zipfile
from dataclasses import dataclass
from urllib.parse import urlsplit

from arrears.core import money
from arrears.invoices.errors import AttachmentInvalid, ExternalTotalInvalid

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
_DATA_URI = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)(;[\w-]+=[\w.-]+)*;base64,(?P<data>.*)$", re.S)

PDF = "application/pdf"
DOC = "application/msword"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# What a name or a link must not hold: control characters (C0, DEL, C1), the line and paragraph separators, and
# the bidi controls that make "invoice\u202efdp.exe" show as "invoiceexe.pdf". A name holds no path separator
# either: it becomes the file name of the downloads. The patterns are for /openapi.json, which states the rule.
_UNSAFE_ANYWHERE = "\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u2028-\\u202e\\u2066-\\u2069"
NAME_PATTERN = f"^[^{_UNSAFE_ANYWHERE}/\\\\]*$"
LINK_PATTERN = f"^[^{_UNSAFE_ANYWHERE} ]*$"
_UNSAFE_IN_NAME = re.compile(f"[{_UNSAFE_ANYWHERE}/\\\\]")
_UNSAFE_IN_LINK = re.compile(f"[{_UNSAFE_ANYWHERE} ]")


@dataclass(frozen=True)
class ExternalTotal:
    amount: int  # minor units of ``currency``
    currency: str


@dataclass(frozen=True)
class Attachment:
    kind: str  # "file" | "link"
    name: str
    url: str = ""
    content_type: str = ""
    data: bytes = b""


def parse_external_total(amount) -> ExternalTotal | None:
    if amount is None:
        return None
    if not isinstance(amount, dict):
        raise ExternalTotalInvalid("amount must be an object {total, currency}", pointer="/amount")
    currency = amount.get("currency")
    if not isinstance(currency, str) or not money.is_known_currency(currency):
        raise ExternalTotalInvalid(f"currency {currency!r} is not a known ISO 4217 code",
                                   pointer="/amount/currency")
    total = amount.get("total")
    if not isinstance(total, str):
        raise ExternalTotalInvalid("total must be a decimal string like \"1050.00\"", pointer="/amount/total")
    try:
        minor = money.parse_amount(total, currency)
    except ValueError as exc:
        raise ExternalTotalInvalid(str(exc), pointer="/amount/total") from exc
    if minor <= 0:
        raise ExternalTotalInvalid("total must be positive", pointer="/amount/total")
    return ExternalTotal(minor, currency)


def _sniff_content_type(data: bytes) -> str | None:
    """The file's real type from its bytes; the name and the declared type are not trusted."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return DOC
    if data.startswith(b"PK\x03\x04"):
        try:
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except zipfile.BadZipFile:
            return None
        if any(name.startswith("word/") for name in names):
            return DOCX
        if any(name.startswith("xl/") for name in names):
            return XLSX
    return None


def _character(found: re.Match) -> str:
    return f"U+{ord(found.group()):04X} at position {found.start() + 1}"


def _name(value, pointer: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise AttachmentInvalid("name must be 1 to 255 characters", pointer=pointer)
    if found := _UNSAFE_IN_NAME.search(value):
        raise AttachmentInvalid("name must not contain control characters, bidi controls, / or \\ "
                                f"({_character(found)})", pointer=pointer)
    name = value.strip()
    if not name.strip("."):
        raise AttachmentInvalid("name must not be only dots", pointer=pointer)
    return name


def parse_attachment(file, link) -> Attachment | None:
    if file is not None and link is not None:
        raise AttachmentInvalid("attach either a file or a link, not both", pointer="/link")
    if file is not None:
        if not isinstance(file, dict):
            raise AttachmentInvalid("file must be an object {name, data}", pointer="/file")
        name = _name(file.get("name"), "/file/name")
        match = _DATA_URI.match(file.get("data") or "") if isinstance(file.get("data"), str) else None
        if not match:
            raise AttachmentInvalid("data must be a base64 data URI (data:application/pdf;base64,…)",
                                    pointer="/file/data")
        if len(match["data"]) > MAX_ATTACHMENT_BYTES * 4 // 3 + 4:
            raise AttachmentInvalid("the file is larger than 10 MB", pointer="/file/data")
        try:
            data = base64.b64decode(match["data"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise AttachmentInvalid("data is not valid base64", pointer="/file/data") from exc
        if not data or len(data) > MAX_ATTACHMENT_BYTES:
            raise AttachmentInvalid("the file must be 1 byte to 10 MB", pointer="/file/data")
        content_type = _sniff_content_type(data)
        if content_type is None:
            raise AttachmentInvalid("the file must be a PDF, DOC, DOCX or XLSX document", pointer="/file/data")
        return Attachment("file", name, content_type=content_type, data=data)
    if link is not None:
        if not isinstance(link, dict):
            raise AttachmentInvalid("link must be an object {name, data}", pointer="/link")
        name = _name(link.get("name"), "/link/name")
        url = link.get("data")
        # Checked before urlsplit, which silently drops tabs and line breaks from a URL.
        if isinstance(url, str) and (found := _UNSAFE_IN_LINK.search(url)):
            raise AttachmentInvalid(f"data must be an https URL without spaces or control characters "
                                    f"({_character(found)})", pointer="/link/data")
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme != "https" or not parts.hostname or len(url) > 2000:
            raise AttachmentInvalid("data must be an https URL", pointer="/link/data")
        return Attachment("link", name, url=url)
    return None
