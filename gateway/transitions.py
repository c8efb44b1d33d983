"""The generation state machine: every change of a generation's status, in one place.

::

    request ─┬─ deny ─────────────────────────────────────────────► denied
             ├─ await approval ─┬─ (approved) queue ─► queued
             │                  ├─ (rejected) release ────────────► rejected
             │                  └─ (unanswered) release ──────────► cancelled
             └─ queue ─► queued ─ claim ─► rendering ─ signing ─► signing ─ deliver ─► delivered

    any open status ─ release (fail, cancel_for_policy, …) ─► failed | rejected | cancelled

Each function sets the status together with what goes with it (failure code and
message, timestamps, the worker lease), voids or posts the ledger hold, and emits
the webhook the new status calls for (``WEBHOOK_EVENTS``), inside the caller's
transaction or its own. A release voids the hold: nothing is charged.

Functions taking a ``generation`` expect a row the caller's transaction locked
(``select_for_update``) or has just built. The pipeline's steps take a
``generation_id`` and the fencing ``token`` (the ``attempts`` its claim returned),
lock the row themselves and raise ``Fenced`` when another attempt owns it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from gateway.inputs import GenerationInput
from gateway.models import TERMINAL, Generation, GenerationStatus, WebhookEvent
from gateway.queue import enqueue
from gateway.webhooks import event_emit
from ledger import services as ledger
from rights import policy
from rights.selectors import contract_policy_terms

log = logging.getLogger(__name__)

#: The webhook a generation emits on entering each status (the others emit none).
WEBHOOK_EVENTS: dict[str, WebhookEvent] = {
    GenerationStatus.DELIVERED: WebhookEvent.DELIVERED,
    GenerationStatus.DENIED: WebhookEvent.DENIED,
    GenerationStatus.FAILED: WebhookEvent.FAILED,
    GenerationStatus.REJECTED: WebhookEvent.REJECTED,
    GenerationStatus.CANCELLED: WebhookEvent.CANCELLED,
}
#: The statuses a release ends in: never delivered, nothing charged.
RELEASED = frozenset({GenerationStatus.FAILED, GenerationStatus.REJECTED, GenerationStatus.CANCELLED})
LEASED = (GenerationStatus.RENDERING, GenerationStatus.SIGNING)
# Progress runs 0 … 0.9 while rendering (the pipeline's scale), then signs, then 1 when delivered.
SIGNING_PROGRESS = 0.92


class Fenced(Exception):
    """Another worker took this generation over; this one must stop without writing."""


def _enter(generation: Generation, status: GenerationStatus, now: datetime, *fields: str) -> None:
    """Move ``generation`` to ``status`` at ``now``: insert the row if it is new, else
    save ``fields`` with the status, and emit the status's webhook."""
    generation.status = status
    generation.updated_at = now
    if generation._state.adding:
        generation.save(force_insert=True)
    else:
        generation.save(update_fields=["status", "updated_at", *fields])
    event = WEBHOOK_EVENTS.get(status)
    if event:
        event_emit(generation=generation, event=event)


def _reasons(decision: policy.Decision) -> str:
    return "; ".join(c.message for c in decision.reasons)


def generation_recheck(*, generation: Generation, now: datetime) -> policy.Decision:
    """Re-evaluate an accepted generation against its contract as it is now
    (its own quota unit is already held)."""
    request = GenerationInput.from_generation(generation).policy_request(brand_id=generation.brand_id)
    return policy.evaluate(contract_policy_terms(contract=generation.contract), request, now,
                           quota_reserved=True)


# --- before the render --------------------------------------------------------------------


def generation_deny(*, generation: Generation, decision: policy.Decision, now: datetime) -> None:
    """Record a request the policy refused (a new row): ``denied``, with every failing rule."""
    generation.decision = decision.as_dict()
    generation.failure_code = "policy_denied"
    generation.failure_message = _reasons(decision)
    _enter(generation, GenerationStatus.DENIED, now)


