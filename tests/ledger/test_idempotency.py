"""ledger.services.idempotency.write_or_replay: the one ending of every ledger write."""

import pytest
from django.db import IntegrityError

from ledger import services
from ledger.models import PlatformFee
from ledger.services.idempotency import fingerprint, replayed_transaction, write_or_replay


def refuse(fee: str):
    """A write that changes something, then is refused by the database."""
    def write():
        PlatformFee.objects.create(platform=fee, fee_bps=100)
        PlatformFee.objects.create(platform=fee, fee_bps=200)  # primary key taken: IntegrityError
    return write


def test_a_write_that_goes_through_returns_its_row_and_never_replays(db):
    def replay():
        raise AssertionError("no replay after a successful write")

    assert write_or_replay(lambda: PlatformFee.objects.create(platform="a", fee_bps=1), replay=replay).platform == "a"


def test_a_refused_write_is_rolled_back_and_the_replay_returned(db):
    winner = PlatformFee.objects.create(platform="won", fee_bps=5)
    assert write_or_replay(refuse("lost"), replay=lambda: winner) is winner
    assert not PlatformFee.objects.filter(platform="lost").exists()


def test_without_a_replay_the_integrity_error_is_raised(db):
    with pytest.raises(IntegrityError):
        write_or_replay(refuse("x"), replay=lambda: None)
    with pytest.raises(IntegrityError):
        write_or_replay(refuse("x"), replay=lambda: None, refused=lambda: None)
    assert not PlatformFee.objects.exists()


def test_without_a_replay_refused_names_the_error(db):
    with pytest.raises(services.AlreadyReversed) as exc:
        write_or_replay(refuse("x"), replay=lambda: None, refused=lambda: services.AlreadyReversed("taken"))
    assert exc.value.__cause__ is None and exc.value.__suppress_context__


def test_a_replay_of_another_request_is_a_conflict(world, post):
    txn = post(world.contract)

    def write():
        raise IntegrityError("the key is taken")

    other = fingerprint("hold_post", hold="hld_other", duration_ms=1)
    with pytest.raises(services.IdempotencyConflict):
        write_or_replay(write, replay=lambda: replayed_transaction(txn.idempotency_key, other))
    assert write_or_replay(write, replay=lambda: replayed_transaction(txn.idempotency_key, txn.request_hash)) == txn


def test_a_replayed_hold_create_keeps_no_second_unit(world, key):
    """hold_create has no early lookup: the replay reserves a unit, the unique key
    refuses the hold, the reservation is rolled back with it and the hold replayed."""
    hold_key = key()
    hold = services.hold_create(contract=world.contract, reference="gen-1", idempotency_key=hold_key)
    assert services.hold_create(contract=world.contract, reference="gen-1", idempotency_key=hold_key) == hold
    world.contract.refresh_from_db()
    assert world.contract.renders_held == 1
