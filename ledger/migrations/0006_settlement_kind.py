"""Transaction kind ``settlement`` (a brand's paid invoice, issue 11).

The kind check constraint is widened in place. PostgreSQL: drop and add the
constraint. SQLite cannot alter a CHECK constraint; rebuilding ``ledger_transaction``
would drop its append-only and sealing triggers and copy every row, so the table's
stored definition is edited instead — the procedure SQLite documents for relaxing
a CHECK constraint (https://www.sqlite.org/lang_altertable.html, "Making Other Kinds
Of Table Schema Changes": ``PRAGMA writable_schema``, bump ``schema_version``,
``PRAGMA integrity_check``). Widening an IN list changes no stored row.
"""

from django.db import migrations, models

OLD = ("royalty", "revenue_share", "reversal", "payout", "adjustment")
NEW = (*OLD, "settlement")


def _in_list(kinds):
    return ", ".join(f"'{k}'" for k in kinds)


def _sqlite_swap(schema_editor, old, new):
    cursor = schema_editor.connection.cursor()
    [(sql,)] = cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'ledger_transaction'")
    before, after = f'"kind" IN ({_in_list(old)})', f'"kind" IN ({_in_list(new)})'
    if before not in sql:
        raise RuntimeError(f"ledger_transaction's kind constraint is not the expected one: {sql!r}")
    [(version,)] = cursor.execute("PRAGMA schema_version")
    cursor.execute("PRAGMA writable_schema = ON")
    try:
        cursor.execute("UPDATE sqlite_master SET sql = %s WHERE type = 'table' AND name = 'ledger_transaction'",
                       [sql.replace(before, after)])
        cursor.execute(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        cursor.execute("PRAGMA writable_schema = OFF")
    [(result,)] = cursor.execute("PRAGMA integrity_check").fetchall()[:1]
    if result != "ok":
        raise RuntimeError(f"integrity_check after widening the kind constraint: {result}")


def _swap(schema_editor, old, new):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE ledger_transaction DROP CONSTRAINT ledger_txn_kind_valid")
        schema_editor.execute(f"ALTER TABLE ledger_transaction ADD CONSTRAINT ledger_txn_kind_valid "
                              f"CHECK (kind IN ({_in_list(new)}))")
    else:
        _sqlite_swap(schema_editor, old, new)


def forward(apps, schema_editor):
    _swap(schema_editor, OLD, NEW)


def backward(apps, schema_editor):
    _swap(schema_editor, NEW, OLD)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0005_exact_totals_quarantine_sales")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="transaction", name="kind",
                    field=models.CharField(choices=[(k, k.replace("_", " ").title()) for k in NEW],
                                           max_length=16),
                ),
                migrations.RemoveConstraint(model_name="transaction", name="ledger_txn_kind_valid"),
                migrations.AddConstraint(
                    model_name="transaction",
                    constraint=models.CheckConstraint(condition=models.Q(kind__in=list(NEW)),
                                                      name="ledger_txn_kind_valid"),
                ),
            ],
            database_operations=[migrations.RunPython(forward, backward)],
        ),
    ]
