"""Ledger writes: holds, royalties, revenue shares, reversals, and the log sequencer.

Every write takes an idempotency key. The key and a fingerprint of the request
are stored *in the row the write creates* (``Hold.idempotency_key``,
``Hold.void_idempotency_key``, ``Transaction.idempotency_key``, all unique), in
the same database transaction: a replay returns that row; the same key with a
different request raises ``IdempotencyConflict``. Two concurrent requests with
one key cannot both write: the unique index lets one win and the other replays.

Money
-----
* Amounts are integer minor units of the contract's currency.
* A render's billed seconds: the duration is first rounded half-up to whole
  milliseconds (so float noise such as 5.0000000001 s does not bill a sixth
  second), then every started second counts: ``ceil(ms / 1000)``.
* performer = per_render + per_second × billed seconds.
* union P&H = performer × bps / 10,000, rounded half-up (only when the
  performer belongs to a union; the union's ``pension_health_bps``, else
  DOPPEL_DEFAULT_PH_BPS).
* platform fee = performer × bps / 10,000, rounded half-up (``PlatformFee`` for
  the hold's platform, else DOPPEL_PLATFORM_FEE_BPS).
* The brand's receivable is debited performer + P&H + fee: both are charged on
  top; the performer's amount is never reduced. Zero-amount P&H and fee legs
  are left out; the brand and performer legs are always written, so every
  delivered render is in the log even under a zero-royalty contract.

The log
-------
A trigger queues every committed transaction in ``LogPending``; writers never
touch the tree. ``log_sequence`` (a django-q2 schedule every minute, nudged
after commits and called on demand by the proof endpoint) takes a short lock on
the one ``LogState`` row, appends up to ``max_batch`` leaves, stores the
perfect subtrees they complete, moves the batch into the balance checkpoints,
and signs one tree head per batch. See docs/ledger.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError
from django.db import connection as db_connection
from django.db import transaction as db_transaction
from django.db.models import F, Q
from django.utils import timezone

from common.errors import InvalidRequest, InvalidState
from ledger import conf, merkle
from ledger.checkpoint import checkpoint_text, sign_note
from ledger.exceptions import (
    AlreadyReversed,
    CountersInconsistent,
    CurrencyMismatch,
    HoldNotFound,
    HoldNotOpen,
    InvalidAmount,
    InvalidPosting,
    QuotaExceeded,
    TransactionNotFound,
    UnbalancedTransaction,
    UnknownAccount,
)
from ledger.exceptions import LedgerIdempotencyConflict as IdempotencyConflict
from ledger.keys import log_signer
from ledger.leaf import LeafError, canonical_json, leaf_hash_of_text, leaf_text
from ledger.models import (
    MAX_AMOUNT,
    PURPOSE_OWNER,
    Account,
    AccountPurpose,
    BalanceCheckpoint,
    Hold,
    HoldStatus,
    LogLeaf,
    LogNode,
    LogPending,
    LogState,
    PlatformFee,
    Posting,
    Side,
    Transaction,
    TransactionKind,
    TreeHead,
    new_transaction_id,
    node_key,
)
from ledger.selectors import leaf_documents, royalty_summary
from rights.models import Contract, Party

log = logging.getLogger(__name__)

__all__ = [
    "AlreadyReversed", "CurrencyMismatch", "HoldNotFound", "HoldNotOpen", "IdempotencyConflict", "InvalidAmount",
    "InvalidPosting", "Leg", "QuotaExceeded", "RoyaltyBreakdown", "UnbalancedTransaction", "UnknownAccount",
    "account_get_or_create", "billed_seconds", "bps_of", "duration_to_ms", "hold_create", "hold_post",
    "hold_transaction_id", "hold_void", "holds_sweep", "log_sequence", "log_sequence_soon",
    "revenue_share_book", "royalty_breakdown", "royalty_summary", "transaction_record", "transaction_reverse",
]

# --- input checks -----------------------------------------------------------------------

MAX_KEY_LENGTH = 255
MAX_DURATION_S = 24 * 3600
MAX_META_KEYS = 32


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidRequest(fields={"idempotency_key": [f"A printable string of 1 to {MAX_KEY_LENGTH} characters."]})
    return key


def _check_text(value: Any, field: str, *, max_length: int = 200, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not allow_empty and not value.strip()) or len(value) > max_length \
            or "\x00" in value:
        raise InvalidRequest(fields={field: [f"A string of {0 if allow_empty else 1} to {max_length} characters."]})
    return value


def _check_meta(meta: Any) -> dict[str, Any]:
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


def _fingerprint(operation: str, **fields: Any) -> str:
    text = json.dumps({"op": operation, **fields}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _hold_id(hold: Hold | str) -> str:
    if isinstance(hold, Hold):
        return hold.id
    if isinstance(hold, str) and hold:
        return hold
    raise InvalidRequest(fields={"hold": ["A hold or a hold id."]})


# --- money ------------------------------------------------------------------------------


def duration_to_ms(duration_s: Any) -> int:
    """Seconds (int or float) → whole milliseconds, rounded half-up."""
    if isinstance(duration_s, bool) or not isinstance(duration_s, int | float | Decimal):
        raise InvalidRequest(fields={"duration_s": ["A number of seconds."]})
    try:
        value = Decimal(str(duration_s))
    except InvalidOperation:
        raise InvalidRequest(fields={"duration_s": ["A number of seconds."]}) from None
    if not value.is_finite() or value < 0 or value > MAX_DURATION_S:
        raise InvalidRequest(fields={"duration_s": [f"Between 0 and {MAX_DURATION_S} seconds."]})
    return int((value * 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def billed_seconds(duration_ms: int) -> int:
    """Every started second counts."""
    return -(-duration_ms // 1000)


def bps_of(amount: int, bps: int) -> int:
    """``amount × bps / 10,000`` rounded half-up, in integers (amount, bps ≥ 0)."""
    return (amount * bps + 5000) // 10000


@dataclass(frozen=True)
class RoyaltyBreakdown:
    currency: str
    performer_amount: int
    union_amount: int
    fee_amount: int
    union_id: str | None
    ph_bps: int | None
    fee_bps: int

    @property
    def total(self) -> int:
        return self.performer_amount + self.union_amount + self.fee_amount


def _fee_bps(platform: str | None) -> int:
    if platform:
        configured = PlatformFee.objects.filter(platform=platform).values_list("fee_bps", flat=True).first()
        if configured is not None:
            return configured
    return conf.platform_fee_bps()


def royalty_breakdown(
    *, contract: Contract, performer_amount: int, platform: str | None = None, fee_bps: int | None = None
) -> RoyaltyBreakdown:
    """Split what the brand pays for ``performer_amount``: P&H and fee come on top.
    ``fee_bps`` if known, else the fee configured for ``platform``."""
    union = contract.performer.union
    ph_bps = None
    if union is not None:
        ph_bps = union.pension_health_bps if union.pension_health_bps is not None else conf.default_pension_health_bps()
    return _split(currency=contract.currency, performer_amount=performer_amount, union_id=union.id if union else None,
                  ph_bps=ph_bps, fee_bps=_fee_bps(platform) if fee_bps is None else fee_bps)


def _split(*, currency: str, performer_amount: int, union_id: str | None, ph_bps: int | None,
           fee_bps: int) -> RoyaltyBreakdown:
    breakdown = RoyaltyBreakdown(
        currency=currency, performer_amount=performer_amount,
        union_amount=bps_of(performer_amount, ph_bps) if union_id else 0,
        fee_amount=bps_of(performer_amount, fee_bps), union_id=union_id, ph_bps=ph_bps if union_id else None,
        fee_bps=fee_bps,
    )
    if breakdown.total > MAX_AMOUNT:
        raise InvalidAmount("The royalty is too large to book.", fields={"amount": ["Exceeds 2^53 - 1 minor units."]})
    return breakdown


# --- accounts and transactions ---------------------------------------------------------


def account_get_or_create(*, party: Party | None, purpose: str, currency: str) -> Account:
    """The account for (party, purpose, currency), created on first use."""
    owner_kind = PURPOSE_OWNER.get(purpose, "any")
    if owner_kind != "any" and (party.kind if party else None) != owner_kind:
        raise InvalidPosting(
            f"A {purpose} account belongs to {'the platform' if owner_kind is None else 'a ' + owner_kind}.",
            fields={"account": [f"Wrong owner for a {purpose} account."]},
        )
    key = (party.id if party else None, purpose, currency)
    return _accounts_for([key])[key]


def _accounts_for(keys: Sequence[tuple[str | None, str, str]]) -> dict[tuple[str | None, str, str], Account]:
    """Accounts by (party id, purpose, currency): one query, plus one insert per missing one."""
    wanted = set(keys)
    q = Q()
    for party_id, purpose, currency in wanted:
        q |= Q(party_id=party_id, purpose=purpose, currency=currency) if party_id else \
            Q(party__isnull=True, purpose=purpose, currency=currency)
    found = {(a.party_id, a.purpose, a.currency): a for a in Account.objects.filter(q)}
    for key in wanted - found.keys():
        party_id, purpose, currency = key
        try:
            with db_transaction.atomic():
                found[key] = Account.objects.create(party_id=party_id, purpose=purpose, currency=currency)
        except IntegrityError:  # created concurrently
            found[key] = Account.objects.get(party_id=party_id, purpose=purpose, currency=currency)
    return found


@dataclass(frozen=True)
class Leg:
    """One posting to be written: ``account`` is an Account or an account id."""

    account: Account | str
    side: str
    amount: int
    currency: str

    @property
    def account_id(self) -> str:
        return self.account.id if isinstance(self.account, Account) else self.account


@dataclass(frozen=True)
class AccountRef:
    """What leg validation needs of an account, without building a model instance."""

    id: str
    currency: str


def _validate_legs(legs: Sequence[Leg], accounts: dict[str, Account | AccountRef]) -> None:
    if len(legs) < 2:
        raise UnbalancedTransaction("A transaction needs at least two postings.",
                                    fields={"postings": ["At least two postings."]})
    if len(legs) > 1000:
        raise InvalidPosting("Too many postings.", fields={"postings": ["At most 1000 postings."]})
    net: dict[str, int] = defaultdict(int)
    gross: dict[str, int] = defaultdict(int)
    for i, leg in enumerate(legs):
        account = accounts.get(leg.account_id)
        if account is None:
            raise UnknownAccount(f"Unknown account {leg.account_id!r}.", fields={f"postings[{i}].account": ["Unknown account."]})
        if leg.side not in (Side.DEBIT, Side.CREDIT):
            raise InvalidPosting("A posting is a debit or a credit.", fields={f"postings[{i}].side": ["debit or credit."]})
        if isinstance(leg.amount, bool) or not isinstance(leg.amount, int) or not 0 <= leg.amount <= MAX_AMOUNT:
            raise InvalidAmount(
                "Amounts are integers of minor units, from 0 to 2^53 - 1.",
                fields={f"postings[{i}].amount": ["A non-negative integer of minor units."]},
            )
        if leg.currency != account.currency:
            raise CurrencyMismatch(
                f"Account {account.id} is kept in {account.currency}, not {leg.currency}.",
                fields={f"postings[{i}].currency": [f"The account's currency is {account.currency}."]},
            )
        net[leg.currency] += leg.amount if leg.side == Side.DEBIT else -leg.amount
        gross[leg.currency] += leg.amount
    unbalanced = sorted(c for c, v in net.items() if v)
    if unbalanced:
        raise UnbalancedTransaction(
            f"Debits and credits differ in {', '.join(unbalanced)}.",
            fields={"postings": [f"Debits must equal credits in {c}." for c in unbalanced]},
        )
    if any(v > MAX_AMOUNT for v in gross.values()):
        raise InvalidAmount("The transaction is too large.", fields={"postings": ["Total exceeds 2^53 - 1."]})


def _transaction_statements(
    *,
    kind: str,
    legs: Sequence[Leg],
    accounts: dict[str, Account | AccountRef],
    idempotency_key: str,
    request_hash: str,
    contract_id: str | None = None,
    hold_id: str | None = None,
    reverses_id: str | None = None,
    reference: str = "",
    meta: dict[str, Any] | None = None,
    transaction_id: str | None = None,
) -> tuple[Transaction, list[tuple[str, list[Any]]]]:
    """Validate the legs; return the transaction (not yet written) and the two
    fixed INSERTs that write it: its postings, then the row that seals them (see
    migration 0002). No ORM query compilation: this is the hot path."""
    _validate_legs(legs, accounts)
    now = timezone.now()
    txn_id = transaction_id or new_transaction_id()
    meta = meta or {}
    at = db_connection.ops.adapt_datetimefield_value(now)
    posting_params: list[Any] = []
    for leg in legs:
        posting_params += [txn_id, leg.account_id, leg.side, leg.amount, leg.currency, at]
    statements = [
        (_INSERT_POSTINGS + ", ".join([_POSTING_ROW] * len(legs)), posting_params),
        (_INSERT_TRANSACTION, [txn_id, kind, contract_id, hold_id, reverses_id, reference, json.dumps(meta),
                               len(legs), idempotency_key, request_hash, at]),
    ]
    txn = Transaction(
        id=txn_id, kind=kind, contract_id=contract_id, hold_id=hold_id, reverses_id=reverses_id,
        reference=reference, meta=meta, posting_count=len(legs), idempotency_key=idempotency_key,
        request_hash=request_hash, created_at=now,
    )
    txn._state.adding, txn._state.db = False, db_connection.alias
    return txn, statements


def _insert_transaction(**kwargs: Any) -> Transaction:
    """Write a transaction and its postings. Must run inside an atomic block."""
    txn, statements = _transaction_statements(**kwargs)
    _fixed_sql(statements)
    return txn


def _fixed_sql(statements: Sequence[tuple[str, Sequence[Any]]]) -> list[tuple[int, tuple | None]]:
    """Run fixed statements of the posting path; return (rowcount, first row) of each.

    PostgreSQL: on Django's own connection (so inside the same database
    transaction), prepared once per connection — PostgreSQL plans them once
    instead of on every posting (Django binds client-side and re-plans each
    time; for the context SELECT that is ~0.9 ms of server CPU against 0.1 ms
    prepared) — and sent as one pipeline: one round trip for the group, BEGIN
    included. Errors are Django's (``wrap_database_errors``). These statements
    bypass Django's cursor wrapper, so query logging does not show them; behind
    a transaction-pooling PgBouncer older than 1.21 named prepared statements
    do not work. SQLite: Django's cursor, one statement at a time."""
    with db_connection.wrap_database_errors:
        if db_connection.vendor != "postgresql":
            out = []
            with db_connection.cursor() as cursor:
                for sql, params in statements:
                    cursor.execute(sql, params)
                    out.append((cursor.rowcount, cursor.fetchone() if cursor.description else None))
            return out
        import psycopg

        db_connection.ensure_connection()
        raw = db_connection.connection
        if raw.prepare_threshold is None:
            # Django sets None, which disables preparing on the connection. Its own
            # cursors bind client-side and never prepare whatever this says; a huge
            # threshold allows only our explicit prepare=True, nothing automatic.
            raw.prepare_threshold = 2**31 - 1
        cursors = [psycopg.Cursor(raw) for _ in statements]
        try:
            if psycopg.Pipeline.is_supported():
                with raw.pipeline():
                    for cursor, (sql, params) in zip(cursors, statements, strict=True):
                        cursor.execute(sql, params, prepare=True)
            else:
                for cursor, (sql, params) in zip(cursors, statements, strict=True):
                    cursor.execute(sql, params, prepare=True)
            return [(c.rowcount, c.fetchone() if c.description else None) for c in cursors]
        finally:
            for cursor in cursors:
                cursor.close()


