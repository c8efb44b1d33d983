"""Fewer indexes to maintain on every posting.

* Django adds a ``varchar_pattern_ops`` twin (``*_like``) to every indexed
  varchar on PostgreSQL, for LIKE queries; the ledger runs none. Dropped.
* The plain indexes on Hold.contract and Transaction.contract duplicate the
  (contract, created_at) indexes. Dropped.
* The sweeper's index holds open holds only, so posting or voiding a hold
  removes it from the index instead of rewriting an entry.

On SQLite, altering a field rebuilds the table (create, copy, drop, rename),
and the rename fails while any trigger names a table that is mid-rebuild; the
rebuild would also drop the table's own triggers. So the ledger's triggers are
dropped first (``drop_sqlite_triggers``) and re-created from 0002 afterwards
(``restore_sqlite_triggers``). A later migration that alters a ledger table on
SQLite must do the same: wrap its operations between these two steps.
"""

import importlib
import re

import django.db.models.deletion
from django.db import migrations, models


def drop_like_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename LIKE 'ledger\\_%%' AND indexname LIKE '%%\\_like'"
        )
        names = [row[0] for row in cursor.fetchall()]
    for name in names:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"', params=None)


def drop_sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'ledger%'")
        names = [row[0] for row in cursor.fetchall()]
    for name in names:
        schema_editor.execute(f'DROP TRIGGER IF EXISTS "{name}"', params=None)


def restore_sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    invariants = importlib.import_module("ledger.migrations.0002_invariants")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        existing = {row[0] for row in cursor.fetchall()}
    for sql in invariants.SQLITE_FORWARD:
        if re.search(r"CREATE TRIGGER (\w+)", sql)[1] not in existing:
            schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0002_invariants'),
        ('rights', '0001_initial'),
    ]

    operations = [
        migrations.RunPython(drop_sqlite_triggers, restore_sqlite_triggers),
        migrations.RemoveIndex(
            model_name='hold',
            name='ledger_hold_sweep_idx',
        ),
        migrations.AlterField(
            model_name='hold',
            name='contract',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='ledger_holds', to='rights.contract'),
        ),
        migrations.AlterField(
            model_name='transaction',
            name='contract',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='ledger_transactions', to='rights.contract'),
        ),
        migrations.AddIndex(
            model_name='hold',
            index=models.Index(condition=models.Q(('status', 'open')), fields=['expires_at'], name='ledger_hold_open_expiry_idx'),
        ),
        migrations.RunPython(restore_sqlite_triggers, drop_sqlite_triggers),
        migrations.RunPython(drop_like_indexes, migrations.RunPython.noop),
    ]
