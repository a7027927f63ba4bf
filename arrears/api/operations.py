"""What each operation answers when it fails, in one place: used to render validation errors with the
operation's own code and to document every error response in ``/openapi.json``."""

from dataclasses import dataclass, field

from arrears.api.schemas import ErrorDocument
from arrears.core.errors import ArrearsError, NotFound


@dataclass(frozen=True)
class OperationErrors:
    field_error: type[ArrearsError]  # bad input in the body or the query
    not_found: type[NotFound]  # an id in the path that the token cannot see
    errors: tuple[type[ArrearsError], ...] = ()  # what the services may refuse with
    # Bad input under a body pointer with a code of its own, e.g. "/amount" → INVOICE-0106.
    pointer_errors: dict[str, type[ArrearsError]] = field(default_factory=dict)

    def error_for_pointer(self, pointer: str) -> type[ArrearsError]:
        for prefix, error in self.pointer_errors.items():
            if pointer == prefix or pointer.startswith(prefix + "/"):
                return error
        return self.field_error

    def documented(self) -> tuple[type[ArrearsError], ...]:
        return (self.field_error, *self.pointer_errors.values(), self.not_found, *self.errors)


OPERATIONS: dict[str, OperationErrors] = {}


def operation(
    name: str,
    *,
    document,
    statuses: tuple[int, ...] = (200,),
    field_error: type[ArrearsError],
    not_found: type[NotFound],
    errors: tuple[type[ArrearsError], ...] = (),
    pointer_errors: dict[str, type[ArrearsError]] | None = None,
    summary: str | None = None,
) -> dict:
    """Register operation ``name`` and return the keyword arguments of its ninja route decorator."""
    OPERATIONS[name] = OperationErrors(field_error, not_found, errors, pointer_errors or {})
    responses = {**dict.fromkeys(statuses, document), 400: ErrorDocument, 404: ErrorDocument}
    return {"url_name": name, "operation_id": name, "response": responses, "summary": summary}
