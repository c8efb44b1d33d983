"""Writes for parties, keys and contracts (STYLE.md: services hold the logic).

Every change of rights happens in one atomic block together with its audit
record (ContractEvent, Consent). Transitions lock the contract row so two
concurrent requests cannot both pass the state check.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

import intake
from common.errors import Forbidden, InvalidRequest
from rights import terms as terms_mod
from rights import visibility
from rights.auth import generate_key, hash_key
from rights.exceptions import (
    ActionNotAllowed,
    ContractNotFound,
    IllegalTransition,
    KeyLimitReached,
    PortraitUnusable,
    TermsTampered,
)
from rights.models import (
    EXPIRED,
    ApiKey,
    Consent,
    Contract,
    ContractAction,
    ContractEvent,
    ContractStatus,
    Party,
    PartyKind,
    SuspensionHolder,
)

# --- parties and keys -------------------------------------------------------------


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    raw: str  # shown once, never stored


# Keys per party (docs/rights.md "API keys"): at most MAX_ACTIVE_KEYS usable at once,
# and at most MAX_KEYS_PER_PARTY ever issued, revoked ones included (they stay as the
# audit trail's "which key did it": consents and contract events name them).
MAX_ACTIVE_KEYS = 50
MAX_KEYS_PER_PARTY = 1000


def api_key_issue(*, party: Party, name: str = "") -> IssuedKey:
    """Issue a key for ``party``; the raw key is returned once and never stored.

    Raises KeyLimitReached (400 ``invalid_request``, ``fields.name`` and ``limit``)
    when the party holds MAX_ACTIVE_KEYS active keys or has been issued
    MAX_KEYS_PER_PARTY keys in all. The party's row is locked while counting, so
    concurrent requests cannot pass the bound together.
    """
    with transaction.atomic():
        Party.objects.select_for_update().filter(pk=party.pk).first()
        keys = ApiKey.objects.filter(party=party)
        total = keys.count()
        if total >= MAX_KEYS_PER_PARTY:
            raise KeyLimitReached(
                f"This party has been issued {total} keys, the most allowed (revoked keys count: they "
                "are kept as the audit trail). Ask the operator.",
                fields={"name": [f"Limit of {MAX_KEYS_PER_PARTY} keys in all."]}, limit=MAX_KEYS_PER_PARTY)
        if keys.filter(revoked_at__isnull=True).count() >= MAX_ACTIVE_KEYS:
            raise KeyLimitReached("Too many active keys; revoke some first.",
                                  fields={"name": [f"Limit of {MAX_ACTIVE_KEYS} keys."]}, limit=MAX_ACTIVE_KEYS)
        prefix, raw = generate_key()
        key = ApiKey.objects.create(party=party, name=name[:100], prefix=prefix, hashed=hash_key(raw))
    return IssuedKey(key=key, raw=raw)


def api_key_revoke(*, key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def _portrait_admit(image: bytes) -> None:
    """The media intake's header checks (type from the bytes, size budgets) before the
    renderer is even imported: a bomb or a non-image costs milliseconds here."""
    try:
        intake.inspect(image, limits=intake.PORTRAIT)
    except intake.MediaError as exc:
        too_large = isinstance(exc, intake.MediaTooLarge)
        message = (f"The portrait is too large: {exc.message}." if too_large
                   else f"The portrait is not an image we can read: {exc.message}.")
        raise PortraitUnusable(
            f"The portrait cannot be used: {message}",
            fields={"portrait": [message]},
            reason="image_too_large" if too_large else "not_an_image",
        ) from None


def portrait_analyze(*, image: bytes) -> dict:
    """Landmarks for a portrait, computed once at onboarding.

    Raises InvalidRequest with the renderer's stable error code when the image
    is not usable (no face, several faces, a face too small, not an image, too large).
    """
    _portrait_admit(image)
    from renderer import PortraitError, analyze_portrait

    try:
        return analyze_portrait(image).as_json()
    except PortraitError as exc:
        raise PortraitUnusable(
            f"The portrait cannot be used: {exc.message}",
            fields={"portrait": [exc.message]},
            reason=exc.code,
        ) from None


def _portrait_store(*, performer: Party, image: bytes, landmarks: dict) -> None:
    """Write an analysed portrait (file named by its hash) and its landmarks. Inside a transaction.

    The bytes are stored as uploaded (their SHA-256 is the portrait's identity), under the
    suffix of the type the bytes are (``.jpg``, ``.png``, ``.webp``, ``.gif``, ``.avif``,
    ``.heic``), never the client's filename.
    """
    digest = hashlib.sha256(image).hexdigest()
    media_type = intake.sniff(image)
    suffix = media_type.extension if media_type is not None else ".bin"
    performer.portrait.save(f"{performer.id}-{digest[:12]}{suffix}", ContentFile(image), save=False)
    performer.portrait_sha256 = digest
    performer.landmarks = landmarks
    performer.save(update_fields=["portrait", "portrait_sha256", "landmarks"])


def performer_portrait_set(*, performer: Party, image: bytes) -> Party:
    if performer.kind != PartyKind.PERFORMER:
        raise InvalidRequest("Only performers have portraits.", fields={"portrait": ["Not a performer."]})
    landmarks = portrait_analyze(image=image)  # before any write: a bad image changes nothing
    with transaction.atomic():
        _portrait_store(performer=performer, image=image, landmarks=landmarks)
    return performer


def party_create(
    *,
    kind: str,
    name: str,
    union: Party | None = None,
    portrait: bytes | None = None,
    voice: str = "",
    pension_health_bps: int | None = None,
    key_name: str = "default",
) -> tuple[Party, IssuedKey]:
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    if kind not in PartyKind.values:
        errors["kind"] = [f"Must be one of {', '.join(PartyKind.values)}."]
    if not name or len(name) > 200:
        errors["name"] = ["A name of 1 to 200 characters is required."]
    if union is not None and kind != PartyKind.PERFORMER:
        errors["union"] = ["Only performers belong to a union."]
    if union is not None and union.kind != PartyKind.UNION:
        errors["union"] = ["Not a union."]
    if kind == PartyKind.PERFORMER and not portrait:
        errors["portrait"] = ["A performer needs a portrait photo."]
    if portrait and kind != PartyKind.PERFORMER:
        errors["portrait"] = ["Only performers have portraits."]
    if pension_health_bps is not None and (kind != PartyKind.UNION or not 0 <= pension_health_bps <= 10000):
        errors["pension_health_bps"] = ["Only unions have a P&H rate, between 0 and 10000 bps."]
    if errors:
        raise InvalidRequest(fields=errors)
    landmarks = portrait_analyze(image=portrait) if portrait else None
    with transaction.atomic():
        party = Party.objects.create(
            kind=kind, name=name, union=union, voice=voice, pension_health_bps=pension_health_bps)
        if portrait:
            _portrait_store(performer=party, image=portrait, landmarks=landmarks)
        issued = api_key_issue(party=party, name=key_name)
    return party, issued


# --- contracts ----------------------------------------------------------------------


def _event(*, contract: Contract, action: str, actor: Party, api_key: ApiKey | None,
           from_status: str, to_status: str, reason: str = "") -> ContractEvent:
    return ContractEvent.objects.create(
        contract=contract, action=action, actor=actor, api_key=api_key,
        from_status=from_status, to_status=to_status, reason=reason[:2000],
    )


def contract_propose(
    *,
    brand: Party,
    performer: Party,
    platforms: list[str],
    banned_categories: list[str],
    languages: list[str],
    territories: list[str],
    valid_from: datetime,
    valid_until: datetime,
    currency: str,
    per_render: int,
    per_second: int = 0,
    revenue_share_bps: int = 0,
    max_renders: int,
    requires_approval: bool = False,
    notice_days: int = 0,
    api_key: ApiKey | None = None,
) -> Contract:
    if brand.kind != PartyKind.BRAND:
        raise Forbidden("Only brands propose contracts.")
    if performer.kind != PartyKind.PERFORMER:
        raise InvalidRequest(fields={"performer": ["Not a performer."]})
    if valid_until <= valid_from:
        raise InvalidRequest(fields={"valid_until": ["Must be after valid_from."]})
    with transaction.atomic():
        contract = Contract(
            performer=performer, brand=brand,
            platforms=sorted(set(platforms)), banned_categories=sorted(set(banned_categories)),
            languages=sorted(set(languages)), territories=sorted(set(territories)),
            valid_from=valid_from, valid_until=valid_until, currency=currency,
            royalty_per_render=per_render, royalty_per_second=per_second,
            revenue_share_bps=revenue_share_bps, max_renders=max_renders,
            requires_approval=requires_approval, notice_days=notice_days,
        )
        contract.terms_hash = contract.terms.hash()
        contract.save(force_insert=True)
        _event(contract=contract, action=ContractAction.PROPOSE, actor=brand, api_key=api_key,
               from_status="", to_status=ContractStatus.PROPOSED)
    return contract


# Which stored statuses accept and terminate start from, and where they lead;
# suspend and resume depend on who holds which suspension (``_suspension_target``).
_TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    ContractAction.ACCEPT: (frozenset({ContractStatus.PROPOSED}), ContractStatus.ACTIVE),
    ContractAction.TERMINATE: (
        frozenset({ContractStatus.PROPOSED, ContractStatus.ACTIVE, ContractStatus.SUSPENDED}),
        ContractStatus.TERMINATED,
    ),
}
_ACTIONS = frozenset({*_TRANSITIONS, ContractAction.SUSPEND, ContractAction.RESUME})

# Who holds the suspension an actor makes or lifts: the performer their own, a union its strike.
_HOLDER = {PartyKind.PERFORMER: SuspensionHolder.PERFORMER, PartyKind.UNION: SuspensionHolder.UNION}


def _may_act(*, action: str, actor: Party, contract: Contract) -> bool:
    if actor.kind == PartyKind.PERFORMER:
        return contract.performer_id == actor.id
    if actor.kind == PartyKind.UNION:
        # A union may strike (suspend) its members' contracts and lift its own strike; nothing else.
        return (action in (ContractAction.SUSPEND, ContractAction.RESUME)
                and contract.performer.union_id == actor.id)
    if actor.kind == PartyKind.BRAND:
        # A brand may withdraw its own proposal before the performer accepts.
        return (action == ContractAction.TERMINATE and contract.brand_id == actor.id
                and contract.status == ContractStatus.PROPOSED)
    return False


def _held_by_text(contract: Contract) -> str:
    return " and ".join("the union (a strike)" if s.by == SuspensionHolder.UNION else "the performer"
                        for s in contract.suspensions)


def _suspension_target(*, contract: Contract, action: str, holder: str) -> str:
    """The status after ``holder`` suspends or resumes ``contract``; raises
    IllegalTransition when ``holder`` cannot (already holds one / holds none)."""
    held = contract.held_by(holder)
    others = [s for s in contract.suspensions if s.by != holder]
    details = {"status": contract.status, "action": action,
               "suspended_by": [s.by for s in contract.suspensions]}
    if action == ContractAction.SUSPEND:
        if contract.status not in (ContractStatus.ACTIVE, ContractStatus.SUSPENDED):
            raise IllegalTransition(f"Cannot suspend a {contract.status} contract.", **details)
        if held:
            raise IllegalTransition(f"The contract is already suspended by the {holder}.", **details)
        return ContractStatus.SUSPENDED
    if not held:
        if contract.status == ContractStatus.SUSPENDED:
            raise IllegalTransition(
                f"The contract is suspended by {_held_by_text(contract)}; only whoever suspended it "
                f"can lift that suspension.", **details)
        raise IllegalTransition(f"Cannot resume a {contract.status} contract.", **details)
    return ContractStatus.SUSPENDED if others else ContractStatus.ACTIVE


def _set_suspension(*, contract: Contract, holder: str, actor: Party | None, now: datetime | None) -> list[str]:
    """Set (``now``) or clear (None) ``holder``'s suspension on ``contract``; the fields changed."""
    if holder == SuspensionHolder.PERFORMER:
        contract.performer_suspended_at = now
        return ["performer_suspended_at"]
    contract.union_suspended_at = now
    contract.union_suspended_by = actor if now is not None else None
    return ["union_suspended_at", "union_suspended_by"]


def contract_transition(
    *,
    contract_id: str,
    action: str,
    actor: Party,
    api_key: ApiKey | None = None,
    reason: str = "",
    now: datetime | None = None,
    source: str = "api",
) -> Contract:
    """Apply ``action`` (accept, suspend, resume, terminate) for ``actor``.

    Suspensions belong to whoever made them (docs/rights.md "Suspensions"): the
    performer suspends and resumes their own; their union strikes and lifts its
    strike; the contract stays ``suspended`` while either holds. Terminating
    ends every suspension.

    Raises ContractNotFound when the actor may not see the contract,
    ActionNotAllowed when it may see it but not do this, IllegalTransition for
    an illegal transition — including a resume by a party holding no
    suspension, with ``suspended_by`` naming the holders (all in
    ``rights.exceptions``).
    """
    now = now or timezone.now()
    if action not in _ACTIONS:
        raise InvalidRequest(fields={"action": ["Unknown action."]})
    with transaction.atomic():
        contract = (
            Contract.objects.select_for_update(of=("self",))
            .select_related("performer", "brand")
            .filter(visibility.contract_q(actor), id=contract_id)
            .first()
        )
        if contract is None:
            raise ContractNotFound()
        if not _may_act(action=action, actor=actor, contract=contract):
            raise ActionNotAllowed(f"A {actor.kind} cannot {action} this contract.")
        effective = contract.effective_status(now)
        if effective == EXPIRED and action != ContractAction.TERMINATE:
            raise IllegalTransition(
                f"The contract expired at {contract.valid_until.isoformat()}; it cannot be {action}ed.",
                status=effective,
            )
        fields = ["status", "status_reason", "updated_at"]
        if action in (ContractAction.SUSPEND, ContractAction.RESUME):
            holder = _HOLDER[actor.kind]
            target = _suspension_target(contract=contract, action=action, holder=holder)
            fields += _set_suspension(contract=contract, holder=holder, actor=actor,
                                      now=now if action == ContractAction.SUSPEND else None)
        else:
            sources, target = _TRANSITIONS[action]
            if contract.status not in sources:
                raise IllegalTransition(
                    f"Cannot {action} a {contract.status} contract.", status=contract.status, action=action
                )
        previous = contract.status
        contract.status = target
        contract.status_reason = reason[:2000]
        contract.updated_at = now
        if action == ContractAction.ACCEPT:
            contract.accepted_at = now
            contract.consented_terms_hash = contract.terms_hash
            fields += ["accepted_at", "consented_terms_hash"]
        if action == ContractAction.TERMINATE:
            contract.terminated_at = now
            fields.append("terminated_at")
            for holder in SuspensionHolder.values:
                fields += _set_suspension(contract=contract, holder=holder, actor=None, now=None)
        contract.save(update_fields=fields)
        event = _event(contract=contract, action=action, actor=actor, api_key=api_key,
                       from_status=previous, to_status=target, reason=reason)
        if action == ContractAction.ACCEPT:
            current = contract.terms.canonical()
            digest = terms_mod.terms_hash(current)
            if digest != contract.terms_hash:
                # Terms are immutable after proposal; a mismatch means the row was altered.
                raise TermsTampered("The contract's terms no longer match their hash; refusing consent.")
            Consent.objects.create(
                contract=contract, performer=actor, api_key=api_key, terms_hash=digest,
                terms=current, event=event, source=source,
            )
    return contract
