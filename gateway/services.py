"""The metered door: accepting, denying, approving and cancelling generations.

``generation_request`` runs in one database transaction: the idempotency
record, the policy decision, the generation row and the ledger hold commit
together or not at all, and so does the render task with the ORM broker
(``gateway.queue``).

These are the actions (who may do what, under which lock); every status change
they make is one of ``gateway.transitions``' functions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from common.api.exceptions import error_body
from common.errors import InvalidRequest, PaymentRequired
from common.timefmt import iso
from gateway.exceptions import (
    ApprovalExpired,
    GenerationForbidden,
    GenerationNotFound,
    GenerationStateError,
    RequestReplayConflict,
)
from gateway.inputs import GenerationInput
from gateway.limits import inflight_check
from gateway.models import TERMINAL, Generation, GenerationStatus, IdempotencyRecord
from gateway.transitions import (
    HOLD_EXPIRED_MESSAGE,
    LEASED,
    generation_abandoned,
    generation_approval_expire,
    generation_approval_grant,
    generation_approval_refuse,
    generation_await_approval,
    generation_cancel_by_brand,
    generation_deny,
    generation_fail,
    generation_queue,
    generation_requeue,
)
from ledger import services as ledger
from ledger.exceptions import QuotaExceeded
from ledger.models import HoldStatus
from payments import conf as payments_conf
from payments.services import billing
from provenance import watermark
from rights import policy, visibility
from rights.models import Contract, Party, PartyKind
from rights.selectors import contract_policy_terms
from rights.terms import canonical_json

# English speech runs at roughly 14 characters a second: the hold's expected length.
CHARS_PER_SECOND = 14.0

__all__ = [
    "GenerationInput", "Outcome", "approvals_expire", "generation_approve", "generation_cancel",
    "generation_reject", "generation_request", "generations_reconcile", "idempotency_purge",
    "request_fingerprint",
]


@dataclass(frozen=True)
class Outcome:
    """What the API answers: a status code and a body (replayed verbatim for the same key)."""

    status: int
    body: dict
    generation_id: str | None
    replayed: bool = False


def request_fingerprint(body: object) -> str:
    return hashlib.sha256(canonical_json(body)).hexdigest()


def _replay(*, brand: Party, key: str, fingerprint: str) -> Outcome | None:
    record = IdempotencyRecord.objects.filter(brand=brand, key=key).first()
    if record is None:
        return None
    if record.created_at < timezone.now() - timedelta(seconds=settings.DOPPEL_IDEMPOTENCY_TTL_S):
        record.delete()  # expired: the key may be used afresh
        return None
    if record.request_hash != fingerprint:
        raise RequestReplayConflict(
            "This Idempotency-Key was already used with a different request body.",
            original_generation=record.generation_id,
        )
    return Outcome(record.response_status, record.response_body, record.generation_id, replayed=True)


def generation_request(
    *,
    brand: Party,
    idempotency_key: str,
    fingerprint: str,
    data: GenerationInput,
    now: datetime | None = None,
) -> Outcome:
    """Accept (202), deny (403, recorded) or replay a generation request."""
    if brand.kind != PartyKind.BRAND:
        raise GenerationForbidden("Only brands request generations.")
    replay = _replay(brand=brand, key=idempotency_key, fingerprint=fingerprint)
    if replay is not None:
        return replay
    inflight_check(brand=brand)  # replays above are answered even at the cap
    for attempt in range(3):
        try:
            with transaction.atomic():
                return _generation_request_atomic(brand=brand, idempotency_key=idempotency_key,
                                                  fingerprint=fingerprint, data=data, now=now or timezone.now())
        except IntegrityError:
            # A concurrent request with the same key committed first: answer as it did.
            replay = _replay(brand=brand, key=idempotency_key, fingerprint=fingerprint)
            if replay is not None:
                return replay
            if attempt == 2:
                raise
            # Otherwise a watermark payload collided (≈ n / 2^40 per request with n generations
            # stored): the whole transaction rolled back, so draw a new one and redo it.
    raise AssertionError("unreachable")


def _expected_royalty(contract: Contract, script_chars: int) -> int:
    """The performer's expected royalty of a request (minor units), as its hold will record it."""
    seconds = ledger.billed_seconds(ledger.duration_to_ms(max(1.0, script_chars / CHARS_PER_SECOND)))
    return contract.royalty_per_render + contract.royalty_per_second * seconds