_INSERT_POSTINGS = (
    f"INSERT INTO {Posting._meta.db_table} (transaction_id, account_id, side, amount, currency, created_at) VALUES "
)
_POSTING_ROW = "(%s, %s, %s, %s, %s, %s)"
_INSERT_TRANSACTION = (
    f"INSERT INTO {Transaction._meta.db_table} (id, kind, contract_id, hold_id, reverses_id, reference, meta, "
    "posting_count, idempotency_key, request_hash, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def _replayed_transaction(key: str, fingerprint: str) -> Transaction | None:
    txn = Transaction.objects.filter(idempotency_key=key).first()
    if txn is not None and txn.request_hash != fingerprint:
        raise IdempotencyConflict("This idempotency key was used for a different request.")
    return txn


def transaction_record(
    *,
    kind: str,
    legs: Sequence[Leg],
    idempotency_key: str,
    reference: str = "",
    meta: dict[str, Any] | None = None,
    contract: Contract | None = None,
) -> Transaction:
    """Book a free-form balanced transaction (payouts, adjustments by staff)."""
    key = _check_key(idempotency_key)
    if kind not in (TransactionKind.PAYOUT, TransactionKind.ADJUSTMENT):
        raise InvalidRequest(fields={"kind": ["Only payout and adjustment transactions are recorded directly."]})
    reference = _check_text(reference, "reference", allow_empty=True)
    meta = _check_meta(meta)
    fingerprint = _fingerprint(
        "transaction_record", kind=kind, reference=reference, meta=meta,
        contract=contract.pk if contract else None,
        legs=[[leg.account_id, leg.side, leg.amount, leg.currency] for leg in legs],
    )
    replay = _replayed_transaction(key, fingerprint)
    if replay is not None:
        return replay
    accounts = {a.id: a for a in Account.objects.filter(id__in=[leg.account_id for leg in legs])}
    try:
        with db_transaction.atomic():
            txn = _insert_transaction(
                kind=kind, legs=legs, accounts=accounts, idempotency_key=key, request_hash=fingerprint,
                contract_id=contract.pk if contract else None, reference=reference, meta=meta,
            )
    except IntegrityError:
        replay = _replayed_transaction(key, fingerprint)
        if replay is None:
            raise
        return replay
    log_sequence_soon()
    return txn


# --- holds ------------------------------------------------------------------------------


def hold_create(
    *,
    contract: Contract,
    reference: str,
    idempotency_key: str,
    expected_seconds: float | None = None,
    meta: dict | None = None,
    expires_at: datetime | None = None,
) -> Hold:
    """Reserve one unit of ``contract``'s quota and record the expected royalty.

    The reservation is one conditional UPDATE (``renders_held + renders_used <
    max_renders``): concurrent holds queue on the contract row and re-check, so
    they can never exceed the quota; the CHECK on Contract is the backstop.
    Raises ``QuotaExceeded`` when no unit is left."""
    key = _check_key(idempotency_key)
    reference = _check_text(reference, "reference")
    meta = _check_meta(meta)
    expected = None if expected_seconds is None else billed_seconds(duration_to_ms(expected_seconds))
    fingerprint = _fingerprint("hold_create", contract=contract.pk, reference=reference, expected_seconds=expected,
                               meta=meta)
    now = timezone.now()
    if expires_at is None:
        expires_at = now + conf.hold_ttl()
    elif timezone.is_naive(expires_at) or expires_at <= now:
        raise InvalidRequest(fields={"expires_at": ["An aware datetime in the future."]})
    expected_amount = contract.royalty_per_render + contract.royalty_per_second * (expected or 0)
    try:
        with db_transaction.atomic():
            reserved = Contract.objects.filter(
                pk=contract.pk, renders_held__lt=F("max_renders") - F("renders_used")
            ).update(renders_held=F("renders_held") + 1)
            if not reserved:
                replay = _replayed_hold(key, fingerprint)  # a replay must not read as "quota full"
                if replay is not None:
                    return replay
                raise QuotaExceeded(f"Contract {contract.pk} has no render left of its quota.")
            hold = Hold.objects.create(
                contract=contract, reference=reference, currency=contract.currency, expected_seconds=expected,
                expected_amount=expected_amount, meta=meta, expires_at=expires_at, idempotency_key=key,
                request_hash=fingerprint, created_at=now,
            )
    except IntegrityError:
        replay = _replayed_hold(key, fingerprint)
        if replay is not None:
            return replay
        if Hold.objects.filter(reference=reference).exists():
            raise InvalidState(f"A hold for reference {reference!r} already exists.") from None
        raise
    return hold


def _replayed_hold(key: str, fingerprint: str) -> Hold | None:
    hold = Hold.objects.filter(idempotency_key=key).first()
    if hold is not None and hold.request_hash != fingerprint:
        raise IdempotencyConflict("This idempotency key was used for a different hold.")
    return hold


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
    contract, parties, fee, account ids); two INSERTs and two UPDATEs in one
    pipeline; COMMIT. All fixed, prepared SQL. A reused key needs no lookup first:
    the unique index on ``Transaction.idempotency_key`` refuses it and the
    handler replays."""
    key = _check_key(idempotency_key)
    hold_id = _hold_id(hold)
    duration_ms = duration_to_ms(duration_s)
    fingerprint = _fingerprint("hold_post", hold=hold_id, duration_ms=duration_ms)
    try:
        with db_transaction.atomic():
            locked = _locked_for_posting(hold_id)
            if locked is None:
                raise HoldNotFound("No such hold.")
            if locked.status == HoldStatus.POSTED:
                return _replayed_transaction(key, fingerprint) or Transaction.objects.get(hold_id=hold_id)
            if locked.status == HoldStatus.VOIDED:
                raise HoldNotOpen(f"Hold {hold_id} was voided ({locked.void_reason}); it cannot be posted.")
            txn = _post_locked_hold(locked, hold_id, duration_ms=duration_ms, key=key, fingerprint=fingerprint)
    except IntegrityError:
        replay = _replayed_transaction(key, fingerprint)
        if replay is not None:
            return replay
        existing = Transaction.objects.filter(hold_id=hold_id).first()
        if existing is not None:  # posted concurrently under another key
            return existing
        raise
    log_sequence_soon()
    return txn


@dataclass(frozen=True)
class _PostingContext:
    """A locked hold with everything booking its royalty needs (one query)."""

    status: str
    void_reason: str
    reference: str
    currency: str
    royalty_transaction_id: str
    meta: dict[str, Any]
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
    platform = "h.meta ->> 'platform'" if vendor == "postgresql" else "json_extract(h.meta, '$.platform')"
    account = (f"(SELECT a.id FROM {Account._meta.db_table} a WHERE a.party_id = {{party}} "
               "AND a.purpose = '{purpose}' AND a.currency = h.currency)")
    return f"""
