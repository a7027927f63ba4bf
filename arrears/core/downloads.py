"""``Content-Disposition`` of every download, built one way (RFC 6266, RFC 8187).

A file's name comes from an ERP, a customer's document number or a reseller's data: it may hold quotes, semicolons,
line breaks or any script. The header carries it twice: ``filename*`` with the exact name percent-encoded as
UTF-8, which every current browser prefers, and a plain ``filename`` of ASCII letters, digits, ``.``, ``_`` and
``-`` for the rest. Neither can end the header or the parameter early.
"""

from urllib.parse import quote

FALLBACK_NAME = "download"


def ascii_fallback(name: str) -> str:
    fallback = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._-") else "_" for ch in name)
    return fallback if fallback.strip("._") else FALLBACK_NAME


def attachment_disposition(name: str) -> str:
    exact = quote(name.encode("utf-8", "replace"), safe="")
    return f"attachment; filename=\"{ascii_fallback(name)}\"; filename*=UTF-8''{exact}"
