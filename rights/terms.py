"""Canonical contract terms and their hash: what a performer's consent pins.

The canonical form is JSON with sorted keys, no insignificant whitespace,
UTF-8, lists sorted, datetimes in UTC ISO-8601 with a ``Z`` suffix. The same
terms always give the same SHA-256, whichever code path produced them.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

TERMS_VERSION = 1


def iso_utc(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime in contract terms")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_terms(
    *,
    performer: str,
    brand: str,
    platforms: list[str],
    banned_categories: list[str],
    languages: list[str],
    territories: list[str],
    valid_from: datetime,
    valid_until: datetime,
    currency: str,
    per_render: int,
    per_second: int,
    revenue_share_bps: int,
    max_renders: int,
    requires_approval: bool,
    notice_days: int,
) -> dict[str, Any]:
    return {
        "version": TERMS_VERSION,
        "performer": performer,
        "brand": brand,
        "platforms": sorted(set(platforms)),
        "banned_categories": sorted(set(banned_categories)),
        "languages": sorted(set(languages)),
        "territories": sorted(set(territories)),
        "valid_from": iso_utc(valid_from),
        "valid_until": iso_utc(valid_until),
        "royalty": {
            "currency": currency,
            "per_render": per_render,
            "per_second": per_second,
            "revenue_share_bps": revenue_share_bps,
        },
        "max_renders": max_renders,
        "requires_approval": requires_approval,
        "notice_days": notice_days,
    }


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def terms_hash(terms: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(terms)).hexdigest()
