"""The ledger's invariants hold in the database itself: raw SQL that breaks them
fails, on SQLite and on PostgreSQL (run the suite with both DATABASE_URLs)."""

from contextlib import contextmanager

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ledger import services
from ledger.models import (
    Account,
    AccountPurpose,
    Hold,
    LogLeaf,
    LogNode,
    LogPending,
    Posting,
    Transaction,
    TreeHead,
    new_transaction_id,
)

EXPECTED_TRIGGERS = {
    "ledger_posting_before_insert", "ledger_transaction_enqueue", "ledger_hold_before_update",
    *(f"ledger_{t}_no_update" for t in ("account", "transaction", "posting", "logleaf", "lognode", "treehead")),
    *(f"ledger_{t}_no_delete" for t in ("account", "transaction", "posting", "logleaf", "lognode", "treehead",
                                        "hold")),
}
VENDOR_TRIGGERS = {
    "postgresql": {"ledger_posting_balanced", "ledger_transaction_balanced", "ledger_transaction_before_insert"},
    "sqlite": {"ledger_transaction_seal"},
}


def installed_triggers() -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        return {row[0] for row in cursor.fetchall()}


@contextmanager
def committing():
    """Run the block in a savepoint, then run the checks COMMIT would run: on
    PostgreSQL the deferred constraint triggers (SET CONSTRAINTS ALL IMMEDIATE)."""
    pg = connection.vendor == "postgresql"
    try:
        with transaction.atomic():
            yield
            if pg:
                with connection.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    finally:
        if pg:
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def raw_posting(txn_id, account, side, amount, currency=None):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_posting (transaction_id, account_id, side, amount, currency, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [txn_id, account.id if isinstance(account, Account) else account, side, amount,
             currency or account.currency, timezone.now()],
        )


def raw_transaction(txn_id, posting_count, *, hold_id=None):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_transaction (id, kind, contract_id, hold_id, reverses_id, reference, meta, "
            "posting_count, idempotency_key, request_hash, created_at) "
            "VALUES (%s, 'adjustment', NULL, %s, NULL, '', %s, %s, %s, '', %s)",
            [txn_id, hold_id, "{}", posting_count, f"raw-{txn_id}", timezone.now()],
        )


@pytest.fixture
def accts(world):
    return {
        "receivable": services.account_get_or_create(party=world.brand, purpose=AccountPurpose.RECEIVABLE,
                                                     currency="USD"),
        "payable": services.account_get_or_create(party=world.performer, purpose=AccountPurpose.PAYABLE,
                                                  currency="USD"),
        "payable_eur": services.account_get_or_create(party=world.performer, purpose=AccountPurpose.PAYABLE,
                                                      currency="EUR"),
    }


def test_every_invariant_trigger_is_installed(db):
    missing = (EXPECTED_TRIGGERS | VENDOR_TRIGGERS[connection.vendor]) - installed_triggers()
    assert not missing, f"triggers missing (a migration rebuilt a table?): {sorted(missing)}"


def test_a_balanced_raw_insert_in_seal_order_is_accepted(accts):
    txn_id = new_transaction_id()
    with committing():
        raw_posting(txn_id, accts["receivable"], "debit", 700)
        raw_posting(txn_id, accts["payable"], "credit", 700)
        raw_transaction(txn_id, 2)
    assert Transaction.objects.get(id=txn_id).postings.count() == 2
    assert LogPending.objects.filter(transaction_id=txn_id).exists(), "the trigger queues it for the log"


def test_an_unbalanced_raw_insert_fails(accts):
    txn_id = new_transaction_id()
    with pytest.raises(IntegrityError, match="unbalanced"), committing():
        raw_posting(txn_id, accts["receivable"], "debit", 700)
        raw_posting(txn_id, accts["payable"], "credit", 699)
        raw_transaction(txn_id, 2)
    assert not Posting.objects.filter(transaction_id=txn_id).exists()


def test_balance_is_checked_per_currency(accts):
    txn_id = new_transaction_id()
    with pytest.raises(IntegrityError, match="unbalanced"), committing():
        raw_posting(txn_id, accts["receivable"], "debit", 700)          # USD
        raw_posting(txn_id, accts["payable_eur"], "credit", 700)       # EUR: same number, other money
        raw_transaction(txn_id, 2)


def test_a_transaction_must_have_the_postings_it_declares(accts):
    txn_id = new_transaction_id()
    with pytest.raises(IntegrityError, match="postings"), committing():
        raw_posting(txn_id, accts["receivable"], "debit", 700)
        raw_posting(txn_id, accts["payable"], "credit", 700)
        raw_transaction(txn_id, 3)


@pytest.mark.parametrize("count", [0, 1])
def test_a_transaction_needs_two_postings(accts, count):
    txn_id = new_transaction_id()
    with pytest.raises(IntegrityError), committing():
        if count:
            raw_posting(txn_id, accts["receivable"], "debit", 0)
        raw_transaction(txn_id, count)


def test_a_transaction_row_without_postings_fails(accts):
    txn_id = new_transaction_id()
    with pytest.raises(IntegrityError), committing():
        raw_transaction(txn_id, 2)


def test_negative_amounts_fail(accts):
    txn_id = new_transaction_id()
    with pytest.raises(IntegrityError), committing():
        raw_posting(txn_id, accts["receivable"], "debit", -5)
        raw_posting(txn_id, accts["payable"], "debit", 5)
        raw_transaction(txn_id, 2)


def test_a_posting_in_another_currency_than_its_account_fails(accts):
    txn_id = new_transaction_id()
    with pytest.raises(IntegrityError, match="currency"), committing():
        raw_posting(txn_id, accts["receivable"], "debit", 100, currency="EUR")