def _generation_request_atomic(*, brand: Party, idempotency_key: str, fingerprint: str,
                               data: GenerationInput, now: datetime) -> Outcome:
    contract = Contract.objects.filter(visibility.contract_q(brand), id=data.contract_id).first()
    if contract is None:
        raise GenerationNotFound("No such contract.")
    reading = data.reading(allowed_languages=contract.languages)
    request = data.policy_request(brand_id=brand.id, reading=reading)
    decision = policy.evaluate(contract_policy_terms(contract=contract), request, now)
    if decision.allowed and reading.spoken is None:
        # Allowed, but the voice would have nothing to say ("..", only emoji): refused now,
        # before anything is written, rather than failing later in the worker. (A denied
        # request is recorded first: its language or its terms are the better answer.)
        raise InvalidRequest("The script cannot be spoken.", fields={"script": [reading.unspeakable]})

    generation = Generation(contract=contract, brand=brand, performer_id=contract.performer_id,
                            **data.generation_fields(), decision=decision.as_dict(), created_at=now,
                            updated_at=now)
    payment_refusal: PaymentRequired | None = None
    if decision.allowed and payments_conf.stripe_configured():
        # Billing is on: the brand's unpaid receivable plus open holds must stay within its
        # credit limit (docs/payments.md "Credit"). Refused: 402, recorded like any denial.
        try:
            billing.credit_check(brand=brand, code=contract.currency,
                                 amount=_expected_royalty(contract, len(data.script)))
        except PaymentRequired as exc:
            payment_refusal = exc
            decision = policy.Decision(allowed=False, checks=(
                *decision.checks, policy.Check(exc.extra.get("rule", "credit_limit"), False, exc.message)))
    if decision.allowed:
        hold_ttl = timedelta(seconds=settings.DOPPEL_HOLD_TTL_S)
        if contract.requires_approval:
            hold_ttl += timedelta(seconds=settings.DOPPEL_APPROVAL_TTL_S)
        try:
            # A refusal rolls back only hold_create's own savepoint; this transaction goes on.
            generation.hold = ledger.hold_create(
                contract=contract, reference=generation.id, idempotency_key=f"hold:{generation.id}",
                expected_seconds=max(1.0, len(data.script) / CHARS_PER_SECOND), platform=data.platform,
                meta={"generation": generation.id, **data.usage(), "script_chars": len(data.script),
                      # For statements: the first 80 characters, on one line.
                      "script_excerpt": " ".join(data.script.split())[:80]},
                expires_at=now + hold_ttl,
            )
        except QuotaExceeded:
            # Lost the race for the last unit of quota: re-decide on fresh counters.
            contract.refresh_from_db()
            decision = policy.deny_quota_taken(
                policy.evaluate(contract_policy_terms(contract=contract), request, now))

    if payment_refusal is not None:
        generation_deny(generation=generation, decision=decision, now=now)
        status, body = 402, error_body(
            "payment_required", payment_refusal.message, reasons=decision.reasons_as_dicts(),
            generation=generation.id)
    elif not decision.allowed:
        generation_deny(generation=generation, decision=decision, now=now)
        status, body = 403, error_body(
            "policy_denied", "The contract does not allow this use of the likeness.",
            reasons=decision.reasons_as_dicts(), generation=generation.id)
    else:
        generation.watermark_payload = watermark.new_payload()  # unique; a collision redoes the request
        if contract.requires_approval:
            generation_await_approval(generation=generation, now=now)
        else:
            generation_queue(generation=generation, now=now)
        status, body = 202, {
            "id": generation.id, "status": generation.status, "contract": contract.id,
            "decision": decision.as_dict(), "approval_expires_at": iso(generation.approval_expires_at),
        }
    # Last, so that a concurrent twin with the same key fails here (unique
    # constraint), rolls back everything it did, and replays this answer.
    IdempotencyRecord.objects.create(brand=brand, key=idempotency_key, request_hash=fingerprint,
                                     response_status=status, response_body=body, generation=generation)
    return Outcome(status, body, generation.id)


