"""The log sequencer: appends committed transactions to the Merkle log.

A trigger queues every committed transaction in ``LogPending``; writers never
touch the tree, and neither do web requests. ``log_sequence`` runs in the worker
(a django-q2 schedule every minute, nudged after commits by
``log_sequence_soon``): it takes a short lock on the one ``LogState`` row, appends
up to ``max_batch`` leaves, stores the perfect subtrees they complete, moves the
batch into the balance checkpoints, and signs one tree head per batch — on its
first run, the empty log's head. See docs/ledger.md.

Fault isolation: no party's data can stop the log for the others. A transaction
whose leaf cannot be built is quarantined (left in ``LogPending``, marked, logged);
an account whose checkpoint cannot be written is marked stale (its balance is
then summed from its postings) and rebuilt on a later run.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import datetime

from django.db import IntegrityError, connection
from django.db import transaction as db_transaction
from django.utils import timezone
from django_q.tasks import async_task

from ledger import conf
from ledger.log import merkle
from ledger.log.checkpoint import checkpoint_text, sign_note
from ledger.log.keys import log_signer
from ledger.log.leaf import leaf_hash_of_text, leaf_text
from ledger.models import (
    TOTAL_LIMIT,
    BalanceCheckpoint,
    LogLeaf,
    LogNode,
    LogPending,
    LogState,
    Side,
    TreeHead,
    node_key,
)
from ledger.selectors import leaf_documents, sequenced_totals

log = logging.getLogger(__name__)

__all__ = ["checkpoint_write", "log_sequence", "log_sequence_soon", "tree_head_sign"]

# Stale checkpoints rebuilt per run (each sums its account's postings once), and how
# long this process leaves one alone after its rebuild failed: a fault that persists
# must not cost a full scan on every nudge.
REPAIRS_PER_RUN = 20
REPAIR_BACKOFF_S = 300.0
_repair_failed_at: dict[str, float] = {}
REASON_LENGTH = LogPending._meta.get_field("quarantine_reason").max_length

Totals = tuple[int, int]  # (debits, credits)


def log_sequence(*, max_batch: int = 2000, max_batches: int = 50, wait: bool = True) -> int:
    """Append queued transactions to the log, ``max_batch`` per signed tree head.

    Returns the number of leaves appended. With ``wait=False`` it returns 0 at
    once if another sequencer holds the lock (it is doing the work). The first
    batch also rebuilds up to ``REPAIRS_PER_RUN`` stale checkpoints."""
    total = 0
    for batch in range(max_batches):
        read, appended = _sequence_batch(max_batch=max_batch, wait=wait, repair=batch == 0)
        total += appended
        if read < max_batch:
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


def _sequence_batch(*, max_batch: int, wait: bool, repair: bool) -> tuple[int, int]:
    """One batch in one database transaction: (queue rows read, leaves appended)."""
    with db_transaction.atomic():
        state = _lock_log_state(wait)
        if state is None:
            return 0, 0
        now = timezone.now()
        if repair:
            _checkpoints_repair(log_size=state.size, now=now)
        pending = list(LogPending.objects.filter(quarantined_at__isnull=True).order_by("seq")
                       .values_list("seq", "transaction_id")[:max_batch])
        if not pending:
            if not TreeHead.objects.filter(size=state.size).exists():  # a fresh log: its empty head
                tree_head_sign(size=state.size, root=bytes.fromhex(state.root_hash))
            return 0, 0
        documents = leaf_documents([txn_id for _, txn_id in pending])
        leaf_hashes: list[tuple[int, str, bytes]] = []
        quarantined: dict[int, str] = {}
        for seq, txn_id in pending:
            try:
                leaf_hashes.append((seq, txn_id, leaf_hash_of_text(leaf_text(documents[txn_id]))))
            except Exception as exc:  # any failure of one transaction's data: isolate it, go on
                quarantined[seq] = _reason(exc)
                log.error("ledger: transaction %s quarantined, its leaf cannot be built: %s", txn_id,
                          quarantined[seq])
        if quarantined:
            for seq, reason in quarantined.items():
                LogPending.objects.filter(seq=seq).update(quarantined_at=now, quarantine_reason=reason)

        size = state.size
        frontier_nodes = merkle.perfect_subtrees(0, size) if size else []
        stored = dict(LogNode.objects.filter(id__in=[node_key(*n) for n in frontier_nodes]).values_list("id", "hash"))
        tree = merkle.CompactRange(size, [bytes.fromhex(stored[node_key(*n)]) for n in frontier_nodes])
        leaves, nodes = [], []
        deltas: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for offset, (_, txn_id, digest) in enumerate(leaf_hashes):
            leaves.append(LogLeaf(index=size + offset, transaction_id=txn_id))
            for level, index, node in tree.append(digest):
                nodes.append(LogNode(id=node_key(level, index), hash=node.hex()))
            for posting in documents[txn_id]["postings"]:
                deltas[posting["account"]][posting["side"] == Side.CREDIT] += posting["amount"]
        if not leaves:
            return len(pending), 0
        LogLeaf.objects.bulk_create(leaves, batch_size=500)
        LogNode.objects.bulk_create(nodes, batch_size=500)
        new_size = tree.size
        _checkpoints_add(deltas, log_size=new_size, now=now)
        # Exactly the rows appended: a lower seq that commits meanwhile stays queued.
        appended = [seq for seq, _, _ in leaf_hashes]
        for start in range(0, len(appended), 500):
            LogPending.objects.filter(seq__in=appended[start:start + 500]).delete()
        root = tree.root()
        LogState.objects.filter(pk=1).update(size=new_size, root_hash=root.hex(), updated_at=now)
        tree_head_sign(size=new_size, root=root, now=now)
    return len(pending), len(leaves)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:REASON_LENGTH]


# --- balance checkpoints ---------------------------------------------------------------


_CHECKPOINT_READ = """
SELECT account_id, debits, credits, stale_since FROM ledger_balancecheckpoint WHERE account_id IN ({ids})
"""


def _checkpoints_add(deltas: dict[str, list[int]], *, log_size: int, now: datetime) -> None:
    """Add a batch's postings to the accounts' checkpoints. An account whose
    checkpoint is stale is left to the repair; one whose new totals cannot be read
    or written is marked stale. Neither stops the batch."""
    ids = list(deltas)
    current: dict[str, tuple] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        with connection.cursor() as cursor:  # raw values: one unreadable row must not fail the read
            cursor.execute(_CHECKPOINT_READ.format(ids=", ".join(["%s"] * len(chunk))), chunk)
            current.update({row[0]: row[1:] for row in cursor.fetchall()})
    totals: dict[str, Totals] = {}
    failed: dict[str, str] = {}
    for account_id, (debit, credit) in deltas.items():
        debits, credits, stale_since = current.get(account_id, (0, 0, None))
        if stale_since is not None:
            continue
        try:
            totals[account_id] = (int(debits) + debit, int(credits) + credit)
        except (TypeError, ValueError) as exc:
            failed[account_id] = _reason(exc)
    failed.update(_checkpoints_write_isolated(totals, log_size=log_size, now=now))
    if failed:
        _checkpoints_mark_stale(failed, now=now)


def checkpoint_write(totals: dict[str, Totals], *, log_size: int, now: datetime) -> None:
    """Upsert the checkpoints of ``totals`` ({account id: (debits, credits)}) as fresh.
    Raises ``OverflowError`` for a total outside ``0 … TOTAL_LIMIT − 1`` (the column's
    bound; unreachable by accepted writes, see docs/ledger.md "Bounds")."""
    for account_id, (debits, credits) in totals.items():
        if not (0 <= debits < TOTAL_LIMIT and 0 <= credits < TOTAL_LIMIT):
            raise OverflowError(f"checkpoint of {account_id}: totals {debits}, {credits} outside 0 … 10^38 − 1")
    BalanceCheckpoint.objects.bulk_create(
        [BalanceCheckpoint(account_id=account_id, debits=debits, credits=credits, log_size=log_size, updated_at=now,
                           stale_since=None, stale_reason="")
         for account_id, (debits, credits) in totals.items()],
        update_conflicts=True, unique_fields=["account"],
        update_fields=["debits", "credits", "log_size", "updated_at", "stale_since", "stale_reason"],
        batch_size=500,
    )


def _checkpoints_write_isolated(totals: dict[str, Totals], *, log_size: int, now: datetime) -> dict[str, str]:
    """``checkpoint_write`` for all at once; if that fails, account by account, each
    in its own savepoint. Returns {account id: reason} of those that failed."""
    if not totals:
        return {}
    try:
        with db_transaction.atomic():
            checkpoint_write(totals, log_size=log_size, now=now)
        return {}
    except Exception:  # find the culprit(s) below, one account at a time
        pass
    failed = {}
    for account_id, value in totals.items():
        try:
            with db_transaction.atomic():
                checkpoint_write({account_id: value}, log_size=log_size, now=now)
        except Exception as exc:  # one account's data must not stop the log
            failed[account_id] = _reason(exc)
    return failed


def _checkpoints_mark_stale(failed: dict[str, str], *, now: datetime) -> None:
    """Mark checkpoints stale (creating the row if needed, totals untouched). This
    only writes a timestamp and a reason: if even that fails, the database is
    broken, not one party's data, and the batch fails."""
    for account_id, reason in failed.items():
        log.error("ledger: balance checkpoint of account %s is stale, its balance is summed from its postings "
                  "until it is rebuilt: %s", account_id, reason)
    BalanceCheckpoint.objects.bulk_create(
        [BalanceCheckpoint(account_id=account_id, stale_since=now, stale_reason=reason, updated_at=now)
         for account_id, reason in failed.items()],
        update_conflicts=True, unique_fields=["account"], update_fields=["stale_since", "stale_reason", "updated_at"],
    )


