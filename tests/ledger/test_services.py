"""ledger.services: holds, royalties, revenue shares, reversals, bad input, replays."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from common.errors import InvalidRequest, InvalidState
from ledger import services
from ledger.models import AccountPurpose, Hold, PlatformFee, Posting, Transaction
from ledger.selectors import royalty_summary
from ledger.services import Leg
from rights.models import Contract
from tests.ledger.factories import make_contract, make_party


def legs_of(txn):
    return sorted((p.account.purpose, p.account.party_id, p.side, p.amount, p.currency)
                  for p in txn.postings.select_related("account"))


# --- money ------------------------------------------------------------------------------


@pytest.mark.parametrize(("duration_s", "ms", "seconds"), [
    (0, 0, 0), (0.0004, 0, 0), (0.0005, 1, 1), (1, 1000, 1), (1.0004999, 1000, 1), (1.001, 1001, 2),
    (5.0000000001, 5000, 5), (59.9995, 60000, 60), (12, 12000, 12),
])
def test_durations_round_to_milliseconds_then_every_started_second_counts(duration_s, ms, seconds):
    assert services.duration_to_ms(duration_s) == ms
    assert services.billed_seconds(ms) == seconds


@pytest.mark.parametrize("bad", [-0.001, float("nan"), float("inf"), 86400.001, True, "5", None])
def test_impossible_durations_are_refused(bad):
    with pytest.raises(InvalidRequest):
        services.duration_to_ms(bad)


@pytest.mark.parametrize(("amount", "bps", "expected"), [
    (620, 850, 53),    # 52.70 → 53
    (100, 50, 1),      # 0.50 → 1 (half up)
    (100, 49, 0),      # 0.49 → 0
    (1, 5000, 1),      # 0.5 → 1
    (3, 1667, 1),      # 0.5001 → 1
    (0, 10000, 0),
    (2**52, 10000, 2**52),
])
def test_basis_points_round_half_up_in_integers(amount, bps, expected):
    assert services.bps_of(amount, bps) == expected


def test_a_royalty_books_every_leg_with_fee_and_pension_on_top(world, key):
    hold = services.hold_create(contract=world.contract, reference=key(), idempotency_key=key(),
                                expected_seconds=7.2, meta={"platform": "tiktok"})
    assert hold.expected_amount == 500 + 10 * 8
    txn = services.hold_post(hold=hold, duration_s=12.0004, idempotency_key=key())
    # performer 500 + 10 × 12 = 620; P&H 850 bps → 53; fee 1000 bps (default) → 62; brand pays 735.
    assert legs_of(txn) == sorted([
        ("receivable", world.brand.id, "debit", 735, "USD"),
        ("payable", world.performer.id, "credit", 620, "USD"),
        ("pension_health", world.union.id, "credit", 53, "USD"),
        ("platform_fee", None, "credit", 62, "USD"),
    ])
    assert txn.id == hold.royalty_transaction_id == services.hold_transaction_id(hold=hold.id)
    assert royalty_summary(txn) == {"transaction": txn.id, "currency": "USD", "performer_amount": 620,
                                    "union_amount": 53, "fee_amount": 62, "total": 735}
    hold.refresh_from_db()
    world.contract.refresh_from_db()
    assert (hold.status, hold.duration_ms) == ("posted", 12000)
    assert (world.contract.renders_held, world.contract.renders_used) == (0, 1)


def test_fee_is_configurable_per_platform_and_pension_per_union(world, key, settings):
    PlatformFee.objects.create(platform="youtube", fee_bps=250)
    settings.DOPPEL_DEFAULT_PH_BPS = 1200
    world.union.pension_health_bps = None  # falls back to the default
    world.union.save()
    hold = services.hold_create(contract=world.contract, reference=key(), idempotency_key=key(),
                                meta={"platform": "youtube"})
    txn = services.hold_post(hold=hold, duration_s=10, idempotency_key=key())
    summary = royalty_summary(txn)
    assert summary["performer_amount"] == 600
    assert summary["fee_amount"] == 15      # 250 bps of 600
    assert summary["union_amount"] == 72    # 1200 bps of 600
    assert txn.meta["fee_bps"] == 250 and txn.meta["ph_bps"] == 1200


def test_a_performer_without_a_union_pays_no_pension_and_a_zero_fee_leaves_no_leg(world, key, settings):
    settings.DOPPEL_PLATFORM_FEE_BPS = 0
    hold = services.hold_create(contract=world.other_contract, reference=key(), idempotency_key=key())
    txn = services.hold_post(hold=hold, duration_s=1, idempotency_key=key())
    assert legs_of(txn) == sorted([("receivable", world.other_brand.id, "debit", 510, "USD"),
                                   ("payable", world.other_performer.id, "credit", 510, "USD")])


def test_a_zero_royalty_render_is_still_booked_and_logged(world, key):
    free = make_contract(performer=world.performer, brand=world.brand, per_render=0, per_second=0)
    hold = services.hold_create(contract=free, reference=key(), idempotency_key=key())
    txn = services.hold_post(hold=hold, duration_s=30, idempotency_key=key())
    assert [amount for *_, amount, _c in legs_of(txn)] == [0, 0]
    assert services.log_sequence() >= 1


# --- holds -------------------------------------------------------------------------------


def test_quota_is_never_exceeded(world, key):
    small = make_contract(performer=world.performer, brand=world.brand, max_renders=2)
    first = services.hold_create(contract=small, reference=key(), idempotency_key=key())
    services.hold_create(contract=small, reference=key(), idempotency_key=key())
    with pytest.raises(services.QuotaExceeded):
        services.hold_create(contract=small, reference=key(), idempotency_key=key())
    services.hold_post(hold=first, duration_s=1, idempotency_key=key())
    with pytest.raises(services.QuotaExceeded):  # used + held still = max
        services.hold_create(contract=small, reference=key(), idempotency_key=key())
    small.refresh_from_db()
    assert (small.renders_used, small.renders_held) == (1, 1)


def test_void_releases_the_unit_and_is_idempotent(world, key):
    small = make_contract(performer=world.performer, brand=world.brand, max_renders=1)
    hold = services.hold_create(contract=small, reference=key(), idempotency_key=key())
    void_key = key()
    voided = services.hold_void(hold=hold, reason="render failed", idempotency_key=void_key)
    assert voided.status == "voided" and voided.void_reason == "render failed"
    assert services.hold_void(hold=hold, reason="render failed", idempotency_key=void_key) == voided
    assert services.hold_void(hold=hold.id, reason="again", idempotency_key=key()).status == "voided"
    small.refresh_from_db()
    assert small.renders_held == 0
    services.hold_create(contract=small, reference=key(), idempotency_key=key())  # the unit is free again
    with pytest.raises(services.IdempotencyConflict):
        services.hold_void(hold=hold, reason="another reason", idempotency_key=void_key)


def test_a_voided_hold_cannot_be_posted_and_a_posted_one_cannot_be_voided(world, key):
    voided = services.hold_create(contract=world.contract, reference=key(), idempotency_key=key())
    services.hold_void(hold=voided, reason="revoked", idempotency_key=key())
    with pytest.raises(services.HoldNotOpen):
        services.hold_post(hold=voided, duration_s=3, idempotency_key=key())
    posted = services.hold_create(contract=world.contract, reference=key(), idempotency_key=key())
    services.hold_post(hold=posted, duration_s=3, idempotency_key=key())
    with pytest.raises(services.HoldNotOpen):
        services.hold_void(hold=posted, reason="late failure", idempotency_key=key())
    assert not Transaction.objects.filter(hold=voided).exists()


def test_posting_a_posted_hold_returns_its_transaction(world, key):
    hold = services.hold_create(contract=world.contract, reference=key(), idempotency_key=key())
    post_key = key()
    txn = services.hold_post(hold=hold, duration_s=4, idempotency_key=post_key)
    assert services.hold_post(hold=hold, duration_s=4, idempotency_key=post_key) == txn  # replay
    assert services.hold_post(hold=hold.id, duration_s=4, idempotency_key=key()) == txn  # other key
    with pytest.raises(services.IdempotencyConflict):
        services.hold_post(hold=hold, duration_s=5, idempotency_key=post_key)
    assert Transaction.objects.filter(hold=hold).count() == 1
    world.contract.refresh_from_db()
    assert world.contract.renders_used == 1


def test_a_post_key_reused_for_another_hold_is_a_conflict(world, key):
    first = services.hold_create(contract=world.contract, reference=key(), idempotency_key=key())
    second = services.hold_create(contract=world.contract, reference=key(), idempotency_key=key())
    post_key = key()
    services.hold_post(hold=first, duration_s=2, idempotency_key=post_key)
    with pytest.raises(services.IdempotencyConflict):
        services.hold_post(hold=second, duration_s=2, idempotency_key=post_key)
    second.refresh_from_db()
    world.contract.refresh_from_db()
    assert second.status == "open" and not Transaction.objects.filter(hold=second).exists()
    assert (world.contract.renders_held, world.contract.renders_used) == (1, 1)


def test_hold_create_replays_and_refuses_reuse(world, key):
    hold_key, ref = key(), key()
    hold = services.hold_create(contract=world.contract, reference=ref, idempotency_key=hold_key,
                                expected_seconds=3, meta={"platform": "tiktok"})
    again = services.hold_create(contract=world.contract, reference=ref, idempotency_key=hold_key,
                                 expected_seconds=3, meta={"platform": "tiktok"})
    assert again == hold
    with pytest.raises(services.IdempotencyConflict):
        services.hold_create(contract=world.contract, reference=ref, idempotency_key=hold_key, expected_seconds=4,
                             meta={"platform": "tiktok"})
    with pytest.raises(InvalidState, match="reference"):
        services.hold_create(contract=world.contract, reference=ref, idempotency_key=key())
    world.contract.refresh_from_db()
    assert world.contract.renders_held == 1


@pytest.mark.parametrize(("field", "kwargs"), [
    ("idempotency_key", {"idempotency_key": ""}),
    ("idempotency_key", {"idempotency_key": "x" * 256}),
    ("reference", {"reference": ""}),
    ("meta", {"meta": {"nested": {"a": 1}}}),
    ("meta", {"meta": {"price": 1.5}}),
    ("meta", {"meta": ["a"]}),
    ("expires_at", {"expires_at": timezone.now() - timedelta(seconds=1)}),
    ("duration_s", {"expected_seconds": -1}),
])
def test_hold_create_refuses_bad_input(world, key, field, kwargs):
    args = {"contract": world.contract, "reference": key(), "idempotency_key": key(), **kwargs}
    with pytest.raises(InvalidRequest) as exc:
        services.hold_create(**args)
    assert field in exc.value.extra["fields"]
    world.contract.refresh_from_db()
    assert world.contract.renders_held == 0


def test_unknown_holds(db, key):
    with pytest.raises(services.HoldNotFound):
        services.hold_post(hold="hld_nope", duration_s=1, idempotency_key=key())
    with pytest.raises(services.HoldNotFound):
        services.hold_void(hold="hld_nope", reason="x", idempotency_key=key())


def test_the_sweeper_voids_expired_holds_only(world, key):
    now = timezone.now()
    soon = services.hold_create(contract=world.contract, reference=key(), idempotency_key=key(),
                                expires_at=now + timedelta(minutes=5))
    later = services.hold_create(contract=world.contract, reference=key(), idempotency_key=key(),
                                 expires_at=now + timedelta(hours=5))
    posted = services.hold_create(contract=world.contract, reference=key(), idempotency_key=key(),
                                  expires_at=now + timedelta(minutes=5))
    services.hold_post(hold=posted, duration_s=1, idempotency_key=key())
    assert services.holds_sweep(now=now + timedelta(minutes=10)) == 1
    assert services.holds_sweep(now=now + timedelta(minutes=10)) == 0  # idempotent
    statuses = dict(Hold.objects.values_list("id", "status"))
    assert (statuses[soon.id], statuses[later.id], statuses[posted.id]) == ("voided", "open", "posted")
    world.contract.refresh_from_db()
    assert (world.contract.renders_held, world.contract.renders_used) == (1, 1)


def test_a_crash_between_hold_and_post_is_cleaned_up_without_double_booking(world, key):
    """The worker dies after the hold: the sweeper releases it, the late retry of
    the post is refused, and nothing is charged."""
    hold = services.hold_create(contract=world.contract, reference=key(), idempotency_key=key(),
                                expires_at=timezone.now() + timedelta(minutes=1))
    assert services.holds_sweep(now=timezone.now() + timedelta(minutes=2)) == 1
    with pytest.raises(services.HoldNotOpen):
        services.hold_post(hold=hold, duration_s=8, idempotency_key=key())
    assert not Posting.objects.filter(transaction__hold=hold).exists()
    world.contract.refresh_from_db()
    assert (world.contract.renders_held, world.contract.renders_used) == (0, 0)


# --- revenue share and reversals ----------------------------------------------------------


def test_revenue_share_is_booked_once_per_key(world, key):
    sale_key = key()
    today = date.today()
    txn = services.revenue_share_book(contract=world.contract, gross=100_001, currency="USD", period_start=today,
                                      period_end=today, idempotency_key=sale_key)
    # 500 bps of 100,001 = 5,000.05 → 5,000; P&H 850 bps → 425; fee 1000 bps → 500.
    assert legs_of(txn) == sorted([
        ("receivable", world.brand.id, "debit", 5925, "USD"),
        ("payable", world.performer.id, "credit", 5000, "USD"),
        ("pension_health", world.union.id, "credit", 425, "USD"),
        ("platform_fee", None, "credit", 500, "USD"),
    ])
    assert txn.meta["gross"] == 100_001 and txn.meta["revenue_share_bps"] == 500
    assert services.revenue_share_book(contract=world.contract, gross=100_001, currency="USD", period_start=today,
                                       period_end=today, idempotency_key=sale_key) == txn
    with pytest.raises(services.IdempotencyConflict):
        services.revenue_share_book(contract=world.contract, gross=100_002, currency="USD", period_start=today,
                                    period_end=today, idempotency_key=sale_key)
    assert Transaction.objects.filter(kind="revenue_share").count() == 1


def test_revenue_share_refuses_mismatches(world, key):
    today = date.today()
    with pytest.raises(services.CurrencyMismatch):
        services.revenue_share_book(contract=world.contract, gross=100, currency="EUR", period_start=today,
                                    period_end=today, idempotency_key=key())
    with pytest.raises(InvalidState):  # no revenue share in this contract
        services.revenue_share_book(contract=world.other_contract, gross=100, currency="USD", period_start=today,
                                    period_end=today, idempotency_key=key())
    with pytest.raises(InvalidRequest):
        services.revenue_share_book(contract=world.contract, gross=-100, currency="USD", period_start=today,
                                    period_end=today, idempotency_key=key())
    with pytest.raises(InvalidRequest):
        services.revenue_share_book(contract=world.contract, gross=100, currency="USD", period_start=today,
                                    period_end=today - timedelta(days=1), idempotency_key=key())
    with pytest.raises(InvalidRequest):
        services.revenue_share_book(contract=world.contract, gross=100, currency="USD",
                                    period_start=today + timedelta(days=900), period_end=today + timedelta(days=901),
                                    idempotency_key=key())
    assert not Transaction.objects.exists()


def test_a_reversal_swaps_every_leg_once(world, key, post):
    txn = post(world.contract, duration_s=3)
    reverse_key = key()
    reversal = services.transaction_reverse(transaction=txn, reason="disputed", idempotency_key=reverse_key)
    swap = {"debit": "credit", "credit": "debit"}
    assert legs_of(reversal) == sorted((pu, pa, swap[s], a, c) for pu, pa, s, a, c in legs_of(txn))
    assert reversal.reverses_id == txn.id and reversal.kind == "reversal"
    assert royalty_summary(reversal)["performer_amount"] == -530
    assert services.transaction_reverse(transaction=txn, reason="disputed", idempotency_key=reverse_key) == reversal
    with pytest.raises(services.AlreadyReversed):
        services.transaction_reverse(transaction=txn, reason="again", idempotency_key=key())
    with pytest.raises(InvalidState):
        services.transaction_reverse(transaction=reversal, reason="undo the undo", idempotency_key=key())


# --- free-form transactions: the bad-input matrix ----------------------------------------


@pytest.fixture
def accounts(world):
    return {
        "r": services.account_get_or_create(party=world.brand, purpose=AccountPurpose.RECEIVABLE, currency="USD"),
        "p": services.account_get_or_create(party=world.performer, purpose=AccountPurpose.PAYABLE, currency="USD"),
        "c": services.account_get_or_create(party=None, purpose=AccountPurpose.STRIPE_CASH, currency="USD"),
    }


@pytest.mark.parametrize(("error", "legs"), [
    (services.UnbalancedTransaction, lambda a: [Leg(a["p"], "debit", 100, "USD"), Leg(a["c"], "credit", 99, "USD")]),
    (services.UnbalancedTransaction, lambda a: [Leg(a["p"], "debit", 100, "USD")]),
    (services.InvalidAmount, lambda a: [Leg(a["p"], "debit", -100, "USD"), Leg(a["c"], "debit", 100, "USD")]),
    (services.InvalidAmount, lambda a: [Leg(a["p"], "debit", True, "USD"), Leg(a["c"], "credit", True, "USD")]),
    (services.InvalidAmount, lambda a: [Leg(a["p"], "debit", 1.0, "USD"), Leg(a["c"], "credit", 1.0, "USD")]),
    (services.InvalidAmount, lambda a: [Leg(a["p"], "debit", 2**53, "USD"), Leg(a["c"], "credit", 2**53, "USD")]),
    (services.CurrencyMismatch, lambda a: [Leg(a["p"], "debit", 100, "EUR"), Leg(a["c"], "credit", 100, "EUR")]),
    (services.UnknownAccount, lambda a: [Leg("acc_missing", "debit", 1, "USD"), Leg(a["c"], "credit", 1, "USD")]),
    (services.InvalidPosting, lambda a: [Leg(a["p"], "left", 1, "USD"), Leg(a["c"], "credit", 1, "USD")]),
])
def test_transaction_record_refuses_bad_postings(accounts, key, error, legs):
    with pytest.raises(error):
        services.transaction_record(kind="payout", legs=legs(accounts), idempotency_key=key())
    assert not Transaction.objects.exists() and not Posting.objects.exists()


def test_transaction_record_books_and_replays(accounts, key):
    payout_key = key()
    legs = [Leg(accounts["p"], "debit", 400, "USD"), Leg(accounts["c"].id, "credit", 400, "USD")]
    txn = services.transaction_record(kind="payout", legs=legs, idempotency_key=payout_key, reference="po_1")
    assert services.transaction_record(kind="payout", legs=legs, idempotency_key=payout_key,
                                       reference="po_1") == txn
    with pytest.raises(services.IdempotencyConflict):
        services.transaction_record(kind="payout", legs=legs[::-1], idempotency_key=payout_key, reference="po_1")
    with pytest.raises(InvalidRequest):
        services.transaction_record(kind="royalty", legs=legs, idempotency_key=key())


def test_accounts_belong_to_the_right_kind_of_party(world):
    with pytest.raises(services.InvalidPosting):
        services.account_get_or_create(party=world.performer, purpose=AccountPurpose.RECEIVABLE, currency="USD")
    with pytest.raises(services.InvalidPosting):
        services.account_get_or_create(party=world.brand, purpose=AccountPurpose.PLATFORM_FEE, currency="USD")
    a = services.account_get_or_create(party=None, purpose=AccountPurpose.PLATFORM_FEE, currency="USD")
    assert services.account_get_or_create(party=None, purpose=AccountPurpose.PLATFORM_FEE, currency="USD") == a


def test_a_contract_in_another_currency_books_in_that_currency(world, key):
    eur = make_contract(performer=world.performer, brand=world.brand, currency="EUR", per_render=100, per_second=0)
    hold = services.hold_create(contract=eur, reference=key(), idempotency_key=key())
    txn = services.hold_post(hold=hold, duration_s=1, idempotency_key=key())
    assert {p.currency for p in txn.postings.all()} == {"EUR"}
    assert {p.account.currency for p in txn.postings.select_related("account")} == {"EUR"}


def test_royalty_too_large_to_book_is_refused(world, key):
    huge = make_contract(performer=make_party("performer"), brand=world.brand, per_render=2**52, per_second=2**40)
    hold = services.hold_create(contract=huge, reference=key(), idempotency_key=key())
    with pytest.raises(services.InvalidAmount):
        services.hold_post(hold=hold, duration_s=3600, idempotency_key=key())
    assert Contract.objects.get(pk=huge.pk).renders_held == 1
    assert Hold.objects.get(pk=hold.pk).status == "open"
