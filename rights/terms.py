"""Contract terms as one value, its canonical form and its hash: what a performer's consent pins.

``Terms.of(contract)`` is the one projection of a contract's terms; the
canonical hash, the policy engine's snapshot (``rights.selectors.contract_policy_terms``)
and the API's contract body (``rights.serializers.ContractOutSerializer``) all read it.

The canonical form is JSON with sorted keys, no insignificant whitespace,
UTF-8, lists sorted, datetimes in UTC ISO-8601 with a ``Z`` suffix. The same
terms always give the same SHA-256, whichever code path produced them. Stored
hashes depend on it: never change the canonical form of ``TERMS_VERSION`` 1.

Named ``Terms`` rather than ``ContractTerms``: ``rights.policy.ContractTerms``
is the policy engine's snapshot (terms plus status and quota counters).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

TERMS_VERSION = 1


def iso_utc(value: datetime) -> str:
    """The canonical timestamp: UTC, always with microseconds (``2026-01-01T00:00:00.000000Z``)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime in contract terms")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _ContractLike(Protocol):
    performer_id: str
    brand_id: str
    platforms: list[str]
    banned_categories: list[str]
    languages: list[str]
    territories: list[str]
    valid_from: datetime
    valid_until: datetime
    currency: str
    royalty_per_render: int
    royalty_per_second: int
    revenue_share_bps: int
    max_renders: int
    requires_approval: bool
    notice_days: int


@dataclass(frozen=True, slots=True)
class Royalty:
    """What the brand pays the performer: integer minor units of ``currency``."""

    currency: str
    per_render: int
    per_second: int
    revenue_share_bps: int


@dataclass(frozen=True, slots=True)
class Terms:
    """The immutable terms of one contract, as stored (list order kept; ``canonical`` sorts)."""

    performer: str
    brand: str
    platforms: tuple[str, ...]
    banned_categories: tuple[str, ...]
    languages: tuple[str, ...]
    territories: tuple[str, ...]
    valid_from: datetime
    valid_until: datetime
    royalty: Royalty
    max_renders: int
    requires_approval: bool
    notice_days: int

    @classmethod
    def of(cls, contract: _ContractLike) -> Terms:
        """The terms of a ``rights.models.Contract`` (saved or not)."""
        return cls(
            performer=contract.performer_id,
            brand=contract.brand_id,
            platforms=tuple(contract.platforms),
            banned_categories=tuple(contract.banned_categories),
            languages=tuple(contract.languages),
            territories=tuple(contract.territories),
            valid_from=contract.valid_from,
            valid_until=contract.valid_until,
            royalty=Royalty(
                currency=contract.currency,
                per_render=contract.royalty_per_render,
                per_second=contract.royalty_per_second,
                revenue_share_bps=contract.revenue_share_bps,
            ),
            max_renders=contract.max_renders,
            requires_approval=contract.requires_approval,
            notice_days=contract.notice_days,
        )

    def canonical(self) -> dict[str, Any]:
        """The canonical document (what ``Consent.terms`` stores and ``hash`` digests)."""
        return {
            "version": TERMS_VERSION,
            "performer": self.performer,
            "brand": self.brand,
            "platforms": sorted(set(self.platforms)),
            "banned_categories": sorted(set(self.banned_categories)),
            "languages": sorted(set(self.languages)),
            "territories": sorted(set(self.territories)),
            "valid_from": iso_utc(self.valid_from),
            "valid_until": iso_utc(self.valid_until),
            "royalty": {
                "currency": self.royalty.currency,
                "per_render": self.royalty.per_render,
                "per_second": self.royalty.per_second,
                "revenue_share_bps": self.royalty.revenue_share_bps,
            },
            "max_renders": self.max_renders,
            "requires_approval": self.requires_approval,
            "notice_days": self.notice_days,
        }

    def hash(self) -> str:
        """SHA-256 (lowercase hex) of the canonical JSON: the contract's ``terms_hash``."""
        return terms_hash(self.canonical())


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def terms_hash(terms: dict[str, Any]) -> str:
    """SHA-256 of a canonical terms document (e.g. a stored ``Consent.terms``)."""
    return hashlib.sha256(canonical_json(terms)).hexdigest()
