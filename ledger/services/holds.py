"""Holds: a render's unit of quota reserved at acceptance, then posted or voided.

``hold_create`` reserves one unit of the contract's quota (``rights.quota``) and
records the expected royalty; ``hold_post`` books the royalty of the delivered
render and turns the held unit into a used one; ``hold_void`` (failure,
revocation) and ``holds_sweep`` (expiry) give the unit back, charging nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import connection as db_connection
from django.utils import timezone

from common.errors import InvalidRequest, InvalidState
from ledger import conf
from ledger.exceptions import CountersInconsistent, HoldNotFound, HoldNotOpen, QuotaExceeded
from ledger.models import (
    Account,
    AccountPurpose,
    Hold,
    HoldStatus,
    PlatformFee,
    Transaction,
    TransactionKind,
)
from ledger.services.idempotency import (
    check_key,
    fingerprint,
    replayed,
    replayed_transaction,
    write_or_replay,
)
from ledger.services.inputs import check_meta, check_text
from ledger.services.money import billed_seconds, duration_to_ms, royalty_split
from ledger.services.posting import fixed_sql, split_statements, transaction_write
from rights.models import Contract, Party
from rights.quota import contract_quota_release, contract_quota_reserve, quota_consume_statement

log = logging.getLogger(__name__)

__all__ = ["hold_create", "hold_post", "hold_transaction_id", "hold_void", "holds_sweep"]

MAX_PLATFORM_LENGTH = Hold._meta.get_field("platform").max_length


def hold_create(
    *,
    contract: Contract,
    reference: str,
    idempotency_key: str,
    expected_seconds: float | None = None,
    meta: dict | None = None,
    expires_at: datetime | None = None,
    platform: str | None = None,
) -> Hold:
    """Reserve one unit of ``contract``'s quota and record the expected royalty.

    ``platform`` (which decides the platform fee) defaults to ``meta["platform"]``
    when that is a string; given, it is also stored in ``meta`` (a different
    ``meta["platform"]`` is refused). The reservation is one conditional UPDATE
    (``rights.quota.contract_quota_reserve``): concurrent holds queue on the
    contract row and re-check, so they can never exceed the quota; the CHECK on
    Contract is the backstop. Raises ``QuotaExceeded`` when no unit is left."""
    key = check_key(idempotency_key)
    reference = check_text(reference, "reference")
    meta = check_meta(meta)
    platform = _hold_platform(platform, meta)
    expected = None if expected_seconds is None else billed_seconds(duration_to_ms(expected_seconds))
    request_hash = fingerprint("hold_create", contract=contract.pk, reference=reference, expected_seconds=expected,
                               meta=meta)
    now = timezone.now()
    if expires_at is None:
        expires_at = now + conf.hold_ttl()
    elif timezone.is_naive(expires_at) or expires_at <= now:
        raise InvalidRequest(fields={"expires_at": ["An aware datetime in the future."]})
    expected_amount = contract.royalty_per_render + contract.royalty_per_second * (expected or 0)

    def write() -> Hold:
        if not contract_quota_reserve(contract_id=contract.pk):
            replay = _replayed_hold(key, request_hash)  # a replay must not read as "quota full"
            if replay is not None:
                return replay
            raise QuotaExceeded(f"Contract {contract.pk} has no render left of its quota.")
        return Hold.objects.create(
            contract=contract, reference=reference, currency=contract.currency, expected_seconds=expected,
            expected_amount=expected_amount, platform=platform, meta=meta, expires_at=expires_at,
            idempotency_key=key, request_hash=request_hash, created_at=now,
        )

    def refused() -> Exception | None:
        if Hold.objects.filter(reference=reference).exists():
            return InvalidState(f"A hold for reference {reference!r} already exists.")
        return None

    return write_or_replay(write, replay=lambda: _replayed_hold(key, request_hash), refused=refused)


def _hold_platform(platform: str | None, meta: dict) -> str | None:
    """The hold's platform. A given one is also written into ``meta``, where it was
    kept before the column existed, so readers of ``meta`` still find it."""
    in_meta = meta.get("platform")
    if platform is None:  # callers that pass it in ``meta`` only
        return in_meta if isinstance(in_meta, str) and len(in_meta) <= MAX_PLATFORM_LENGTH else None
    check_text(platform, "platform", max_length=MAX_PLATFORM_LENGTH)
    if meta.setdefault("platform", platform) != platform:
        raise InvalidRequest(fields={"platform": ["Differs from meta.platform."]})
    return platform


def _replayed_hold(key: str, request_hash: str) -> Hold | None:
    return replayed(Hold.objects.filter(idempotency_key=key), request_hash, what="hold")


def _hold_id(hold: Hold | str) -> str:
    if isinstance(hold, Hold):
        return hold.id
    if isinstance(hold, str) and hold:
        return hold
    raise InvalidRequest(fields={"hold": ["A hold or a hold id."]})


def hold_transaction_id(*, hold: Hold | str) -> str:
    """The id the hold's royalty transaction has, or will have once posted."""
    if isinstance(hold, Hold):
        return hold.royalty_transaction_id
    value = Hold.objects.filter(pk=_hold_id(hold)).values_list("royalty_transaction_id", flat=True).first()
    if value is None:
        raise HoldNotFound("No such hold.")
    return value