def generation_await_approval(*, generation: Generation, now: datetime) -> None:
    """Park an accepted request (a new row) until the performer approves or rejects its
    script; unanswered, it is cancelled after ``DOPPEL_APPROVAL_TTL_S`` seconds."""
    generation.approval_expires_at = now + timedelta(seconds=settings.DOPPEL_APPROVAL_TTL_S)
    _enter(generation, GenerationStatus.AWAITING_APPROVAL, now)


def generation_queue(*, generation: Generation, now: datetime) -> None:
    """Queue an accepted (new) or approved generation and enqueue its render task in the
    same transaction (``gateway.queue``)."""
    _enter(generation, GenerationStatus.QUEUED, now)
    _render_enqueue(generation.id)


def generation_requeue(*, generation_id: str, now: datetime) -> None:
    """Enqueue the render task again for a generation whose task may be lost; a duplicate
    is harmless (the claim takes the row lock and respects a live lease)."""
    with transaction.atomic():
        Generation.objects.filter(id=generation_id).update(updated_at=now)
        _render_enqueue(generation_id)


def _render_enqueue(generation_id: str) -> None:
    enqueue("gateway.tasks.generation_process_task", generation_id, task_name=f"render {generation_id}",
            group="render")


# --- the end of a generation that is not delivered -----------------------------------------


def generation_release(*, generation: Generation, status: GenerationStatus, code: str, message: str,
                       now: datetime) -> None:
    """End a generation that will not be delivered: void its hold (if it has one; nothing
    is charged), record ``code`` (≤ 64 characters) and ``message`` (≤ 2,000 kept),
    drop the worker lease. ``status`` is failed, rejected or cancelled (else ValueError)."""
    _release(generation=generation, status=status, code=code, message=message, now=now)


def _release(*, generation: Generation, status: GenerationStatus, code: str, message: str, now: datetime,
             fields: tuple[str, ...] = ()) -> None:
    if status not in RELEASED:
        raise ValueError(f"A release ends in {sorted(RELEASED)}, not {status!r}.")
    if generation.hold_id:
        ledger.hold_void(hold=generation.hold_id, reason=f"{status}: {code}",
                         idempotency_key=f"void:{generation.id}")
    generation.failure_code = code[:64]
    generation.failure_message = message[:2000]
    generation.lease_until = None
    _enter(generation, status, now, "failure_code", "failure_message", "lease_until", *fields)


def generation_fail(*, generation: Generation, code: str, message: str, now: datetime) -> None:
    """Something broke (a render error, an expired hold): ``failed``, the hold voided."""
    _release(generation=generation, status=GenerationStatus.FAILED, code=code, message=message, now=now)


def generation_cancel_for_policy(*, generation: Generation, decision: policy.Decision, now: datetime) -> None:
    """The contract no longer allows this generation (a strike, a termination, an expiry):
    ``cancelled`` with code ``policy_changed``, the decision recorded, the hold voided."""
    generation.decision = decision.as_dict()
    _release(generation=generation, status=GenerationStatus.CANCELLED, code="policy_changed",
             message=_reasons(decision), now=now, fields=("decision",))


# --- the pipeline's steps (fenced) ----------------------------------------------------------


