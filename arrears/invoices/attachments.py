"""Checking what the ERP hands over at approval: the external total and the attachment (R17, R23)."""

import base64
import binascii
import io
import re
import zipfile
from dataclasses import dataclass
from urllib.parse import urlsplit
from xml.etree import ElementTree

import olefile
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject

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
        raise ExternalTotalInvalid(f"currency {currency!r} is not a known ISO 4217 code", pointer="/amount/currency")
    total = amount.get("total")
    if not isinstance(total, str):
        raise ExternalTotalInvalid('total must be a decimal string like "1050.00"', pointer="/amount/total")
    try:
        minor = money.parse_amount(total, currency)
    except ValueError as exc:
        raise ExternalTotalInvalid(str(exc), pointer="/amount/total") from exc
    if minor <= 0:
        raise ExternalTotalInvalid("total must be positive", pointer="/amount/total")
    return ExternalTotal(minor, currency)


# The main part's content type in [Content_Types].xml names the kind of an Office Open XML package.
_OOXML_MAIN_PARTS = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": DOCX,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": XLSX,
}
_CONTENT_TYPES_NS = "{http://schemas.openxmlformats.org/package/2006/content-types}"
_MAX_CONTENT_TYPES_BYTES = 1024 * 1024
_EXTENSIONS = {".pdf": PDF, ".doc": DOC, ".docx": DOCX, ".xlsx": XLSX}


_MAX_PAGE_TREE_DEPTH = 32


def _is_pdf(data: bytes) -> bool:
    """A PDF that parses: cross-reference data and trailer (pypdf, strict), a document catalog and a page tree
    down to a first page. Only that path through the tree is read, so that the cost stays bounded in a 10 MB
    file; an encrypted PDF is taken once its trailer parses (its objects need the password)."""
    try:
        reader = PdfReader(io.BytesIO(data), strict=True)
        if reader.is_encrypted:
            return True
        catalog = reader.trailer["/Root"].get_object()
        if not isinstance(catalog, DictionaryObject):
            return False
        node = catalog["/Pages"].get_object()
        if not isinstance(node, DictionaryObject):
            return False
        if catalog.get("/Type") != "/Catalog" or node.get("/Type") != "/Pages" or int(node.get("/Count", 0)) < 1:
            return False
        for _ in range(_MAX_PAGE_TREE_DEPTH):  # also ends a page tree that loops
            kids = node["/Kids"].get_object()
            if not isinstance(kids, ArrayObject) or not len(kids):
                return False
            node = kids[0].get_object()
            if not isinstance(node, DictionaryObject):
                return False
            if node.get("/Type") == "/Page":
                return True
            if node.get("/Type") != "/Pages":
                return False
        return False
    except Exception:  # pypdf's refusals of malformed input are not one exception class
        return False


def _is_word_97(data: bytes) -> bool:
    """A Word 97-2003 document: an OLE2 compound file with a WordDocument stream (not, say, an Excel 97 one)."""
    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            return ole.exists("WordDocument")
    except Exception:  # olefile's refusals of malformed input are not one exception class
        return False


def _ooxml_kind(data: bytes) -> str | None:
    """DOCX or XLSX by the package's [Content_Types].xml, whose main part must be in the zip; None otherwise."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            names = set(package.namelist())
            info = package.getinfo("[Content_Types].xml")
            if info.file_size > _MAX_CONTENT_TYPES_BYTES:
                return None
            with package.open(info) as entry:
                content_types = entry.read(_MAX_CONTENT_TYPES_BYTES + 1)
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, NotImplementedError, RuntimeError, ValueError):
        return None
    # No document type declaration, hence no entities: nothing for the XML parser to expand.
    if len(content_types) > _MAX_CONTENT_TYPES_BYTES or b"<!DOCTYPE" in content_types.upper():
        return None
    try:
        root = ElementTree.fromstring(content_types)
    except ElementTree.ParseError:
        return None
    for override in root.iter(f"{_CONTENT_TYPES_NS}Override"):
        kind = _OOXML_MAIN_PARTS.get(override.get("ContentType", ""))
        if kind and override.get("PartName", "").lstrip("/") in names:
            return kind
    return None


def _sniff_content_type(data: bytes) -> str | None:
    """The file's real type from its bytes, parsed, not merely its first bytes."""
    if data.startswith(b"%PDF-"):
        return PDF if _is_pdf(data) else None
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return DOC if _is_word_97(data) else None
    if data.startswith(b"PK\x03\x04"):
        return _ooxml_kind(data)
    return None


def _declared_kind_problem(content_type: str, declared_mime: str, name: str) -> str | None:
    """What the data URI's media type or the name's extension claim, where it contradicts the content."""
    kinds = {PDF: "PDF", DOC: "DOC", DOCX: "DOCX", XLSX: "XLSX"}
    declared_mime = declared_mime.lower()
    if declared_mime in kinds and declared_mime != content_type:
        return f"the data URI says {kinds[declared_mime]}, but the content is a {kinds[content_type]} document"
    extension = name[name.rfind(".") :].lower() if "." in name else ""
    if extension in _EXTENSIONS and _EXTENSIONS[extension] != content_type:
        return f"the name says {extension}, but the content is a {kinds[content_type]} document"
    return None


def _character(found: re.Match) -> str:
    return f"U+{ord(found.group()):04X} at position {found.start() + 1}"


def _name(value, pointer: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise AttachmentInvalid("name must be 1 to 255 characters", pointer=pointer)
    if found := _UNSAFE_IN_NAME.search(value):
        raise AttachmentInvalid(
            f"name must not contain control characters, bidi controls, / or \\ ({_character(found)})", pointer=pointer
        )
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
            raise AttachmentInvalid(
                "data must be a base64 data URI (data:application/pdf;base64,…)", pointer="/file/data"
            )
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
            raise AttachmentInvalid(
                "the file must be a PDF, DOC, DOCX or XLSX document that opens as one", pointer="/file/data"
            )
        if problem := _declared_kind_problem(content_type, match["mime"], name):
            raise AttachmentInvalid(problem, pointer="/file/data")
        return Attachment("file", name, content_type=content_type, data=data)
    if link is not None:
        if not isinstance(link, dict):
            raise AttachmentInvalid("link must be an object {name, data}", pointer="/link")
        name = _name(link.get("name"), "/link/name")
        url = link.get("data")
        if not isinstance(url, str):
            raise AttachmentInvalid("data must be an https URL", pointer="/link/data")
        # Checked before urlsplit, which silently drops tabs and line breaks from a URL.
        if found := _UNSAFE_IN_LINK.search(url):
            raise AttachmentInvalid(
                f"data must be an https URL without spaces or control characters ({_character(found)})",
                pointer="/link/data",
            )
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname or len(url) > 2000:
            raise AttachmentInvalid("data must be an https URL", pointer="/link/data")
        return Attachment("link", name, url=url)
    return None
