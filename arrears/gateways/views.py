"""The connector's callback route: ``POST /connectors/<connector id>/callback`` (connector protocol v1).

Answers are JSON, errors in the JSON:API shape of the HTTP API with the CONNECTOR-… codes of
docs/payment-connectors.md; the connector decides from the status whether to retry.
"""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from arrears.core import clock
from arrears.core.errors import ArrearsError
from arrears.gateways.errors import ConnectorMessageInvalid
from arrears.gateways.services import receive_callback

MAX_CALLBACK_BYTES = 64 * 1024  # a callback is a few hundred bytes; anything near this is not one
JSON_API = "application/vnd.api+json"


def _error(exc: ArrearsError) -> JsonResponse:
    return JsonResponse({"errors": [exc.as_dict()]}, status=exc.status, content_type=JSON_API)


@csrf_exempt  # signed with the connector's secret instead: there is no browser and no session here
def connector_callback(request, connector_id: int):
    if request.method != "POST":
        response = _error(_MethodNotAllowed(f"{request.method} is not allowed here; POST the callback"))
        response["Allow"] = "POST"
        return response
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        length = MAX_CALLBACK_BYTES + 1
    if length > MAX_CALLBACK_BYTES:
        return _error(_TooLarge(f"a callback body is at most {MAX_CALLBACK_BYTES} bytes"))
    try:
        result = receive_callback(connector_id, request.body, request.headers, now=clock.wall_clock())
    except ArrearsError as exc:
        return _error(exc)
    return JsonResponse({"result": result})


class _MethodNotAllowed(ConnectorMessageInvalid):
    status = 405
    title = "Method not allowed"


class _TooLarge(ConnectorMessageInvalid):
    status = 413
    title = "Callback too large"
