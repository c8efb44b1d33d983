"""Per-brand request limits that hold across every server process (they live in the DB)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from gateway.exceptions import LimitExceeded
from gateway.models import IN_FLIGHT, Generation, RateWindow
from rights.models import Party

WINDOW = timedelta(minutes=1)


def _window_start(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


def rate_limit_hit(*, brand: Party, now: datetime | None = None, limit: int | None = None) -> int:
    """Count one request in the brand's current window; raise LimitExceeded beyond the limit."""
    now = now or timezone.now()
    limit = limit or settings.DOPPEL_RATE_LIMIT_PER_MINUTE
    start = _window_start(now)
    count = _increment(brand.id, start)
    if count is None:
        try:
            with transaction.atomic():
                RateWindow.objects.create(brand=brand, window_start=start, count=1)
                count = 1
        except IntegrityError:  # another process created the window first
            count = _increment(brand.id, start)
    if count and count > limit:
        retry_after = max(1, int((start + WINDOW - now).total_seconds()) + 1)
        raise LimitExceeded(
            f"More than {limit} generation requests in a minute; retry in {retry_after} s.",
            retry_after=retry_after, limit=limit,
        )
    return count or 0


def _increment(brand_id: str, start: datetime) -> int | None:
    """One round trip: bump the window and read the new count (PostgreSQL, SQLite ≥ 3.35)."""
    table = RateWindow._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET count = count + 1 WHERE brand_id = %s AND window_start = %s "
                       f"RETURNING count", [brand_id, connection.ops.adapt_datetimefield_value(start)])
        row = cursor.fetchone()
    return row[0] if row else None


def inflight_check(*, brand: Party, limit: int | None = None) -> None:
    limit = limit or settings.DOPPEL_MAX_INFLIGHT_PER_BRAND
    inflight = Generation.objects.filter(brand=brand, status__in=IN_FLIGHT).count()
    if inflight >= limit:
        raise LimitExceeded(
            f"{inflight} generations are already in flight (limit {limit}); wait for some to finish.",
            retry_after=5, limit=limit, in_flight=inflight,
        )


def rate_windows_purge(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    deleted, _ = RateWindow.objects.filter(window_start__lt=now - timedelta(minutes=10)).delete()
    return deleted