SELECT h.status, h.void_reason, h.reference, h.currency, h.royalty_transaction_id, h.meta,
       c.id, c.brand_id, c.performer_id, c.royalty_per_render, c.royalty_per_second, p.union_id,
       u.pension_health_bps,
       (SELECT f.fee_bps FROM {PlatformFee._meta.db_table} f WHERE f.platform = {platform}),
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
    [(_, row)] = _fixed_sql([(_POSTING_CONTEXT_SQL[db_connection.vendor], [hold_id])])
    if row is None:
        return None
    row = list(row)
    if isinstance(row[5], str):  # SQLite returns the JSON text
        row[5] = json.loads(row[5])
    return _PostingContext(*row)


def _post_locked_hold(hold: _PostingContext, hold_id: str, *, duration_ms: int, key: str,
                      fingerprint: str) -> Transaction:
    seconds = billed_seconds(duration_ms)
    performer_amount = hold.per_render + hold.per_second * seconds
    platform = (hold.meta or {}).get("platform")
    platform = platform if isinstance(platform, str) else None
    fee_bps = hold.configured_fee_bps if hold.configured_fee_bps is not None else conf.platform_fee_bps()
    ph_bps = None
    if hold.union_id:
        ph_bps = hold.union_ph_bps if hold.union_ph_bps is not None else conf.default_pension_health_bps()
    split = _split(currency=hold.currency, performer_amount=performer_amount, union_id=hold.union_id,
                   ph_bps=ph_bps, fee_bps=fee_bps)
    currency = hold.currency
    known = {
        (hold.brand_id, AccountPurpose.RECEIVABLE, currency): hold.receivable_id,
        (hold.performer_id, AccountPurpose.PAYABLE, currency): hold.payable_id,
        (hold.union_id, AccountPurpose.PENSION_HEALTH, currency): hold.pension_health_id,
        (None, AccountPurpose.PLATFORM_FEE, currency): hold.platform_fee_id,
    }
    txn, statements = _split_statements(
        split=split, brand_id=hold.brand_id, performer_id=hold.performer_id, contract_id=hold.contract_id,
        kind=TransactionKind.ROYALTY, key=key, fingerprint=fingerprint, hold_id=hold_id, reference=hold.reference,
        transaction_id=hold.royalty_transaction_id, known_accounts=known,
        meta={"duration_ms": duration_ms, "billed_seconds": seconds, "per_render": hold.per_render,
              "per_second": hold.per_second, "platform": platform},
    )
    results = _fixed_sql([
        *statements,
        (_MOVE_HELD_TO_USED, [hold.contract_id]),
        (_MARK_POSTED, [HoldStatus.POSTED, db_connection.ops.adapt_datetimefield_value(timezone.now()), duration_ms,
                        hold_id]),
    ])
    if results[-2][0] != 1:  # the atomic block rolls everything back
        raise CountersInconsistent(f"Contract {hold.contract_id} holds no render; its quota counters are inconsistent.")
    return txn


