"""Small documents of each kind an ERP may attach (PDF, DOC, DOCX, XLSX), written here byte by byte so that the
tests need no office suite, and each parses as what it claims to be."""

import base64
import io
import struct
import zipfile

PDF_MIME = "application/pdf"
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def data_uri(data: bytes, mime: str = PDF_MIME) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def pdf_bytes(*, size: int | None = None, objects: list[bytes] | None = None) -> bytes:
    """A one-page PDF with a correct cross-reference table; with ``size``, exactly that long (its content stream
    padded). ``objects`` replaces the catalog, page tree and page (objects 1, 2, 3, …) to build broken ones."""
    content = b"BT /F1 12 Tf 20 100 Td (Invoice) Tj ET"
    page_objects = objects or [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]/Contents 4 0 R>>",
    ]

    def build(padding: int) -> bytes:
        stream = content + b"\n" + b"%" * padding if padding else content
        parts = [*page_objects, b"<</Length %d>>\nstream\n%s\nendstream" % (len(stream), stream)]
        out = bytearray(b"%PDF-1.4\n")
        offsets = []
        for number, body in enumerate(parts, 1):
            offsets.append(len(out))
            out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(parts) + 1)
        out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
        out += b"trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(parts) + 1, xref)
        return bytes(out)

    if size is None:
        return build(0)
    # The padding changes the digits of /Length and of the offsets: settle it in a few rounds.
    padding = max(0, size - len(build(0)) - 1)
    for _ in range(5):
        data = build(padding)
        if len(data) == size:
            return data
        padding += size - len(data)
    raise ValueError(f"cannot build a PDF of exactly {size} bytes")


def _zip(entries: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        for name, text in entries.items():
            package.writestr(name, text)
    return buffer.getvalue()


def _content_types(part: str, content_type: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/{part}" ContentType="{content_type}"/></Types>'
    )


def docx_content_types() -> str:
    return _content_types(
        "word/document.xml", "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    )


def docx_bytes() -> bytes:
    """A Word document package: [Content_Types].xml names word/document.xml as its main part."""
    return _zip(
        {
            "[Content_Types].xml": docx_content_types(),
            "word/document.xml": '<?xml version="1.0"?><w:document '
            'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"/>',
        }
    )


def xlsx_bytes() -> bytes:
    """An Excel workbook package: [Content_Types].xml names xl/workbook.xml as its main part."""
    return _zip(
        {
            "[Content_Types].xml": _content_types(
                "xl/workbook.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
            ),
            "xl/workbook.xml": '<?xml version="1.0"?><workbook '
            'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>',
        }
    )


def zip_bytes(entries: dict[str, str]) -> bytes:
    """Any zip, e.g. one with a word/ folder but no content types, which is no Word document."""
    return _zip(entries)


_FREE, _END_OF_CHAIN, _FAT_SECTOR, _NO_STREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


def _directory_entry(
    name: str, kind: int, *, child: int = _NO_STREAM, start: int = _END_OF_CHAIN, size: int = 0
) -> bytes:
    encoded = (name + "\0").encode("utf-16-le") if name else b""
    return (
        encoded.ljust(64, b"\0")
        + struct.pack("<HBB3I", len(encoded), kind, 1, _NO_STREAM, _NO_STREAM, child)
        + b"\0" * 36
        + struct.pack("<IQ", start, size)
    )


def ole_bytes(stream: str = "WordDocument") -> bytes:
    """An OLE2 compound file (version 3, 512-byte sectors) holding one 4 KiB stream named ``stream``: a Word
    97-2003 document with the default name, an Excel 97 one with "Workbook"."""
    sector = 512
    data_sectors = 4096 // sector
    fat = [_FAT_SECTOR, _END_OF_CHAIN] + list(range(3, 2 + data_sectors)) + [_END_OF_CHAIN]
    fat += [_FREE] * (sector // 4 - len(fat))
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\0" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + b"\0" * 6
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, _END_OF_CHAIN, 0, _END_OF_CHAIN, 0)
        + struct.pack("<109I", 0, *([_FREE] * 108))
    )
    directory = (
        _directory_entry("Root Entry", 5, child=1)
        + _directory_entry(stream, 2, start=2, size=4096)
        + _directory_entry("", 0) * 2
    )
    return header + struct.pack(f"<{len(fat)}I", *fat) + directory + b"\x11" * 4096