def hold_post(*, hold: Hold | str, duration_s: float, idempotency_key: str) -> Transaction:
    """Book the royalty of a delivered render, in one transaction with all its legs:

    brand receivable (debit: performer + P&H + fee) / performer payable, union
    P&H, platform fee (credits); and move the unit from ``renders_held`` to
    ``renders_used``. Posting an already-posted hold returns its transaction;
    a voided hold raises ``HoldNotOpen``.

    Hot path (PostgreSQL: three round trips): BEGIN + one locking SELECT (hold,
    contract, parties, fee, account ids); two INSERTs and two UPDATEs (the quota
    one is ``rights.quota.quota_consume_statement``) in one pipeline; COMMIT. All
    fixed, prepared SQL. A reused key needs no lookup first: the unique index on
    ``Transaction.idempotency_key`` refuses it and ``write_or_replay`` replays."""
    key = check_key(idempotency_key)
    hold_id = _hold_id(hold)
    duration_ms = duration_to_ms(duration_s)
    request_hash = fingerprint("hold_post", hold=hold_id, duration_ms=duration_ms)

    def write() -> Transaction:
        locked = _locked_for_posting(hold_id)
        if locked is None:
            raise HoldNotFound("No such hold.")
        if locked.status == HoldStatus.POSTED:
            return replayed_transaction(key, request_hash) or Transaction.objects.get(hold_id=hold_id)
        if locked.status == HoldStatus.VOIDED:
            raise HoldNotOpen(f"Hold {hold_id} was voided ({locked.void_reason}); it cannot be posted.")
        return _post_locked_hold(locked, hold_id, duration_ms=duration_ms, key=key, request_hash=request_hash)

    # Posted concurrently under another key: that posting stands.
    return write_or_replay(write, replay=lambda: replayed_transaction(key, request_hash)
                           or Transaction.objects.filter(hold_id=hold_id).first())


@dataclass(frozen=True)
class _PostingContext:
    """A locked hold with everything booking its royalty needs (one query)."""

    status: str
    void_reason: str
    reference: str
    currency: str
    royalty_transaction_id: str
    platform: str | None
    contract_id: str
    brand_id: str
    performer_id: str
    per_render: int
    per_second: int
    union_id: str | None
    union_ph_bps: int | None
    configured_fee_bps: int | None
    receivable_id: str | None
    payable_id: str | None
    pension_health_id: str | None
    platform_fee_id: str | None


def _posting_context_sql(vendor: str) -> str:
    account = (f"(SELECT a.id FROM {Account._meta.db_table} a WHERE a.party_id = {{party}} "
               "AND a.purpose = '{purpose}' AND a.currency = h.currency)")
    return f"""
SELECT h.status, h.void_reason, h.reference, h.currency, h.royalty_transaction_id, h.platform,
       c.id, c.brand_id, c.performer_id, c.royalty_per_render, c.royalty_per_second, p.union_id,
       u.pension_health_bps,
       (SELECT f.fee_bps FROM {PlatformFee._meta.db_table} f WHERE f.platform = h.platform),
       {account.format(party="c.brand_id", purpose=AccountPurpose.RECEIVABLE)},
       {account.format(party="c.performer_id", purpose=AccountPurpose.PAYABLE)},
       {account.format(party="p.union_id", purpose=AccountPurpose.PENSION_HEALTH)},
       (SELECT a.id FROM {Account._meta.db_table} a WHERE a.party_id IS NULL
          AND a.purpose = '{AccountPurpose.PLATFORM_FEE}' AND a.currency = h.currency)
FROM {Hold._meta.db_table} h
JOIN {Contract._meta.db_table} c ON c.id = h.contract_id
JOIN {Party._meta.db_table} p ON p.id = c.performer_id
LEFT JOIN {Party._meta.db_table} u ON u.id = p.union_id
WHERE h.id = %s{" FOR UPDATE OF h" if vendor == "postgresql" else ""}
"""


_POSTING_CONTEXT_SQL = {vendor: _posting_context_sql(vendor) for vendor in ("postgresql", "sqlite")}


