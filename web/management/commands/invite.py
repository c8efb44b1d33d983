"""python manage.py invite <party id> <email> [--admin] [--base-url URL] [--json]"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from common.errors import DomainError
from rights.models import Party
from web import services


class Command(BaseCommand):
    help = "Invite a person to act for a party on the web app; prints (and e-mails) a single-use link."

    def add_arguments(self, parser):
        parser.add_argument("party", help="The party's id (pty_…)")
        parser.add_argument("email")
        parser.add_argument("--admin", action="store_true", help="May invite colleagues")
        parser.add_argument("--base-url", default="http://localhost:8000", help="Where the web app is served")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, party: str, email: str, admin: bool, base_url: str, json: bool, **options):
        found = Party.objects.filter(id=party).first()
        if found is None:
            raise CommandError(f"No party {party!r}.")
        if not base_url.startswith(("http://", "https://")) or len(base_url) > 200:
            raise CommandError("--base-url must be an http(s) URL.")
        try:
            invitation, token = services.invitation_create(party=found, email=email, is_admin=admin)
        except DomainError as exc:
            raise CommandError("; ".join(sum(exc.extra.get("fields", {}).values(), [])) or exc.message) from None
        link = base_url.rstrip("/") + reverse("web:invitation_accept", args=[token])
        services.invitation_send(email=invitation.email, party=found, link=link)
        if json:
            self.stdout.write(_dumps({"party": found.id, "email": invitation.email, "link": link,
                                      "expires_at": invitation.expires_at.isoformat()}))
        else:
            self.stdout.write(f"Invitation for {invitation.email} to act for {found.name} ({found.kind}):\n{link}")


def _dumps(value) -> str:
    return json.dumps(value, sort_keys=True)