_MOVE_HELD_TO_USED = (
    f"UPDATE {Contract._meta.db_table} SET renders_held = renders_held - 1, renders_used = renders_used + 1 "
    "WHERE id = %s AND renders_held >= 1"
)
_MARK_POSTED = f"UPDATE {Hold._meta.db_table} SET status = %s, posted_at = %s, duration_ms = %s WHERE id = %s"


def _split_statements(
    *, split: RoyaltyBreakdown, brand_id: str, performer_id: str, contract_id: str, kind: str, key: str,
    fingerprint: str, meta: dict[str, Any], hold_id: str | None = None, reference: str = "",
    transaction_id: str | None = None, known_accounts: dict[tuple[str | None, str, str], str | None] | None = None,
) -> tuple[Transaction, list[tuple[str, list[Any]]]]:
    """The split as legs: brand receivable debit; performer payable, union P&H and
    platform fee credits. Returns the transaction and its statements, unwritten."""
    currency = split.currency
    receivable = (brand_id, AccountPurpose.RECEIVABLE, currency)
    payable = (performer_id, AccountPurpose.PAYABLE, currency)
    pension = (split.union_id, AccountPurpose.PENSION_HEALTH, currency)
    fee = (None, AccountPurpose.PLATFORM_FEE, currency)
    wanted = [receivable, payable] + ([pension] if split.union_amount else []) + ([fee] if split.fee_amount else [])
    ids = {k: (known_accounts or {}).get(k) for k in wanted}
    missing = [k for k in wanted if not ids[k]]
    if missing:
        ids.update({k: account.id for k, account in _accounts_for(missing).items()})
    # The ids were looked up by (party, purpose, currency), so each is kept in ``currency``.
    accounts = {ids[k]: AccountRef(ids[k], currency) for k in wanted}
    legs = [Leg(ids[receivable], Side.DEBIT, split.total, currency),
            Leg(ids[payable], Side.CREDIT, split.performer_amount, currency)]
    if split.union_amount:
        legs.append(Leg(ids[pension], Side.CREDIT, split.union_amount, currency))
    if split.fee_amount:
        legs.append(Leg(ids[fee], Side.CREDIT, split.fee_amount, currency))
    meta = {**meta, "currency": currency, "ph_bps": split.ph_bps, "fee_bps": split.fee_bps,
            "performer_amount": split.performer_amount, "union_amount": split.union_amount,
            "fee_amount": split.fee_amount, "total": split.total}
    return _transaction_statements(
        kind=kind, legs=legs, accounts=accounts, idempotency_key=key, request_hash=fingerprint,
        contract_id=contract_id, hold_id=hold_id, reference=reference, meta=meta, transaction_id=transaction_id,
    )


