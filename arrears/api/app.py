"""The v3 HTTP API: one NinjaAPI, JSON:API errors with stable codes, and an OpenAPI 3.1 description that
lists every error each operation can answer."""

import functools
import logging

from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.renderers import JSONRenderer

from arrears.api.auth import TokenAuth
from arrears.api.errors import (
    IdempotencyKeyInFlight,
    IdempotencyKeyMalformed,
    IdempotencyKeyReused,
    InternalError,
    RouteNotFound,
    ScopeMissing,
    TokenMissingOrInvalid,
    TooManyRequests,
)
from arrears.api.jsonapi import MEDIA_TYPE, busy_response, render_error, render_errors
from arrears.api.operations import OPERATIONS, OperationErrors
from arrears.api.routes import erp, platform, reads
from arrears.api.schemas import QueryParameters
from arrears.core.errors import ArrearsError, ErrorObject, NotFound, ValidationFailed
from arrears.core.sqlite_backend.base import WriterBusy
from arrears.tenants.errors import ResellerNotFound

logger = logging.getLogger("arrears.api")

DESCRIPTION = """\
Wire-compatible with ActivePlatform's API v3 for Postpay invoices managed by a third-party ERP system.

* Authenticate with the header `X-Api-Token` (create one with `arrears token create --manager EMAIL`).
* Bodies are flat JSON objects; responses are JSON:API documents (`application/vnd.api+json`).
* Money is a decimal string in the currency's precision; dates are `YYYY-MM-DD`.
* Every error carries a stable `code`, and `source.pointer` (body) or `source.parameter` (query) names the
  field at fault. A refused call changes nothing.
* Every POST accepts `Idempotency-Key`: a retry with the same key and body within 24 hours replays the first
  response.
"""


class JsonApiRenderer(JSONRenderer):
    media_type = MEDIA_TYPE


class JsonObjectParser(Parser):
    """Bodies are JSON objects. Ninja would read a list or a scalar as an empty object and report every
    required field missing; refusing it here makes it the body-level error of ``http_error``."""

    def parse_body(self, request: HttpRequest):
        data = super().parse_body(request)
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object")
        return data


class ArrearsAPI(NinjaAPI):
    def get_openapi_schema(self, *args, **kwargs):
        schema = super().get_openapi_schema(*args, **kwargs)
        return document_errors(schema)


api = ArrearsAPI(
    title="Arrears API",
    version="3",
    description=DESCRIPTION,
    renderer=JsonApiRenderer(),
    parser=JsonObjectParser(),
    auth=TokenAuth(),
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url="/api/docs",
)


def refuse_unknown_query_parameters(view_func):
    """A query parameter the operation does not take answers 400 naming it: a dropped ``filter[stauts]`` would
    list every invoice, and an ERP that approves what the filter returned would approve them all. Runs after
    authentication and after ninja validated the parameters the operation knows."""

    @functools.wraps(view_func)
    def checked(request: HttpRequest, **values):
        known = [
            field.alias or name
            for value in values.values()
            if isinstance(value, QueryParameters)
            for name, field in type(value).model_fields.items()
        ]
        for parameter in request.GET:
            if parameter not in known:
                takes = f"it takes {', '.join(known)}" if known else "it takes none"
                raise (_operation_errors(request) or _ANY_OPERATION).field_error(
                    f"{parameter}: this operation has no such query parameter; {takes}", parameter=parameter
                )
        return view_func(request, **values)

    return checked


api.add_decorator(refuse_unknown_query_parameters, mode="operation")
for router in (erp.router, reads.router, platform.router):
    api.add_router("/api/v3/resellers", router)


# --- Errors ------------------------------------------------------------------------------------------------


def _operation_errors(request: HttpRequest) -> OperationErrors | None:
    match = getattr(request, "resolver_match", None)
    return OPERATIONS.get(match.url_name) if match and match.url_name else None


# Every route of the API registers its operation's codes; should one not, its bad input is refused with the
# generic codes rather than fail with a 500.
_ANY_OPERATION = OperationErrors(field_error=ValidationFailed, not_found=NotFound)


def _field_name(location: tuple) -> str:
    return "/".join(str(part) for part in location) or "body"