def _checkpoints_repair(*, log_size: int, now: datetime, limit: int = REPAIRS_PER_RUN) -> int:
    """Rebuild stale checkpoints from their accounts' sequenced postings (under the
    log-state lock, so nothing is sequenced meanwhile). Returns how many were rebuilt;
    one that fails again stays stale."""
    candidates = (BalanceCheckpoint.objects.filter(stale_since__isnull=False).order_by("stale_since")
                  .values_list("account_id", flat=True)[:limit * 10])
    clock = time.monotonic()
    stale = [a for a in candidates if clock - _repair_failed_at.get(a, -REPAIR_BACKOFF_S) >= REPAIR_BACKOFF_S][:limit]
    if not stale:
        return 0
    totals = sequenced_totals(account_ids=stale)
    failed = _checkpoints_write_isolated({a: totals.get(a, (0, 0)) for a in stale}, log_size=log_size, now=now)
    if failed:
        _checkpoints_mark_stale(failed, now=now)
        _repair_failed_at.update(dict.fromkeys(failed, clock))
    rebuilt = [a for a in stale if a not in failed]
    for account_id in rebuilt:
        _repair_failed_at.pop(account_id, None)
    if rebuilt:
        log.warning("ledger: rebuilt %d stale balance checkpoint(s): %s", len(rebuilt), ", ".join(rebuilt))
    return len(rebuilt)


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