def hold_void(*, hold: Hold | str, reason: str, idempotency_key: str) -> Hold:
    """Release an open hold's quota unit; nothing is charged. Voiding a voided hold
    returns it; a posted hold cannot be voided (reverse its transaction instead)."""
    key = _check_key(idempotency_key)
    reason = _check_text(reason, "reason")
    hold_id = _hold_id(hold)
    fingerprint = _fingerprint("hold_void", hold=hold_id, reason=reason)
    replay = Hold.objects.filter(void_idempotency_key=key).first()
    if replay is not None:
        if replay.void_request_hash != fingerprint:
            raise IdempotencyConflict("This idempotency key was used for a different void.")
        return replay
    try:
        with db_transaction.atomic():
            locked = Hold.objects.select_for_update().filter(pk=hold_id).first()
            if locked is None:
                raise HoldNotFound("No such hold.")
            if locked.status == HoldStatus.VOIDED:
                return locked
            if locked.status == HoldStatus.POSTED:
                raise HoldNotOpen(f"Hold {hold_id} is posted; reverse its transaction instead of voiding it.")
            now = timezone.now()
            Hold.objects.filter(pk=hold_id).update(
                status=HoldStatus.VOIDED, voided_at=now, void_reason=reason, void_idempotency_key=key,
                void_request_hash=fingerprint,
            )
            released = Contract.objects.filter(pk=locked.contract_id, renders_held__gte=1).update(
                renders_held=F("renders_held") - 1
            )
            if released != 1:
                raise CountersInconsistent(f"Contract {locked.contract_id} holds no render; its quota counters are inconsistent.")
    except IntegrityError:
        replay = Hold.objects.filter(void_idempotency_key=key).first()
        if replay is not None and replay.void_request_hash != fingerprint:
            raise IdempotencyConflict("This idempotency key was used for a different void.") from None
        if replay is None:
            raise
    return Hold.objects.get(pk=hold_id)


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


