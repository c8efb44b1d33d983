"""Idempotency keys: checked, bound to a fingerprint of the request, replayed.

Every write takes an idempotency key. The key and a fingerprint of the request
are stored *in the row the write creates* (``Hold.idempotency_key``,
``Hold.void_idempotency_key``, ``Transaction.idempotency_key``, all unique), in
the same database transaction: a replay returns that row; the same key with a
different request raises ``IdempotencyConflict``. Two concurrent requests with
one key cannot both write: the unique index lets one win and the other replays
(``write_or_replay``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import IntegrityError
from django.db import transaction as db_transaction
from django.db.models import Model, QuerySet

from common.errors import InvalidRequest
from ledger.exceptions import LedgerIdempotencyConflict as IdempotencyConflict
from ledger.models import Transaction

MAX_KEY_LENGTH = 255

T = TypeVar("T")
M = TypeVar("M", bound=Model)


def check_key(key: Any) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidRequest(fields={"idempotency_key": [f"A printable string of 1 to {MAX_KEY_LENGTH} characters."]})
    return key


def fingerprint(operation: str, **fields: Any) -> str:
    """SHA-256 hex of the request's canonical JSON: what a key is bound to."""
    text = json.dumps({"op": operation, **fields}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def replayed(rows: QuerySet[M], request_hash: str, *, hash_field: str = "request_hash",
             what: str = "request") -> M | None:
    """The row a key wrote (``rows``: filtered by that key), if any;
    ``IdempotencyConflict`` if it was written for a different request."""
    row = rows.first()
    if row is not None and getattr(row, hash_field) != request_hash:
        raise IdempotencyConflict(f"This idempotency key was used for a different {what}.")
    return row


def replayed_transaction(key: str, request_hash: str) -> Transaction | None:
    """The transaction written under ``key``, if any (see ``replayed``)."""
    return replayed(Transaction.objects.filter(idempotency_key=key), request_hash)


def write_or_replay(
    write: Callable[[], T], *, replay: Callable[[], T | None], refused: Callable[[], Exception | None] = lambda: None
) -> T:
    """``write()`` in one atomic block; what it returns.

    When the database refuses the write (``IntegrityError``: most often a
    concurrent request with the same idempotency key committed first, and the
    unique index let it win), everything ``write`` did is rolled back and this
    returns the row the winner wrote: ``replay()``, which raises
    ``IdempotencyConflict`` if the winner's request was a different one. If
    ``replay()`` finds nothing, the error from ``refused()`` is raised (e.g. "already
    reversed"), or, when it gives none, the ``IntegrityError`` itself."""
    try:
        with db_transaction.atomic():
            return write()
    except IntegrityError:
        found = replay()
        if found is not None:
            return found
        error = refused()
        if error is None:
            raise
        raise error from None
