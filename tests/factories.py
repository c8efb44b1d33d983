"""Test factories: real rows made through the real services where one exists."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from rest_framework.test import APIClient

from common.timefmt import iso
from rights import services
from rights.models import Contract, Party, PartyKind

_seq = itertools.count(1)


def make_party(kind: str, name: str | None = None, *, union: Party | None = None,
               pension_health_bps: int | None = None) -> tuple[Party, str]:
    """A party and its raw API key. Performers get no portrait here (see the
    ``portrait_landmarks`` fixture for renders); contract logic does not need one."""
    party = Party.objects.create(
        kind=kind, name=name or f"{kind.title()} {next(_seq)}", union=union,
        pension_health_bps=pension_health_bps,
    )
    issued = services.api_key_issue(party=party, name="test")
    return party, issued.raw


def contract_terms_payload(performer: Party, /, **overrides) -> dict:
    now = timezone.now()
    body = {
        "performer": performer.id,
        "platforms": ["tiktok", "youtube"],
        "banned_categories": ["sexual_health", "gambling"],
        "languages": ["en"],
        "territories": ["US", "CA"],
        "valid_from": iso(now - timedelta(days=1)),
        "valid_until": iso(now + timedelta(days=365)),
        "royalty": {"currency": "USD", "per_render": 500, "per_second": 10, "revenue_share_bps": 0},
        "max_renders": 100,
        "requires_approval": False,
        "notice_days": 30,
    }
    body.update(overrides)
    return body


def make_contract(brand: Party, performer: Party, *, accept: bool = True, **overrides) -> Contract:
    now = timezone.now()
    kwargs = dict(
        brand=brand, performer=performer, platforms=["tiktok", "youtube"],
        banned_categories=["sexual_health", "gambling"], languages=["en"], territories=["US", "CA"],
        valid_from=now - timedelta(days=1), valid_until=now + timedelta(days=365), currency="USD",
        per_render=500, per_second=10, revenue_share_bps=0, max_renders=100,
        requires_approval=False, notice_days=30,
    )
    kwargs.update(overrides)
    contract = services.contract_propose(**kwargs)
    if accept:
        contract = services.contract_transition(contract_id=contract.id, action="accept", actor=performer)
    return contract


def client_for(raw_key: str | None) -> APIClient:
    client = APIClient()
    if raw_key:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


@dataclass
class Cast:
    """owner / member / outsider for permission tests.

    brand owns the contract with performer (a member of union); other_brand,
    other_performer (no union) and other_union are outsiders.
    """

    brand: Party
    brand_key: str
    performer: Party
    performer_key: str
    union: Party
    union_key: str
    other_brand: Party
    other_brand_key: str
    other_performer: Party
    other_performer_key: str
    other_union: Party
    other_union_key: str

    def client(self, who: str) -> APIClient:
        return client_for(getattr(self, f"{who}_key"))


def make_cast() -> Cast:
    union, union_key = make_party(PartyKind.UNION, "Performers Guild", pension_health_bps=1000)
    other_union, other_union_key = make_party(PartyKind.UNION, "Other Guild")
    performer, performer_key = make_party(PartyKind.PERFORMER, "Ava Stone", union=union)
    other_performer, other_performer_key = make_party(PartyKind.PERFORMER, "Ben Outsider")
    brand, brand_key = make_party(PartyKind.BRAND, "Acme Cola")
    other_brand, other_brand_key = make_party(PartyKind.BRAND, "Globex")
    return Cast(brand, brand_key, performer, performer_key, union, union_key, other_brand,
                other_brand_key, other_performer, other_performer_key, other_union, other_union_key)
