"""python manage.py demo_world [--json]

Creates the demo world once: a union, a performer with a real portrait
(scikit-image's astronaut photo), two brands, and an active contract between
the performer and the first brand. Idempotent: a second run prints the same
world. Demo API keys are kept in DATA_DIR/demo.json (a demo convenience only;
real keys are shown once and never stored).
"""

from __future__ import annotations

import io
import json
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from rights import services
from rights.auth import key_lookup
from rights.models import Contract, Party, PartyKind


def astronaut_jpeg() -> bytes:
    from PIL import Image
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buf, format="JPEG", quality=92)
    return buf.getvalue()


class Command(BaseCommand):
    help = "Create (once) and print the demo world: performer, union, two brands, an active contract."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        path = settings.DATA_DIR / "demo.json"
        world = self._load(path)
        if world is None:
            world = self._create()
            path.write_text(json.dumps(world, indent=2))
            path.chmod(0o600)
        if opts["json"]:
            self.stdout.write(json.dumps(world))
            return
        self.stdout.write("Demo world:")
        for role in ("union", "performer", "brand", "other_brand"):
            p = world[role]
            self.stdout.write(f"  {role:<12} {p['name']:<22} {p['id']}  key: {p['api_key']}")
        self.stdout.write(f"  contract     {world['contract']}  (active; tiktok/youtube, en/es, US/CA)")

    def _load(self, path):
        if not path.exists():
            return None
        world = json.loads(path.read_text())
        # Still valid against this database? (the data dir may have been reset)
        ok = all(key_lookup(world[r]["api_key"]) for r in ("union", "performer", "brand", "other_brand"))
        ok = ok and Contract.objects.filter(id=world.get("contract")).exists()
        return world if ok else None

    @transaction.atomic
    def _create(self) -> dict:
        union, union_key = services.party_create(kind=PartyKind.UNION, name="Performers Guild",
                                                 pension_health_bps=1500)
        performer, performer_key = services.party_create(
            kind=PartyKind.PERFORMER, name="Ava Stone", union=union, portrait=astronaut_jpeg(), voice="en")
        brand, brand_key = services.party_create(kind=PartyKind.BRAND, name="Acme Cola")
        other, other_key = services.party_create(kind=PartyKind.BRAND, name="Globex Casino")
        now = timezone.now()
        contract = services.contract_propose(
            brand=brand, performer=performer, platforms=["tiktok", "youtube", "instagram"],
            banned_categories=["sexual_health", "gambling", "alcohol", "tobacco_vaping", "weapons",
                               "political", "adult", "crypto_investment", "weight_loss"],
            languages=["en", "es"], territories=["US", "CA"],
            valid_from=now - timedelta(minutes=1), valid_until=now + timedelta(days=365),
            currency="USD", per_render=500, per_second=10, revenue_share_bps=200, max_renders=1000,
            requires_approval=False, notice_days=30,
        )
        services.contract_transition(contract_id=contract.id, action="accept", actor=performer, source="demo")

        def entry(party: Party, issued) -> dict:
            return {"id": party.id, "name": party.name, "kind": party.kind, "api_key": issued.raw}

        return {"union": entry(union, union_key), "performer": entry(performer, performer_key),
                "brand": entry(brand, brand_key), "other_brand": entry(other, other_key),
                "contract": contract.id}
