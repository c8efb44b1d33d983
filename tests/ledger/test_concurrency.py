"""Races and crashes with real threads and a real process, on committed data
(``transactional_db``), on SQLite and PostgreSQL."""

import os
import subprocess
import sys
import textwrap
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from ledger import selectors, services
from ledger.log import checkpoint as cp
from ledger.log import merkle
from ledger.models import Hold, LogLeaf, LogPending, Posting, Transaction, TreeHead
from tests.ledger.factories import make_contract, make_world
from tests.ledger.test_log import full_scan
from tests.ledger.test_merkle import ref_mth

pytestmark = pytest.mark.django_db(transaction=True)
REPO = Path(__file__).resolve().parents[2]


def race(n, fn):
    """Run fn(i) in n threads released together; return ("ok", value) or ("error", exc) each."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def target(i):
        try:
            barrier.wait(timeout=30)
            results[i] = ("ok", fn(i))
        except Exception as exc:  # collected and asserted on below
            results[i] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(r is not None for r in results), "a thread did not finish"
    return results


@pytest.mark.parametrize(("max_renders", "contenders"), [(1, 8), (3, 10)])
def test_concurrent_holds_never_exceed_the_quota(max_renders, contenders):
    world = make_world()
    contract = make_contract(performer=world.performer, brand=world.brand, max_renders=max_renders)
    results = race(contenders, lambda i: services.hold_create(
        contract=contract, reference=f"race-{i}", idempotency_key=f"race-hold-{i}"))
    won = [r for status, r in results if status == "ok"]
    lost = [r for status, r in results if status == "error"]
    assert len(won) == max_renders
    assert len(lost) == contenders - max_renders
    assert all(isinstance(exc, services.QuotaExceeded) for exc in lost), lost
    contract.refresh_from_db()
    assert (contract.renders_held, contract.renders_used) == (max_renders, 0)
    assert Hold.objects.filter(contract=contract).count() == max_renders


def test_concurrent_posts_of_one_hold_book_it_once():
    world = make_world()
    hold = services.hold_create(contract=world.contract, reference="once", idempotency_key="once-hold")
    results = race(6, lambda i: services.hold_post(hold=hold.id, duration_s=7, idempotency_key=f"once-post-{i}"))
    assert all(status == "ok" for status, _ in results), results
    assert {txn.id for _, txn in results} == {hold.royalty_transaction_id}
    assert Transaction.objects.filter(hold_id=hold.id).count() == 1
    world.contract.refresh_from_db()
    assert (world.contract.renders_held, world.contract.renders_used) == (0, 1)


def test_the_same_key_posted_concurrently_replays():
    world = make_world()
    hold = services.hold_create(contract=world.contract, reference="same", idempotency_key="same-hold")
    results = race(4, lambda i: services.hold_post(hold=hold.id, duration_s=2, idempotency_key="same-post"))
    assert {txn.id for status, txn in results if status == "ok"} == {hold.royalty_transaction_id}
    assert all(status == "ok" for status, _ in results), results


def test_the_sweeper_racing_deliveries_never_double_books():
    world = make_world()
    now = timezone.now()
    holds = [services.hold_create(contract=world.contract, reference=f"sweep-{i}", idempotency_key=f"sweep-h-{i}",
                                  expires_at=now + timedelta(seconds=60)) for i in range(12)]

    def work(i):
        if i == 0:
            return services.holds_sweep(now=now + timedelta(minutes=5))
        outcomes = []
        for hold in holds[i - 1::3]:
            try:
                outcomes.append(services.hold_post(hold=hold.id, duration_s=1, idempotency_key=f"deliver-{hold.id}"))
            except services.HoldNotOpen:
                outcomes.append(None)
        return outcomes

    results = race(4, work)
    assert all(status == "ok" for status, _ in results), results
    posted = Hold.objects.filter(status="posted").count()
    voided = Hold.objects.filter(status="voided").count()
    assert posted + voided == 12
    assert results[0][1] == voided
    assert Transaction.objects.filter(hold__isnull=False).count() == posted
    assert not Transaction.objects.filter(hold__status="voided").exists()
    world.contract.refresh_from_db()
    assert (world.contract.renders_held, world.contract.renders_used) == (0, posted)


def test_concurrent_sequencers_and_writers_build_one_consistent_log():
    world = make_world()

    def work(i):
        if i < 3:  # writers
            for j in range(8):
                hold = services.hold_create(contract=world.contract, reference=f"w{i}-{j}",
                                            idempotency_key=f"w{i}-{j}-h")
                services.hold_post(hold=hold, duration_s=j, idempotency_key=f"w{i}-{j}-p")
            return None
        return sum(services.log_sequence(max_batch=3, max_batches=2) for _ in range(6))

    results = race(5, work)
    assert all(status == "ok" for status, _ in results), results
    services.log_sequence()
    assert not LogPending.objects.exists()
    indexes = list(LogLeaf.objects.order_by("index").values_list("index", "transaction_id"))
    assert [i for i, _ in indexes] == list(range(24))
    assert len({t for _, t in indexes}) == 24 == Transaction.objects.count()
    head = TreeHead.objects.order_by("-size").first()
    root = cp.open_checkpoint(head.checkpoint, cp.parse_verifier_key(head.verifier_key)).root
    assert ref_mth([selectors.leaf_text_of(t).encode() for _, t in indexes]) == root
    heads = list(TreeHead.objects.order_by("size"))
    for older, newer in zip(heads, heads[1:], strict=False):
        if older.size:
            proof = selectors.log_consistency_proof(first=older.size, second=newer.size)
            merkle.verify_consistency(older.size, newer.size, bytes.fromhex(older.root_hash),
                                      bytes.fromhex(newer.root_hash), proof)
    for row in selectors.balances_for_party(party=world.brand):
        assert (row["debits"], row["credits"]) == full_scan(row["account"])


def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or 5432
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{host}:{port}/{s['NAME']}"


CRASHING_WORKER = textwrap.dedent("""
    import os, sys
    import django
    django.setup()
    from django.db import transaction
    from ledger import services
    with transaction.atomic():
        txn = services.hold_post(hold=sys.argv[1], duration_s=9, idempotency_key="post:" + sys.argv[1])
        print(txn.id, flush=True)
        os._exit(17)  # the process dies after writing every leg, before COMMIT
