"""Timestamps as the API writes them: RFC 3339 / ISO 8601 in UTC with a ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(value: datetime | None) -> str | None:
    """``2026-01-02T03:04:05.123456Z`` for an aware datetime (converted to UTC),
    None for None. Naive datetimes are refused (``ValueError``): Doppel stores
    aware datetimes only (STYLE.md 9)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime: the API only writes aware timestamps")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
