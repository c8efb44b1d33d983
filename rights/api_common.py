"""What every API view shares: the error shape of shared/API.md, a size-limited
strict JSON parser, strict serializers and pagination."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import BaseParser
from rest_framework.response import Response

log = logging.getLogger(__name__)


class ApiError(exceptions.APIException):
    """An error with a stable code, rendered as ``{"error": {"code", "message", ...extra}}``."""

    status_code = 400
    code = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None, status_code: int | None = None, **extra: Any):
        self.code = code or self.code
        if status_code is not None:
            self.status_code = status_code
        self.message = message
        self.extra = extra
        super().__init__(detail=message, code=self.code)


class InvalidRequest(ApiError):
    status_code = 400
    code = "invalid_request"

    def __init__(self, message: str = "The request is invalid.", *, fields: dict | None = None, **extra: Any):
        super().__init__(message, fields=fields or {}, **extra)


class InvalidState(ApiError):
    status_code = 409
    code = "invalid_state"


class Forbidden(ApiError):
    status_code = 403
    code = "forbidden"


class PayloadTooLarge(ApiError):
    status_code = 413
    code = "payload_too_large"


class NotFound(ApiError):
    status_code = 404
    code = "not_found"

    def __init__(self, message: str = "Not found.", **extra: Any):
        super().__init__(message, **extra)


def error_body(code: str, message: str, **extra: Any) -> dict:
    return {"error": {"code": code, "message": message, **extra}}


def _flatten(detail: Any) -> Any:
    """DRF ErrorDetail trees → plain lists/dicts of strings."""
    if isinstance(detail, dict):
        return {str(k): _flatten(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_flatten(v) for v in detail]
    return str(detail)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ApiError):
        resp = Response(error_body(exc.code, exc.message, **exc.extra), status=exc.status_code)
        if exc.status_code == 429 and "retry_after" in exc.extra:
            resp["Retry-After"] = str(int(exc.extra["retry_after"]))
        return resp
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
    from rest_framework.views import (
        exception_handler as drf_exception_handler,  # circular at import
    )

    return drf_exception_handler(exc, context)


# --- parsing ----------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def read_limited(stream, limit: int) -> bytes:
    data = stream.read(limit + 1) if stream is not None else b""
    if len(data) > limit:
        raise PayloadTooLarge(f"The request body exceeds {limit} bytes.", limit=limit)
    return data


def parse_json_bytes(data: bytes) -> Any:
    """Strict JSON: UTF-8, no NaN/Infinity, no duplicate keys, bounded nesting."""
    if not data.strip():
        raise exceptions.ParseError("The request body is empty; a JSON object is expected.")
    try:
        text = data.decode("utf-8")
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys)
    except UnicodeDecodeError:
        raise exceptions.ParseError("The request body is not UTF-8.") from None
    except RecursionError:
        raise exceptions.ParseError("The JSON is nested too deeply.") from None
    except ValueError as exc:
        raise exceptions.ParseError(f"Malformed JSON: {exc}") from None


def declared_length(request) -> int:
    """The request's Content-Length, 0 when absent or garbled (the body read is bounded anyway)."""
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


class LimitedJSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        limit = settings.DOPPEL_MAX_JSON_BYTES
        if request is not None and declared_length(request) > limit:
            raise PayloadTooLarge(f"The request body exceeds {limit} bytes.", limit=limit)
        return parse_json_bytes(read_limited(stream, limit))


def single_upload(request, *, field: str, limit: int, noun: str):
    """The one file of a multipart request: refused early when oversized (413),
    missing, or accompanied by unknown fields (400)."""
    if declared_length(request) > limit + 64 * 1024:  # room for the multipart framing
        raise PayloadTooLarge(f"The {noun} exceeds {limit} bytes.", limit=limit)
    upload = request.FILES.get(field)
    if upload is None:
        raise InvalidRequest(fields={field: [f"Upload the {noun} as multipart field '{field}'."]})
    extra = sorted(set(request.data.keys()) - {field})
    if extra:
        raise InvalidRequest(fields={k: ["Unknown field."] for k in extra})
    if upload.size > limit:
        raise PayloadTooLarge(f"The {noun} exceeds {limit} bytes.", limit=limit)
    return upload


_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def idempotency_key_header(request) -> str:
    """The required Idempotency-Key header: 1-255 visible ASCII characters, else 400."""
    key = request.headers.get("Idempotency-Key", "")
    if not _IDEMPOTENCY_KEY.match(key):
        raise InvalidRequest("An Idempotency-Key header (1-255 visible ASCII characters) is required.",
                             fields={"Idempotency-Key": ["Required: 1-255 visible ASCII characters."]})
    return key


# --- serializers ------------------------------------------------------------------


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know: a typo must not silently drop a term."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": [f"Expected a JSON object, got {type(data).__name__}."]}
            )
        unknown = sorted(set(data) - set(self.fields))
        errors: dict[str, list[str]] = {name: ["Unknown field."] for name in unknown}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
            errors = {**detail, **errors}
            raise serializers.ValidationError(errors) from None
        if errors:
            raise serializers.ValidationError(errors)
        return value


class StrictIntegerField(serializers.IntegerField):
    """An integer that is a JSON integer: no "12", no 12.0, no true."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if "\x00" in data:
            raise serializers.ValidationError("NUL characters are not allowed.")
        return super().to_internal_value(data)


class CursorishPagination(CursorPagination):
    """Stable cursor pagination (no OFFSET scans, no duplicates while rows arrive)."""

    ordering = ("-created_at", "id")
    page_size_query_param = "limit"
    max_page_size = 200

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            value = int(raw)
        except ValueError:
            raise InvalidRequest(fields={"limit": ["Must be an integer."]}) from None
        if not 1 <= value <= self.max_page_size:
            raise InvalidRequest(fields={"limit": [f"Must be between 1 and {self.max_page_size}."]})
        return value

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            raise InvalidRequest(fields={"cursor": ["Invalid cursor."]}) from None


def not_found() -> NotFound:
    return NotFound()


__all__ = [
    "ApiError", "InvalidRequest", "InvalidState", "Forbidden", "PayloadTooLarge", "NotFound",
    "StrictSerializer", "StrictIntegerField", "StrictBooleanField", "StrictCharField",
    "CursorishPagination", "LimitedJSONParser", "exception_handler", "error_body", "status",
]


def paginated_response(*, request, view, queryset, serialize, ordering: tuple[str, ...] | None = None):
    """One page of ``queryset`` as ``{"next", "previous", "results"}``."""
    paginator = CursorishPagination()
    if ordering is not None:
        paginator.ordering = ordering
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serialize(page))