def generation_claim(*, generation_id: str, worker: str, lease_s: int, now: datetime) -> Generation | None:
    """Take a generation for rendering, under its row lock: re-check the policy (a
    revocation takes effect mid-flight), move to ``rendering``, lease it to ``worker``
    for ``lease_s`` seconds and count the attempt.

    Returns the claimed row, whose ``attempts`` is the fencing token of the later
    steps; None when there is nothing to do: no such generation, finished, awaiting
    approval, leased by a live worker, or just cancelled for policy.
    """
    with transaction.atomic():
        gen = (Generation.objects.select_for_update(of=("self",)).select_related("contract")
               .filter(id=generation_id).first())
        if gen is None or gen.status in TERMINAL or gen.status == GenerationStatus.AWAITING_APPROVAL:
            return None
        if gen.status in LEASED and gen.lease_until and gen.lease_until > now:
            log.info("generation %s is leased by %s until %s; skipping", gen.id, gen.worker, gen.lease_until)
            return None
        decision = generation_recheck(generation=gen, now=now)
        if not decision.allowed:
            generation_cancel_for_policy(generation=gen, decision=decision, now=now)
            return None
        gen.attempts += 1
        gen.progress = 0.0
        gen.lease_until = now + timedelta(seconds=lease_s)
        gen.worker = worker[:100]
        gen.started_at = gen.started_at or now
        _enter(gen, GenerationStatus.RENDERING, now, "attempts", "progress", "lease_until", "worker",
               "started_at")
    return gen


def _fenced_update(generation_id: str, token: int, **fields) -> None:
    updated = Generation.objects.filter(id=generation_id, attempts=token, status__in=LEASED).update(**fields)
    if not updated:
        raise Fenced(generation_id)


def generation_progress(*, generation_id: str, token: int, progress: float, now: datetime) -> None:
    """Record render progress (0 … 0.9); raises Fenced if the attempt lost its lease."""
    _fenced_update(generation_id, token, progress=progress, updated_at=now)


def generation_signing(*, generation_id: str, token: int, now: datetime) -> None:
    """The render is done: ``rendering`` → ``signing``; raises Fenced if the attempt lost its lease."""
    _fenced_update(generation_id, token, status=GenerationStatus.SIGNING, progress=SIGNING_PROGRESS,
                   updated_at=now)


def generation_lock_fenced(*, generation_id: str, token: int) -> Generation:
    """Lock the row (in the caller's transaction) if attempt ``token`` still owns it
    (rendering or signing); raise Fenced otherwise."""
    gen = Generation.objects.select_for_update(of=("self",)).select_related("contract").get(id=generation_id)
    if gen.attempts != token or gen.status not in LEASED:
        raise Fenced(generation_id)
    return gen


def generation_deliver(*, generation_id: str, token: int, asset_path: str, sha256: str, size: int,
                       duration_s: float, frames: int, timings: dict[str, float],
                       now: datetime) -> policy.Decision:
    """Deliver a signed, stored clip in one transaction: re-check the policy and, if it
    still allows, post the ledger hold (idempotent by key: the royalty is charged once)
    and mark it ``delivered``; if not, cancel for policy (the hold voided).

    ``asset_path`` is the file's name under the assets folder, ``size`` its bytes,
    ``duration_s`` the clip's seconds, ``timings`` the render's stage seconds.
    Returns the decision; raises Fenced (writing nothing) if the attempt lost its lease.
    """
    with transaction.atomic():
        gen = generation_lock_fenced(generation_id=generation_id, token=token)
        # Atomically with the charge: a suspension or termination during the render
        # cancels the job and voids the hold.
        decision = generation_recheck(generation=gen, now=now)
        if not decision.allowed:
            generation_cancel_for_policy(generation=gen, decision=decision, now=now)
            return decision
        gen.ledger_transaction = ledger.hold_post(hold=gen.hold_id, duration_s=duration_s,
                                                  idempotency_key=f"post:{generation_id}")
        gen.progress = 1.0
        gen.asset_path, gen.asset_sha256, gen.asset_bytes = asset_path, sha256, size
        gen.duration_s = round(duration_s, 3)
        gen.frames = frames
        gen.render_timings = {k: round(v, 4) for k, v in timings.items()}
        gen.lease_until = None
        gen.delivered_at = now
        _enter(gen, GenerationStatus.DELIVERED, now, "ledger_transaction", "progress", "asset_path",
               "asset_sha256", "asset_bytes", "duration_s", "frames", "render_timings", "lease_until",
               "delivered_at")
    return decision
