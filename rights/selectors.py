"""Reads for parties, keys and contracts, scoped to the caller by ``rights.visibility``
(another party's object is a 404: these answer None or an empty set for it)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from rights import policy, visibility
from rights.models import EXPIRED, ApiKey, Contract, ContractStatus, Party


def contract_list(*, party: Party, status: str | None = None, performer: str | None = None,
                  brand: str | None = None) -> QuerySet[Contract]:
    qs = Contract.objects.filter(visibility.contract_q(party)).select_related("performer", "brand")
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
        Contract.objects.filter(visibility.contract_q(party), id=contract_id)
        .select_related("performer", "brand", "performer__union")
        .first()
    )


def party_get(*, viewer: Party, party_id: str) -> Party | None:
    """A party's profile, if ``viewer`` may read it (``visibility.party_q``)."""
    if party_id == viewer.id:
        return viewer
    return Party.objects.filter(visibility.party_q(viewer), id=party_id).first()


def performer_list(*, viewer: Party) -> QuerySet[Party]:
    """The talent directory as ``viewer`` sees it (``visibility.performer_directory_q``)."""
    return Party.objects.filter(visibility.performer_directory_q(viewer))


def api_key_list(*, party: Party) -> QuerySet[ApiKey]:
    """The keys ``party`` may see (its own), revoked ones included, unordered: the caller paginates."""
    return ApiKey.objects.filter(visibility.api_key_q(party))


def api_key_get(*, party: Party, key_id: str) -> ApiKey | None:
    return ApiKey.objects.filter(visibility.api_key_q(party), id=key_id).first()


def contract_policy_terms(*, contract: Contract) -> policy.ContractTerms:
    """A plain-data snapshot of a contract for the pure policy engine: its terms
    (``Contract.terms``) with its status, quota counters and consent."""
    terms = contract.terms
    return policy.ContractTerms(
        contract_id=contract.id, brand_id=terms.brand, status=contract.status,
        valid_from=terms.valid_from, valid_until=terms.valid_until,
        platforms=frozenset(terms.platforms), banned_categories=frozenset(terms.banned_categories),
        languages=frozenset(terms.languages), territories=frozenset(terms.territories),
        max_renders=terms.max_renders, renders_used=contract.renders_used, renders_held=contract.renders_held,
        terms_hash=contract.terms_hash, consent_terms_hash=contract.consented_terms_hash or None,
    )
