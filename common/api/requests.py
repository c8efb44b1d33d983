"""Reading a request strictly: query parameters, one uploaded file, the Idempotency-Key header."""

from __future__ import annotations

import re

from common.api.parsers import declared_length
from common.errors import InvalidRequest, PayloadTooLarge


def query_params(request, serializer_class) -> dict:
    """Validate query parameters strictly (unknown ones are a 400, like unknown body fields)."""
    raw = {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        if len(values) > 1:
            raise InvalidRequest(fields={key: ["Give this parameter once."]})
        raw[key] = values[0]
    ser = serializer_class(data=raw)
    ser.is_valid(raise_exception=True)
    return ser.validated_data


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