# --- revenue share and reversals -------------------------------------------------------


def revenue_share_book(
    *, contract: Contract, gross: int, currency: str, period_start: date, period_end: date, idempotency_key: str
) -> Transaction:
    """Book the performer's share of a brand's reported sales for a period.

    share = gross × revenue_share_bps / 10,000 (half-up); P&H and the default
    platform fee come on top, as for royalties."""
    key = _check_key(idempotency_key)
    if isinstance(gross, bool) or not isinstance(gross, int) or not 1 <= gross <= MAX_AMOUNT:
        raise InvalidRequest(fields={"gross": ["A positive integer of minor units."]})
    if not isinstance(currency, str):
        raise InvalidRequest(fields={"currency": ["An ISO 4217 code."]})
    if not (isinstance(period_start, date) and isinstance(period_end, date)) \
            or isinstance(period_start, datetime) or isinstance(period_end, datetime):
        raise InvalidRequest(fields={"period_start": ["Dates (YYYY-MM-DD)."]})
    if period_end < period_start:
        raise InvalidRequest(fields={"period_end": ["Must not precede period_start."]})
    fingerprint = _fingerprint("revenue_share", contract=contract.pk, gross=gross, currency=currency,
                               period_start=period_start.isoformat(), period_end=period_end.isoformat())
    replay = _replayed_transaction(key, fingerprint)
    if replay is not None:
        return replay
    contract = Contract.objects.select_related("performer__union").get(pk=contract.pk)
    if currency != contract.currency:
        raise CurrencyMismatch(f"Contract {contract.pk} pays in {contract.currency}, not {currency}.",
                               fields={"currency": [f"The contract's currency is {contract.currency}."]})
    if contract.accepted_at is None:
        raise InvalidState("The contract was never accepted; it has no revenue to share.")
    if not contract.revenue_share_bps:
        raise InvalidState("The contract has no revenue share.")
    if period_start >= contract.valid_until.date() or period_end < contract.valid_from.date():
        raise InvalidRequest(fields={"period_start": ["The period lies outside the contract's validity."]})
    share = bps_of(gross, contract.revenue_share_bps)
    split = royalty_breakdown(contract=contract, performer_amount=share, platform=None)
    try:
        with db_transaction.atomic():
            txn, statements = _split_statements(
                split=split, brand_id=contract.brand_id, performer_id=contract.performer_id, contract_id=contract.pk,
                kind=TransactionKind.REVENUE_SHARE, key=key, fingerprint=fingerprint,
                reference=f"sales {period_start.isoformat()}..{period_end.isoformat()}",
                meta={"gross": gross, "revenue_share_bps": contract.revenue_share_bps,
                      "period_start": period_start.isoformat(), "period_end": period_end.isoformat()},
            )
            _fixed_sql(statements)
    except IntegrityError:
        replay = _replayed_transaction(key, fingerprint)
        if replay is None:
            raise
        return replay
    log_sequence_soon()
    return txn


