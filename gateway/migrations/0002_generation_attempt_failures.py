from django.db import migrations, models


class Migration(migrations.Migration):
    """Bounded render attempts (issue 10 #12): each attempt that ended without a result is recorded."""

    dependencies = [
        ("gateway", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="generation",
            name="attempt_failures",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