def test_a_posting_to_an_unknown_account_fails(accts):
    txn_id = new_transaction_id()
    with pytest.raises(IntegrityError, match="unknown account"), committing():
        raw_posting(txn_id, "acc_doesnotexist", "debit", 100, currency="USD")


def test_a_sealed_transaction_takes_no_more_postings(world, accts, post):
    txn = post(world.contract)
    with pytest.raises(IntegrityError, match="sealed"), committing():  # even a balanced pair
        raw_posting(txn.id, accts["receivable"], "debit", 1)
        raw_posting(txn.id, accts["payable"], "credit", 1)


def test_writing_the_transaction_row_first_is_refused(accts):
    txn_id = new_transaction_id()
    with pytest.raises(IntegrityError), committing():
        raw_transaction(txn_id, 2)
        raw_posting(txn_id, accts["receivable"], "debit", 1)
        raw_posting(txn_id, accts["payable"], "credit", 1)


@pytest.fixture
def logged(world, post):
    txn = post(world.contract)
    post(world.contract)
    services.log_sequence()
    return txn


@pytest.mark.parametrize(("table", "assignment"), [
    ("ledger_posting", "amount = amount + 1"),
    ("ledger_transaction", "reference = 'edited'"),
    ("ledger_account", "currency = 'EUR'"),
    ("ledger_logleaf", "transaction_id = transaction_id"),
    ("ledger_lognode", "hash = 'ff'"),
    ("ledger_treehead", "root_hash = 'ff'"),
])
def test_append_only_tables_refuse_update_and_delete(logged, table, assignment):
    with pytest.raises(IntegrityError, match="append-only"), committing(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {assignment}")
    with pytest.raises(IntegrityError, match="append-only"), committing(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")
    model = {"ledger_posting": Posting, "ledger_transaction": Transaction, "ledger_account": Account,
             "ledger_logleaf": LogLeaf, "ledger_lognode": LogNode, "ledger_treehead": TreeHead}[table]
    assert model.objects.exists()


def test_the_orm_cannot_edit_a_posting_either(logged):
    with pytest.raises(IntegrityError), committing():
        Posting.objects.filter(transaction=logged).update(amount=0)
    assert all(p.amount > 0 for p in Posting.objects.filter(transaction=logged))


def test_a_closed_hold_never_changes_and_a_voided_one_cannot_be_posted(world, accts, key):
    hold = services.hold_create(contract=world.contract, reference=key(), idempotency_key=key())
    services.hold_void(hold=hold, reason="failed", idempotency_key=key())
    with pytest.raises(IntegrityError, match="hold"), committing():
        Hold.objects.filter(pk=hold.pk).update(status="open", voided_at=None)
    with pytest.raises(IntegrityError, match="hold"), committing():
        raw_posting(hold.royalty_transaction_id, accts["receivable"], "debit", 1)
        raw_posting(hold.royalty_transaction_id, accts["payable"], "credit", 1)
        raw_transaction(hold.royalty_transaction_id, 2, hold_id=hold.id)
    with pytest.raises(IntegrityError), committing(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM ledger_hold WHERE id = %s", [hold.id])


def test_a_hold_is_booked_at_most_once(world, accts, key):
    hold = services.hold_create(contract=world.contract, reference=key(), idempotency_key=key())
    txn = services.hold_post(hold=hold, duration_s=3, idempotency_key=key())
    # A raw second royalty for the same hold: refused (the hold is closed, and hold_id is unique).
    second = new_transaction_id()
    with pytest.raises(IntegrityError), committing():
        raw_posting(second, accts["receivable"], "debit", 1)
        raw_posting(second, accts["payable"], "credit", 1)
        raw_transaction(second, 2, hold_id=hold.id)
    assert Transaction.objects.filter(hold=hold).get() == txn


def test_a_hold_cannot_be_marked_posted_without_its_transaction(world, key):
    hold = services.hold_create(contract=world.contract, reference=key(), idempotency_key=key())
    with pytest.raises(IntegrityError, match="posted"), committing():
        Hold.objects.filter(pk=hold.pk).update(status="posted", posted_at=timezone.now())


@pytest.mark.django_db(transaction=True)
def test_an_unbalanced_insert_fails_when_committed_and_leaves_nothing():
    """A real COMMIT (not the savepoint simulation above): on PostgreSQL the
    inserts themselves pass and the deferred trigger refuses the commit."""
    from tests.ledger.factories import make_world

    world = make_world()
    receivable = services.account_get_or_create(party=world.brand, purpose=AccountPurpose.RECEIVABLE, currency="USD")
    payable = services.account_get_or_create(party=world.performer, purpose=AccountPurpose.PAYABLE, currency="USD")
    txn_id = new_transaction_id()
    with pytest.raises(IntegrityError, match="unbalanced"), transaction.atomic():
        raw_posting(txn_id, receivable, "debit", 1000)
        raw_posting(txn_id, payable, "credit", 10)
        raw_transaction(txn_id, 2)
    assert not Posting.objects.filter(transaction_id=txn_id).exists()
    assert not Transaction.objects.filter(id=txn_id).exists()


@pytest.mark.django_db(transaction=True)
def test_postings_whose_transaction_never_comes_fail_at_commit():
    from tests.ledger.factories import make_world

    world = make_world()
    receivable = services.account_get_or_create(party=world.brand, purpose=AccountPurpose.RECEIVABLE, currency="USD")
    payable = services.account_get_or_create(party=world.performer, purpose=AccountPurpose.PAYABLE, currency="USD")
    txn_id = new_transaction_id()
    with pytest.raises(IntegrityError), transaction.atomic():
        raw_posting(txn_id, receivable, "debit", 5)
        raw_posting(txn_id, payable, "credit", 5)
    assert not Posting.objects.filter(transaction_id=txn_id).exists()
