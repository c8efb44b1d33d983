"""The policy engine: may this use of a likeness happen, under this contract, now?

A pure function over plain data (no ORM, no clock, no I/O) so that it can be
tested exhaustively, benchmarked alone, and re-run by a worker mid-flight.
It returns *every* rule with its verdict, not just the first failure: a brand
learns everything it must fix at once, and a union auditor sees exactly why.

Rule codes are the public contract of shared/API.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from rights import screening
from rights.language import LanguageGuess, is_confidently_not

RULES = (
    "contract_not_active",
    "contract_expired",
    "contract_not_yet_valid",
    "consent_missing",
    "licensee_mismatch",
    "platform_not_allowed",
    "category_banned",
    "script_category_banned",
    "language_not_allowed",
    "territory_not_allowed",
    "quota_exceeded",
)


@dataclass(frozen=True, slots=True)
class ContractTerms:
    """What the engine needs to know about a contract (a snapshot, not a model)."""

    contract_id: str
    brand_id: str
    status: str  # stored status: proposed | active | suspended | terminated
    valid_from: datetime
    valid_until: datetime
    platforms: frozenset[str]
    banned_categories: frozenset[str]
    languages: frozenset[str]
    territories: frozenset[str]
    max_renders: int
    renders_used: int = 0
    renders_held: int = 0
    terms_hash: str = ""
    # The terms hash the performer's consent on record pins (None: no consent).
    consent_terms_hash: str | None = None


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """What the brand asks for, plus what the request builder read from the script.

    ``detected``: ``rights.language.detect(script)``; None skips the check of the text's
    own language (only the declared one is checked). ``spoken``: the text the voice will
    actually say (``renderer.prepare_script(script, language).spoken``: numbers, dates,
    currencies and abbreviations written out); screened as well as ``script``, so a banned
    term that only appears once spelled out is found. None: only ``script`` is screened.
    """

    brand_id: str
    script: str
    platform: str
    category: str
    language: str
    territory: str
    detected: LanguageGuess | None = None
    spoken: str | None = None


@dataclass(frozen=True, slots=True)
class Check:
    rule: str
    passed: bool
    message: str
    detail: dict | None = None

    def as_dict(self) -> dict:
        out = {"rule": self.rule, "passed": self.passed, "message": self.message}
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    checks: tuple[Check, ...] = field(default_factory=tuple)

    @property
    def reasons(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    @property
    def failed_rules(self) -> list[str]:
        return [c.rule for c in self.checks if not c.passed]

    def as_dict(self) -> dict:
        return {"allowed": self.allowed, "checks": [c.as_dict() for c in self.checks]}

    def reasons_as_dicts(self) -> list[dict]:
        return [{"rule": c.rule, "message": c.message} | ({"detail": c.detail} if c.detail else {})
                for c in self.reasons]


def _fmt(values: Iterable[str]) -> str:
    return ", ".join(sorted(values)) or "none"


def _language_check(terms: ContractTerms, request: GenerationRequest) -> Check:
    """The declared language must be allowed, and the text must not be confidently in a
    language that is not (the brand's word is not enough: rights/language.py)."""
    if request.language not in terms.languages:
        return Check("language_not_allowed", False,
                     f"Language '{request.language}' is not allowed (allowed: {_fmt(terms.languages)}).")
    detected = request.detected
    if detected is not None and is_confidently_not(detected, terms.languages):
        return Check(
            "language_not_allowed", False,
            f"The script is declared '{request.language}' but its text is "
            + (f"in '{detected.language}'" if detected.language else "not in an allowed language")
            + f", which is not allowed (allowed: {_fmt(terms.languages)}).",
            {"declared": request.language, "detected": detected.language,
             "confidence": round(detected.confidence, 3)},
        )
    return Check("language_not_allowed", True, f"Language '{request.language}' is allowed.")


def evaluate(
    terms: ContractTerms,
    request: GenerationRequest,
    now: datetime,
    *,
    quota_reserved: bool = False,
) -> Decision:
    """Evaluate ``request`` against ``terms`` at ``now`` (timezone-aware).

    ``quota_reserved`` is true when re-checking a generation that already
    holds one unit of quota (the worker's mid-flight re-check): the quota
    rule then passes, since its unit is already reserved.
    """
    if now.tzinfo is None:
        raise ValueError("policy.evaluate needs a timezone-aware 'now'")
    checks: list[Check] = []
    add = checks.append

    status = terms.status
    add(Check("contract_not_active", status == "active",
              "The contract is active." if status == "active" else f"The contract is {status}, not active."))

    expired = now >= terms.valid_until
    add(Check("contract_expired", not expired,
              f"The contract expired at {terms.valid_until.isoformat()}." if expired
              else f"The contract is valid until {terms.valid_until.isoformat()}."))

    early = now < terms.valid_from
    add(Check("contract_not_yet_valid", not early,
              f"The contract only becomes valid at {terms.valid_from.isoformat()}." if early
              else "The contract's validity window has started."))

    consented = terms.consent_terms_hash is not None and terms.consent_terms_hash == terms.terms_hash
    if consented:
        consent_msg = "The performer consented to these exact terms."
    elif terms.consent_terms_hash is None:
        consent_msg = "The performer has not consented to this contract."
    else:
        consent_msg = "The performer's consent on record is for different terms."
    add(Check("consent_missing", consented, consent_msg))

    licensee_ok = request.brand_id == terms.brand_id
    add(Check("licensee_mismatch", licensee_ok,
              "The requesting brand is the licensee." if licensee_ok
              else "The requesting brand is not the licensee of this contract."))

    platform_ok = request.platform in terms.platforms
    add(Check("platform_not_allowed", platform_ok,
              f"Platform '{request.platform}' is allowed." if platform_ok
              else f"Platform '{request.platform}' is not allowed (allowed: {_fmt(terms.platforms)})."))

    category_ok = request.category not in terms.banned_categories
    add(Check("category_banned", category_ok,
              f"Category '{request.category}' is not banned." if category_ok
              else f"Category '{request.category}' is banned by this contract."))

    hits = []
    if terms.banned_categories:
        spoken = request.spoken
        if spoken is None or spoken == request.script:
            hits = screening.screen(request.script, terms.banned_categories)
        else:
            hits = screening.screen_all((request.script, spoken), terms.banned_categories)
    if hits:
        add(Check(
            "script_category_banned", False,
            "The script promotes a banned category: "
            + "; ".join(f"{h.category} ({', '.join(h.terms)})" for h in hits) + ".",
            {"categories": [h.category for h in hits], "terms": {h.category: list(h.terms) for h in hits}},
        ))
    else:
        add(Check("script_category_banned", True, "The script promotes no banned category."))

    add(_language_check(terms, request))

    territory_ok = request.territory in terms.territories
    add(Check("territory_not_allowed", territory_ok,
              f"Territory '{request.territory}' is allowed." if territory_ok
              else f"Territory '{request.territory}' is not allowed (allowed: {_fmt(terms.territories)})."))

    if quota_reserved:
        add(Check("quota_exceeded", True, "A unit of quota is reserved for this generation."))
    else:
        in_use = terms.renders_used + terms.renders_held
        quota_ok = in_use < terms.max_renders
        add(Check("quota_exceeded", quota_ok,
                  f"{terms.max_renders - in_use} of {terms.max_renders} renders left." if quota_ok
                  else f"All {terms.max_renders} renders are used or held ({terms.renders_used} used, "
                       f"{terms.renders_held} in flight)."))

    return Decision(allowed=all(c.passed for c in checks), checks=tuple(checks))


QUOTA_TAKEN_MESSAGE = "The last unit of quota was just taken."


def deny_quota_taken(decision: Decision) -> Decision:
    """The decision to record when reserving the quota unit failed after ``evaluate``
    allowed the request: another request took the last unit in between.

    A decision that already denies is returned unchanged (its own reasons stand,
    a failing ``quota_exceeded`` among them when the fresh counters show it).
    One that allows becomes a denial whose ``quota_exceeded`` check fails: the
    counters it read may have changed back meanwhile, but the unit was not ours.
    """
    if not decision.allowed:
        return decision
    checks = tuple(replace(c, passed=False, message=QUOTA_TAKEN_MESSAGE, detail=None)
                   if c.rule == "quota_exceeded" else c for c in decision.checks)
    return Decision(allowed=False, checks=checks)
