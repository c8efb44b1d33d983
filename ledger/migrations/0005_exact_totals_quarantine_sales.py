"""Bounds and fault isolation of the ledger (issue 10), and one sale report per day.

* ``BalanceCheckpoint.debits``/``credits`` become exact totals of up to 38 digits
  (``ExactTotalField``: PostgreSQL NUMERIC(38, 0), SQLite TEXT): an account's
  running total can pass 2^63 (it is below 2^116, see docs/ledger.md "Bounds"),
  and a 64-bit column stopped the sequencer for everyone when it did.
* ``BalanceCheckpoint.stale_since``/``stale_reason``: a checkpoint the sequencer
  could not write; ``LogPending.quarantined_at``/``quarantine_reason``: a
  transaction whose leaf could not be built. Both let the log go on for everyone
  else (docs/ledger.md "Fault isolation").
* ``SaleReport``: the period each revenue-share transaction covers, so that a
  second report for the same days is refused. Existing revenue-share
  transactions are backfilled from their ``meta`` (overlaps already booked stay
  as they are; new ones are refused).

SQLite rebuilds the altered tables, so the ledger's triggers are dropped first and
re-created from 0002 afterwards, as in 0003 and 0004.
"""

import importlib
from datetime import date

import django.db.models.deletion
import django.utils.timezone
import ledger.models
from django.db import migrations, models

lean_indexes = importlib.import_module("ledger.migrations.0003_lean_indexes")


def backfill_sale_reports(apps, schema_editor):
    Transaction = apps.get_model("ledger", "Transaction")
    SaleReport = apps.get_model("ledger", "SaleReport")
    rows = []
    sales = Transaction.objects.filter(kind="revenue_share", contract__isnull=False)
    for txn_id, contract_id, meta, created_at in sales.values_list("id", "contract_id", "meta", "created_at").iterator(
            chunk_size=2000):
        try:
            start = date.fromisoformat((meta or {})["period_start"])
            end = date.fromisoformat((meta or {})["period_end"])
        except (KeyError, TypeError, ValueError):
            continue  # not written by revenue_share_book: no period to claim
        if end >= start:
            rows.append(SaleReport(contract_id=contract_id, period_start=start, period_end=end,
                                   transaction_id=txn_id, created_at=created_at))
    SaleReport.objects.bulk_create(rows, batch_size=1000)


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0004_hold_platform'),
        ('rights', '0002_contract_consented_terms_hash'),
    ]

    operations = [
        migrations.RunPython(lean_indexes.drop_sqlite_triggers, lean_indexes.restore_sqlite_triggers),
        migrations.CreateModel(
            name='SaleReport',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('period_start', models.DateField()),
                ('period_end', models.DateField()),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
            ],
            options={
                'ordering': ['contract', 'period_start', 'id'],
            },
        ),
        migrations.AddField(
            model_name='balancecheckpoint',
            name='stale_reason',
            field=models.CharField(blank=True, db_default='', default='', max_length=300),
        ),
        migrations.AddField(
            model_name='balancecheckpoint',
            name='stale_since',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='logpending',
            name='quarantine_reason',
            field=models.CharField(blank=True, db_default='', default='', max_length=300),
        ),
        migrations.AddField(
            model_name='logpending',
            name='quarantined_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='balancecheckpoint',
            name='credits',
            field=ledger.models.ExactTotalField(default=0),
        ),
        migrations.AlterField(
            model_name='balancecheckpoint',
            name='debits',
            field=ledger.models.ExactTotalField(default=0),
        ),
        migrations.AddIndex(
            model_name='balancecheckpoint',
            index=models.Index(condition=models.Q(('stale_since__isnull', False)), fields=['stale_since'], name='ledger_checkpoint_stale_idx'),
        ),
        migrations.AddField(
            model_name='salereport',
            name='contract',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='sale_reports', to='rights.contract'),
        ),
        migrations.AddField(
            model_name='salereport',
            name='transaction',
            field=models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='sale_report', to='ledger.transaction'),
        ),
        migrations.AddIndex(
            model_name='salereport',
            index=models.Index(fields=['contract', 'period_start'], name='ledger_sale_contract_idx'),
        ),
        migrations.AddConstraint(
            model_name='salereport',
            constraint=models.CheckConstraint(condition=models.Q(('period_end__gte', models.F('period_start'))), name='ledger_sale_period_ordered'),
        ),
        migrations.RunPython(backfill_sale_reports, migrations.RunPython.noop),
        migrations.RunPython(lean_indexes.restore_sqlite_triggers, lean_indexes.drop_sqlite_triggers),
    ]
