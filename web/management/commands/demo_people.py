"""python manage.py demo_people --performer ID --brand ID --union ID --password P [--json]

One person per demo party for the web pages (``<role>@demo.doppel.local``, an admin of
that party), created once; used by ``manage.py demo``. Prints the e-mail addresses."""

from __future__ import annotations

import json

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from rights.models import Party
from web.models import PartyMember

ROLES = ("performer", "brand", "union")


class Command(BaseCommand):
    help = "Create (once) a web sign-in for each demo party."

    def add_arguments(self, parser):
        for role in ROLES:
            parser.add_argument(f"--{role}", required=True, help=f"The demo {role}'s party id")
        parser.add_argument("--password", required=True)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, password: str, json: bool, **options):
        if len(password) < 8:
            raise CommandError("--password: at least 8 characters.")
        User = get_user_model()
        made = {}
        for role in ROLES:
            party = Party.objects.filter(id=options[role], kind=role).first()
            if party is None:
                raise CommandError(f"--{role}: no {role} {options[role]!r}.")
            email = f"{role}@demo.doppel.local"
            user = User.objects.filter(username=email).first()
            if user is None:
                user = User.objects.create_user(username=email, email=email, password=password)
            EmailAddress.objects.get_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
            PartyMember.objects.get_or_create(user=user, defaults={"party": party, "is_admin": True})
            made[role] = email
        self.stdout.write(_dumps(made) if json else "\n".join(f"{r}: {e}" for r, e in made.items()))


def _dumps(value) -> str:
    return json.dumps(value, sort_keys=True)
