"""The log sequencer: appends committed transactions to the Merkle log.

A trigger queues every committed transaction in ``LogPending``; writers never
touch the tree. ``log_sequence`` (a django-q2 schedule every minute, nudged
after commits by ``log_sequence_soon``, and called on demand by the proof
endpoint) takes a short lock on the one ``LogState`` row, appends up to
``max_batch`` leaves, stores the perfect subtrees they complete, moves the
batch into the balance checkpoints, and signs one tree head per batch. See
docs/ledger.md.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import datetime

from django.db import IntegrityError
from django.db import transaction as db_transaction
from django.utils import timezone
from django_q.tasks import async_task

from ledger import conf
from ledger.log import merkle
from ledger.log.checkpoint import checkpoint_text, sign_note
from ledger.log.keys import log_signer
from ledger.log.leaf import leaf_hash_of_text, leaf_text
from ledger.models import (
    BalanceCheckpoint,
    LogLeaf,
    LogNode,
    LogPending,
    LogState,
    Side,
    TreeHead,
    node_key,
)
from ledger.selectors import leaf_documents

log = logging.getLogger(__name__)

__all__ = ["log_sequence", "log_sequence_soon", "tree_head_sign"]


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
                tree_head_sign(size=state.size, root=bytes.fromhex(state.root_hash))
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
        tree_head_sign(size=new_size, root=root, now=now)
    return len(ids)


def tree_head_sign(*, size: int, root: bytes, now: datetime | None = None) -> TreeHead:
    """Sign and store the tree head of ``size`` leaves with ``root`` (32 bytes).
    The sequencer calls it under the log-state lock; the bench after a bulk load."""
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
            async_task("ledger.tasks.log_sequence_task", task_name="ledger log sequence")
        except Exception:  # the schedule sequences anyway; never fail a posting over a nudge
            log.warning("ledger: could not enqueue log sequencing", exc_info=True)

    db_transaction.on_commit(nudge)
