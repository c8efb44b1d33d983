"""Suspensions belong to whoever made them (issue 10 item 4, docs/rights.md "Suspensions").

Adds the performer's and the union's suspension to each contract and derives
them for contracts suspended before, from their audit trail. The check
constraints that tie them to ``status`` come in 0004, in a transaction of their
own (PostgreSQL refuses an ALTER TABLE while the backfill's deferred foreign
key checks are pending).
"""

import django.db.models.deletion
from django.db import migrations, models


def derive_suspensions(apps, schema_editor):
    """Replay each suspended contract's events under the old rules: a suspend
    (performer or union) set the contract suspended, any resume, accept or
    terminate lifted it. Under those rules at most one suspension held at a
    time, so the holder is the actor of the last suspend. A suspended contract
    without one (made behind the services' back) is held by its performer, who
    can then lift it."""
    Contract = apps.get_model("rights", "Contract")
    ContractEvent = apps.get_model("rights", "ContractEvent")
    suspended = Contract.objects.filter(status="suspended")
    for contract in suspended.iterator():
        performer_at = union_at = union = None
        for event in (ContractEvent.objects.filter(contract_id=contract.pk).select_related("actor")
                      .order_by("created_at", "id")):
            if event.action == "suspend" and event.actor.kind == "union":
                union_at, union = event.created_at, event.actor_id
            elif event.action == "suspend":
                performer_at = event.created_at
            elif event.action in ("resume", "accept", "terminate"):  # the old resume lifted every suspension
                performer_at = union_at = union = None
        if performer_at is None and union_at is None:
            performer_at = contract.updated_at
        Contract.objects.filter(pk=contract.pk).update(
            performer_suspended_at=performer_at, union_suspended_at=union_at, union_suspended_by_id=union)


class Migration(migrations.Migration):

    dependencies = [
        ('rights', '0002_contract_consented_terms_hash'),
    ]

    operations = [
        migrations.AddField(
            model_name='contract',
            name='performer_suspended_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='contract',
            name='union_suspended_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='contract',
            name='union_suspended_by',
            field=models.ForeignKey(blank=True, editable=False, limit_choices_to={'kind': 'union'}, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='rights.party'),
        ),
        migrations.RunPython(derive_suspensions, migrations.RunPython.noop),
    ]