# --- approvals and cancellation ------------------------------------------------------


def _locked_generation(*, generation_id: str, viewer: Party) -> Generation:
    gen = (Generation.objects.select_for_update(of=("self",)).select_related("contract")
           .filter(visibility.generation_q(viewer), id=generation_id).first())
    if gen is None:
        raise GenerationNotFound()
    return gen


def _awaiting_performer(*, generation_id: str, performer: Party, verb: str) -> Generation:
    """Lock a generation awaiting ``performer``'s answer (404 unseen, 403 not theirs, 409 not awaiting)."""
    gen = _locked_generation(generation_id=generation_id, viewer=performer)
    if performer.kind != PartyKind.PERFORMER or gen.performer_id != performer.id:
        raise GenerationForbidden(f"Only the performer {verb}s their generations.")
    if gen.status != GenerationStatus.AWAITING_APPROVAL:
        raise GenerationStateError(f"Cannot {verb} a generation that is {gen.status}.", status=gen.status)
    return gen


def _too_late(gen: Generation, verb: str) -> ApprovalExpired:
    return ApprovalExpired(
        f"Too late to {verb}: the approval window closed at {iso(gen.approval_expires_at)}; the generation "
        "was cancelled and its quota released.",
        status=gen.status, generation=gen.id, approval_expires_at=iso(gen.approval_expires_at))


def generation_approve(*, generation_id: str, performer: Party, now: datetime | None = None) -> Generation:
    """The performer approves a script awaiting approval: queued for rendering, or
    cancelled if the contract changed meanwhile and no longer allows it. At or after
    ``approval_expires_at``: cancelled ``approval_expired`` (committed), then
    ApprovalExpired (409 ``approval_expired``)."""
    now = now or timezone.now()
    with transaction.atomic():
        gen = _awaiting_performer(generation_id=generation_id, performer=performer, verb="approve")
        in_time = generation_approval_grant(generation=gen, performer=performer, now=now)
    if not in_time:
        raise _too_late(gen, "approve")
    return gen


def generation_reject(*, generation_id: str, performer: Party, reason: str = "",
                      now: datetime | None = None) -> Generation:
    """The performer rejects a script awaiting approval: rejected, the hold voided. At or
    after ``approval_expires_at``: cancelled ``approval_expired``, then ApprovalExpired."""
    now = now or timezone.now()
    with transaction.atomic():
        gen = _awaiting_performer(generation_id=generation_id, performer=performer, verb="reject")
        in_time = generation_approval_refuse(generation=gen, performer=performer, reason=reason, now=now)
    if not in_time:
        raise _too_late(gen, "reject")
    return gen


def generation_cancel(*, generation_id: str, brand: Party, now: datetime | None = None) -> Generation:
    """A brand withdraws its request in any open status (queued, awaiting approval,
    rendering, signing): cancelled, the hold voided; a render under way is fenced out and
    its result discarded, nothing charged. A finished generation is 409 ``invalid_state``."""
    now = now or timezone.now()
    with transaction.atomic():
        gen = _locked_generation(generation_id=generation_id, viewer=brand)
        if brand.kind != PartyKind.BRAND:
            raise GenerationForbidden("Only the requesting brand cancels a generation.")
        if gen.status in TERMINAL:
            raise GenerationStateError(f"Cannot cancel a generation that is {gen.status}.", status=gen.status)
        generation_cancel_by_brand(generation=gen, now=now)
    return gen


# --- sweeping ---------------------------------------------------------------------------


