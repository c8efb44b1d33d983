"""The Merkle log as stored: batch sequencing, signed heads, proofs from storage,
the signing key at rest, and balances from checkpoints + pending postings."""

import json
import random

import pytest
from cryptography.hazmat.primitives import serialization
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Case, IntegerField, Sum, When

from ledger import conf, selectors, services
from ledger.log import checkpoint as cp
from ledger.log import keys, merkle
from ledger.log.leaf import leaf_text_from_listing
from ledger.models import BalanceCheckpoint, LogLeaf, LogPending, LogState, Posting, TreeHead
from ledger.serializers import TransactionOutSerializer
from tests.ledger.test_merkle import ref_mth


def verifier_of(head):
    return cp.parse_verifier_key(head.verifier_key)


def test_an_empty_log_gets_a_signed_empty_head(db):
    assert services.log_sequence() == 0
    head = TreeHead.objects.get()
    checkpoint = cp.open_checkpoint(head.checkpoint, verifier_of(head))
    assert (checkpoint.size, checkpoint.root) == (0, merkle.EMPTY_ROOT)
    assert checkpoint.origin == conf.log_origin() == "doppel.local/ledger"


def test_sequencing_runs_in_batches_with_one_signed_head_each(world, post):
    for _ in range(7):
        post(world.contract)
    assert LogPending.objects.count() == 7
    assert services.log_sequence(max_batch=3) == 7
    assert list(TreeHead.objects.order_by("size").values_list("size", flat=True)) == [3, 6, 7]
    assert LogState.objects.get().size == 7 and not LogPending.objects.exists()
    assert sorted(LogLeaf.objects.values_list("index", flat=True)) == list(range(7))
    assert services.log_sequence() == 0
    assert TreeHead.objects.count() == 3  # nothing new, no new head


def test_the_signed_root_is_the_rfc_root_of_the_leaves_as_listed(world, post, key):
    txns = [post(world.contract, duration_s=i + 0.5) for i in range(5)]
    services.revenue_share_book(contract=world.contract, gross=9999, currency="USD", period_start=txns[0].created_at.date(),
                                period_end=txns[0].created_at.date(), idempotency_key=key())
    services.transaction_reverse(transaction=txns[1], reason="dispute", idempotency_key=key())
    services.log_sequence(max_batch=4)
    head = TreeHead.objects.order_by("-size").first()
    checkpoint = cp.open_checkpoint(head.checkpoint, verifier_of(head))
    # Rebuild every leaf from the API representation, in leaf order, and hash with the reference MTH.
    leaves = LogLeaf.objects.order_by("index").select_related("transaction")
    texts = []
    for leaf in leaves:
        txn = selectors.transactions_visible(viewer=world.brand).get(id=leaf.transaction_id)
        texts.append(leaf_text_from_listing(json.loads(json.dumps(TransactionOutSerializer(txn).data))))
    assert checkpoint.size == 7
    assert ref_mth([t.encode() for t in texts]) == checkpoint.root
    document = json.loads(texts[0])
    assert set(document) == {"v", "id", "kind", "created_at", "contract", "hold", "reverses", "reference", "meta",
                             "postings"}
    assert texts[0] == json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert all(set(p) == {"account", "party", "purpose", "side", "amount", "currency"} for p in document["postings"])


def test_every_stored_proof_verifies_against_the_signed_heads(world, post):
    for round_size in (1, 2, 5, 3):
        for _ in range(round_size):
            post(world.contract)
        services.log_sequence(max_batch=2)
    heads = list(TreeHead.objects.order_by("size"))
    assert heads[-1].size == 11
    for head in heads:
        checkpoint = cp.open_checkpoint(head.checkpoint, verifier_of(head))
        for leaf in LogLeaf.objects.filter(index__lt=head.size):
            leaf_hash, path = selectors.log_inclusion(index=leaf.index, tree_size=head.size)
            assert leaf_hash == merkle.leaf_hash(selectors.leaf_text_of(leaf.transaction_id).encode())
            merkle.verify_inclusion(leaf_hash, leaf.index, head.size, path, checkpoint.root)
        for older in heads:
            if 0 < older.size <= head.size:
                proof = selectors.log_consistency_proof(first=older.size, second=head.size)
                merkle.verify_consistency(older.size, head.size, bytes.fromhex(older.root_hash), checkpoint.root,
                                          proof)
        assert selectors.log_root(head.size) == checkpoint.root


def test_the_log_key_is_encrypted_at_rest_and_reused(db):
    signer = keys.log_signer()
    path = conf.log_key_path()
    assert path.exists() and b"ENCRYPTED" in path.read_bytes()
    assert path.stat().st_mode & 0o077 == 0
    with pytest.raises(TypeError):  # no password: it is really encrypted
        serialization.load_pem_private_key(path.read_bytes(), password=None)
    keys._cache.clear()
    assert keys.log_signer().verifier_key == signer.verifier_key


def test_a_wrong_passphrase_is_a_loud_error(db, settings):
    keys.log_signer()
    keys._cache.clear()
    settings.DOPPEL_LOG_KEY_PASSPHRASE = "not the passphrase it was made with"
    try:
        with pytest.raises(ImproperlyConfigured, match="cannot be decrypted"):
            keys.log_signer()
    finally:
        keys._cache.clear()


def full_scan(account_id):
    totals = Posting.objects.filter(account_id=account_id).aggregate(
        d=Sum(Case(When(side="debit", then="amount"), default=0, output_field=IntegerField())),
        c=Sum(Case(When(side="credit", then="amount"), default=0, output_field=IntegerField())),
    )
    return totals["d"] or 0, totals["c"] or 0


def test_balances_are_checkpoint_plus_pending_and_always_equal_a_full_scan(world, post, key):
    rng = random.Random(7)
    for step in range(40):
        action = rng.random()
        if action < 0.6:
            post(world.contract, duration_s=rng.randint(0, 60))
        elif action < 0.75:
            txn = post(world.contract)
            services.transaction_reverse(transaction=txn, reason="r", idempotency_key=key())
        else:
            services.log_sequence(max_batch=rng.randint(1, 4), max_batches=1)
        for party in (world.brand, world.performer, world.union):
            for row in selectors.balances_for_party(party=party):
                assert (row["debits"], row["credits"]) == full_scan(row["account"]), f"step {step}"
    services.log_sequence()
    assert not LogPending.objects.exists()
    for checkpoint in BalanceCheckpoint.objects.all():
        assert (checkpoint.debits, checkpoint.credits) == full_scan(checkpoint.account_id)


def test_balances_are_signed_by_normal_side(world, post):
    post(world.contract, duration_s=10)
    brand = selectors.balances_for_party(party=world.brand)
    performer = selectors.balances_for_party(party=world.performer)
    union = selectors.balances_for_party(party=world.union)
    assert [(r["purpose"], r["balance"]) for r in brand] == [("receivable", 600 + 51 + 60)]
    assert [(r["purpose"], r["balance"]) for r in performer] == [("payable", 600)]
    assert [(r["purpose"], r["balance"]) for r in union] == [("pension_health", 51)]
