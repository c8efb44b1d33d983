"""The Merkle leaf of a ledger transaction: one canonical JSON text per transaction.

Pure (no Django): the server builds the leaf from database rows, the auditor
builds it from what ``GET /api/v1/ledger/transactions`` lists, with this same
function, and both must produce the very same bytes.

Canonical JSON is RFC 8785 (JCS) restricted to the values a leaf holds —
strings, integers with |n| < 2^53, booleans, null, objects and arrays: keys
sorted, no whitespace, UTF-8, no floats (refused, so nothing depends on float
formatting). The document:

    {"v": 1, "id": "txn_…", "kind": "royalty", "created_at": "2026-11-21T17:25:49.123456Z",
     "contract": "ctr_…" | null, "hold": "hld_…" | null, "reverses": "txn_…" | null,
     "reference": "…", "meta": {…},
     "postings": [{"account": "acc_…", "party": "pty_…" | null, "purpose": "receivable",
                   "side": "debit", "amount": 1234, "currency": "USD"}, …]}

Postings are sorted (debits first, then account, currency, amount), so the
leaf does not depend on insertion order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ledger.log.merkle import leaf_hash

LEAF_VERSION = 1
MAX_SAFE_INTEGER = 2**53 - 1
_SIDE_ORDER = {"debit": 0, "credit": 1}
POSTING_FIELDS = ("account", "party", "purpose", "side", "amount", "currency")


class LeafError(ValueError):
    pass


def format_timestamp(value: datetime) -> str:
    """UTC, microseconds always present: ``2026-11-21T17:25:49.000000Z``."""
    if value.tzinfo is None:
        raise LeafError("naive datetime in a ledger leaf")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _check(value: Any, where: str) -> None:
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise LeafError(f"{where}: integer {value} is outside ±2^53")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise LeafError(f"{where}: non-string key {key!r}")
            _check(item, f"{where}.{key}")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check(item, f"{where}[{i}]")
        return
    raise LeafError(f"{where}: {type(value).__name__} is not allowed in a ledger leaf")


def canonical_json(value: Any) -> str:
    _check(value, "leaf")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _posting_key(p: Mapping[str, Any]) -> tuple:
    return (_SIDE_ORDER.get(p["side"], 9), p["account"], p["currency"], p["amount"])


def leaf_document(
    *,
    id: str,
    kind: str,
    created_at: str,
    contract: str | None,
    hold: str | None,
    reverses: str | None,
    reference: str,
    meta: Mapping[str, Any],
    postings: Iterable[Mapping[str, Any]],
) -> dict[str, Any]:
    rows = [{field: p[field] for field in POSTING_FIELDS} for p in postings]
    rows.sort(key=_posting_key)
    return {
        "v": LEAF_VERSION,
        "id": id,
        "kind": kind,
        "created_at": created_at,
        "contract": contract,
        "hold": hold,
        "reverses": reverses,
        "reference": reference,
        "meta": dict(meta),
        "postings": rows,
    }


LEAF_FIELDS = ("id", "kind", "created_at", "contract", "hold", "reverses", "reference", "meta", "postings")


def leaf_text_from_listing(txn: Mapping[str, Any]) -> str:
    """The leaf of a transaction as the API lists it (the auditor's path)."""
    try:
        return canonical_json(leaf_document(**{field: txn[field] for field in LEAF_FIELDS}))
    except KeyError as exc:
        raise LeafError(f"transaction listing lacks {exc.args[0]!r}") from None


def leaf_text(document: Mapping[str, Any]) -> str:
    return canonical_json(document)


def leaf_hash_of_text(text: str) -> bytes:
    return leaf_hash(text.encode("utf-8"))
