"""The HTTP layer's refusals under ``/api/``, as JSON:API errors with codes like every other answer.

Django and ninja refuse some requests before an operation runs — a body over the limit, a Host the site does not
serve, a method the route does not take — and answer them in HTML or plain text. An ERP's client parses every
answer of the API as JSON:API; these are no exception.

The body limit: an attachment may be 10 MB (``MAX_ATTACHMENT_BYTES``), which base64 makes about 13.4 MiB, and the
rest of the approval's body is small; ``MAX_API_BODY_BYTES`` leaves room for it and refuses anything larger by its
``Content-Length``, before a byte of it is read. A chunked body has no length to check in advance; the API asks
for one (411) rather than read an unbounded stream.
"""

from django.conf import settings
from django.core.exceptions import DisallowedHost, RequestDataTooBig
from django.http import HttpRequest, HttpResponse

from arrears.api.errors import BodyTooLarge, LengthRequired, RequestRefused
from arrears.api.jsonapi import MEDIA_TYPE, render_error
from arrears.core.errors import ArrearsError

API_PREFIX = "/api/"


def max_body_bytes() -> int:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _too_large() -> BodyTooLarge:
    limit = max_body_bytes()
    return BodyTooLarge(
        f"the body may be at most {limit} bytes ({limit // (1024 * 1024)} MiB): an attached file at most 10 MB",
        header="Content-Length",
    )


def _body_refusal(meta: dict) -> ArrearsError | None:
    if "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
        return LengthRequired("send the body with a Content-Length, not chunked", header="Transfer-Encoding")
    length = meta.get("CONTENT_LENGTH") or "0"
    if not (length.isascii() and length.isdigit()):
        return RequestRefused(400, "Content-Length must be a number of bytes", header="Content-Length")
    if int(length) > max_body_bytes():
        return _too_large()
    return None


class ApiRequestRefusals:
    """Refuses an API request whose body is too large or has no length, and rewrites a refusal that the
    framework answered in another format (ninja's 405 in plain text, say) into a JSON:API error."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        refusal = _body_refusal(request.META)
        if refusal is not None:
            return render_error(refusal)
        response = self.get_response(request)
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith(MEDIA_TYPE):
            return _as_json_api(response)
        return response


def _as_json_api(response: HttpResponse) -> HttpResponse:
    if response.status_code == 405:
        allowed = response.get("Allow", "")
        answer = render_error(RequestRefused(405, f"this route takes {allowed or 'no method'}", header="Allow"))
        answer["Allow"] = allowed
        return answer
    return render_error(RequestRefused(response.status_code, response.reason_phrase or "refused"))


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse | None:
    """Django's 400 (a ``SuspiciousOperation`` raised while reading the request) under ``/api/``; ``None``
    elsewhere, for the caller to answer as the site does."""
    if not request.path.startswith(API_PREFIX):
        return None
    if isinstance(exception, RequestDataTooBig):
        return render_error(_too_large())
    if isinstance(exception, DisallowedHost):
        return render_error(RequestRefused(400, "this server does not answer for that Host", header="Host"))
    return render_error(RequestRefused(400, "the request is malformed"))
