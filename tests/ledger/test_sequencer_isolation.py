"""Fault isolation of the log sequencer (issue 10 item 1b; docs/ledger.md "Fault isolation").

The failing input: one account's checkpoint overflowed and the sequencer failed
on every run, so the tree head froze and every other party's proof failed. The
kind: any failure caused by one party's data — a checkpoint that cannot be
written, a total at the column's bound, a transaction whose leaf cannot be built —
must leave the other parties' transactions appended, signed and provable, and the
bad account reported, with its balance still served (exactly, from its postings).
Each failure is forced here.
"""

import json
import logging

import pytest
from django.db import DataError, connection, transaction
from django.utils import timezone

from ledger import selectors, services
from ledger.log import checkpoint as cp
from ledger.log import merkle, sequencer
from ledger.models import (
    TOTAL_LIMIT,
    AccountPurpose,
    BalanceCheckpoint,
    LogLeaf,
    LogPending,
    Posting,
    TreeHead,
    new_transaction_id,
)
from tests.ledger.test_bounds import python_scan

BAL = "/api/v1/ledger/balances"
INC = "/api/v1/ledger/proofs/inclusion"
HEAD = "/api/v1/ledger/tree-head"


def proven(world, who, txn):
    """The transaction's inclusion proof, through the API, verified against the signed head."""
    head = world.client(who).get(HEAD).json()
    response = world.client(who).get(INC, {"transaction": txn.id})
    assert response.status_code == 200, response.content
    proof = response.json()
    root = cp.open_checkpoint(head["checkpoint"], cp.parse_verifier_key(head["verifier_key"])).root
    merkle.verify_inclusion(bytes.fromhex(proof["leaf_hash"]), proof["leaf_index"], head["size"],
                            [bytes.fromhex(h) for h in proof["audit_path"]], root)
    return proof


def receivable_of(party):
    return services.account_get_or_create(party=party, purpose=AccountPurpose.RECEIVABLE, currency="USD")


def served_balance(world, who):
    response = world.client(who).get(BAL)
    assert response.status_code == 200, response.content
    [row] = [r for r in response.json()["balances"] if r["purpose"] == "receivable"]
    return int(row["debits_exact"]), int(row["credits_exact"])


def test_a_checkpoint_writer_failing_for_one_account_stops_nobody(world, post, monkeypatch, caplog):
    services.log_sequence()
    bad = receivable_of(world.brand)
    real_write = sequencer.checkpoint_write

    def failing_for_one(totals, **kwargs):
        if bad.id in totals:
            raise RuntimeError("forced: this account's checkpoint cannot be written")
        return real_write(totals, **kwargs)

    monkeypatch.setattr(sequencer, "checkpoint_write", failing_for_one)
    mine = [post(world.contract, duration_s=3), post(world.contract, duration_s=4)]
    theirs = post(world.other_contract, duration_s=5)
    with caplog.at_level(logging.ERROR, logger="ledger.log.sequencer"):
        assert services.log_sequence() == 3

    # Everyone's transactions are appended, signed and provable — the bad account's party's too.
    assert TreeHead.objects.order_by("-size").first().size == 3 and not LogPending.objects.exists()
    proven(world, "other_brand", theirs)
    proven(world, "brand", mine[0])
    # The bad account is reported and its balance is served, exactly, from its postings.
    checkpoint = BalanceCheckpoint.objects.get(account=bad)
    assert checkpoint.stale_since is not None and "forced" in checkpoint.stale_reason
    assert any(bad.id in r.getMessage() and "stale" in r.getMessage() for r in caplog.records)
    assert served_balance(world, "brand") == python_scan(bad.id) == (sum(t.meta["total"] for t in mine), 0)
    good = receivable_of(world.other_brand)
    assert BalanceCheckpoint.objects.get(account=good).stale_since is None
    assert served_balance(world, "other_brand") == python_scan(good.id)

    # Later postings still count while it is stale; the next run without the fault rebuilds it.
    more = post(world.contract, duration_s=1)
    assert served_balance(world, "brand") == python_scan(bad.id)
    monkeypatch.setattr(sequencer, "checkpoint_write", real_write)
    assert services.log_sequence() == 1
    proven(world, "brand", more)
    checkpoint.refresh_from_db()
    assert checkpoint.stale_since is None and (checkpoint.debits, checkpoint.credits) == python_scan(bad.id)
    assert served_balance(world, "brand") == python_scan(bad.id)


def test_a_checkpoint_at_the_columns_bound_stops_nobody(world, post, caplog):
    """The overflow of the issue, forced: a checkpoint total at 10^38 − 1, so adding the
    next posting passes the column's bound (PostgreSQL NUMERIC(38, 0); SQLite: the
    writer's own check)."""
    post(world.contract)
    services.log_sequence()
    bad = receivable_of(world.brand)
    BalanceCheckpoint.objects.filter(account=bad).update(debits=TOTAL_LIMIT - 1)
    mine, theirs = post(world.contract, duration_s=2), post(world.other_contract, duration_s=2)
    with caplog.at_level(logging.ERROR, logger="ledger.log.sequencer"):
        assert services.log_sequence() == 2
    proven(world, "other_brand", theirs)
    proven(world, "performer", mine)
    assert BalanceCheckpoint.objects.get(account=bad).stale_since is not None
    assert "OverflowError" in BalanceCheckpoint.objects.get(account=bad).stale_reason
    # The fallback sums the postings, so the corrupt total is not served.
    assert served_balance(world, "brand") == python_scan(bad.id)
    # The next run rebuilds it from the postings.
    services.log_sequence()
    assert BalanceCheckpoint.objects.get(account=bad).stale_since is None
    assert BalanceCheckpoint.objects.get(account=bad).debits == python_scan(bad.id)[0]


