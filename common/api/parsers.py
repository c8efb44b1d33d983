"""Strict, size-limited JSON: UTF-8, no NaN/Infinity, no duplicate keys, bounded nesting."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework import exceptions
from rest_framework.parsers import BaseParser

from common.errors import PayloadTooLarge


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
    """At most ``limit`` bytes of ``stream``; PayloadTooLarge if there are more."""
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
    """The API's JSON parser: 413 beyond DOPPEL_MAX_JSON_BYTES, before reading the body."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        limit = settings.DOPPEL_MAX_JSON_BYTES
        if request is not None and declared_length(request) > limit:
            raise PayloadTooLarge(f"The request body exceeds {limit} bytes.", limit=limit)
        return parse_json_bytes(read_limited(stream, limit))
