"""Reads for parties and contracts, scoped to the caller (another party's object is a 404)."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils import timezone

from rights import policy
from rights.models import EXPIRED, Contract, ContractStatus, Party, PartyKind


def likeness_scope_q(party: Party) -> Q:
    """What ``party`` may see of any model with ``brand`` and ``performer``
    foreign keys (contracts, generations): a brand its own, a performer theirs,
    a union its members'."""
    if party.kind == PartyKind.BRAND:
        return Q(brand_id=party.id)
    if party.kind == PartyKind.PERFORMER:
        return Q(performer_id=party.id)
    if party.kind == PartyKind.UNION:
        return Q(performer__union_id=party.id)
    return Q(pk__in=[])


def contract_visible_to(*, contract: Contract, party: Party) -> bool:
    if party.kind == PartyKind.BRAND:
        return contract.brand_id == party.id
    if party.kind == PartyKind.PERFORMER:
        return contract.performer_id == party.id
    if party.kind == PartyKind.UNION:
        return contract.performer.union_id == party.id
    return False


def contract_list(*, party: Party, status: str | None = None, performer: str | None = None,
                  brand: str | None = None) -> QuerySet[Contract]:
    qs = Contract.objects.filter(likeness_scope_q(party)).select_related("performer", "brand")
    if status == EXPIRED:
        qs = qs.filter(valid_until__lte=timezone.now()).exclude(status=ContractStatus.TERMINATED)
    elif status == ContractStatus.TERMINATED:
        qs = qs.filter(status=status)
    elif status:
        # Stored status and not yet expired: what the API reports as that status.
        qs = qs.filter(status=status, valid_until__gt=timezone.now())
    if performer:
        qs = qs.filter(performer_id=performer)
    if brand:
        qs = qs.filter(brand_id=brand)
    return qs


def contract_get(*, party: Party, contract_id: str) -> Contract | None:
    return (
        Contract.objects.filter(likeness_scope_q(party), id=contract_id)
        .select_related("performer", "brand", "performer__union")
        .first()
    )


def party_visible_to(*, party: Party, viewer: Party) -> bool:
    """A party sees itself; a union sees its members; contract counterparties see each other."""
    if party.id == viewer.id:
        return True
    if viewer.kind == PartyKind.UNION and party.union_id == viewer.id:
        return True
    return Contract.objects.filter(
        (Q(brand_id=viewer.id) & Q(performer_id=party.id)) | (Q(performer_id=viewer.id) & Q(brand_id=party.id))
    ).exists()


def contract_policy_terms(*, contract: Contract) -> policy.ContractTerms:
    """A plain-data snapshot of a contract for the pure policy engine."""
    return policy.ContractTerms(
        contract_id=contract.id,
        brand_id=contract.brand_id,
        status=contract.status,
        valid_from=contract.valid_from,
        valid_until=contract.valid_until,
        platforms=frozenset(contract.platforms),
        banned_categories=frozenset(contract.banned_categories),
        languages=frozenset(contract.languages),
        territories=frozenset(contract.territories),
        max_renders=contract.max_renders,
        renders_used=contract.renders_used,
        renders_held=contract.renders_held,
        terms_hash=contract.terms_hash,
        consent_terms_hash=contract.consented_terms_hash or None,
    )
