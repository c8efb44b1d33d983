"""The generation state machine: every change of a generation's status, in one place.

::

    request ─┬─ deny ─────────────────────────────────────────────────► denied
             ├─ await approval ─┬─ approve ─► queued
             │                  ├─ reject ────────────────────────────► rejected
             │                  └─ window closed (any answer, the sweeper) ─► cancelled (approval_expired)
             └─ queue ─► queued ─ claim ─► rendering ─ signing ─► signing ─ deliver ─► delivered
                           ▲                    │
                           └─ attempt ended ────┤ (timed out, worker lost) while attempts are left
                                                └─ none left ─► failed (render_timeout | worker_lost)

    any open status ─ release (fail, cancel, cancel_for_policy, …) ─► failed | rejected | cancelled

**Deadlines.** Every transition checks the deadline that governs it, at the
moment it runs, under the row lock — not only the sweeper. A deadline is
exclusive: a step at or after it is late (``deadline_passed``).

* ``approval_expires_at`` — approve, reject, brand cancel, the sweeper: late is
  cancelled ``approval_expired``, hold voided (approve and reject answer 409
  ``approval_expired``).
* the hold's ``expires_at`` — claim, signing, deliver, the reconciler: late is
  failed ``hold_expired``, hold voided, nothing charged.
* the contract's validity — claim, approve, deliver (the policy re-check): late
  is cancelled ``policy_changed``.
* the lease (``lease_until``) — claim, the reconciler, every fenced step: the
  attempt is over (``worker_lost``; ``Fenced`` for the stale worker).

**Attempts.** A generation gets ``DOPPEL_RENDER_MAX_ATTEMPTS`` claims. An attempt
that ends without a result — interrupted at the queue's time limit
(``render_timeout``, recorded by the pipeline as it happens) or abandoned by its
worker (``worker_lost``: killed, out of memory, crashed; seen when the lease ran
out) — is recorded in ``attempt_failures``; the generation is queued again while
attempts are left, else it fails with the last attempt's code.

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

from common.timefmt import iso
from gateway.exceptions import HoldExpired
from gateway.inputs import GenerationInput
from gateway.models import TERMINAL, Generation, GenerationStatus, WebhookEvent
from gateway.queue import enqueue
from gateway.webhooks import event_emit
from ledger import services as ledger
from rights import policy
from rights.models import Party
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
#: Failure codes of an attempt that ended without a result.
RENDER_TIMEOUT = "render_timeout"
WORKER_LOST = "worker_lost"


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


def deadline_passed(deadline: datetime | None, now: datetime) -> bool:
    """Whether ``now`` is at or after ``deadline`` (None: no deadline). Deadlines are
    exclusive everywhere, as in the sweepers (``expires_at <= now`` is expired)."""
    return deadline is not None and now >= deadline


def _hold_expired(generation: Generation, now: datetime) -> bool:
    return generation.hold_id is not None and deadline_passed(generation.hold.expires_at, now)


HOLD_EXPIRED_MESSAGE = HoldExpired.default_message


def _reasons(decision: policy.Decision) -> str:
    return "; ".join(c.message for c in decision.reasons)


def generation_recheck(*, generation: Generation, now: datetime) -> policy.Decision:
    """Re-evaluate an accepted generation against its contract as it is now
    (its own quota unit is already held)."""
    # Without the script's reading: the text was judged on it at request time, and the
    # terms it was judged against are immutable (terms_hash), so only the contract's
    # state, window and quota can have changed since — and reading costs milliseconds.
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


# --- the performer's answer ------------------------------------------------------------------


def generation_approval_expire(*, generation: Generation, now: datetime) -> None:
    """The approval window closed unanswered (or answered too late): ``cancelled`` with
    code ``approval_expired``, the hold voided."""
    generation_release(
        generation=generation, status=GenerationStatus.CANCELLED, code="approval_expired",
        message=f"The performer did not answer before the approval window closed "
                f"({iso(generation.approval_expires_at)}); nothing was rendered or charged.", now=now)


def _answer_in_time(generation: Generation, performer: Party, now: datetime) -> bool:
    """Before ``approval_expires_at``: record who answered, when; at or after it: expire."""
    if deadline_passed(generation.approval_expires_at, now):
        generation_approval_expire(generation=generation, now=now)
        return False
    generation.decided_by, generation.decided_at = performer, now
    generation.save(update_fields=["decided_by", "decided_at"])
    return True


def generation_approval_grant(*, generation: Generation, performer: Party, now: datetime) -> bool:
    """The performer approves a generation ``awaiting_approval``: ``queued`` — or
    ``cancelled`` (``policy_changed``) if the contract changed meanwhile and no longer
    allows it. At or after ``approval_expires_at`` it is cancelled ``approval_expired``
    instead and this returns False (the caller answers 409 once that commits)."""
    if not _answer_in_time(generation, performer, now):
        return False
    # The contract may have changed while the script waited for approval.
    decision = generation_recheck(generation=generation, now=now)
    if decision.allowed:
        generation_queue(generation=generation, now=now)
    else:
        generation_cancel_for_policy(generation=generation, decision=decision, now=now)
    return True


def generation_approval_refuse(*, generation: Generation, performer: Party, reason: str, now: datetime) -> bool:
    """The performer rejects a generation ``awaiting_approval``: ``rejected``, the hold
    voided. At or after ``approval_expires_at`` it is cancelled ``approval_expired``
    instead and this returns False."""
    if not _answer_in_time(generation, performer, now):
        return False
    generation_release(generation=generation, status=GenerationStatus.REJECTED, code="rejected_by_performer",
                       message=reason or "The performer rejected this script.", now=now)
    return True


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


def generation_cancel_by_brand(*, generation: Generation, now: datetime) -> None:
    """The brand withdraws its request, in any open status: ``cancelled``, the hold voided,
    the worker lease dropped — a render under way is fenced out at its next step
    (progress, signing, deliver) and its result discarded: nothing is charged. A request
    whose approval window already closed is cancelled ``approval_expired``."""
    if generation.status in TERMINAL:
        raise ValueError(f"{generation.id} is already {generation.status}.")
    if generation.status == GenerationStatus.AWAITING_APPROVAL and deadline_passed(
            generation.approval_expires_at, now):
        generation_approval_expire(generation=generation, now=now)
        return
    generation_release(generation=generation, status=GenerationStatus.CANCELLED, code="cancelled_by_brand",
                       message="The brand cancelled the request; nothing was charged.", now=now)


def generation_cancel_for_policy(*, generation: Generation, decision: policy.Decision, now: datetime) -> None:
    """The contract no longer allows this generation (a strike, a termination, an expiry):
    ``cancelled`` with code ``policy_changed``, the decision recorded, the hold voided."""
    generation.decision = decision.as_dict()
    _release(generation=generation, status=GenerationStatus.CANCELLED, code="policy_changed",
             message=_reasons(decision), now=now, fields=("decision",))


# --- the pipeline's steps (fenced) ----------------------------------------------------------


def generation_claim(*, generation_id: str, worker: str, lease_s: int, now: datetime) -> Generation | None:
    """Take a generation for rendering, under its row lock: re-check the policy (a
    revocation takes effect mid-flight) and the hold's deadline, move to ``rendering``,
    lease it to ``worker`` for ``lease_s`` seconds and count the attempt.

    A leased row whose lease ran out was abandoned by its worker: that attempt is
    recorded as ``worker_lost``. With ``DOPPEL_RENDER_MAX_ATTEMPTS`` attempts used the
    generation fails (the last attempt's code) instead of rendering again; with its
    hold expired it fails ``hold_expired``.

    Returns the claimed row, whose ``attempts`` is the fencing token of the later
    steps; None when there is nothing to do: no such generation, finished, awaiting
    approval, leased by a live worker, or just ended here (failed or cancelled).
    """
    with transaction.atomic():
        gen = (Generation.objects.select_for_update(of=("self",)).select_related("contract", "hold")
               .filter(id=generation_id).first())
        if gen is None or gen.status in TERMINAL or gen.status == GenerationStatus.AWAITING_APPROVAL:
            return None
        if gen.status in LEASED:
            if gen.lease_until and gen.lease_until > now:
                log.info("generation %s is leased by %s until %s; skipping", gen.id, gen.worker, gen.lease_until)
                return None
            _note_attempt_failure(gen, WORKER_LOST, now)  # it never reported back
            gen.save(update_fields=["attempt_failures"])
        if _attempts_exhausted(gen):
            _fail_attempts_exhausted(gen, now)
            return None
        if _hold_expired(gen, now):
            generation_fail(generation=gen, code="hold_expired", message=HOLD_EXPIRED_MESSAGE, now=now)
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


# --- attempts that end without a result ------------------------------------------------------


def _note_attempt_failure(gen: Generation, code: str, now: datetime) -> None:
    gen.attempt_failures = [*gen.attempt_failures, {"attempt": gen.attempts, "code": code, "at": iso(now)}]


def _attempts_exhausted(gen: Generation) -> bool:
    return gen.attempts >= settings.DOPPEL_RENDER_MAX_ATTEMPTS


def _fail_attempts_exhausted(gen: Generation, now: datetime) -> None:
    code = gen.attempt_failures[-1]["code"] if gen.attempt_failures else WORKER_LOST
    history = ", ".join(f"{f['attempt']}: {f['code']}" for f in gen.attempt_failures)
    if code == RENDER_TIMEOUT:
        why = f"The render did not finish within its time limit ({settings.Q_CLUSTER['timeout']} s per attempt)"
    else:
        why = "The render worker stopped without reporting back (killed, out of memory or crashed)"
    _release(generation=gen, status=GenerationStatus.FAILED, code=code,
             message=f"{why}; {gen.attempts} attempt(s) used of {settings.DOPPEL_RENDER_MAX_ATTEMPTS} "
                     f"({history or 'none recorded'}). Nothing was charged.",
             now=now, fields=("attempt_failures",))


def _attempt_ended(gen: Generation, code: str, now: datetime) -> None:
    """The attempt in progress ended without a result: record it, then queue the
    generation again if attempts are left, else fail it."""
    _note_attempt_failure(gen, code, now)
    if _attempts_exhausted(gen):
        _fail_attempts_exhausted(gen, now)
        return
    gen.lease_until = None
    gen.progress = 0.0
    _enter(gen, GenerationStatus.QUEUED, now, "attempt_failures", "lease_until", "progress")
    _render_enqueue(gen.id)


def generation_attempt_timed_out(*, generation_id: str, token: int, now: datetime) -> str:
    """Attempt ``token`` was interrupted at the queue's time limit (``DOPPEL_Q_TIMEOUT``):
    record ``render_timeout``; queue again or, with no attempts left, fail. Returns the
    new status; raises Fenced if another attempt owns the row."""
    with transaction.atomic():
        gen = generation_lock_fenced(generation_id=generation_id, token=token)
        _attempt_ended(gen, RENDER_TIMEOUT, now)
    return gen.status


def generation_abandoned(*, generation: Generation, now: datetime) -> None:
    """A leased generation (locked by the caller) whose lease ran out: its worker is gone.
    Record ``worker_lost``; queue again or, with no attempts left, fail."""
    if generation.status not in LEASED:
        raise ValueError(f"{generation.id} is {generation.status}, not leased.")
    _attempt_ended(generation, WORKER_LOST, now)


def _fenced_update(generation_id: str, token: int, **fields) -> None:
    updated = Generation.objects.filter(id=generation_id, attempts=token, status__in=LEASED).update(**fields)
    if not updated:
        raise Fenced(generation_id)


def generation_progress(*, generation_id: str, token: int, progress: float, now: datetime) -> None:
    """Record render progress (0 … 0.9); raises Fenced if the attempt lost its lease."""
    _fenced_update(generation_id, token, progress=progress, updated_at=now)


def generation_signing(*, generation_id: str, token: int, now: datetime) -> None:
    """The render is done: ``rendering`` → ``signing``. Raises Fenced if the attempt lost
    its lease, HoldExpired (writing nothing) if the hold's deadline passed."""
    with transaction.atomic():
        gen = generation_lock_fenced(generation_id=generation_id, token=token)
        if _hold_expired(gen, now):
            raise HoldExpired(HOLD_EXPIRED_MESSAGE)
        gen.progress = SIGNING_PROGRESS
        _enter(gen, GenerationStatus.SIGNING, now, "progress")


def generation_lock_fenced(*, generation_id: str, token: int) -> Generation:
    """Lock the row (in the caller's transaction) if attempt ``token`` still owns it
    (rendering or signing); raise Fenced otherwise."""
    gen = (Generation.objects.select_for_update(of=("self",)).select_related("contract", "hold")
           .get(id=generation_id))
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
    Returns the decision; raises Fenced (writing nothing) if the attempt lost its lease,
    HoldExpired (writing nothing; the pipeline then fails it ``hold_expired``) if the
    hold's deadline passed: a late delivery is never charged.
    """
    with transaction.atomic():
        gen = generation_lock_fenced(generation_id=generation_id, token=token)
        if _hold_expired(gen, now):
            raise HoldExpired(HOLD_EXPIRED_MESSAGE)
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
