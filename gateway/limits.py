"""Request limits that hold across every server process (they live in the DB).

* **Rate windows** — fixed one-minute counters per party and bucket
  (``RateBucket``): ``POST /generations`` per brand (``DOPPEL_RATE_LIMIT_PER_MINUTE``),
  ``POST /verify`` per caller (``DOPPEL_VERIFY_RATE_LIMIT_PER_MINUTE``). A party's
  keys share its bucket, so minting more keys does not multiply the budget.
* **In-flight generations** per brand (``DOPPEL_MAX_INFLIGHT_PER_BRAND``).
* **Verification slots** — at most ``DOPPEL_VERIFY_MAX_CONCURRENT`` verifications
  run at once across all processes and hosts sharing the database. A slot is a
  ``VerifySlot`` row leased with one conditional UPDATE (``lease_until`` in the
  past → ours), so two processes can never take the same one; it is freed when
  the verification ends, and a process that dies holding it loses it when its
  lease (``VERIFY_SLOT_LEASE``) runs out. Why the database and not a per-process
  semaphore: gunicorn runs several processes per host, and a cap per process
  would multiply with them; the cost is two or three short queries per
  verification, against seconds of CPU.

Each limit raises ``LimitExceeded`` (429 ``rate_limited`` with ``Retry-After``).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from gateway.exceptions import LimitExceeded
from gateway.models import IN_FLIGHT, Generation, RateBucket, RateWindow, VerifySlot
from rights.models import Party

WINDOW = timedelta(minutes=1)
# Longer than any verification the media-intake budget lets through; a slot whose
# holder died is free again after this.
VERIFY_SLOT_LEASE = timedelta(minutes=2)
# What a client told "all slots busy" should wait: verifications take seconds.
VERIFY_BUSY_RETRY_AFTER_S = 2

_NOUNS = {RateBucket.GENERATIONS: "generation requests", RateBucket.VERIFY: "verification requests"}


def _window_start(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


def _bucket_limit(bucket: RateBucket) -> int:
    if bucket == RateBucket.VERIFY:
        return settings.DOPPEL_VERIFY_RATE_LIMIT_PER_MINUTE
    return settings.DOPPEL_RATE_LIMIT_PER_MINUTE


def rate_limit_hit(*, party: Party, bucket: RateBucket = RateBucket.GENERATIONS, now: datetime | None = None,
                   limit: int | None = None) -> int:
    """Count one request of ``party`` in ``bucket``'s current one-minute window; return the
    count. Beyond ``limit`` (default: the bucket's setting) raise LimitExceeded with
    ``retry_after`` = seconds to the next window."""
    now = now or timezone.now()
    limit = limit or _bucket_limit(bucket)
    start = _window_start(now)
    count = _increment(party.id, bucket, start)
    if count is None:
        try:
            with transaction.atomic():
                RateWindow.objects.create(party=party, bucket=bucket, window_start=start, count=1)
                count = 1
        except IntegrityError:  # another process created the window first
            count = _increment(party.id, bucket, start)
    if count and count > limit:
        retry_after = max(1, int((start + WINDOW - now).total_seconds()) + 1)
        raise LimitExceeded(
            f"More than {limit} {_NOUNS[RateBucket(bucket)]} in a minute; retry in {retry_after} s.",
            retry_after=retry_after, limit=limit,
        )
    return count or 0


def _increment(party_id: str, bucket: str, start: datetime) -> int | None:
    """One round trip: bump the window and read the new count (PostgreSQL, SQLite ≥ 3.35)."""
    table = RateWindow._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET count = count + 1 WHERE party_id = %s AND bucket = %s "
                       f"AND window_start = %s RETURNING count",
                       [party_id, bucket, connection.ops.adapt_datetimefield_value(start)])
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


# --- concurrent verifications ---------------------------------------------------------------


def verify_slot_acquire(*, now: datetime | None = None, limit: int | None = None) -> tuple[int, str] | None:
    """Lease a free verification slot; return ``(slot, holder token)``, or None when all
    ``limit`` (default ``DOPPEL_VERIFY_MAX_CONCURRENT``) are leased. Each try is one
    autocommitted conditional UPDATE (or the INSERT that creates the slot on first use)."""
    now = now or timezone.now()
    limit = limit or settings.DOPPEL_VERIFY_MAX_CONCURRENT
    holder = uuid.uuid4().hex
    lease_until = now + VERIFY_SLOT_LEASE
    existing = set(VerifySlot.objects.filter(slot__lt=limit).values_list("slot", flat=True))
    for slot in range(limit):
        if slot in existing:
            taken = VerifySlot.objects.filter(slot=slot, lease_until__lte=now).update(
                holder=holder, lease_until=lease_until)
        else:
            try:
                with transaction.atomic():
                    VerifySlot.objects.create(slot=slot, holder=holder, lease_until=lease_until)
                taken = 1
            except IntegrityError:  # another process created it first; it is theirs
                taken = 0
        if taken:
            return slot, holder
    return None


def verify_slot_release(*, slot: int, holder: str, now: datetime | None = None) -> None:
    """Free ``slot`` if ``holder`` still has it (a lease taken over after expiry is left alone)."""
    VerifySlot.objects.filter(slot=slot, holder=holder).update(holder="", lease_until=now or timezone.now())


@contextlib.contextmanager
def verify_slot(*, now: datetime | None = None) -> Iterator[int]:
    """Run the block in a verification slot; raise LimitExceeded (``retry_after``
    ``VERIFY_BUSY_RETRY_AFTER_S``) when every slot is busy."""
    acquired = verify_slot_acquire(now=now)
    if acquired is None:
        limit = settings.DOPPEL_VERIFY_MAX_CONCURRENT
        raise LimitExceeded(
            f"{limit} verifications are already running; retry in {VERIFY_BUSY_RETRY_AFTER_S} s.",
            retry_after=VERIFY_BUSY_RETRY_AFTER_S, limit=limit, in_flight=limit,
        )
    slot, holder = acquired
    try:
        yield slot
    finally:
        verify_slot_release(slot=slot, holder=holder)
