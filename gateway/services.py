"""The metered door: accepting, denying, approving and cancelling generations.

``generation_request`` runs in one database transaction: the idempotency
record, the policy decision, the generation row and the ledger hold commit
together or not at all, and so does the render task with the ORM broker
(``gateway.queue``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from common.api.exceptions import error_body
from common.timefmt import iso
from gateway.exceptions import (
    GenerationForbidden,
    GenerationNotFound,
    GenerationStateError,
    RequestReplayConflict,
)
from gateway.models import TERMINAL, Generation, GenerationStatus, IdempotencyRecord
from gateway.queue import enqueue
from rights import policy, visibility
from rights.models import Contract, Party, PartyKind
from rights.selectors import contract_policy_terms
from rights.terms import canonical_json

# English speech runs at roughly 14 characters a second: the hold's expected length.
CHARS_PER_SECOND = 14.0


@dataclass(frozen=True)
class GenerationInput:
    contract_id: str
    script: str
    platform: str
    category: str
    language: str
    territory: str
    profile: str
    captions: bool


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
    from gateway.limits import inflight_check

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


def _generation_request_atomic(*, brand: Party, idempotency_key: str, fingerprint: str,
                               data: GenerationInput, now: datetime) -> Outcome:
    from ledger import services as ledger

    contract = Contract.objects.filter(visibility.contract_q(brand), id=data.contract_id).first()
    if contract is None:
        raise GenerationNotFound("No such contract.")
    request = policy.GenerationRequest(
        brand_id=brand.id, script=data.script, platform=data.platform, category=data.category,
        language=data.language, territory=data.territory)
    decision = policy.evaluate(contract_policy_terms(contract=contract), request, now)

    generation = Generation(
        contract=contract, brand=brand, performer_id=contract.performer_id, script=data.script,
        platform=data.platform, category=data.category, language=data.language, territory=data.territory,
        profile=data.profile, captions=data.captions, decision=decision.as_dict(), created_at=now,
        updated_at=now,
    )
    if decision.allowed:
        hold_ttl = timedelta(seconds=settings.DOPPEL_HOLD_TTL_S)
        if contract.requires_approval:
            hold_ttl += timedelta(seconds=settings.DOPPEL_APPROVAL_TTL_S)
        try:
            # A refusal rolls back only hold_create's own savepoint; this transaction goes on.
            generation.hold = ledger.hold_create(
                contract=contract, reference=generation.id, idempotency_key=f"hold:{generation.id}",
                expected_seconds=max(1.0, len(data.script) / CHARS_PER_SECOND),
                meta={"generation": generation.id, "platform": data.platform, "category": data.category,
                      "language": data.language, "territory": data.territory,
                      "script_chars": len(data.script)},
                expires_at=now + hold_ttl,
            )
        except ledger.QuotaExceeded:
            # Lost the race for the last unit of quota: re-decide on fresh counters.
            contract.refresh_from_db()
            decision = policy.evaluate(contract_policy_terms(contract=contract), request, now)
            if decision.allowed:  # the counters changed back meanwhile; still, do not over-book
                decision = policy.Decision(False, tuple(
                    c if c.rule != "quota_exceeded" else policy.Check("quota_exceeded", False,
                                                                       "The last unit of quota was just taken.")
                    for c in decision.checks))
            generation.decision = decision.as_dict()

    if not decision.allowed:
        generation.status = GenerationStatus.DENIED
        generation.failure_code = "policy_denied"
        generation.failure_message = "; ".join(c.message for c in decision.reasons)
        generation.save(force_insert=True)
        status, body = 403, error_body(
            "policy_denied", "The contract does not allow this use of the likeness.",
            reasons=decision.reasons_as_dicts(), generation=generation.id)
        _emit_webhook(generation, "generation.denied")
    else:
        if contract.requires_approval:
            generation.status = GenerationStatus.AWAITING_APPROVAL
            generation.approval_expires_at = now + timedelta(seconds=settings.DOPPEL_APPROVAL_TTL_S)
        else:
            generation.status = GenerationStatus.QUEUED
        from provenance import watermark

        generation.watermark_payload = watermark.new_payload()  # unique; a collision redoes the request
        generation.save(force_insert=True)
        status, body = 202, {
            "id": generation.id, "status": generation.status, "contract": contract.id,
            "decision": decision.as_dict(),
            "approval_expires_at": iso(generation.approval_expires_at),
        }
        if generation.status == GenerationStatus.QUEUED:
            enqueue_render(generation.id)
    # Last, so that a concurrent twin with the same key fails here (unique
    # constraint), rolls back everything it did, and replays this answer.
    IdempotencyRecord.objects.create(brand=brand, key=idempotency_key, request_hash=fingerprint,
                                     response_status=status, response_body=body, generation=generation)
    return Outcome(status, body, generation.id)


def enqueue_render(generation_id: str) -> None:
    """Enqueue the pipeline task for a generation written in the current transaction."""
    enqueue("gateway.tasks.generation_process_task", generation_id, task_name=f"render {generation_id}",
            group="render")


def _emit_webhook(generation: Generation, event: str) -> None:
    from gateway import webhooks

    webhooks.event_emit(generation=generation, event=event)


# --- approvals and cancellation ------------------------------------------------------


def _locked_generation(*, generation_id: str, viewer: Party) -> Generation:
    gen = (Generation.objects.select_for_update(of=("self",)).select_related("contract")
           .filter(visibility.generation_q(viewer), id=generation_id).first())
    if gen is None:
        raise GenerationNotFound()
    return gen


def _release(*, generation: Generation, status: str, code: str, message: str, now: datetime) -> None:
    """End a generation that will not be delivered: void its hold, nothing is charged."""
    from ledger import services as ledger

    if generation.hold_id:
        ledger.hold_void(hold=generation.hold_id, reason=f"{status}: {code}",
                         idempotency_key=f"void:{generation.id}")
    generation.status = status
    generation.failure_code = code
    generation.failure_message = message[:2000]
    generation.updated_at = now
    generation.lease_until = None
    generation.save(update_fields=["status", "failure_code", "failure_message", "updated_at", "lease_until"])
    event = {GenerationStatus.REJECTED: "generation.rejected", GenerationStatus.FAILED: "generation.failed",
             GenerationStatus.CANCELLED: "generation.cancelled"}.get(status)
    if event:
        _emit_webhook(generation, event)


def generation_recheck(generation: Generation, now: datetime) -> policy.Decision:
    """Re-evaluate an accepted generation against its contract as it is now
    (its own quota unit is already held)."""
    return policy.evaluate(contract_policy_terms(contract=generation.contract), _policy_request(generation), now,
                           quota_reserved=True)


def cancel_for_policy(*, generation: Generation, decision: policy.Decision, now: datetime) -> None:
    """The contract no longer allows this generation (a strike, a termination,
    an expiry): record why, void the hold, charge nothing."""
    generation.decision = decision.as_dict()
    generation.save(update_fields=["decision"])
    _release(generation=generation, status=GenerationStatus.CANCELLED, code="policy_changed",
             message="; ".join(c.message for c in decision.reasons), now=now)


def _awaiting_decision(*, generation_id: str, performer: Party, verb: str) -> Generation:
    gen = _locked_generation(generation_id=generation_id, viewer=performer)
    if performer.kind != PartyKind.PERFORMER or gen.performer_id != performer.id:
        raise GenerationForbidden(f"Only the performer {verb}s their generations.")
    if gen.status != GenerationStatus.AWAITING_APPROVAL:
        raise GenerationStateError(f"Cannot {verb} a generation that is {gen.status}.", status=gen.status)
    return gen


def generation_approve(*, generation_id: str, performer: Party, now: datetime | None = None) -> Generation:
    now = now or timezone.now()
    with transaction.atomic():
        gen = _awaiting_decision(generation_id=generation_id, performer=performer, verb="approve")
        gen.decided_by, gen.decided_at, gen.updated_at = performer, now, now
        gen.save(update_fields=["decided_by", "decided_at", "updated_at"])
        # The contract may have changed while the script waited for approval.
        decision = generation_recheck(gen, now)
        if not decision.allowed:
            cancel_for_policy(generation=gen, decision=decision, now=now)
            return gen
        gen.status = GenerationStatus.QUEUED
        gen.save(update_fields=["status"])
        enqueue_render(gen.id)
    return gen


def generation_reject(*, generation_id: str, performer: Party, reason: str = "",
                      now: datetime | None = None) -> Generation:
    now = now or timezone.now()
    with transaction.atomic():
        gen = _awaiting_decision(generation_id=generation_id, performer=performer, verb="reject")
        gen.decided_by, gen.decided_at = performer, now
        gen.save(update_fields=["decided_by", "decided_at"])
        _release(generation=gen, status=GenerationStatus.REJECTED, code="rejected_by_performer",
                 message=reason or "The performer rejected this script.", now=now)
    return gen


def generation_cancel(*, generation_id: str, brand: Party, now: datetime | None = None) -> Generation:
    """A brand withdraws a request that has not started rendering."""
    now = now or timezone.now()
    with transaction.atomic():
        gen = _locked_generation(generation_id=generation_id, viewer=brand)
        if brand.kind != PartyKind.BRAND:
            raise GenerationForbidden("Only the requesting brand cancels a generation.")
        if gen.status not in (GenerationStatus.QUEUED, GenerationStatus.AWAITING_APPROVAL):
            raise GenerationStateError(f"Cannot cancel a generation that is {gen.status}.", status=gen.status)
        _release(generation=gen, status=GenerationStatus.CANCELLED, code="cancelled_by_brand",
                 message="The brand cancelled the request.", now=now)
    return gen


def _policy_request(gen: Generation) -> policy.GenerationRequest:
    return policy.GenerationRequest(brand_id=gen.brand_id, script=gen.script, platform=gen.platform,
                                    category=gen.category, language=gen.language, territory=gen.territory)


# --- sweeping ---------------------------------------------------------------------------


def approvals_expire(*, now: datetime | None = None) -> int:
    """Cancel generations whose approval window passed; their holds are voided."""
    now = now or timezone.now()
    count = 0
    for gen_id in Generation.objects.filter(status=GenerationStatus.AWAITING_APPROVAL,
                                            approval_expires_at__lte=now).values_list("id", flat=True)[:500]:
        with transaction.atomic():
            gen = Generation.objects.select_for_update().get(id=gen_id)
            if gen.status != GenerationStatus.AWAITING_APPROVAL:
                continue
            _release(generation=gen, status=GenerationStatus.CANCELLED, code="approval_expired",
                     message="The performer did not answer before the approval window closed.", now=now)
            count += 1
    return count


def generations_reconcile(*, now: datetime | None = None, stale_after_s: int = 120) -> dict:
    """Repair what crashes leave behind.

    * A generation whose hold the ledger sweeper voided (expired) can no longer
      be paid for: mark it failed.
    * A queued generation whose task may have been lost (the process died
      between commit and enqueue) is re-enqueued; duplicates are harmless
      because the task claims the generation under a row lock.
    """
    from ledger.models import HoldStatus

    now = now or timezone.now()
    failed = 0
    open_statuses = [s for s in GenerationStatus.values if s not in TERMINAL]
    voided = (Generation.objects.filter(status__in=open_statuses, hold__status=HoldStatus.VOIDED)
              .values_list("id", flat=True)[:500])
    for gen_id in voided:
        with transaction.atomic():
            gen = Generation.objects.select_for_update().get(id=gen_id)
            if gen.status in TERMINAL:
                continue
            gen.status, gen.failure_code = GenerationStatus.FAILED, "hold_expired"
            gen.failure_message = "The quota hold expired before the render was delivered; nothing was charged."
            gen.updated_at, gen.lease_until = now, None
            gen.save(update_fields=["status", "failure_code", "failure_message", "updated_at", "lease_until"])
            _emit_webhook(gen, "generation.failed")
            failed += 1
    stale = list(Generation.objects.filter(
        status=GenerationStatus.QUEUED, updated_at__lt=now - timedelta(seconds=stale_after_s),
    ).values_list("id", flat=True)[:500])
    stale += list(Generation.objects.filter(
        status__in=[GenerationStatus.RENDERING, GenerationStatus.SIGNING], lease_until__lt=now,
    ).values_list("id", flat=True)[:500])
    for gen_id in stale:
        with transaction.atomic():
            Generation.objects.filter(id=gen_id).update(updated_at=now)
            enqueue_render(gen_id)
    return {"failed": failed, "requeued": len(stale)}


def idempotency_purge(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    deleted, _ = IdempotencyRecord.objects.filter(
        created_at__lt=now - timedelta(seconds=settings.DOPPEL_IDEMPOTENCY_TTL_S)).delete()
    return deleted
