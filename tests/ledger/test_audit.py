"""``python -m ledger.audit`` against a real server (pytest-django ``live_server``),
as a separate process that speaks only HTTP. Tampering is done the way a
database superuser would: around the triggers."""

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import connection

from ledger import services
from ledger.log import checkpoint as cp
from ledger.models import LogNode, Posting, node_key
from tests.ledger.factories import make_world

pytestmark = pytest.mark.django_db(transaction=True)
REPO = Path(__file__).resolve().parents[2]


def run_audit(live_server, key, *extra, worker=None):
    """The auditor as a separate process. ``worker``: what the server's worker does
    while the audit runs — called once the auditor has read the tree head, e.g. the
    sequencer logging what the head did not cover yet (the web requests never do)."""
    args = [sys.executable, "-m", "ledger.audit", "--url", live_server.url, "--key", key, *extra]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen = []
    if worker is not None:
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("checkpoint:"):
                worker()
                break
    stdout, stderr = proc.communicate(timeout=180)
    return subprocess.CompletedProcess(args, proc.returncode, "".join(seen) + stdout, stderr)


@contextmanager
def triggers_bypassed(table):
    """What a superuser can do: PostgreSQL ``session_replication_role = replica``
    (no triggers fire); SQLite: drop the table's triggers, put them back after."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
            try:
                yield cursor
            finally:
                cursor.execute("SET session_replication_role = DEFAULT")
        else:
            cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [table])
            saved = cursor.fetchall()
            for name, _ in saved:
                cursor.execute(f'DROP TRIGGER "{name}"')
            try:
                yield cursor
            finally:
                for _, sql in saved:
                    cursor.execute(sql)


@pytest.fixture
def ledger_world(post):
    world = make_world()
    first = post(world.contract, duration_s=3.2)
    post(world.contract, duration_s=8)
    today = date.today()
    services.revenue_share_book(contract=world.contract, gross=40_000, currency="USD", period_start=today,
                                period_end=today, idempotency_key="sale")
    services.transaction_reverse(transaction=first, reason="refund", idempotency_key="refund")
    services.log_sequence(max_batch=3, max_batches=1)  # three logged, one still pending
    return world


@pytest.mark.parametrize("who", ["performer", "union", "brand"])
def test_a_clean_ledger_passes_and_the_state_pins_the_log(live_server, ledger_world, post, tmp_path, who):
    state = tmp_path / "audit.json"
    # The head it reads has 3 leaves; the worker logs the 4th meanwhile, and the auditor
    # proves it under a newer, consistent head after the Retry-After it was given.
    result = run_audit(live_server, ledger_world.keys[who], "--state", str(state), worker=services.log_sequence)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "AUDIT PASSED" in result.stdout
    assert "checkpoint: doppel.local/ledger size 3" in result.stdout
    assert "4 visible, 4 verified" in result.stdout
    saved = json.loads(state.read_text())
    assert saved["size"] == 4 and saved["verifier_key"].startswith("doppel.local/ledger+")

    post(ledger_world.contract, duration_s=1)
    services.log_sequence()
    again = run_audit(live_server, ledger_world.keys[who], "--state", str(state))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "consistent with the previous checkpoint of size 4" in again.stdout
    assert json.loads(state.read_text())["size"] == 5


def test_a_transaction_the_worker_has_not_logged_yet_is_pending_not_failed(live_server, ledger_world, tmp_path):
    state = tmp_path / "audit.json"
    result = run_audit(live_server, ledger_world.keys["brand"], "--state", str(state))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 visible, 3 verified in the log, 1 pending" in result.stdout
    assert "too recent for the signed log; check again later" in result.stdout
    assert json.loads(state.read_text())["size"] == 3


def test_a_log_without_a_signed_head_yet_is_waited_for_then_could_not_run(live_server, db):
    world = make_world()  # nothing sequenced: no tree head at all
    result = run_audit(live_server, world.keys["brand"])
    assert result.returncode == 2, result.stdout + result.stderr
    assert "tree-head answered 409" in result.stderr and "no signed tree head yet" in result.stderr


def test_an_altered_posting_is_detected(live_server, ledger_world, tmp_path):
    state = tmp_path / "audit.json"
    assert run_audit(live_server, ledger_world.keys["performer"], "--state", str(state),
                     worker=services.log_sequence).returncode == 0
    royalty = Posting.objects.filter(account__purpose="payable", transaction__kind="royalty").order_by("id").last()
    receivable = Posting.objects.get(transaction=royalty.transaction, account__purpose="receivable")
    # Keep it balanced, so only the Merkle log can tell: +100 to the performer, +100 on the brand.
    with triggers_bypassed("ledger_posting") as cursor:
        cursor.execute("UPDATE ledger_posting SET amount = amount + 100 WHERE id IN (%s, %s)",
                       [royalty.id, receivable.id])
    assert Posting.objects.get(id=royalty.id).amount == royalty.amount + 100

    result = run_audit(live_server, ledger_world.keys["performer"], "--state", str(state))
    assert result.returncode == 1
    assert f"transaction {royalty.transaction_id}: ALTERED after it was logged" in result.stderr
    assert "AUDIT FAILED" in result.stderr
    assert json.loads(state.read_text())["size"] == 4, "a failed audit does not move the pinned checkpoint"


def test_an_unbalanced_tamper_is_reported_as_such(live_server, ledger_world):
    victim = Posting.objects.filter(account__purpose="payable").order_by("id").first()
    with triggers_bypassed("ledger_posting") as cursor:
        cursor.execute("UPDATE ledger_posting SET amount = 1 WHERE id = %s", [victim.id])
    result = run_audit(live_server, ledger_world.keys["union"])
    assert result.returncode == 1
    assert f"transaction {victim.transaction_id}: unbalanced in USD" in result.stderr
    assert f"transaction {victim.transaction_id}: ALTERED" in result.stderr


def test_a_rewritten_history_is_detected_by_consistency(live_server, ledger_world, post, tmp_path):
    services.log_sequence()
    state = tmp_path / "audit.json"
    assert run_audit(live_server, ledger_world.keys["brand"], "--state", str(state)).returncode == 0
    # Size 4 is stored as the perfect subtree (level 2, index 0). Rewrite it, then let the log grow:
    # every new head is computed over the rewritten past.
    with triggers_bypassed("ledger_lognode") as cursor:
        cursor.execute("UPDATE ledger_lognode SET hash = %s WHERE id = %s", ["00" * 32, node_key(2, 0)])
    assert LogNode.objects.get(id=node_key(2, 0)).hash == "00" * 32
    post(ledger_world.contract)
    services.log_sequence()
    result = run_audit(live_server, ledger_world.keys["brand"], "--state", str(state))
    assert result.returncode == 1
    assert "consistency 4 → 5: the new log does not extend the old one" in result.stderr


def test_a_checkpoint_under_another_key_fails(live_server, ledger_world):
    stranger = Ed25519PrivateKey.generate()
    vkey = cp.verifier_key("doppel.local/ledger", cp.raw_public_key(stranger.public_key()))
    result = run_audit(live_server, ledger_world.keys["performer"], "--verifier-key", vkey)
    assert result.returncode == 1
    assert "the log presents key" in result.stderr and "does not verify" in result.stderr


def test_an_unreachable_server_is_an_error_not_a_pass(db):
    result = subprocess.run([sys.executable, "-m", "ledger.audit", "--url", "http://127.0.0.1:9", "--key", "x"],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "audit could not run" in result.stderr
