"""Data migrations: 0004 (existing holds get their platform column from ``meta.platform``),
0005 (checkpoint totals become exact, existing sales claim their days)."""

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
LATEST = [("ledger", "0005_exact_totals_quarantine_sales")]  # every test leaves the database here


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
        migrate(LATEST)
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
        migrate(LATEST)
    assert BalanceCheckpoint.objects.get(account_id=receivable.id).debits == 2**63 - 1
    [claimed] = SaleReport.objects.all()
    assert (claimed.transaction_id, claimed.period_start, claimed.period_end) == (
        "txn_oldsale", today - timedelta(days=3), today)
    with pytest.raises(services.SaleAlreadyReported):
        services.revenue_share_book(contract=world.contract, gross=14_000, currency="USD", period_start=today,
                                    period_end=today, idempotency_key="new key, same sale")
