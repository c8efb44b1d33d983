"""Ledger reads: scopes, balances, leaves and proofs, usage, statements."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any, TypedDict

from django.db import connection
from django.db.models import Prefetch, QuerySet

from common.timefmt import iso
from ledger.log import merkle
from ledger.log.leaf import format_timestamp, leaf_document, leaf_text
from ledger.models import (
    DEBIT_NORMAL,
    Account,
    AccountPurpose,
    Hold,
    LogLeaf,
    LogNode,
    LogPending,
    LogState,
    Posting,
    Side,
    Transaction,
    TreeHead,
    node_key,
)
from rights import visibility
from rights.models import Party

# --- scopes -----------------------------------------------------------------------------


def party_visible(*, viewer: Party, party_id: str) -> Party | None:
    """The party ``party_id`` if ``viewer`` may read its ledger (``visibility.books_q``)."""
    if party_id == viewer.id:
        return viewer
    return Party.objects.filter(visibility.books_q(viewer), id=party_id).first()


def transactions_visible(*, viewer: Party) -> QuerySet[Transaction]:
    """Transactions ``viewer`` may see (``visibility.transaction_scope``), each with
    its postings and leaf: a page of them costs three queries whatever its length."""
    return (
        visibility.transaction_scope(Transaction.objects.all(), viewer=viewer)
        .select_related("log_leaf")
        .prefetch_related(Prefetch("postings", queryset=Posting.objects.select_related("account").order_by("id")))
    )


def transaction_visible(*, viewer: Party, transaction_id: str) -> Transaction | None:
    return transactions_visible(viewer=viewer).filter(id=transaction_id).first()


# --- balances ---------------------------------------------------------------------------

# Sums of amounts in SQL are split into 32-bit halves, each summed on its own: a
# plain SUM over more than 1,024 postings near the 2^53 bound passes 2^63, which
# SQLite answers with "integer overflow" (PostgreSQL widens to NUMERIC; one SQL for
# both). A half is below 2^32, so its sum cannot overflow before 2^31 rows. ("%%"
# is the modulo, escaped for the driver's parameter style.)
_HALF = 2**32
_HALVES = ("CASE WHEN p.side = 'debit' THEN p.amount / 4294967296 ELSE 0 END",
           "CASE WHEN p.side = 'debit' THEN p.amount %% 4294967296 ELSE 0 END",
           "CASE WHEN p.side = 'credit' THEN p.amount / 4294967296 ELSE 0 END",
           "CASE WHEN p.side = 'credit' THEN p.amount %% 4294967296 ELSE 0 END")
_HALF_COLUMNS = ", ".join(_HALVES)  # debit high, debit low, credit high, credit low
_HALF_SUMS = ", ".join(f"SUM({half})" for half in _HALVES)

# One statement, so one snapshot: the sequencer moves a transaction from
# ledger_logpending into the checkpoint totals atomically, and a single
# statement sees it on exactly one side. The checkpoint's totals (NUMERIC or
# TEXT, see ExactTotalField) are passed through, never summed in SQL.
_BALANCE_SQL = f"""
SELECT account_id, MAX(ck_debits), MAX(ck_credits), MAX(stale), SUM(dh), SUM(dl), SUM(ch), SUM(cl) FROM (
    SELECT account_id, debits AS ck_debits, credits AS ck_credits,
           CASE WHEN stale_since IS NULL THEN 0 ELSE 1 END AS stale, 0 AS dh, 0 AS dl, 0 AS ch, 0 AS cl
    FROM ledger_balancecheckpoint WHERE account_id IN ({{ids}})
    UNION ALL
    SELECT p.account_id, NULL, NULL, 0, {_HALF_COLUMNS}
    FROM ledger_logpending q JOIN ledger_posting p ON p.transaction_id = q.transaction_id
    WHERE p.account_id IN ({{ids}})
) AS parts GROUP BY account_id
"""

# An account's postings, all of them or (``sequenced``) those of transactions out of
# the queue: what a stale checkpoint is replaced by, and rebuilt from.
_POSTING_SUMS_SQL = f"""
SELECT p.account_id, {_HALF_SUMS} FROM ledger_posting p
WHERE p.account_id IN ({{ids}}){{where}} GROUP BY p.account_id
"""
_SEQUENCED = " AND NOT EXISTS (SELECT 1 FROM ledger_logpending q WHERE q.transaction_id = p.transaction_id)"


def _joined(high: Any, low: Any) -> int:
    return (int(high or 0) * _HALF) + int(low or 0)


def _posting_sums(account_ids: list[str], *, sequenced: bool = False, before: datetime | None = None
                  ) -> dict[str, tuple[int, int]]:
    """Exact (debits, credits) of the accounts' postings: all, only those of sequenced
    transactions, or only those before ``before`` (one range scan on (account,
    created_at) each). Overflow-safe (``_HALVES``)."""
    if not account_ids:
        return {}
    where, params = "", list(account_ids)
    if sequenced:
        where += _SEQUENCED
    if before is not None:
        where += " AND p.created_at < %s"
        params.append(connection.ops.adapt_datetimefield_value(before))
    sql = _POSTING_SUMS_SQL.format(ids=", ".join(["%s"] * len(account_ids)), where=where)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0]: (_joined(row[1], row[2]), _joined(row[3], row[4])) for row in cursor.fetchall()}


def account_totals(*, account_ids: Iterable[str]) -> dict[str, tuple[int, int]]:
    """Exact (debits, credits) per account: checkpoint totals plus not-yet-sequenced
    postings, as Python ints of any size.

    Cost is O(accounts + pending backlog), independent of the number of postings.
    An account whose checkpoint is stale (the sequencer could not write it) is
    summed from all its postings instead: O(its postings), exact, until rebuilt."""
    ids = list(account_ids)
    if not ids:
        return {}
    placeholders = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(_BALANCE_SQL.format(ids=placeholders), ids + ids)
        rows = cursor.fetchall()
    totals, stale = {}, []
    for account_id, ck_debits, ck_credits, is_stale, dh, dl, ch, cl in rows:
        if is_stale:
            stale.append(account_id)
            continue
        totals[account_id] = (int(ck_debits or 0) + _joined(dh, dl), int(ck_credits or 0) + _joined(ch, cl))
    if stale:
        totals.update(_posting_sums(stale))
    return totals


def sequenced_totals(*, account_ids: Iterable[str]) -> dict[str, tuple[int, int]]:
    """Exact (debits, credits) per account over the transactions already out of the
    log queue: what its checkpoint holds. The sequencer rebuilds a stale checkpoint
    with it, under its lock. O(the accounts' postings)."""
    return _posting_sums(list(account_ids), sequenced=True)


def signed_balance(purpose: str, debits: int, credits: int) -> int:
    return debits - credits if purpose in DEBIT_NORMAL else credits - debits


def balances_for_party(*, party: Party) -> list[dict[str, Any]]:
    accounts = list(Account.objects.filter(party=party).order_by("purpose", "currency", "id"))
    totals = account_totals(account_ids=[a.id for a in accounts])
    rows = []
    for account in accounts:
        debits, credits = totals.get(account.id, (0, 0))
        rows.append({
            "account": account.id, "purpose": account.purpose, "currency": account.currency,
            "normal_side": "debit" if account.purpose in DEBIT_NORMAL else "credit",
            "debits": debits, "credits": credits,
            "balance": signed_balance(account.purpose, debits, credits),
        })
    return rows


# --- leaves -----------------------------------------------------------------------------


def leaf_documents(transaction_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The leaf document of each transaction, as stored now (two queries)."""
    ids = list(transaction_ids)
    postings: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for txn_id, account, party, purpose, side, amount, currency in Posting.objects.filter(
        transaction_id__in=ids
    ).values_list("transaction_id", "account_id", "account__party_id", "account__purpose", "side", "amount", "currency"):
        postings[txn_id].append({
            "account": account, "party": party, "purpose": purpose, "side": side, "amount": amount,
            "currency": currency,
        })
    documents = {}
    for txn_id, kind, created_at, contract, hold, reverses, reference, meta in Transaction.objects.filter(
        id__in=ids
    ).values_list("id", "kind", "created_at", "contract_id", "hold_id", "reverses_id", "reference", "meta"):
        documents[txn_id] = leaf_document(
            id=txn_id, kind=kind, created_at=format_timestamp(created_at), contract=contract, hold=hold,
            reverses=reverses, reference=reference, meta=meta or {}, postings=postings[txn_id],
        )
    return documents


def leaf_text_of(transaction_id: str) -> str:
    return leaf_text(leaf_documents([transaction_id])[transaction_id])


# --- the log ----------------------------------------------------------------------------


def log_leaf_index(*, transaction_id: str) -> int | None:
    """The transaction's leaf index, or None while it waits for the sequencer."""
    return LogLeaf.objects.filter(transaction_id=transaction_id).values_list("index", flat=True).first()


def log_quarantined(*, transaction_id: str) -> bool:
    """Whether the sequencer held the transaction out of the log (its leaf could not be built)."""
    return LogPending.objects.filter(transaction_id=transaction_id, quarantined_at__isnull=False).exists()


def tree_head_latest() -> TreeHead | None:
    return TreeHead.objects.order_by("-size").first()


def log_size() -> int:
    state = LogState.objects.filter(pk=1).values_list("size", flat=True).first()
    return state or 0


def _fetch_nodes(wanted: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    keys = {node_key(level, index): (level, index) for level, index in wanted}
    rows = LogNode.objects.filter(id__in=list(keys)).values_list("id", "hash")
    return {keys[key]: bytes.fromhex(h) for key, h in rows}


def log_root(size: int) -> bytes:
    if size == 0:
        return merkle.EMPTY_ROOT
    return merkle.range_roots([(0, size)], _fetch_nodes)[0]


def log_inclusion(*, index: int, tree_size: int) -> tuple[bytes, list[bytes]]:
    """The stored leaf hash and PATH(index, D[0:tree_size]): one query, O(log n) rows."""
    roots = merkle.range_roots([(index, index + 1), *merkle.inclusion_ranges(index, tree_size)], _fetch_nodes)
    return roots[0], roots[1:]


def log_consistency_proof(*, first: int, second: int) -> list[bytes]:
    if first == second:
        return []
    return merkle.range_roots(merkle.consistency_ranges(first, second), _fetch_nodes)


# --- royalties, usage, months -----------------------------------------------------

_SUMMARY_FIELDS = ("performer_amount", "union_amount", "fee_amount", "total")


class RoyaltySummary(TypedDict):
    """Who gets what of one transaction, in minor units of ``currency`` (the API
    declares its bodies' ``royalty`` with this type)."""

    transaction: str
    currency: str | None
    performer_amount: int
    union_amount: int  # the union's pension & health contribution
    fee_amount: int
    total: int  # what the brand pays


def royalty_summary(transaction: Transaction) -> RoyaltySummary:
    """API.md's generation ``royalty``: what the performer earns, the union's P&H, our
    fee, and what the brand pays. Royalty and revenue-share transactions carry the
    breakdown in their (signed, immutable) meta, so this costs no query; others are
    summed from their postings."""
    meta = transaction.meta or {}
    if all(field in meta for field in (*_SUMMARY_FIELDS, "currency")):
        return {"transaction": transaction.id, "currency": meta["currency"],
                **{field: meta[field] for field in _SUMMARY_FIELDS}}
    # A reversal's legs are swapped, so its amounts come out negative.
    sums = dict.fromkeys(_SUMMARY_FIELDS, 0)
    currency = None
    for posting in transaction.postings.select_related("account"):
        currency = currency or posting.currency
        purpose = posting.account.purpose
        if purpose == AccountPurpose.RECEIVABLE:
            sums["total"] += posting.amount if posting.side == Side.DEBIT else -posting.amount
        elif purpose in (AccountPurpose.PAYABLE, AccountPurpose.PENSION_HEALTH, AccountPurpose.PLATFORM_FEE):
            field = {AccountPurpose.PAYABLE: "performer_amount", AccountPurpose.PENSION_HEALTH: "union_amount",
                     AccountPurpose.PLATFORM_FEE: "fee_amount"}[purpose]
            sums[field] += posting.amount if posting.side == Side.CREDIT else -posting.amount
    return {"transaction": transaction.id, "currency": currency, **sums}


def usage_holds(
    *, viewer: Party, start: datetime | None = None, end: datetime | None = None, status: str | None = None
) -> QuerySet[Hold]:
    """Every metered use (hold) of the contracts ``viewer`` may see, newest first."""
    qs = Hold.objects.filter(visibility.hold_q(viewer)).select_related("contract", "transaction")
    if start is not None:
        qs = qs.filter(created_at__gte=start)
    if end is not None:
        qs = qs.filter(created_at__lt=end)
    if status:
        qs = qs.filter(status=status)
    return qs


USAGE_COLUMNS = (
    "hold", "reference", "contract", "brand", "performer", "status", "created_at", "posted_at", "voided_at",
    "void_reason", "platform", "category", "language", "territory", "script_chars", "duration_s",
    "billed_seconds", "currency", "performer_amount", "union_amount", "fee_amount", "total", "transaction",
)


def usage_row(hold: Hold) -> dict[str, Any]:
    meta = hold.meta or {}
    txn = hold.transaction if hold.status == Hold.Status.POSTED else None
    summary = royalty_summary(txn) if txn is not None else None
    txn_meta = txn.meta if txn is not None else {}
    return {
        "hold": hold.id,
        "reference": hold.reference,
        "contract": hold.contract_id,
        "brand": hold.contract.brand_id,
        "performer": hold.contract.performer_id,
        "status": hold.status,
        "created_at": iso(hold.created_at),
        "posted_at": iso(hold.posted_at),
        "voided_at": iso(hold.voided_at),
        "void_reason": hold.void_reason or None,
        "platform": hold.platform,
        "category": meta.get("category"),
        "language": meta.get("language"),
        "territory": meta.get("territory"),
        "script_chars": meta.get("script_chars"),
        "duration_s": hold.duration_ms / 1000 if hold.duration_ms is not None else None,
        "billed_seconds": txn_meta.get("billed_seconds"),
        "currency": hold.currency,
        "performer_amount": summary["performer_amount"] if summary else None,
        "union_amount": summary["union_amount"] if summary else None,
        "fee_amount": summary["fee_amount"] if summary else None,
        "total": summary["total"] if summary else None,
        "transaction": txn.id if txn is not None else None,
    }


def month_bounds(month: date) -> tuple[datetime, datetime]:
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    end = datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=UTC)
    return start, end
