"""Migration 0004: existing holds get their platform column from ``meta.platform``."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from ledger.models import Hold
from tests.ledger.factories import make_world

BEFORE = [("ledger", "0003_lean_indexes")]
AFTER = [("ledger", "0004_hold_platform")]


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
    finally:
        migrate(AFTER)
    assert dict(Hold.objects.values_list("reference", "platform")) == {
        "open": "youtube", "voided": "tiktok", "none": None, "number": None, "long": None}
    assert Hold.objects.get(reference="open").meta == metas["open"]
    # The trigger lifted for the backfill is back: a closed hold never changes.
    with pytest.raises(DatabaseError), transaction.atomic():
        Hold.objects.filter(reference="voided").update(platform="other")
