"""The database ties a contract's status to the suspensions it holds (see 0003)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('rights', '0003_contract_suspensions'),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='contract',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('status', 'suspended'), models.Q(('performer_suspended_at__isnull', False), ('union_suspended_at__isnull', False), _connector='OR')), models.Q(models.Q(('status', 'suspended'), _negated=True), ('performer_suspended_at__isnull', True), ('union_suspended_at__isnull', True)), _connector='OR'), name='contract_suspended_iff_held'),
        ),
        migrations.AddConstraint(
            model_name='contract',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('union_suspended_at__isnull', True), ('union_suspended_by__isnull', True)), models.Q(('union_suspended_at__isnull', False), ('union_suspended_by__isnull', False)), _connector='OR'), name='contract_strike_has_union'),
        ),
    ]
