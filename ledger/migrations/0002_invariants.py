"""Ledger invariants as database triggers, so that no code path can bypass them.

The "seal" protocol (same on both databases): a transaction's postings are
inserted first, then the transaction row, which declares ``posting_count``.

PostgreSQL
    * BEFORE INSERT on a posting: refused if its transaction row already exists
      (sealed), if the account is unknown, or if the currency is not the
      account's.
    * Deferred constraint triggers (AFTER INSERT ... DEFERRABLE INITIALLY
      DEFERRED) on postings *and* on transactions run ``ledger_check_sealed`` at
      COMMIT: the transaction exists, has exactly ``posting_count`` postings, and
      debits equal credits per currency. The posting-level one also catches a
      posting slipped in by a concurrent session before the seal was visible.
SQLite (no deferred triggers; writers are serialized)
    * The same BEFORE INSERT check on postings.
    * BEFORE INSERT on the transaction row (the seal): the postings it declares
      must all be there and balance. Postings whose transaction row never
      arrives fail the deferred foreign key at COMMIT.
Both
    * UPDATE and DELETE refused on accounts, transactions, postings, log leaves,
      log nodes and tree heads (``ledger_<table>_no_update`` / ``_no_delete``).
    * A transaction may name a hold only while the hold is open; a closed hold
      can never change; a hold is "posted" only with its transaction.
    * Every transaction is queued for the Merkle log (``ledger_logpending``).

Caveat (SQLite): Django rebuilds a table to alter it, which drops its triggers.
A later migration that alters one of these tables must re-create them (see
``restore_sqlite_triggers`` in 0003); tests/ledger/test_invariants.py fails
if any is missing.
"""

from django.db import migrations

APPEND_ONLY_TABLES = (
    "ledger_account",
    "ledger_transaction",
    "ledger_posting",
    "ledger_logleaf",
    "ledger_lognode",
    "ledger_treehead",
)
NO_DELETE_TABLES = APPEND_ONLY_TABLES + ("ledger_hold",)

