"""Webhook signing secrets encrypted at rest (issue 10 #16): every stored secret is
sealed (gateway.secretbox, AES-256-GCM bound to the endpoint id), then the clear
column is dropped. Reversible: unsealing needs the same key settings."""

from django.db import migrations, models

from gateway import secretbox


def seal_existing(apps, schema_editor):
    WebhookEndpoint = apps.get_model("gateway", "WebhookEndpoint")
    for endpoint in WebhookEndpoint.objects.exclude(secret="").only("id", "secret").iterator():
        WebhookEndpoint.objects.filter(id=endpoint.id).update(
            secret_sealed=secretbox.seal(endpoint.secret, context=endpoint.id))


def unseal_existing(apps, schema_editor):
    WebhookEndpoint = apps.get_model("gateway", "WebhookEndpoint")
    for endpoint in WebhookEndpoint.objects.exclude(secret_sealed="").only("id", "secret_sealed").iterator():
        WebhookEndpoint.objects.filter(id=endpoint.id).update(
            secret=secretbox.unseal(endpoint.secret_sealed, context=endpoint.id))


class Migration(migrations.Migration):

    dependencies = [
        ("gateway", "0002_generation_attempt_failures"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookendpoint",
            name="secret_sealed",
            field=models.TextField(default="", help_text="The signing secret, encrypted (gateway.secretbox)"),
            preserve_default=False,
        ),
        # A default, so that migrating back re-adds the clear column before refilling it.
        migrations.AlterField(
            model_name="webhookendpoint",
            name="secret",
            field=models.CharField(blank=True, default="", max_length=100),
        ),
        migrations.RunPython(seal_existing, unseal_existing),
        migrations.RemoveField(
            model_name="webhookendpoint",
            name="secret",
        ),
    ]
