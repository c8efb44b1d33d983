"""Corrections: a booked transaction is never changed; a reversal undoes it."""

from __future__ import annotations

from common.errors import InvalidState
from ledger.exceptions import AlreadyReversed, TransactionNotFound
from ledger.models import Side, Transaction, TransactionKind
from ledger.services.idempotency import (
    check_key,
    fingerprint,
    replayed_transaction,
    write_or_replay,
)
from ledger.services.inputs import check_text
from ledger.services.posting import Leg, transaction_insert

__all__ = ["transaction_reverse"]


def transaction_reverse(*, transaction: Transaction | str, reason: str, idempotency_key: str) -> Transaction:
    """Undo a transaction with a new one whose legs are swapped. Once per transaction:
    ``AlreadyReversed`` the second time; a reversal cannot itself be reversed."""
    key = check_key(idempotency_key)
    reason = check_text(reason, "reason")
    txn_id = transaction.id if isinstance(transaction, Transaction) else transaction
    request_hash = fingerprint("transaction_reverse", transaction=txn_id, reason=reason)
    replay = replayed_transaction(key, request_hash)
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
    return write_or_replay(
        lambda: transaction_insert(
            kind=TransactionKind.REVERSAL, legs=legs, accounts={p.account.id: p.account for p in postings},
            idempotency_key=key, request_hash=request_hash, contract_id=original.contract_id,
            reverses_id=original.id, reference=f"reversal of {original.id}", meta={"reason": reason},
        ),
        replay=lambda: replayed_transaction(key, request_hash),
        # The unique index on ``reverses``: another request reversed it meanwhile.
        refused=lambda: AlreadyReversed(f"Transaction {txn_id} is already reversed."),
    )