PG_FORWARD = [
    r"""
CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger: % is append-only; % refused (correct with a reversing transaction)',
        TG_TABLE_NAME, TG_OP USING ERRCODE = 'check_violation';
END
$$
""",
    r"""
CREATE OR REPLACE FUNCTION ledger_posting_before_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    account_currency varchar;
BEGIN
    IF EXISTS (SELECT 1 FROM ledger_transaction WHERE id = NEW.transaction_id) THEN
        RAISE EXCEPTION 'ledger: transaction % is sealed; no posting can be added to it',
            NEW.transaction_id USING ERRCODE = 'check_violation';
    END IF;
    SELECT currency INTO account_currency FROM ledger_account WHERE id = NEW.account_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ledger: unknown account %', NEW.account_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF account_currency <> NEW.currency THEN
        RAISE EXCEPTION 'ledger: posting currency % differs from the currency of account % (%)',
            NEW.currency, NEW.account_id, account_currency USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$
""",
    r"""
CREATE OR REPLACE FUNCTION ledger_check_sealed(txn_id varchar) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    declared integer;
    actual bigint;
    unbalanced varchar;
BEGIN
    SELECT posting_count INTO declared FROM ledger_transaction WHERE id = txn_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ledger: postings of % committed without their transaction', txn_id
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT coalesce(sum(n), 0), min(currency) FILTER (WHERE net <> 0) INTO actual, unbalanced
    FROM (
        SELECT currency, count(*) AS n, sum(CASE WHEN side = 'debit' THEN amount ELSE -amount END) AS net
        FROM ledger_posting WHERE transaction_id = txn_id GROUP BY currency
    ) AS per_currency;
    IF actual <> declared THEN
        RAISE EXCEPTION 'ledger: transaction % declares % postings but has %', txn_id, declared, actual
            USING ERRCODE = 'check_violation';
    END IF;
    IF unbalanced IS NOT NULL THEN
        RAISE EXCEPTION 'ledger: transaction % is unbalanced in %: debits differ from credits', txn_id, unbalanced
            USING ERRCODE = 'check_violation';
    END IF;
END
$$
""",
    r"""
CREATE OR REPLACE FUNCTION ledger_posting_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ledger_check_sealed(NEW.transaction_id);
    RETURN NULL;
END
$$
""",
    r"""
CREATE OR REPLACE FUNCTION ledger_transaction_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ledger_check_sealed(NEW.id);
    RETURN NULL;
END
$$
""",
    r"""
CREATE OR REPLACE FUNCTION ledger_transaction_before_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.hold_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM ledger_hold WHERE id = NEW.hold_id AND status = 'open') THEN
        RAISE EXCEPTION 'ledger: hold % is not open; it cannot be posted', NEW.hold_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$
""",
    r"""
CREATE OR REPLACE FUNCTION ledger_transaction_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger_logpending (transaction_id) VALUES (NEW.id);
    RETURN NULL;
END
$$
""",
    r"""
CREATE OR REPLACE FUNCTION ledger_hold_before_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status <> 'open' THEN
        RAISE EXCEPTION 'ledger: hold % is % and can no longer change', OLD.id, OLD.status
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.id <> OLD.id OR NEW.contract_id <> OLD.contract_id OR NEW.reference <> OLD.reference
       OR NEW.idempotency_key <> OLD.idempotency_key THEN
        RAISE EXCEPTION 'ledger: the identity of hold % cannot change', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.status = 'posted' AND NOT EXISTS (SELECT 1 FROM ledger_transaction WHERE hold_id = NEW.id) THEN
        RAISE EXCEPTION 'ledger: hold % cannot be marked posted without its transaction', NEW.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$
""",
    """CREATE TRIGGER ledger_posting_before_insert BEFORE INSERT ON ledger_posting
       FOR EACH ROW EXECUTE FUNCTION ledger_posting_before_insert()""",
    """CREATE CONSTRAINT TRIGGER ledger_posting_balanced AFTER INSERT ON ledger_posting
       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_posting_at_commit()""",
    """CREATE CONSTRAINT TRIGGER ledger_transaction_balanced AFTER INSERT ON ledger_transaction
       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_transaction_at_commit()""",
    """CREATE TRIGGER ledger_transaction_before_insert BEFORE INSERT ON ledger_transaction
       FOR EACH ROW EXECUTE FUNCTION ledger_transaction_before_insert()""",
    """CREATE TRIGGER ledger_transaction_enqueue AFTER INSERT ON ledger_transaction
       FOR EACH ROW EXECUTE FUNCTION ledger_transaction_enqueue()""",
    """CREATE TRIGGER ledger_hold_before_update BEFORE UPDATE ON ledger_hold
       FOR EACH ROW EXECUTE FUNCTION ledger_hold_before_update()""",
]
for _table in APPEND_ONLY_TABLES:
    PG_FORWARD.append(
        f"CREATE TRIGGER {_table}_no_update BEFORE UPDATE ON {_table} "
        "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()"
    )
for _table in NO_DELETE_TABLES:
    PG_FORWARD.append(
        f"CREATE TRIGGER {_table}_no_delete BEFORE DELETE ON {_table} "
        "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()"
    )

PG_BACKWARD = (
    [f"DROP TRIGGER IF EXISTS {t}_no_update ON {t}" for t in APPEND_ONLY_TABLES]
    + [f"DROP TRIGGER IF EXISTS {t}_no_delete ON {t}" for t in NO_DELETE_TABLES]
    + [
        "DROP TRIGGER IF EXISTS ledger_posting_before_insert ON ledger_posting",
        "DROP TRIGGER IF EXISTS ledger_posting_balanced ON ledger_posting",
        "DROP TRIGGER IF EXISTS ledger_transaction_balanced ON ledger_transaction",
        "DROP TRIGGER IF EXISTS ledger_transaction_before_insert ON ledger_transaction",
        "DROP TRIGGER IF EXISTS ledger_transaction_enqueue ON ledger_transaction",
        "DROP TRIGGER IF EXISTS ledger_hold_before_update ON ledger_hold",
        "DROP FUNCTION IF EXISTS ledger_refuse_change()",
        "DROP FUNCTION IF EXISTS ledger_posting_before_insert()",
        "DROP FUNCTION IF EXISTS ledger_posting_at_commit()",
        "DROP FUNCTION IF EXISTS ledger_transaction_at_commit()",
        "DROP FUNCTION IF EXISTS ledger_check_sealed(varchar)",
        "DROP FUNCTION IF EXISTS ledger_transaction_before_insert()",
        "DROP FUNCTION IF EXISTS ledger_transaction_enqueue()",
        "DROP FUNCTION IF EXISTS ledger_hold_before_update()",
    ]
)

