"""Hold.platform: the distribution platform as a column, read by the posting path
(it picks the ``PlatformFee``) instead of out of ``meta`` with database-specific
JSON SQL.

Existing holds get the string ``meta.platform`` when it fits the column (32
characters, as ``PlatformFee.platform``; a longer one matched no fee anyway).
Posted and voided holds never change (``ledger_hold_before_update``), so that
trigger is lifted for the backfill only: PostgreSQL disables it inside this
migration's transaction; SQLite drops the ledger's triggers and re-creates
them from 0002 (see 0003), as any migration that touches a ledger table there must.
"""

import importlib

from django.db import migrations, models

lean_indexes = importlib.import_module("ledger.migrations.0003_lean_indexes")

BACKFILL = {
    "postgresql": [
        "ALTER TABLE ledger_hold DISABLE TRIGGER ledger_hold_before_update",
        """UPDATE ledger_hold SET platform = meta ->> 'platform'
           WHERE jsonb_typeof(meta -> 'platform') = 'string' AND length(meta ->> 'platform') <= 32""",
        "ALTER TABLE ledger_hold ENABLE TRIGGER ledger_hold_before_update",
    ],
    "sqlite": [
        """UPDATE ledger_hold SET platform = json_extract(meta, '$.platform')
           WHERE json_type(meta, '$.platform') = 'text' AND length(json_extract(meta, '$.platform')) <= 32""",
    ],
}


def backfill_platform(apps, schema_editor):
    for sql in BACKFILL[schema_editor.connection.vendor]:
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0003_lean_indexes'),
    ]

    operations = [
        migrations.RunPython(lean_indexes.drop_sqlite_triggers, lean_indexes.restore_sqlite_triggers),
        migrations.AddField(
            model_name='hold',
            name='platform',
            field=models.CharField(blank=True, max_length=32, null=True),
        ),
        migrations.RunPython(backfill_platform, migrations.RunPython.noop),
        migrations.RunPython(lean_indexes.restore_sqlite_triggers, lean_indexes.drop_sqlite_triggers),
    ]
