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
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gateway.models import TERMINAL, Generation, GenerationStatus
from gateway.services import _emit_webhook, _release, cancel_for_policy, generation_recheck
from rights import policy
from rights.models import Party

log = logging.getLogger(__name__)


class Fenced(Exception):
    """Another worker took this generation over; this one must stop without writing."""


def assets_dir() -> Path:
    path = settings.DATA_DIR / "assets"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _lease_seconds() -> int:
    # The broker re-delivers after Q_CLUSTER["retry"]; the lease must not outlive
    # that, or the re-delivered task would find a live lease and give up.
    return int(settings.Q_CLUSTER["timeout"])


def _claim(generation_id: str) -> tuple[Generation, int] | None:
    now = timezone.now()
    with transaction.atomic():
        gen = (Generation.objects.select_for_update(of=("self",)).select_related("contract")
               .filter(id=generation_id).first())
        if gen is None or gen.status in TERMINAL or gen.status == GenerationStatus.AWAITING_APPROVAL:
            return None
        if gen.status in (GenerationStatus.RENDERING, GenerationStatus.SIGNING) and gen.lease_until \
                and gen.lease_until > now:
            log.info("generation %s is leased by %s until %s; skipping", gen.id, gen.worker, gen.lease_until)
            return None
        decision = generation_recheck(gen, now)
        if not decision.allowed:
            cancel_for_policy(generation=gen, decision=decision, now=now)
            return None
        gen.attempts += 1
        gen.status = GenerationStatus.RENDERING
        gen.progress = 0.0
        gen.lease_until = now + timedelta(seconds=_lease_seconds())
        gen.worker = f"{socket.gethostname()}:{os.getpid()}"[:100]
        gen.started_at = gen.started_at or now
        gen.updated_at = now
        gen.save(update_fields=["attempts", "status", "progress", "lease_until", "worker", "started_at",
                                "updated_at"])
    return gen, gen.attempts


def _fenced_update(gen_id: str, token: int, **fields) -> None:
    updated = Generation.objects.filter(id=gen_id, attempts=token, status__in=[
        GenerationStatus.RENDERING, GenerationStatus.SIGNING]).update(**fields)
    if not updated:
        raise Fenced(gen_id)


def _lock_fenced(gen_id: str, token: int) -> Generation:
    gen = Generation.objects.select_for_update(of=("self",)).select_related("contract").get(id=gen_id)
    if gen.attempts != token or gen.status not in (GenerationStatus.RENDERING, GenerationStatus.SIGNING):
        raise Fenced(gen_id)
    return gen


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
            _fenced_update(self.gen_id, self.token, progress=value, updated_at=timezone.now())


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
    except Exception as exc:  # any failure: void the hold, charge nothing, say why
        log.exception("generation %s failed", generation_id)
        code = getattr(exc, "code", None) or "render_failed"
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        with transaction.atomic():
            try:
                locked = _lock_fenced(generation_id, token)
            except Fenced:
                return "fenced"
            _release(generation=locked, status=GenerationStatus.FAILED, code=str(code)[:64],
                     message=str(message), now=timezone.now())
        return GenerationStatus.FAILED


def _run(gen: Generation, token: int) -> str:
    return _finish(gen, token, _render(gen, token))


def _render(gen: Generation, token: int):
    import renderer
    from provenance import watermark

    performer = Party.objects.get(id=gen.performer_id)
    portrait = performer.portrait.read() if performer.portrait else b""
    if performer.portrait:
        performer.portrait.close()
    payload = gen.watermark_payload
    request = renderer.RenderRequest(
        portrait=portrait, landmarks=performer.landmarks or {}, script=gen.script, language=gen.language,
        profile=gen.profile, captions=gen.captions,
        frame_filter=watermark.frame_filter(payload),  # embeds in place in each fresh batch
        progress=_Progress(gen.id, token),
    )
    return renderer.render(request)


def _finish(gen: Generation, token: int, result) -> str:
    """Everything after the render: sign, store, then — in one transaction —
    re-check the policy, post the royalty and deliver."""
    from ledger import services as ledger
    from provenance import c2pa_io, watermark

    _fenced_update(gen.id, token, status=GenerationStatus.SIGNING, progress=0.92, updated_at=timezone.now())
    license_assertion = {
        "performer": gen.performer_id, "brand": gen.brand_id, "contract": gen.contract_id,
        "generation": gen.id, "platform": gen.platform, "category": gen.category,
        "language": gen.language, "territory": gen.territory,
        "ledger_hold": gen.hold_id, "ledger_transaction": ledger.hold_transaction_id(hold=gen.hold_id),
    }
    signed = c2pa_io.sign_video(
        data=result.mp4, mime="video/mp4", license=license_assertion,
        watermark=watermark.soft_binding(gen.watermark_payload),
    )
    digest = hashlib.sha256(signed).hexdigest()
    # One file per attempt: a stale worker (fenced out below) can never
    # overwrite the file another attempt delivered.
    path = assets_dir() / f"{gen.id}-a{token}.mp4"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(signed)
    os.replace(tmp, path)


    now = timezone.now()
    try:
        decision = _deliver(gen, token, result, path, digest, len(signed), now)
    except Fenced:
        path.unlink(missing_ok=True)
        raise
    if not decision.allowed:
        path.unlink(missing_ok=True)  # never delivered: the signed file goes
        return GenerationStatus.CANCELLED
    return GenerationStatus.DELIVERED


def _deliver(gen: Generation, token: int, result, path: Path, digest: str, size: int, now) -> policy.Decision:
    from ledger import services as ledger

    with transaction.atomic():
        locked = _lock_fenced(gen.id, token)
        # Re-check before delivery, atomically with the charge: a suspension or
        # termination during the render cancels the job and voids the hold.
        decision = generation_recheck(locked, now)
        if decision.allowed:
            txn = ledger.hold_post(hold=locked.hold_id, duration_s=result.duration_s,
                                   idempotency_key=f"post:{gen.id}")
            locked.ledger_transaction = txn
            locked.status = GenerationStatus.DELIVERED
            locked.progress = 1.0
            locked.asset_path = path.name
            locked.asset_sha256 = digest
            locked.asset_bytes = size
            locked.duration_s = round(result.duration_s, 3)
            locked.frames = result.frames
            locked.render_timings = {k: round(v, 4) for k, v in result.timings.items()}
            locked.lease_until = None
            locked.delivered_at = locked.updated_at = now
            locked.save(update_fields=[
                "ledger_transaction", "status", "progress", "asset_path", "asset_sha256", "asset_bytes",
                "duration_s", "frames", "render_timings", "lease_until", "delivered_at", "updated_at"])
            _emit_webhook(locked, "generation.delivered")
        else:
            cancel_for_policy(generation=locked, decision=decision, now=now)
    return decision