def transaction_reverse(*, transaction: Transaction | str, reason: str, idempotency_key: str) -> Transaction:
    """Undo a transaction with a new one whose legs are swapped. Once per transaction."""
    key = _check_key(idempotency_key)
    reason = _check_text(reason, "reason")
    txn_id = transaction.id if isinstance(transaction, Transaction) else transaction
    fingerprint = _fingerprint("transaction_reverse", transaction=txn_id, reason=reason)
    replay = _replayed_transaction(key, fingerprint)
    if replay is not None:
        return replay
    original = Transaction.objects.filter(pk=txn_id).first()
    if original is None:
        raise TransactionNotFound("No such transaction.")
    if original.kind == TransactionKind.REVERSAL:
        raise InvalidState("A reversal cannot be reversed; book a new transaction instead.")
    if Transaction.objects.filter(reverses=original).exists():
        raise AlreadyReversed(f"Transaction {txn_id} is already reversed.")
    postings = list(original.postings.select_related("account"))
    legs = [Leg(p.account, Side.CREDIT if p.side == Side.DEBIT else Side.DEBIT, p.amount, p.currency) for p in postings]
    try:
        with db_transaction.atomic():
            txn = _insert_transaction(
                kind=TransactionKind.REVERSAL, legs=legs, accounts={p.account.id: p.account for p in postings},
                idempotency_key=key, request_hash=fingerprint, contract_id=original.contract_id,
                reverses_id=original.id, reference=f"reversal of {original.id}", meta={"reason": reason},
            )
    except IntegrityError:
        replay = _replayed_transaction(key, fingerprint)
        if replay is not None:
            return replay
        raise AlreadyReversed(f"Transaction {txn_id} is already reversed.") from None
    log_sequence_soon()
    return txn


