"""python manage.py revoke_key PREFIX — revoke an API key by its visible prefix."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from rights import services
from rights.models import ApiKey


class Command(BaseCommand):
    help = "Revoke an API key by its visible prefix (e.g. dpl_3k9x2m7q)."

    def add_arguments(self, parser):
        parser.add_argument("prefix")

    def handle(self, *args, **opts):
        prefix = opts["prefix"].split(".", 1)[0]
        key = ApiKey.objects.filter(prefix=prefix).select_related("party").first()
        if key is None:
            raise CommandError(f"No API key with prefix {prefix!r}")
        already = key.revoked_at is not None
        services.api_key_revoke(key=key)
        state = "was already revoked" if already else "revoked"
        self.stdout.write(f"{key.prefix} ({key.party.name}) {state}")
