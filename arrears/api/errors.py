"""Errors of the API layer itself: authentication, scopes, throttling and idempotency keys."""

from arrears.core.errors import ArrearsError


class TokenMissingOrInvalid(ArrearsError):
    code = "AUTH-0001"
    status = 401
    title = "Missing or invalid API token"


class ScopeMissing(ArrearsError):
    code = "AUTH-0003"
    status = 403
    title = "The token's scopes do not allow this operation"


class TooManyRequests(ArrearsError):
    code = "RATE-0429"
    status = 429
    title = "Too many requests"


class IdempotencyKeyReused(ArrearsError):
    code = "IDEMPOTENCY-0001"
    status = 422
    title = "Idempotency-Key reused with a different request"


class IdempotencyKeyInFlight(ArrearsError):
    code = "IDEMPOTENCY-0002"
    status = 409
    title = "A request with this Idempotency-Key is still running"


class IdempotencyKeyMalformed(ArrearsError):
    code = "IDEMPOTENCY-0003"
    status = 400
    title = "Malformed Idempotency-Key"


class RouteNotFound(ArrearsError):
    code = "REQUEST-0404"
    status = 404
    title = "No such route"


class ServiceBusy(ArrearsError):
    """A write could not start within its bound (SQLite's one writer is busy, e.g. with a billing day)."""

    code = "SERVER-0503"
    status = 503
    title = "Busy, try again shortly"


class InternalError(ArrearsError):
    code = "SERVER-0500"
    status = 500
    title = "Internal error"


class RequestRefused(ArrearsError):
    """A refusal of the HTTP layer under ``/api/``, before any operation ran: a Host the site does not serve, a
    method the route does not take, a body too large or without a length. Its code carries the status."""

    code = "REQUEST-0400"
    status = 400
    title = "Request refused"

    def __init__(self, status: int, detail: str, *, header: str | None = None):
        self.status = status
        self.code = f"REQUEST-{status:04d}"
        super().__init__(detail, header=header)


class BodyTooLarge(ArrearsError):
    code = "REQUEST-0413"
    status = 413
    title = "Request body too large"


class LengthRequired(ArrearsError):
    code = "REQUEST-0411"
    status = 411
    title = "Content-Length required"
