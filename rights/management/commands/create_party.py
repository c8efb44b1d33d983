"""python manage.py create_party {brand|performer|union} NAME [--portrait FILE] [--union ID] [--voice CODE] [--json]

Prints the party and its first API key (shown once). Exit status 2 with a clear
message on bad input; nothing is written then.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from common.errors import DomainError
from rights import services, vocab
from rights.models import Party, PartyKind


class Command(BaseCommand):
    help = "Create a brand, union or performer and print its first API key (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=PartyKind.values)
        parser.add_argument("name")
        parser.add_argument("--portrait", help="Portrait photo (JPEG/PNG) for a performer")
        parser.add_argument("--union", help="Union id the performer belongs to")
        parser.add_argument("--voice", default="", help="Preferred voice / language code, e.g. en")
        parser.add_argument("--pension-health-bps", type=int, default=None,
                            help="Unions: P&H contribution in basis points charged on top of royalties")
        parser.add_argument("--json", action="store_true", help="Print one JSON object")

    def handle(self, *args, **opts):
        portrait = None
        if opts["portrait"]:
            path = Path(opts["portrait"])
            if not path.is_file():
                raise CommandError(f"--portrait: no such file: {path}")
            if path.stat().st_size > settings.DOPPEL_MAX_PORTRAIT_BYTES:
                raise CommandError(f"--portrait: larger than {settings.DOPPEL_MAX_PORTRAIT_BYTES} bytes")
            portrait = path.read_bytes()
        union = None
        if opts["union"]:
            union = Party.objects.filter(id=opts["union"], kind=PartyKind.UNION).first()
            if union is None:
                raise CommandError(f"--union: no union with id {opts['union']!r}")
        if opts["voice"] and opts["voice"] not in vocab.languages():
            raise CommandError(f"--voice: {opts['voice']!r} is not an ISO 639-1 language code")
        try:
            party, issued = services.party_create(
                kind=opts["kind"], name=opts["name"], union=union, portrait=portrait,
                voice=opts["voice"], pension_health_bps=opts["pension_health_bps"],
            )
        except DomainError as exc:
            detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.extra.get("fields", {}).items())
            raise CommandError(f"{exc.message} {detail}".strip()) from None
        out = {"id": party.id, "kind": party.kind, "name": party.name, "api_key": issued.raw}
        if party.union_id:
            out["union"] = party.union_id
        if opts["json"]:
            self.stdout.write(json.dumps(out))
        else:
            self.stdout.write(f"Created {party.kind} {party.name!r} with id {party.id}")
            self.stdout.write(f"API key (shown once, store it now): {issued.raw}")
