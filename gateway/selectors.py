"""Reads for generations, scoped to the caller."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from gateway.models import Generation
from rights.models import Party, PartyKind


def generation_scope_q(party: Party) -> Q:
    if party.kind == PartyKind.BRAND:
        return Q(brand_id=party.id)
    if party.kind == PartyKind.PERFORMER:
        return Q(performer_id=party.id)
    if party.kind == PartyKind.UNION:
        return Q(performer__union_id=party.id)
    return Q(pk__in=[])


def generation_list(*, party: Party, status: str | None = None, contract: str | None = None) -> QuerySet:
    qs = Generation.objects.filter(generation_scope_q(party)).select_related("ledger_transaction")
    if status:
        qs = qs.filter(status=status)
    if contract:
        qs = qs.filter(contract_id=contract)
    return qs


def generation_get(*, party: Party, generation_id: str) -> Generation | None:
    return (Generation.objects.filter(generation_scope_q(party), id=generation_id)
            .select_related("ledger_transaction", "contract").first())


def generation_by_payload(*, payload: int) -> dict | None:
    """The verify service's lookup: which generation carries this watermark payload?"""
    gen = Generation.objects.filter(watermark_payload=payload).values(
        "id", "contract_id", "performer_id", "brand_id", "status").first()
    if gen is None:
        return None
    return {"id": gen["id"], "contract": gen["contract_id"], "performer": gen["performer_id"],
            "brand": gen["brand_id"], "status": gen["status"]}
