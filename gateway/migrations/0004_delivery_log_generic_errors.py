"""The brand-readable delivery log keeps only a status code and a generic error
class (issue 10 #13): rewrite what earlier attempts recorded (exception texts
such as "URLError: [Errno 111] Connection refused") into those classes."""

from django.db import migrations

KNOWN = {"address_not_allowed", "connection_failed", "http_error", "redirect_not_followed", "timeout",
         "tls_error", "secret_unreadable", ""}


def _generic(error: str, status_code) -> str:
    if error in KNOWN:
        return error
    if status_code is not None or error.startswith("HTTP "):
        return "http_error"
    if "timed out" in error.lower() or "timeout" in error.lower():
        return "timeout"
    return "connection_failed"


def scrub(apps, schema_editor):
    WebhookDelivery = apps.get_model("gateway", "WebhookDelivery")
    for delivery in WebhookDelivery.objects.filter(attempts__gt=0).iterator():
        log = [{**entry, "error": _generic(entry.get("error") or "", entry.get("status_code"))}
               for entry in delivery.log]
        WebhookDelivery.objects.filter(id=delivery.id).update(
            log=log, last_error=_generic(delivery.last_error, delivery.last_status_code))


class Migration(migrations.Migration):

    dependencies = [
        ("gateway", "0003_webhook_secret_sealed"),
    ]

    operations = [
        migrations.RunPython(scrub, migrations.RunPython.noop),
    ]