def test_an_unreadable_checkpoint_stops_nobody(world, post, vendor):
    """A checkpoint row whose value cannot even be read back as an integer (SQLite's TEXT
    column can hold one; PostgreSQL's NUMERIC refuses to store it — checked too)."""
    post(world.contract)
    services.log_sequence()
    bad = receivable_of(world.brand)
    if vendor != "sqlite":
        with pytest.raises(DataError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE ledger_balancecheckpoint SET debits = 'garbage' WHERE account_id = %s", [bad.id])
        return
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_balancecheckpoint SET debits = 'garbage' WHERE account_id = %s", [bad.id])
    theirs = post(world.other_contract)
    post(world.contract)
    assert services.log_sequence() == 2
    proven(world, "other_brand", theirs)
    assert served_balance(world, "brand") == python_scan(bad.id)


def raw_transaction_with_meta(accounts, meta_json):
    """A balanced transaction written around the services, as a database user could:
    its ``meta`` is not valid in a Merkle leaf."""
    txn_id = new_transaction_id()
    with transaction.atomic(), connection.cursor() as cursor:
        for account, side in ((accounts[0], "debit"), (accounts[1], "credit")):
            cursor.execute("INSERT INTO ledger_posting (transaction_id, account_id, side, amount, currency, created_at) "
                           "VALUES (%s, %s, %s, 100, 'USD', %s)",
                           [txn_id, account.id, side, connection.ops.adapt_datetimefield_value(timezone.now())])
        cursor.execute("INSERT INTO ledger_transaction (id, kind, reference, meta, posting_count, idempotency_key, "
                       "request_hash, created_at) VALUES (%s, 'adjustment', 'raw', %s, 2, %s, '-', %s)",
                       [txn_id, meta_json, f"raw-{txn_id}", connection.ops.adapt_datetimefield_value(timezone.now())])
    return txn_id


def test_a_transaction_whose_leaf_cannot_be_built_is_quarantined_not_blocking(world, post, caplog):
    brand_receivable = receivable_of(world.brand)
    payable = services.account_get_or_create(party=world.performer, purpose=AccountPurpose.PAYABLE, currency="USD")
    first = post(world.contract)
    bad = [raw_transaction_with_meta((brand_receivable, payable), json.dumps({"rate": 1.5})),
           raw_transaction_with_meta((brand_receivable, payable), json.dumps({"big": 2**60}))]
    theirs = post(world.other_contract)
    with caplog.at_level(logging.ERROR, logger="ledger.log.sequencer"):
        assert services.log_sequence(max_batch=2) == 2  # the bad ones are at the head of the queue: passed over
    assert set(LogLeaf.objects.values_list("transaction_id", flat=True)) == {first.id, theirs.id}
    proven(world, "other_brand", theirs)
    proven(world, "brand", first)
    quarantined = LogPending.objects.filter(quarantined_at__isnull=False)
    assert set(quarantined.values_list("transaction_id", flat=True)) == set(bad)
    assert "float is not allowed" in quarantined.get(transaction_id=bad[0]).quarantine_reason
    assert sum(bad[0] in r.getMessage() and "quarantined" in r.getMessage() for r in caplog.records) == 1
    # It stays out of the log (not retried every run) but in the balances, and says why to a reader.
    assert services.log_sequence() == 0
    assert served_balance(world, "brand") == python_scan(brand_receivable.id)
    response = world.client("brand").get(INC, {"transaction": bad[0]})
    assert response.status_code == 409 and response.json()["error"]["code"] == "log_quarantined"
    assert selectors.log_quarantined(transaction_id=bad[0])
    assert Posting.objects.filter(transaction_id__in=bad).count() == 4


def test_a_checkpoint_that_keeps_failing_is_retried_with_backoff_not_on_every_run(world, post, monkeypatch):
    """Each rebuild sums the account's postings: a fault that persists must not cost that on every nudge."""
    bad = receivable_of(world.brand)
    real_write = sequencer.checkpoint_write
    attempts = []

    def failing_for_one(totals, **kwargs):
        if bad.id in totals:
            attempts.append(dict(totals))
            raise RuntimeError("forced, and it stays broken")
        return real_write(totals, **kwargs)

    monkeypatch.setattr(sequencer, "checkpoint_write", failing_for_one)
    post(world.contract)
    services.log_sequence()  # marked stale (all at once, then alone: 2 attempts)
    services.log_sequence()  # the rebuild fails (2 attempts): backed off
    assert len(attempts) == 4
    theirs = post(world.other_contract)
    services.log_sequence()
    services.log_sequence()
    assert len(attempts) == 4, "no rebuild within the backoff"
    proven(world, "other_brand", theirs)
    monkeypatch.setattr(sequencer, "REPAIR_BACKOFF_S", 0.0)
    monkeypatch.setattr(sequencer, "checkpoint_write", real_write)
    services.log_sequence()
    assert BalanceCheckpoint.objects.get(account=bad).stale_since is None
    assert served_balance(world, "brand") == python_scan(bad.id)
