"""Errors with stable codes. Handlers render them; tests assert on ``code``, never on the message."""


class ArrearsError(Exception):
    code = "ARREARS-0000"
    status = 400
    title = "Request failed"

    def __init__(self, detail: str | None = None, *, pointer: str | None = None, parameter: str | None = None,
                 header: str | None = None):
        self.detail = detail or self.title
        self.pointer = pointer  # the body field at fault, as a JSON pointer ("/amount/total")
        self.parameter = parameter  # or the query parameter ("filter[status]")
        self.header = header  # or the request header ("Idempotency-Key")
        super().__init__(f"{self.code}: {self.detail}")

    def as_dict(self) -> dict:
        error = {"status": str(self.status), "code": self.code, "title": self.title, "detail": self.detail}
        source = {name: value for name, value in (("pointer", self.pointer), ("parameter", self.parameter),
                                                  ("header", self.header)) if value is not None}
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

