"""The one exception handler: every error leaves the API as
``{"error": {"code", "message", ...extra}}`` (shared/API.md "Errors").

Domain errors (``common.errors``) are mapped to a status by class; DRF's own
exceptions (authentication, parsing, validation, throttling…) to the same shape.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from common import errors

log = logging.getLogger(__name__)

# Most specific first: the first class an error is an instance of gives its status.
STATUS_OF: tuple[tuple[type[errors.DomainError], int], ...] = (
    (errors.InvalidRequest, 400),
    (errors.PaymentRequired, 402),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.InvalidState, 409),
    (errors.Conflict, 409),
    (errors.PayloadTooLarge, 413),
    (errors.RateLimited, 429),
    (errors.ServiceUnavailable, 503),
)


def status_of(exc: errors.DomainError) -> int:
    """The HTTP status a domain error is answered with (400 for an unmapped one)."""
    explicit = getattr(exc, "http_status", None)
    if explicit is not None:
        return explicit
    for cls, status in STATUS_OF:
        if isinstance(exc, cls):
            return status
    return 400


def error_body(code: str, message: str, **extra: Any) -> dict:
    return {"error": {"code": code, "message": message, **extra}}


def _flatten(detail: Any) -> Any:
    """DRF ErrorDetail trees → plain lists/dicts of strings."""
    if isinstance(detail, dict):
        return {str(k): _flatten(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_flatten(v) for v in detail]
    return str(detail)


def domain_error_response(exc: errors.DomainError) -> Response:
    status = status_of(exc)
    resp = Response(error_body(exc.code, exc.message, **exc.extra), status=status)
    if "retry_after" in exc.extra:  # a 429, or a 409 for something not ready yet (RFC 9110 §10.2.3)
        resp["Retry-After"] = str(int(exc.extra["retry_after"]))
    return resp


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, errors.DomainError):
        return domain_error_response(exc)
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("payload_too_large", "The request body is too large."), status=413)
    if isinstance(exc, Http404 | exceptions.NotFound):
        return Response(error_body("not_found", "Not found."), status=404)
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        if not isinstance(fields, dict):
            fields = {"non_field_errors": fields if isinstance(fields, list) else [fields]}
        return Response(
            error_body("invalid_request", "The request is invalid; see fields.", fields=fields), status=400
        )
    if isinstance(exc, exceptions.ParseError):
        return Response(
            error_body("invalid_request", str(exc.detail), fields={"body": [str(exc.detail)]}), status=400
        )
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        resp = Response(error_body("unauthenticated", str(exc.detail)), status=401)
        resp["WWW-Authenticate"] = 'Bearer realm="doppel"'
        return resp
    if isinstance(exc, exceptions.Throttled):
        wait = int(exc.wait or 1)
        resp = Response(
            error_body("rate_limited", "Too many requests; retry later.", retry_after=wait), status=429
        )
        resp["Retry-After"] = str(wait)
        return resp
    if isinstance(exc, exceptions.PermissionDenied):
        return Response(error_body("forbidden", str(exc.detail)), status=403)
    if isinstance(exc, exceptions.MethodNotAllowed):
        return Response(error_body("method_not_allowed", str(exc.detail)), status=405)
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return Response(
            error_body("invalid_request", str(exc.detail), fields={"content_type": [str(exc.detail)]}),
            status=415,
        )
    if isinstance(exc, exceptions.NotAcceptable):
        return Response(error_body("not_acceptable", str(exc.detail)), status=406)
    if isinstance(exc, exceptions.APIException):
        return Response(error_body(getattr(exc, "default_code", "error"), str(exc.detail)), status=exc.status_code)
    response = drf_exception_handler(exc, context)
    if response is not None:
        return response
    # A bug: log it with its traceback and still answer in the API's shape (never an HTML page).
    view = context.get("view")
    log.error("unhandled %s in %s", type(exc).__name__, type(view).__name__ if view else "a view", exc_info=exc)
    set_rollback()
    return Response(error_body(*INTERNAL_ERROR), status=500)


INTERNAL_ERROR = ("internal_error", "Something went wrong on our side; it has been logged. Please retry later.")


def api_not_found(request, exception=None):
    """``handler404``: JSON in the API's shape under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    return defaults.page_not_found(request, exception)


def api_server_error(request):
    """``handler500``: an error outside DRF's handler (middleware, URL resolution) under
    /api/ is still JSON in the API's shape."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(*INTERNAL_ERROR), status=500)
    return defaults.server_error(request)
