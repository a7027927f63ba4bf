"""Errors with stable codes. Handlers render them; tests assert on ``code``, never on the message."""

from typing import NotRequired, TypedDict


class ErrorSource(TypedDict, total=False):
    """Where a JSON:API error object points: one of a body field, a query parameter or a header."""

    pointer: str
    parameter: str
    header: str


class ErrorObject(TypedDict):
    """A JSON:API error object as the API and the gateway views render it."""

    status: str
    code: str
    title: str
    detail: str
    source: NotRequired[ErrorSource]


class ArrearsError(Exception):
    code = "ARREARS-0000"
    status = 400
    title = "Request failed"

    def __init__(
        self,
        detail: str | None = None,
        *,
        pointer: str | None = None,
        parameter: str | None = None,
        header: str | None = None,
    ):
        self.detail = detail or self.title
        self.pointer = pointer  # the body field at fault, as a JSON pointer ("/amount/total")
        self.parameter = parameter  # or the query parameter ("filter[status]")
        self.header = header  # or the request header ("Idempotency-Key")
        super().__init__(f"{self.code}: {self.detail}")

    def as_dict(self) -> ErrorObject:
        error: ErrorObject = {"status": str(self.status), "code": self.code, "title": self.title, "detail": self.detail}
        source: ErrorSource = {}
        if self.pointer is not None:
            source["pointer"] = self.pointer
        if self.parameter is not None:
            source["parameter"] = self.parameter
        if self.header is not None:
            source["header"] = self.header
        if source:
            error["source"] = source
        return error


class ValidationFailed(ArrearsError):
    """Bad input; ``pointer`` names the field (R47)."""

    code = "VALIDATION-0001"
    title = "Invalid input"


class NotFound(ArrearsError):
    code = "NOT-FOUND-0404"
    status = 404
    title = "Not found"