SQLITE_FORWARD = [
    """
CREATE TRIGGER ledger_posting_before_insert BEFORE INSERT ON ledger_posting
BEGIN
    SELECT RAISE(ABORT, 'ledger: the transaction is sealed; no posting can be added to it')
        WHERE EXISTS (SELECT 1 FROM ledger_transaction WHERE id = NEW.transaction_id);
    SELECT RAISE(ABORT, 'ledger: unknown account')
        WHERE NOT EXISTS (SELECT 1 FROM ledger_account WHERE id = NEW.account_id);
    SELECT RAISE(ABORT, 'ledger: posting currency differs from its account''s currency')
        WHERE (SELECT currency FROM ledger_account WHERE id = NEW.account_id) <> NEW.currency;
END
""",
    """
CREATE TRIGGER ledger_transaction_seal BEFORE INSERT ON ledger_transaction
BEGIN
    SELECT RAISE(ABORT, 'ledger: the transaction does not have the postings it declares (postings are inserted first)')
        WHERE (SELECT COUNT(*) FROM ledger_posting WHERE transaction_id = NEW.id) <> NEW.posting_count;
    SELECT RAISE(ABORT, 'ledger: unbalanced transaction: debits differ from credits')
        WHERE EXISTS (
            SELECT 1 FROM ledger_posting WHERE transaction_id = NEW.id GROUP BY currency
            HAVING SUM(CASE side WHEN 'debit' THEN amount ELSE -amount END) <> 0
        );
    SELECT RAISE(ABORT, 'ledger: the hold is not open; it cannot be posted')
        WHERE NEW.hold_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM ledger_hold WHERE id = NEW.hold_id AND status = 'open');
END
""",
    """
CREATE TRIGGER ledger_transaction_enqueue AFTER INSERT ON ledger_transaction
BEGIN
    INSERT INTO ledger_logpending (transaction_id) VALUES (NEW.id);
END
""",
    """
CREATE TRIGGER ledger_hold_before_update BEFORE UPDATE ON ledger_hold
BEGIN
    SELECT RAISE(ABORT, 'ledger: a closed hold can no longer change') WHERE OLD.status <> 'open';
    SELECT RAISE(ABORT, 'ledger: the identity of a hold cannot change')
        WHERE NEW.id <> OLD.id OR NEW.contract_id <> OLD.contract_id OR NEW.reference <> OLD.reference
           OR NEW.idempotency_key <> OLD.idempotency_key;
    SELECT RAISE(ABORT, 'ledger: a hold cannot be marked posted without its transaction')
        WHERE NEW.status = 'posted' AND NOT EXISTS (SELECT 1 FROM ledger_transaction WHERE hold_id = NEW.id);
END
""",
]
for _table in APPEND_ONLY_TABLES:
    SQLITE_FORWARD.append(
        f"CREATE TRIGGER {_table}_no_update BEFORE UPDATE ON {_table} BEGIN "
        f"SELECT RAISE(ABORT, 'ledger: {_table} is append-only; UPDATE refused (correct with a reversing transaction)'); END"
    )
for _table in NO_DELETE_TABLES:
    SQLITE_FORWARD.append(
        f"CREATE TRIGGER {_table}_no_delete BEFORE DELETE ON {_table} BEGIN "
        f"SELECT RAISE(ABORT, 'ledger: {_table} is append-only; DELETE refused'); END"
    )

SQLITE_BACKWARD = (
    [f"DROP TRIGGER IF EXISTS {t}_no_update" for t in APPEND_ONLY_TABLES]
    + [f"DROP TRIGGER IF EXISTS {t}_no_delete" for t in NO_DELETE_TABLES]
    + [
        "DROP TRIGGER IF EXISTS ledger_posting_before_insert",
        "DROP TRIGGER IF EXISTS ledger_transaction_seal",
        "DROP TRIGGER IF EXISTS ledger_transaction_enqueue",
        "DROP TRIGGER IF EXISTS ledger_hold_before_update",
    ]
)


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor)
        if statements is None:
            raise RuntimeError(f"ledger invariants are written for sqlite and postgresql, not {schema_editor.connection.vendor}")
        for sql in statements:
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        )
    ]
