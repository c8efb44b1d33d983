"""Accounts and the posting path: legs checked, then written with fixed SQL.

A transaction's postings are written first, then the row that seals them (see
migration 0002); the database refuses an unbalanced or unsealed transaction.
On the hot path (royalties) nothing goes through ORM query compilation: fixed
statements, prepared once per connection on PostgreSQL and sent as one
pipeline (``fixed_sql``). Zero-amount P&H and fee legs are left out; the brand
and performer legs are always written, so every delivered render is in the log
even under a zero-royalty contract.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from django.db import connection as db_connection
from django.db.models import Q
from django.utils import timezone

from common.errors import InvalidRequest
from ledger.exceptions import (
    AmountLimitExceeded,
    CurrencyMismatch,
    InvalidAmount,
    InvalidPosting,
    UnbalancedTransaction,
    UnknownAccount,
)
from ledger.log.sequencer import log_sequence_soon
from ledger.models import (
    MAX_AMOUNT,
    PURPOSE_OWNER,
    Account,
    AccountPurpose,
    Posting,
    Side,
    Transaction,
    TransactionKind,
    new_transaction_id,
)
from ledger.services.idempotency import (
    check_key,
    fingerprint,
    replayed_transaction,
    write_or_replay,
)
from ledger.services.inputs import check_meta, check_text
from ledger.services.money import RoyaltyBreakdown
from rights.models import Contract, Party

__all__ = ["Leg", "account_get_or_create", "transaction_record"]

# A fixed SQL statement and its parameters.
Statement = tuple[str, Sequence[Any]]
AccountKey = tuple[str | None, str, str]  # (party id, purpose, currency)


def account_get_or_create(*, party: Party | None, purpose: str, currency: str) -> Account:
    """The account for (party, purpose, currency), created on first use."""
    owner_kind = PURPOSE_OWNER.get(purpose, "any")
    if owner_kind != "any" and (party.kind if party else None) != owner_kind:
        raise InvalidPosting(
            f"A {purpose} account belongs to {'the platform' if owner_kind is None else 'a ' + owner_kind}.",
            fields={"account": [f"Wrong owner for a {purpose} account."]},
        )
    key = (party.id if party else None, purpose, currency)
    return accounts_for([key])[key]


def accounts_for(keys: Sequence[AccountKey]) -> dict[AccountKey, Account]:
    """Accounts by (party id, purpose, currency): one query, plus one insert and one
    query when some are missing.

    Missing accounts are inserted with ``ON CONFLICT DO NOTHING`` (SQLite: ``INSERT OR
    IGNORE``) and then read back: when another transaction creates the same account at
    the same moment (two workers delivering a party's first royalties), the insert
    waits for it and yields instead of failing, and the read sees the winner's row.
    No exception path, no savepoint: nothing the enclosing transaction must undo."""
    wanted = set(keys)
    found = _accounts_found(wanted)
    missing = wanted - found.keys()
    if missing:
        Account.objects.bulk_create(
            [Account(party_id=party_id, purpose=purpose, currency=currency)
             for party_id, purpose, currency in sorted(missing, key=lambda k: (k[0] or "", k[1], k[2]))],
            ignore_conflicts=True,
        )
        found.update(_accounts_found(missing))
        if missing - found.keys():
            raise InvalidPosting(f"The accounts {sorted(missing - found.keys(), key=str)} could not be created.")
    return found


def _accounts_found(keys: set[AccountKey]) -> dict[AccountKey, Account]:
    q = Q()
    for party_id, purpose, currency in keys:
        q |= Q(party_id=party_id, purpose=purpose, currency=currency) if party_id else \
            Q(party__isnull=True, purpose=purpose, currency=currency)
    return {(a.party_id, a.purpose, a.currency): a for a in Account.objects.filter(q)}


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


def validate_legs(legs: Sequence[Leg], accounts: dict[str, Account | AccountRef]) -> None:
    if len(legs) < 2:
        raise UnbalancedTransaction("A transaction needs at least two postings.",
                                    fields={"postings": ["At least two postings."]})
    if len(legs) > 1000:
        raise InvalidPosting("Too many postings.", fields={"postings": ["At most 1000 postings."]})
    net: dict[str, int] = defaultdict(int)
    debits: dict[str, int] = defaultdict(int)  # a balanced transaction's total per currency
    for i, leg in enumerate(legs):
        account = accounts.get(leg.account_id)
        if account is None:
            raise UnknownAccount(f"Unknown account {leg.account_id!r}.", fields={f"postings[{i}].account": ["Unknown account."]})
        if leg.side not in (Side.DEBIT, Side.CREDIT):
            raise InvalidPosting("A posting is a debit or a credit.", fields={f"postings[{i}].side": ["debit or credit."]})
        if isinstance(leg.amount, bool) or not isinstance(leg.amount, int) or leg.amount < 0:
            raise InvalidAmount(
                "Amounts are integers of minor units, from 0 to 2^53 - 1.",
                fields={f"postings[{i}].amount": ["A non-negative integer of minor units."]},
            )
        if leg.amount > MAX_AMOUNT:
            raise amount_limit_exceeded(f"postings[{i}].amount", "A posting")
        if leg.currency != account.currency:
            raise CurrencyMismatch(
                f"Account {account.id} is kept in {account.currency}, not {leg.currency}.",
                fields={f"postings[{i}].currency": [f"The account's currency is {account.currency}."]},
            )
        net[leg.currency] += leg.amount if leg.side == Side.DEBIT else -leg.amount
        if leg.side == Side.DEBIT:
            debits[leg.currency] += leg.amount
    unbalanced = sorted(c for c, v in net.items() if v)
    if unbalanced:
        raise UnbalancedTransaction(
            f"Debits and credits differ in {', '.join(unbalanced)}.",
            fields={"postings": [f"Debits must equal credits in {c}." for c in unbalanced]},
        )
    if any(v > MAX_AMOUNT for v in debits.values()):
        raise amount_limit_exceeded("postings", "The transaction's total (its debits, equal to its credits)")


def amount_limit_exceeded(field: str, what: str) -> AmountLimitExceeded:
    """The error for an amount past ``MAX_AMOUNT`` (docs/ledger.md "Bounds")."""
    return AmountLimitExceeded(
        f"{what} would exceed the ledger's limit of {MAX_AMOUNT} (2^53 - 1) minor units; nothing was booked.",
        fields={field: [f"At most {MAX_AMOUNT} minor units."]}, limit=MAX_AMOUNT,
    )


def transaction_statements(
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
) -> tuple[Transaction, list[Statement]]:
    """Validate the legs; return the transaction (not yet written) and the two
    fixed INSERTs that write it: its postings, then the row that seals them (see
    migration 0002). No ORM query compilation: this is the hot path."""
    validate_legs(legs, accounts)
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


def transaction_insert(**kwargs: Any) -> Transaction:
    """Write a transaction and its postings (``transaction_statements``'s arguments).
    Must run inside an atomic block."""
    txn, statements = transaction_statements(**kwargs)
    transaction_write(statements)
    return txn


def transaction_write(statements: Sequence[Statement]) -> list[tuple[int, tuple | None]]:
    """Run the statements that write a transaction, with any others of the same
    database transaction the caller adds (one pipeline), and ask for the log to be
    sequenced once it commits. Returns ``fixed_sql``'s results. Inside an atomic block."""
    results = fixed_sql(statements)
    log_sequence_soon()
    return results


def fixed_sql(statements: Sequence[Statement]) -> list[tuple[int, tuple | None]]:
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


def split_statements(
    *, split: RoyaltyBreakdown, brand_id: str, performer_id: str, contract_id: str, kind: str, key: str,
    request_hash: str, meta: dict[str, Any], hold_id: str | None = None, reference: str = "",
    transaction_id: str | None = None, known_accounts: dict[AccountKey, str | None] | None = None,
) -> tuple[Transaction, list[Statement]]:
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
        ids.update({k: account.id for k, account in accounts_for(missing).items()})
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
    return transaction_statements(
        kind=kind, legs=legs, accounts=accounts, idempotency_key=key, request_hash=request_hash,
        contract_id=contract_id, hold_id=hold_id, reference=reference, meta=meta, transaction_id=transaction_id,
    )


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
    key = check_key(idempotency_key)
    if kind not in (TransactionKind.PAYOUT, TransactionKind.ADJUSTMENT, TransactionKind.SETTLEMENT):
        raise InvalidRequest(fields={"kind": ["Only payout, settlement and adjustment transactions are recorded "
                                              "directly."]})
    reference = check_text(reference, "reference", allow_empty=True)
    meta = check_meta(meta)
    request_hash = fingerprint(
        "transaction_record", kind=kind, reference=reference, meta=meta,
        contract=contract.pk if contract else None,
        legs=[[leg.account_id, leg.side, leg.amount, leg.currency] for leg in legs],
    )
    replay = replayed_transaction(key, request_hash)
    if replay is not None:
        return replay
    accounts = {a.id: a for a in Account.objects.filter(id__in=[leg.account_id for leg in legs])}
    return write_or_replay(
        lambda: transaction_insert(
            kind=kind, legs=legs, accounts=accounts, idempotency_key=key, request_hash=request_hash,
            contract_id=contract.pk if contract else None, reference=reference, meta=meta,
        ),
        replay=lambda: replayed_transaction(key, request_hash),
    )