""")


def test_a_worker_killed_before_commit_leaves_nothing_and_the_sweeper_cleans_up():
    world = make_world()
    retried = services.hold_create(contract=world.contract, reference="crash-1", idempotency_key="crash-1",
                                   expires_at=timezone.now() + timedelta(minutes=1))
    abandoned = services.hold_create(contract=world.contract, reference="crash-2", idempotency_key="crash-2",
                                     expires_at=timezone.now() + timedelta(minutes=1))
    connection.close()  # let the child have the database (SQLite: one writer at a time)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.test_settings", "DATABASE_URL": _database_url(),
           "DOPPEL_DATA_DIR": str(settings.DATA_DIR), "DOPPEL_LEDGER_SEQUENCE_NUDGE": "0"}
    for hold in (retried, abandoned):
        child = subprocess.run([sys.executable, "-c", CRASHING_WORKER, hold.id], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=120)
        assert child.returncode == 17, child.stderr
        assert child.stdout.strip() == hold.royalty_transaction_id  # it got as far as booking
    assert not Transaction.objects.exists() and not Posting.objects.exists()
    assert set(Hold.objects.values_list("status", flat=True)) == {"open"}
    world.contract.refresh_from_db()
    assert (world.contract.renders_held, world.contract.renders_used) == (2, 0)

    # The retried delivery books once; the abandoned hold expires and is swept.
    txn = services.hold_post(hold=retried.id, duration_s=9, idempotency_key=f"post:{retried.id}")
    assert services.hold_post(hold=retried.id, duration_s=9, idempotency_key=f"post:{retried.id}") == txn
    assert services.holds_sweep(now=timezone.now() + timedelta(minutes=2)) == 1
    with pytest.raises(services.HoldNotOpen):
        services.hold_post(hold=abandoned.id, duration_s=9, idempotency_key=f"post:{abandoned.id}")
    assert Transaction.objects.count() == 1
    world.contract.refresh_from_db()
    assert (world.contract.renders_held, world.contract.renders_used) == (0, 1)


def test_a_posting_slipped_into_an_uncommitted_transaction_is_refused():
    """Session B adds a balanced pair to session A's transaction before A commits,
    so B's insert cannot see the seal. On PostgreSQL the order is forced so that A
    commits first: then only the posting-level deferred trigger stands in B's way
    (the foreign key is satisfied; without that trigger B's pair gets in). On
    SQLite writers are serialized: B's insert waits for A's commit and meets the seal."""
    from django.db import IntegrityError
    from django.db import transaction as db_transaction

    from ledger.models import AccountPurpose, new_transaction_id
    from tests.ledger.test_invariants import raw_posting, raw_transaction

    world = make_world()
    receivable = services.account_get_or_create(party=world.brand, purpose=AccountPurpose.RECEIVABLE, currency="USD")
    payable = services.account_get_or_create(party=world.performer, purpose=AccountPurpose.PAYABLE, currency="USD")
    txn_id = new_transaction_id()
    interleave = connection.vendor == "postgresql"
    sealed, inserted, committed = threading.Event(), threading.Event(), threading.Event()

    def work(i):
        if i == 0:  # A: write and seal; commit once B has written (PostgreSQL)
            with db_transaction.atomic():
                raw_posting(txn_id, receivable, "debit", 100)
                raw_posting(txn_id, payable, "credit", 100)
                raw_transaction(txn_id, 2)
                sealed.set()
                if interleave:
                    assert inserted.wait(timeout=30)
            committed.set()
            return "committed"
        assert sealed.wait(timeout=30)
        try:
            with db_transaction.atomic():  # B: a balanced pair into A's transaction
                raw_posting(txn_id, receivable, "debit", 7)
                raw_posting(txn_id, payable, "credit", 7)
                inserted.set()
                if interleave:
                    assert committed.wait(timeout=30)  # so that B commits second
        finally:
            inserted.set()
        return "slipped in"

    results = race(2, work)
    assert results[0] == ("ok", "committed")
    assert results[1][0] == "error" and isinstance(results[1][1], IntegrityError), results[1]
    assert sorted(Posting.objects.filter(transaction_id=txn_id).values_list("amount", flat=True)) == [100, 100]


@pytest.mark.parametrize("contenders", [2, 6])
def test_first_royalties_of_a_party_posted_concurrently_all_book(contenders):
    """The first royalties of a brand and performer, posted at once by several workers,
    each create the same accounts: one insert wins, the others use its row (CI found
    two queue workers failing a delivery on the account's unique constraint)."""
    world = make_world()
    holds = [services.hold_create(contract=world.contract, reference=f"first-{i}", idempotency_key=f"first-{i}")
             for i in range(contenders)]
    results = race(contenders, lambda i: services.hold_post(hold=holds[i].id, duration_s=3,
                                                             idempotency_key=f"first-post-{i}"))
    assert all(status == "ok" for status, _ in results), results
    assert Transaction.objects.filter(hold__in=holds).count() == contenders
    from ledger.models import Account
    assert Account.objects.filter(party=world.performer, purpose="payable").count() == 1
