"""Hold.platform: a column (it picks the platform fee), filled from ``meta`` for callers
that pass the platform there only."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from common.errors import InvalidRequest
from ledger import selectors, services
from ledger.models import Hold, PlatformFee
from ledger.selectors import royalty_summary


def test_a_platform_given_in_meta_only_fills_the_column(world, key):
    hold = services.hold_create(contract=world.contract, reference=key(), idempotency_key=key(),
                                meta={"platform": "youtube", "category": "food"})
    hold.refresh_from_db()
    assert hold.platform == "youtube"
    assert hold.meta == {"platform": "youtube", "category": "food"}


def test_a_platform_given_as_keyword_is_kept_in_meta_too(world, key):
    hold = services.hold_create(contract=world.contract, reference=key(), idempotency_key=key(),
                                platform="youtube", meta={"category": "food"})
    hold.refresh_from_db()
    assert (hold.platform, hold.meta) == ("youtube", {"category": "food", "platform": "youtube"})


def test_the_keyword_and_meta_are_one_request(world, key):
    """Same platform by keyword or in meta: the same fingerprint, so the key replays."""
    hold_key, reference = key(), key()
    hold = services.hold_create(contract=world.contract, reference=reference, idempotency_key=hold_key,
                                meta={"platform": "youtube"})
    assert services.hold_create(contract=world.contract, reference=reference, idempotency_key=hold_key,
                                platform="youtube") == hold


@pytest.mark.parametrize("kwargs", [
    {"platform": "youtube", "meta": {"platform": "tiktok"}},
    {"platform": ""},
    {"platform": "p" * 33},
    {"platform": 7},
])
def test_a_bad_or_contradicting_platform_is_refused(world, key, kwargs):
    with pytest.raises(InvalidRequest) as exc:
        services.hold_create(contract=world.contract, reference=key(), idempotency_key=key(), **kwargs)
    assert "platform" in exc.value.extra["fields"]
    world.contract.refresh_from_db()
    assert world.contract.renders_held == 0


@pytest.mark.parametrize("meta", [{}, {"platform": 7}, {"platform": None}, {"platform": "p" * 33}])
def test_meta_without_a_usable_platform_leaves_the_column_empty(world, key, meta):
    hold = services.hold_create(contract=world.contract, reference=key(), idempotency_key=key(), meta=meta)
    hold.refresh_from_db()
    assert hold.platform is None and hold.meta == meta


def test_the_posting_charges_the_fee_of_the_hold_s_platform_column(world, key):
    PlatformFee.objects.create(platform="youtube", fee_bps=250)
    hold = services.hold_create(contract=world.contract, reference=key(), idempotency_key=key(), platform="youtube")
    # The column decides, not meta (which callers can no longer change the fee through).
    Hold.objects.filter(pk=hold.pk).update(meta={"platform": "tiktok"})
    txn = services.hold_post(hold=hold, duration_s=10, idempotency_key=key())
    assert royalty_summary(txn)["fee_amount"] == 15  # 250 bps of 600
    assert txn.meta["platform"] == "youtube" and txn.meta["fee_bps"] == 250


def test_usage_rows_read_the_column(world, key):
    hold = services.hold_create(contract=world.contract, reference=key(), idempotency_key=key(), platform="youtube")
    assert selectors.usage_row(Hold.objects.select_related("contract").get(pk=hold.pk))["platform"] == "youtube"


def test_posting_is_one_context_read_then_the_writes_in_one_batch(world, key):
    """The hot path keeps its shape: one locking SELECT, then every write of the
    delivery (postings, the sealing row, the quota counters through the statement
    ``rights.quota`` supplies, the hold's status) as fixed statements."""
    services.hold_post(hold=services.hold_create(contract=world.contract, reference=key(), idempotency_key=key()),
                       duration_s=1, idempotency_key=key())  # creates the accounts
    hold = services.hold_create(contract=world.contract, reference=key(), idempotency_key=key(), platform="tiktok")
    with CaptureQueriesContext(connection) as queries:
        services.hold_post(hold=hold, duration_s=3, idempotency_key=key())
    statements = [" ".join(q["sql"].split()[:3]) for q in queries.captured_queries
                  if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    if connection.vendor == "sqlite":  # Django's cursor, one statement at a time
        assert statements == ["SELECT h.status, h.void_reason,", "INSERT INTO ledger_posting",
                              "INSERT INTO ledger_transaction", "UPDATE rights_contract SET", "UPDATE ledger_hold SET"]
    else:  # prepared statements in one psycopg pipeline, which Django's query log does not see
        assert statements == []
