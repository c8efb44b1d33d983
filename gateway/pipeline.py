"""The render pipeline of one generation, run by a django-q2 worker.

Delivery is at-least-once (the ORM broker re-delivers a task whose worker
died), so every step is idempotent and fenced:

1. *claim* — under a row lock, re-check the policy (a revocation takes effect
   mid-flight), move to ``rendering`` and take a lease; ``attempts`` is the
   fencing token: a later step commits only if the token is still ours.
2. *render* — outside any transaction; the watermark is embedded in the
   frames before encoding; progress is written as it goes.
3. *sign* — sign the MP4 with C2PA (licence, soft binding) and store it.
4. *deliver* — one transaction: re-check the policy again (a revocation during
   the render cancels here, atomically with the charge), post the ledger hold
   (idempotent by key), mark delivered. Either all of it commits or none.

Any failure voids the hold and marks the generation failed: nothing is charged.
An attempt interrupted at the queue's time limit (django-q2 raises its
``TimeoutException`` in the task at ``DOPPEL_Q_TIMEOUT``) is recorded as
``render_timeout`` and queued again while attempts are left (else failed); the
exception then goes on up so that django-q2 replaces the worker. A worker that
dies outright (OOM, native crash, SIGKILL) leaves its lease to run out: the next
claim or the reconciler records ``worker_lost``. Either way a generation gets
``DOPPEL_RENDER_MAX_ATTEMPTS`` attempts, then fails.
The state changes themselves (claim, progress, signing, deliver, fail) are
``gateway.transitions``'; this module renders, signs and stores.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.exceptions import TimeoutException

import renderer
from gateway.inputs import GenerationInput
from gateway.models import Generation, GenerationStatus
from gateway.transitions import (
    Fenced,
    generation_attempt_timed_out,
    generation_claim,
    generation_deliver,
    generation_fail,
    generation_lock_fenced,
    generation_progress,
    generation_signing,
)
from ledger import services as ledger
from provenance import c2pa_io, watermark
from rights.models import Party

log = logging.getLogger(__name__)

__all__ = ["Fenced", "assets_dir", "generation_process"]


def assets_dir() -> Path:
    path = settings.DATA_DIR / "assets"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _lease_seconds() -> int:
    # The broker re-delivers after Q_CLUSTER["retry"]; the lease must not outlive
    # that, or the re-delivered task would find a live lease and give up.
    return int(settings.Q_CLUSTER["timeout"])


def _claim(generation_id: str) -> tuple[Generation, int] | None:
    gen = generation_claim(generation_id=generation_id, worker=f"{socket.gethostname()}:{os.getpid()}",
                           lease_s=_lease_seconds(), now=timezone.now())
    return None if gen is None else (gen, gen.attempts)


class _Progress:
    """Writes progress at most every 0.5 s or 5 %, mapping the render to 0 … 0.9."""

    def __init__(self, gen_id: str, token: int):
        self.gen_id, self.token = gen_id, token
        self.last_value, self.last_time = 0.0, 0.0

    def __call__(self, fraction: float, stage: str) -> None:
        value = round(min(max(fraction, 0.0), 1.0) * 0.9, 3)
        now = time.monotonic()
        if value - self.last_value >= 0.05 or (now - self.last_time >= 0.5 and value > self.last_value):
            self.last_value, self.last_time = value, now
            generation_progress(generation_id=self.gen_id, token=self.token, progress=value, now=timezone.now())


def generation_process(*, generation_id: str) -> str:
    """Run (or resume) the pipeline for one generation. Returns the final status seen."""
    claimed = _claim(generation_id)
    if claimed is None:
        return Generation.objects.filter(id=generation_id).values_list("status", flat=True).first() or "missing"
    gen, token = claimed
    try:
        return _run(gen, token)
    except Fenced:
        log.warning("generation %s: lease lost (attempt %s); another worker owns it", generation_id, token)
        return "fenced"
    except TimeoutException:
        # The queue's time limit interrupted this attempt. Record it (queued again or
        # failed) before django-q2 replaces this worker, whose state is now suspect.
        log.warning("generation %s: attempt %s ran past the time limit", generation_id, token)
        try:
            generation_attempt_timed_out(generation_id=generation_id, token=token, now=timezone.now())
        except Fenced:
            pass
        raise
    except Exception as exc:  # any failure: void the hold, charge nothing, say why
        log.exception("generation %s failed", generation_id)
        code = getattr(exc, "code", None) or "render_failed"
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        with transaction.atomic():
            try:
                locked = generation_lock_fenced(generation_id=generation_id, token=token)
            except Fenced:
                return "fenced"
            generation_fail(generation=locked, code=str(code), message=str(message), now=timezone.now())
        return GenerationStatus.FAILED


def _run(gen: Generation, token: int) -> str:
    return _finish(gen, token, _render(gen, token))


def _render(gen: Generation, token: int) -> renderer.RenderResult:
    performer = Party.objects.get(id=gen.performer_id)
    portrait = performer.portrait.read() if performer.portrait else b""
    if performer.portrait:
        performer.portrait.close()
    payload = gen.watermark_payload
    # The voice speaks the language the script is written in, when the contract allows it
    # (the brand's declared language otherwise): the same reading the policy judged.
    reading = GenerationInput.from_generation(gen).reading(allowed_languages=gen.contract.languages)
    request = renderer.RenderRequest(
        portrait=portrait, landmarks=performer.landmarks or {}, script=gen.script, language=reading.language,
        territory=gen.territory, profile=gen.profile, captions=gen.captions,
        frame_filter=watermark.frame_filter(payload),  # embeds in place in each fresh batch
        progress=_Progress(gen.id, token),
    )
    return renderer.render(request)


def _finish(gen: Generation, token: int, result: renderer.RenderResult) -> str:
    """Everything after the render: sign, store, then — in one transaction —
    re-check the policy, post the royalty and deliver."""
    generation_signing(generation_id=gen.id, token=token, now=timezone.now())
    license_assertion = {
        "performer": gen.performer_id, "brand": gen.brand_id, "contract": gen.contract_id,
        "generation": gen.id, **GenerationInput.from_generation(gen).usage(),
        "ledger_hold": gen.hold_id, "ledger_transaction": ledger.hold_transaction_id(hold=gen.hold_id),
    }
    signed = c2pa_io.sign_video(
        data=result.mp4, mime="video/mp4", license=license_assertion,
        watermark=watermark.soft_binding(gen.watermark_payload),
    )
    # One file per attempt: a stale worker (fenced out below) can never
    # overwrite the file another attempt delivered.
    path = assets_dir() / f"{gen.id}-a{token}.mp4"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(signed)
    os.replace(tmp, path)

    delivered = False
    try:
        decision = generation_deliver(
            generation_id=gen.id, token=token, asset_path=path.name, sha256=hashlib.sha256(signed).hexdigest(),
            size=len(signed), duration_s=result.duration_s, frames=result.frames, timings=result.timings,
            now=timezone.now())
        delivered = decision.allowed
    finally:
        # Never delivered (fenced, cancelled, late, interrupted): the file goes. The check
        # covers an interruption landing after the delivery committed.
        if not delivered and not Generation.objects.filter(id=gen.id, asset_path=path.name).exists():
            path.unlink(missing_ok=True)
    return GenerationStatus.DELIVERED if delivered else GenerationStatus.CANCELLED
