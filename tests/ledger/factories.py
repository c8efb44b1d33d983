"""Ledger test factories: Party, ApiKey and Contract rows made directly with the ORM
(independent of the rights services), and a cast for permission tests."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone
from rest_framework.test import APIClient

from rights.auth import generate_key, hash_key
from rights.models import ApiKey, Contract, ContractStatus, Party
from tests.factories import client_for

_seq = itertools.count(1)


def make_party(kind: str, *, union: Party | None = None, pension_health_bps: int | None = None) -> Party:
    return Party.objects.create(kind=kind, name=f"{kind} {next(_seq)}", union=union,
                                pension_health_bps=pension_health_bps)


def make_key(party: Party) -> str:
    prefix, raw = generate_key()
    ApiKey.objects.create(party=party, prefix=prefix, hashed=hash_key(raw), name="ledger test")
    return raw


def make_contract(*, performer: Party, brand: Party, currency: str = "USD", per_render: int = 500,
                  per_second: int = 10, max_renders: int = 100, revenue_share_bps: int = 0) -> Contract:
    now = timezone.now()
    return Contract.objects.create(
        performer=performer, brand=brand, platforms=["tiktok"], languages=["en"], territories=["US"],
        valid_from=now - timedelta(days=30), valid_until=now + timedelta(days=365), currency=currency,
        royalty_per_render=per_render, royalty_per_second=per_second, revenue_share_bps=revenue_share_bps,
        max_renders=max_renders, terms_hash=f"terms-{next(_seq)}", status=ContractStatus.ACTIVE,
        accepted_at=now - timedelta(days=30),
    )


@dataclass
class World:
    """owner / member / outsider: ``brand`` contracts with ``performer``, a member of
    ``union``. ``other_brand``, ``other_performer`` (no union) and ``other_union``
    are outsiders; ``other_contract`` is between the two outsiders."""

    union: Party
    performer: Party
    brand: Party
    other_union: Party
    other_performer: Party
    other_brand: Party
    contract: Contract
    other_contract: Contract
    keys: dict[str, str] = field(default_factory=dict)

    def client(self, who: str) -> APIClient:
        return client_for(self.keys[who])


def make_world(*, ph_bps: int | None = 850) -> World:
    union = make_party("union", pension_health_bps=ph_bps)
    other_union = make_party("union", pension_health_bps=500)
    performer = make_party("performer", union=union)
    other_performer = make_party("performer")
    brand = make_party("brand")
    other_brand = make_party("brand")
    world = World(
        union=union, performer=performer, brand=brand, other_union=other_union, other_performer=other_performer,
        other_brand=other_brand, contract=make_contract(performer=performer, brand=brand, revenue_share_bps=500),
        other_contract=make_contract(performer=other_performer, brand=other_brand),
    )
    for name in ("union", "performer", "brand", "other_union", "other_performer", "other_brand"):
        world.keys[name] = make_key(getattr(world, name))
    return world
