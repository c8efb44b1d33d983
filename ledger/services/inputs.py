"""Checks of the free text and metadata callers pass to the ledger's writes."""

from __future__ import annotations

from typing import Any

from common.errors import InvalidRequest
from ledger.log.leaf import LeafError, canonical_json

MAX_META_KEYS = 32


def check_text(value: Any, field: str, *, max_length: int = 200, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not allow_empty and not value.strip()) or len(value) > max_length \
            or "\x00" in value:
        raise InvalidRequest(fields={field: [f"A string of {0 if allow_empty else 1} to {max_length} characters."]})
    return value


def check_meta(meta: Any) -> dict[str, Any]:
    """A copy of ``meta``: at most 32 keys, values strings (≤ 200 characters),
    integers, booleans or null, all of it valid in a Merkle leaf."""
    if meta is None:
        return {}
    if not isinstance(meta, dict) or len(meta) > MAX_META_KEYS:
        raise InvalidRequest(fields={"meta": [f"An object of at most {MAX_META_KEYS} keys."]})
    for key, value in meta.items():
        if not isinstance(key, str) or len(key) > 64:
            raise InvalidRequest(fields={"meta": ["Keys are strings of at most 64 characters."]})
        if isinstance(value, str) and len(value) > 200:
            raise InvalidRequest(fields={"meta": [f"{key}: strings are at most 200 characters."]})
        if not (value is None or isinstance(value, bool | int | str)):
            raise InvalidRequest(fields={"meta": [f"{key}: only strings, integers, booleans and null."]})
    try:
        canonical_json(meta)
    except LeafError as exc:
        raise InvalidRequest(fields={"meta": [str(exc)]}) from None
    return dict(meta)
