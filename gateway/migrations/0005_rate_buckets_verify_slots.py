"""Rate windows per party and bucket (POST /generations, POST /verify), and the
leased slots that bound concurrent verifications (issue 10 #6)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("gateway", "0004_delivery_log_generic_errors"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="ratewindow",
            name="rate_window_once",
        ),
        migrations.RenameField(
            model_name="ratewindow",
            old_name="brand",
            new_name="party",
        ),
        migrations.AddField(
            model_name="ratewindow",
            name="bucket",
            field=models.CharField(choices=[("generations", "Generations"), ("verify", "Verify")],
                                   default="generations", max_length=16),
        ),
        migrations.AddConstraint(
            model_name="ratewindow",
            constraint=models.UniqueConstraint(fields=("party", "bucket", "window_start"),
                                               name="rate_window_once_per_bucket"),
        ),
        migrations.CreateModel(
            name="VerifySlot",
            fields=[
                ("slot", models.PositiveIntegerField(primary_key=True, serialize=False)),
                ("holder", models.CharField(blank=True, max_length=64)),
                ("lease_until", models.DateTimeField()),
            ],
        ),
    ]
