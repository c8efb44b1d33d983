"""Data migrations: 0004 (existing holds get their platform column from ``meta.platform``),
0005 (checkpoint totals become exact, existing sales claim their days), 0006 (kind settlement,
the CHECK widened in place: on SQLite by editing the stored schema)."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from ledger import services
from ledger.models import BalanceCheckpoint, Hold, SaleReport
from tests.ledger.factories import make_world

BEFORE = [("ledger", "0003_lean_indexes")]
AFTER = [("ledger", "0004_hold_platform")]
BEFORE_SETTLEMENT = [("ledger", "0005_exact_totals_quarantine_sales")]


def latest():
    """Every app's newest migration: each test leaves the database there (migrating the
    ledger back also unapplies the apps that depend on it, such as payments)."""
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_0004_backfills_the_platform_of_existing_holds_even_closed_ones():
    world = make_world()
    old = migrate(BEFORE)
    try:
        with connection.cursor() as cursor:
            assert "platform" not in {c.name for c in connection.introspection.get_table_description(cursor, "ledger_hold")}
        OldHold = old.get_model("ledger", "Hold")
        expires = timezone.now() + timedelta(hours=1)
        metas = {"open": {"platform": "youtube", "category": "food"}, "voided": {"platform": "tiktok"},
                 "none": {}, "number": {"platform": 7}, "long": {"platform": "p" * 33}}
        for name, meta in metas.items():
            OldHold.objects.create(contract_id=world.contract.id, reference=name, currency="USD", expected_amount=0,
                                   meta=meta, expires_at=expires, idempotency_key=name, request_hash="-")
        OldHold.objects.filter(reference="voided").update(status="voided", voided_at=timezone.now())
        migrate(AFTER)
    finally:
        migrate(latest())
    assert dict(Hold.objects.values_list("reference", "platform")) == {
        "open": "youtube", "voided": "tiktok", "none": None, "number": None, "long": None}
    assert Hold.objects.get(reference="open").meta == metas["open"]
    # The trigger lifted for the backfill is back: a closed hold never changes.
    with pytest.raises(DatabaseError), transaction.atomic():
        Hold.objects.filter(reference="voided").update(platform="other")


@pytest.mark.django_db(transaction=True)
def test_0005_keeps_checkpoint_totals_exact_and_existing_sales_claim_their_days():
    world = make_world()
    old = migrate(AFTER)
    try:
        Account, Posting, Transaction, Checkpoint = (old.get_model("ledger", name) for name in (
            "Account", "Posting", "Transaction", "BalanceCheckpoint"))
        receivable = Account.objects.create(party_id=world.brand.id, purpose="receivable", currency="USD")
        payable = Account.objects.create(party_id=world.performer.id, purpose="payable", currency="USD")
        today = timezone.now().date()
        with transaction.atomic():  # postings first, then the row that seals them
            for account, side in ((receivable, "debit"), (payable, "credit")):
                Posting.objects.create(transaction_id="txn_oldsale", account_id=account.id, side=side, amount=700,
                                       currency="USD")
            Transaction.objects.create(
                id="txn_oldsale", kind="revenue_share", contract_id=world.contract.id, posting_count=2,
                idempotency_key="old", request_hash="-", reference="sales",
                meta={"gross": 14_000, "period_start": (today - timedelta(days=3)).isoformat(),
                      "period_end": today.isoformat()})
        Checkpoint.objects.create(account_id=receivable.id, debits=2**63 - 1, credits=0)
    finally:
        migrate(latest())
    assert BalanceCheckpoint.objects.get(account_id=receivable.id).debits == 2**63 - 1
    [claimed] = SaleReport.objects.all()
    assert (claimed.transaction_id, claimed.period_start, claimed.period_end) == (
        "txn_oldsale", today - timedelta(days=3), today)
    with pytest.raises(services.SaleAlreadyReported):
        services.revenue_share_book(contract=world.contract, gross=14_000, currency="USD", period_start=today,
                                    period_end=today, idempotency_key="new key, same sale")


def _settlement(apps, world, key):
    Account, Posting, Transaction = (apps.get_model("ledger", n) for n in ("Account", "Posting", "Transaction"))
    cash, _ = Account.objects.get_or_create(party_id=None, purpose="stripe_cash", currency="USD")
    receivable, _ = Account.objects.get_or_create(party_id=world.brand.id, purpose="receivable", currency="USD")
    with transaction.atomic():
        for account, side in ((cash, "debit"), (receivable, "credit")):
            Posting.objects.create(transaction_id=f"txn_{key}", account_id=account.id, side=side, amount=5,
                                   currency="USD")
        Transaction.objects.create(id=f"txn_{key}", kind="settlement", posting_count=2, idempotency_key=key,
                                   request_hash="-")


@pytest.mark.django_db(transaction=True)
def test_0006_allows_settlements_and_keeps_the_append_only_triggers():
    from django.db import IntegrityError

    from ledger.models import Transaction
    world = make_world()
    old = migrate(BEFORE_SETTLEMENT)
    try:
        with pytest.raises(IntegrityError):
            _settlement(old, world, "before")
    finally:
        migrate(latest())
    _settlement(migrate(latest()), world, "after")
    assert Transaction.objects.get(id="txn_after").kind == "settlement"
    # The table's triggers survived the schema edit: append-only, sealed.
    with pytest.raises(DatabaseError), transaction.atomic():
        Transaction.objects.filter(id="txn_after").update(reference="changed")
    with pytest.raises(DatabaseError), transaction.atomic():
        Transaction.objects.filter(id="txn_after").delete()