def _locked_open(generation_id: str, *statuses: str) -> Generation | None:
    """The row, locked, if it is still in one of ``statuses`` (default: any open one)."""
    gen = Generation.objects.select_for_update().get(id=generation_id)
    still_open = gen.status in statuses if statuses else gen.status not in TERMINAL
    return gen if still_open else None


def approvals_expire(*, now: datetime | None = None) -> int:
    """Cancel generations whose approval window passed; their holds are voided."""
    now = now or timezone.now()
    count = 0
    for gen_id in Generation.objects.filter(status=GenerationStatus.AWAITING_APPROVAL,
                                            approval_expires_at__lte=now).values_list("id", flat=True)[:500]:
        with transaction.atomic():
            gen = _locked_open(gen_id, GenerationStatus.AWAITING_APPROVAL)
            if gen is None:
                continue
            generation_approval_expire(generation=gen, now=now)
            count += 1
    return count


# A lease runs out at the queue's time limit; the queue kills a task a few seconds
# later. The reconciler leaves that margin to a worker still finishing up.
LEASE_GRACE = timedelta(seconds=10)


def generations_reconcile(*, now: datetime | None = None, stale_after_s: int = 120) -> dict:
    """Repair what crashes leave behind; return ``{"failed": n, "requeued": n}``.

    * A generation whose hold was voided (the ledger sweeper) or is past its
      ``expires_at`` can no longer be paid for: it fails (``hold_expired``).
    * A leased generation whose lease ran out (plus ``LEASE_GRACE``) was abandoned
      by its worker: the attempt is recorded ``worker_lost`` and the generation is
      queued again — or fails, once ``DOPPEL_RENDER_MAX_ATTEMPTS`` are used.
    * A queued generation whose task may have been lost (the process died between
      commit and enqueue) is re-enqueued; duplicates are harmless because the task
      claims the generation under a row lock.
    """
    now = now or timezone.now()
    failed = requeued = 0
    open_statuses = [s for s in GenerationStatus.values if s not in TERMINAL]
    voided_or_expired = Q(hold__status=HoldStatus.VOIDED) | Q(hold__status=HoldStatus.OPEN,
                                                               hold__expires_at__lte=now)
    unpayable = (Generation.objects.filter(voided_or_expired, status__in=open_statuses)
                 .values_list("id", flat=True)[:500])
    for gen_id in unpayable:
        with transaction.atomic():
            gen = _locked_open(gen_id)
            if gen is None:
                continue
            generation_fail(generation=gen, code="hold_expired", message=HOLD_EXPIRED_MESSAGE, now=now)
            failed += 1
    abandoned = Generation.objects.filter(status__in=LEASED, lease_until__lt=now - LEASE_GRACE).values_list(
        "id", flat=True)[:500]
    for gen_id in abandoned:
        with transaction.atomic():
            gen = _locked_open(gen_id, *LEASED)
            if gen is None or (gen.lease_until and gen.lease_until >= now - LEASE_GRACE):
                continue  # finished or re-claimed meanwhile
            generation_abandoned(generation=gen, now=now)
        if gen.status == GenerationStatus.FAILED:
            failed += 1
        else:
            requeued += 1
    stale = list(Generation.objects.filter(
        status=GenerationStatus.QUEUED, updated_at__lt=now - timedelta(seconds=stale_after_s),
    ).values_list("id", flat=True)[:500])
    for gen_id in stale:
        generation_requeue(generation_id=gen_id, now=now)
    return {"failed": failed, "requeued": requeued + len(stale)}


def idempotency_purge(*, now: datetime | None = None) -> int:
    """Delete idempotency records older than ``DOPPEL_IDEMPOTENCY_TTL_S``; return how many."""
    now = now or timezone.now()
    deleted, _ = IdempotencyRecord.objects.filter(
        created_at__lt=now - timedelta(seconds=settings.DOPPEL_IDEMPOTENCY_TTL_S)).delete()
    return deleted