@api.exception_handler(ArrearsError)
def arrears_error(request: HttpRequest, exc: ArrearsError) -> HttpResponse:
    return render_error(exc)


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """Pydantic's findings as JSON:API errors with the operation's own code; a bad id in the path is a 404."""
    spec = _operation_errors(request) or _ANY_OPERATION
    errors: list[ErrorObject] = []
    for error in exc.errors:
        where, *location = error["loc"]
        message = (
            "unknown field: this call refuses what it does not know rather than ignore it"
            if error["type"] == "extra_forbidden"
            else error["msg"]
        )
        if where == "path":
            path_values = request.resolver_match.kwargs if request.resolver_match else {}
            value = path_values.get(location[0], error.get("input"))
            not_found = ResellerNotFound if location[0] == "reseller_id" else spec.not_found
            return render_error(not_found(f"no {location[0]} {value} is visible to this token"))
        if where == "body":
            field = location[1:]  # location[0] is the view's parameter name
            pointer = "/" + "/".join(str(part) for part in field) if field else ""
            if getattr(request, "jsonapi_attributes", False):  # the reference's {"data": {"attributes": …}}
                pointer, field = "/data/attributes" + pointer, ("data", "attributes", *field)
            error_class = spec.error_for_pointer(pointer)
            errors.append(error_class(f"{_field_name(field)}: {message}", pointer=pointer).as_dict())
        else:
            parameter = str(location[0]) if location else where
            errors.append(spec.field_error(f"{parameter}: {message}", parameter=parameter).as_dict())
    return render_errors(errors, status=400)


@api.exception_handler(AuthenticationError)
def authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return render_error(TokenMissingOrInvalid("send a valid API token in the X-Api-Token header", header="X-Api-Token"))


@api.exception_handler(WriterBusy)
def writer_busy(request: HttpRequest, exc: WriterBusy) -> HttpResponse:
    return busy_response(exc)


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    """Ninja's own refusals; the one that reaches here is a body that is not JSON."""
    spec = _operation_errors(request)
    if exc.status_code == 400 and spec is not None:
        return render_error(spec.field_error("the body must be a JSON object", pointer=""))
    return (
        render_error(InternalError(str(exc)))
        if exc.status_code >= 500
        else render_errors(
            [
                {
                    "status": str(exc.status_code),
                    "code": f"REQUEST-{exc.status_code:04d}",
                    "title": str(exc),
                    "detail": str(exc),
                }
            ],
            status=exc.status_code,
        )
    )


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return render_error(RouteNotFound())


@api.exception_handler(Exception)
def unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("unexpected error on %s %s", request.method, request.path)
    return render_error(InternalError("the server failed; nothing was changed"))


# --- OpenAPI -----------------------------------------------------------------------------------------------

ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorDocument"}
# Every route names a reseller: one out of the token's reach answers 404 RESELLER-0404 (R46).
COMMON_ERRORS = (TokenMissingOrInvalid, ScopeMissing, ResellerNotFound, TooManyRequests)
POST_ERRORS = (IdempotencyKeyMalformed, IdempotencyKeyReused, IdempotencyKeyInFlight)
IDEMPOTENCY_PARAMETER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "description": "Any string of up to 255 characters. A retry with the same key and body within 24 hours "
    "replays the first response.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}


def _error_response(errors: list[type[ArrearsError]]) -> dict:
    return {
        "description": "; ".join(f"`{error.code}` {error.title}" for error in errors),
        "content": {
            MEDIA_TYPE: {
                "schema": ERROR_SCHEMA,
                "examples": {
                    error.code: {"summary": error.title, "value": {"errors": [error().as_dict()]}} for error in errors
                },
            }
        },
    }


def _without_null(schema: dict) -> dict:
    """Query parameters cannot be null: ``anyOf [X, null]`` becomes X, ``anyOf [X, Y, null]`` ``anyOf [X, Y]``."""
    options = schema.get("anyOf")
    if options and {"type": "null"} in options:
        rest = dict(schema)
        options = [option for option in rest.pop("anyOf") if option != {"type": "null"}]
        return {**options[0], **rest} if len(options) == 1 else {"anyOf": options, **rest}
    return schema


def document_errors(schema: dict) -> dict:
    """Every operation answers its own errors plus authentication, scope and throttling ones; POSTs also the
    idempotency ones. Each error response lists its codes and shows each as an example."""
    for methods in schema["paths"].values():
        for method, operation in methods.items():
            spec = OPERATIONS[operation["operationId"]]
            # dict.fromkeys: one entry per error, though e.g. list routes name RESELLER-0404 themselves too.
            errors = dict.fromkeys([*spec.documented(), *COMMON_ERRORS, *(POST_ERRORS if method == "post" else ())])
            by_status: dict[int, list] = {}
            for error in errors:
                by_status.setdefault(error.status, []).append(error)
            responses = operation["responses"]
            for status, status_errors in sorted(by_status.items()):
                responses[str(status)] = _error_response(status_errors)
            responses["429"]["headers"] = {
                "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}
            }
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query":
                    parameter["schema"] = _without_null(parameter["schema"])
            if method == "post":
                operation.setdefault("parameters", []).append(IDEMPOTENCY_PARAMETER)
                for body in operation.get("requestBody", {}).get("content", {}).values():
                    operation["requestBody"]["content"] = {"application/json": body, MEDIA_TYPE: body}
                    break
    return schema