# --- the Merkle log sequencer -----------------------------------------------------------


def log_sequence(*, max_batch: int = 2000, max_batches: int = 50, wait: bool = True) -> int:
    """Append queued transactions to the log, ``max_batch`` per signed tree head.

    Returns the number of leaves appended. With ``wait=False`` it returns 0 at
    once if another sequencer holds the lock (it is doing the work)."""
    total = 0
    for _ in range(max_batches):
        appended = _sequence_batch(max_batch=max_batch, wait=wait)
        total += appended
        if appended < max_batch:
            break
    return total


def _lock_log_state(wait: bool) -> LogState | None:
    if not LogState.objects.filter(pk=1).exists():
        try:
            with db_transaction.atomic():
                LogState.objects.create(id=1, size=0, root_hash=merkle.EMPTY_ROOT.hex())
        except IntegrityError:
            pass  # created concurrently
    return LogState.objects.select_for_update(skip_locked=not wait).filter(pk=1).first()


def _sequence_batch(*, max_batch: int, wait: bool) -> int:
    with db_transaction.atomic():
        state = _lock_log_state(wait)
        if state is None:
            return 0
        pending = list(LogPending.objects.order_by("seq").values_list("seq", "transaction_id")[:max_batch])
        if not pending:
            if not TreeHead.objects.filter(size=state.size).exists():
                _sign_tree_head(state.size, bytes.fromhex(state.root_hash))
            return 0
        ids = [txn_id for _, txn_id in pending]
        documents = leaf_documents(ids)

        size = state.size
        frontier_nodes = merkle.perfect_subtrees(0, size) if size else []
        stored = dict(LogNode.objects.filter(id__in=[node_key(*n) for n in frontier_nodes]).values_list("id", "hash"))
        tree = merkle.CompactRange(size, [bytes.fromhex(stored[node_key(*n)]) for n in frontier_nodes])
        leaves, nodes = [], []
        deltas: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for offset, txn_id in enumerate(ids):
            document = documents[txn_id]
            leaves.append(LogLeaf(index=size + offset, transaction_id=txn_id))
            for level, index, digest in tree.append(leaf_hash_of_text(leaf_text(document))):
                nodes.append(LogNode(id=node_key(level, index), hash=digest.hex()))
            for posting in document["postings"]:
                deltas[posting["account"]][posting["side"] == Side.CREDIT] += posting["amount"]
        LogLeaf.objects.bulk_create(leaves, batch_size=500)
        LogNode.objects.bulk_create(nodes, batch_size=500)

        now = timezone.now()
        new_size = tree.size
        current = {c.account_id: c for c in BalanceCheckpoint.objects.filter(account_id__in=list(deltas))}
        BalanceCheckpoint.objects.bulk_create(
            [
                BalanceCheckpoint(
                    account_id=account_id,
                    debits=(current[account_id].debits if account_id in current else 0) + debit,
                    credits=(current[account_id].credits if account_id in current else 0) + credit,
                    log_size=new_size, updated_at=now,
                )
                for account_id, (debit, credit) in deltas.items()
            ],
            update_conflicts=True, unique_fields=["account"], update_fields=["debits", "credits", "log_size",
                                                                              "updated_at"],
            batch_size=500,
        )
        # Exactly the rows read: a lower seq that commits meanwhile stays queued.
        for start in range(0, len(pending), 500):
            LogPending.objects.filter(seq__in=[seq for seq, _ in pending[start:start + 500]]).delete()
        root = tree.root()
        LogState.objects.filter(pk=1).update(size=new_size, root_hash=root.hex(), updated_at=now)
        _sign_tree_head(new_size, root, now=now)
    return len(ids)


def _sign_tree_head(size: int, root: bytes, *, now: datetime | None = None) -> TreeHead:
    signer = log_signer()
    note = sign_note(checkpoint_text(signer.name, size, root), signer.name, signer.private_key)
    return TreeHead.objects.create(size=size, root_hash=root.hex(), timestamp=now or timezone.now(), checkpoint=note,
                                   verifier_key=signer.verifier_key)


_last_nudge = [0.0]


def log_sequence_soon() -> None:
    """After the current transaction commits, ask a worker to sequence the log —
    at most once per DOPPEL_LEDGER_SEQUENCE_NUDGE_MS per process, so that a busy
    writer adds one queue insert per interval, not one per posting."""
    if not conf.sequence_nudge():
        return

    def nudge() -> None:
        now = time.monotonic()
        if now - _last_nudge[0] < conf.sequence_nudge_interval_s():
            return
        _last_nudge[0] = now
        try:
            from django_q.tasks import async_task

            async_task("ledger.tasks.log_sequence_task", task_name="ledger log sequence")
        except Exception:  # the schedule sequences anyway; never fail a posting over a nudge
            log.warning("ledger: could not enqueue log sequencing", exc_info=True)

    db_transaction.on_commit(nudge)