def _locked_for_posting(hold_id: str) -> _PostingContext | None:
    """Lock the hold (PostgreSQL: FOR UPDATE; SQLite: the write lock of the
    IMMEDIATE transaction) and read its contract, performer, union, configured
    fee and the ids of the four accounts its royalty touches (None if new)."""
    [(_, row)] = fixed_sql([(_POSTING_CONTEXT_SQL[db_connection.vendor], [hold_id])])
    return None if row is None else _PostingContext(*row)


def _post_locked_hold(hold: _PostingContext, hold_id: str, *, duration_ms: int, key: str,
                      request_hash: str) -> Transaction:
    seconds = billed_seconds(duration_ms)
    performer_amount = hold.per_render + hold.per_second * seconds
    split = royalty_split(currency=hold.currency, performer_amount=performer_amount, union_id=hold.union_id,
                          union_ph_bps=hold.union_ph_bps, fee_bps=hold.configured_fee_bps)
    currency = hold.currency
    known = {
        (hold.brand_id, AccountPurpose.RECEIVABLE, currency): hold.receivable_id,
        (hold.performer_id, AccountPurpose.PAYABLE, currency): hold.payable_id,
        (hold.union_id, AccountPurpose.PENSION_HEALTH, currency): hold.pension_health_id,
        (None, AccountPurpose.PLATFORM_FEE, currency): hold.platform_fee_id,
    }
    txn, statements = split_statements(
        split=split, brand_id=hold.brand_id, performer_id=hold.performer_id, contract_id=hold.contract_id,
        kind=TransactionKind.ROYALTY, key=key, request_hash=request_hash, hold_id=hold_id,
        reference=hold.reference, transaction_id=hold.royalty_transaction_id, known_accounts=known,
        meta={"duration_ms": duration_ms, "billed_seconds": seconds, "per_render": hold.per_render,
              "per_second": hold.per_second, "platform": hold.platform},
    )
    results = transaction_write([
        *statements,
        quota_consume_statement(hold.contract_id),
        (_MARK_POSTED, [HoldStatus.POSTED, db_connection.ops.adapt_datetimefield_value(timezone.now()), duration_ms,
                        hold_id]),
    ])
    if results[-2][0] != 1:  # the atomic block rolls everything back
        raise _counters_inconsistent(hold.contract_id)
    return txn


def _counters_inconsistent(contract_id: str) -> CountersInconsistent:
    return CountersInconsistent(f"Contract {contract_id} holds no render; its quota counters are inconsistent.")


_MARK_POSTED = f"UPDATE {Hold._meta.db_table} SET status = %s, posted_at = %s, duration_ms = %s WHERE id = %s"


def hold_void(*, hold: Hold | str, reason: str, idempotency_key: str) -> Hold:
    """Release an open hold's quota unit; nothing is charged. Voiding a voided hold
    returns it; a posted hold cannot be voided (reverse its transaction instead)."""
    key = check_key(idempotency_key)
    reason = check_text(reason, "reason")
    hold_id = _hold_id(hold)
    request_hash = fingerprint("hold_void", hold=hold_id, reason=reason)
    replay = _replayed_void(key, request_hash)
    if replay is not None:
        return replay

    def write() -> Hold:
        locked = Hold.objects.select_for_update().filter(pk=hold_id).first()
        if locked is None:
            raise HoldNotFound("No such hold.")
        if locked.status == HoldStatus.VOIDED:
            return locked
        if locked.status == HoldStatus.POSTED:
            raise HoldNotOpen(f"Hold {hold_id} is posted; reverse its transaction instead of voiding it.")
        Hold.objects.filter(pk=hold_id).update(
            status=HoldStatus.VOIDED, voided_at=timezone.now(), void_reason=reason, void_idempotency_key=key,
            void_request_hash=request_hash,
        )
        if not contract_quota_release(contract_id=locked.contract_id):
            raise _counters_inconsistent(locked.contract_id)
        return Hold.objects.get(pk=hold_id)

    return write_or_replay(write, replay=lambda: _replayed_void(key, request_hash))


def _replayed_void(key: str, request_hash: str) -> Hold | None:
    return replayed(Hold.objects.filter(void_idempotency_key=key), request_hash, hash_field="void_request_hash",
                    what="void")


def holds_sweep(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Void open holds past ``expires_at`` (one short transaction each); return how many.

    A hold posted meanwhile is left alone: the row lock decides which came first."""
    now = now or timezone.now()
    expired = list(
        Hold.objects.filter(status=HoldStatus.OPEN, expires_at__lte=now)
        .order_by("expires_at").values_list("id", flat=True)[:limit]
    )
    voided = 0
    for hold_id in expired:
        key = f"sweep:{hold_id}"
        try:
            hold = hold_void(hold=hold_id, reason="expired", idempotency_key=key)
        except HoldNotOpen:
            continue
        voided += hold.void_idempotency_key == key
    if voided:
        log.info("ledger: swept %d expired holds", voided)
    return voided

