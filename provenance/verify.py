"""The verify service: what a file says about itself, and what Doppel knows about it.

``verify_file`` gives the shape of ``POST /api/v1/verify`` (shared/API.md)::

    {"media": {"mime", "kind", "bytes", "filename"},
     "c2pa": {"state", "failures", "license", "ours", "issuer", "manifests", "claim_generator", "soft_binding",
              "error"},
     "watermark": {"found", "generation", "confidence", "identified", "bit_accuracy", "matches_manifest",
                   "frames_used", "error"},
     "generation": {"id", "contract", "performer", "brand", "status", "identified_by"} | None,
     "summary": "one human-readable line"}

Rules:

* The type comes from the bytes (magic numbers), never from the filename or
  the declared MIME type. Unknown bytes raise :class:`UnsupportedMedia`
  (``unsupported_media``, suggested 415); over the size limit,
  :class:`MediaTooLarge` (``payload_too_large``, 413); a recognised file with
  neither a readable manifest nor a decodable frame, :class:`UnreadableMedia`
  (``unreadable_media``, suggested 422). A truncated file that still yields a
  manifest or some frames is *reported*, with the failure, not raised.
* ``c2pa.license`` is only filled when the manifest is signed under Doppel's
  root (``ours``). A ``com.doppel.license`` assertion signed by anyone else is
  withheld and reported as failure ``doppel.license.untrusted``: forging a
  licence with one's own certificate is exactly the misuse to expose.
* A watermark is ``found`` when its CRC-24 holds and its sync/agreement
  scores clear calibrated thresholds. ``identified`` (and ``generation``) only
  when ``resolve_payload(payload)`` returns a real generation: no generation
  is ever named from a payload that is not in the database.
* Without a watermark, a Trusted Doppel manifest can still identify the
  generation through its soft-binding payload (``identified_by: "manifest"``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from provenance import c2pa_io, conf, media
from provenance import watermark as wm
from provenance.media import MediaTooLarge, UnreadableMedia, UnsupportedMedia

PayloadResolver = Callable[[int], dict | None]

__all__ = [
    "MediaTooLarge",
    "UnreadableMedia",
    "UnsupportedMedia",
    "register_payload_resolver",
    "registered_payload_resolver",
    "verify_file",
]


_registered_resolver: PayloadResolver | None = None


def register_payload_resolver(resolver: PayloadResolver | None) -> None:
    """Set the default payload → generation lookup (the gateway does this in its AppConfig.ready)."""
    global _registered_resolver
    _registered_resolver = resolver


def registered_payload_resolver() -> PayloadResolver | None:
    return _registered_resolver


def _generation(resolver: PayloadResolver | None, payload: int | None, source: str) -> dict | None:
    if resolver is None or payload is None:
        return None
    found = resolver(payload)
    if not found:
        return None
    return {**found, "identified_by": source}


def _summary(c2pa: dict, watermark: dict, generation: dict | None) -> str:
    parts = []
    state = c2pa["state"]
    if state == "NoManifest":
        parts.append("no Content Credentials")
    elif c2pa["ours"]:
        parts.append(f"Content Credentials signed by Doppel ({state})")
    else:
        parts.append(f"Content Credentials from another signer ({state}, not Doppel)")
    if watermark["found"]:
        parts.append(
            "Doppel watermark found"
            + ("" if watermark["identified"] else " (no matching generation)")
        )
    else:
        parts.append("no Doppel watermark")
    if generation:
        parts.append(f"generation {generation.get('id')} ({generation.get('status')})")
    return "; ".join(parts)


def verify_file(
    *,
    data: bytes,
    filename: str | None = None,
    mime: str | None = None,
    resolve_payload: PayloadResolver | None = None,
) -> dict[str, Any]:
    """Verify one uploaded file (MP4, MOV, WebM/MKV, JPEG, PNG). See the module docstring."""
    limit = conf.verify_max_bytes()
    if len(data) > limit:
        raise MediaTooLarge(f"the file is {len(data)} bytes; the limit is {limit}")
    # Header checks (intake.VERIFY) before c2pa or any decoder touches the bytes: bombs
    # are refused here in milliseconds (415 / 422 / 413, see provenance/media.py).
    media_type = media.admit(data).type
    resolver = resolve_payload if resolve_payload is not None else _registered_resolver

    report = c2pa_io.read_manifest(data=data, mime=media_type.mime)
    failures = list(report.failures)
    license_ = report.license if report.ours else None
    if report.license is not None and not report.ours:
        failures.append(
            {
                "code": "doppel.license.untrusted",
                "explanation": "a com.doppel.license assertion is present but not signed under Doppel's root",
            }
        )
    manifest_payload = wm.payload_from_soft_binding(report.soft_binding) if report.ours else None

    error = None
    try:
        if media_type.kind == "image":
            result = wm.detect_image(data=data)
        else:
            result = wm.detect_video(data=data)
    except UnreadableMedia as exc:
        if report.state == "NoManifest":
            raise UnreadableMedia(f"{exc.message}, and it carries no readable manifest") from exc
        result, error = None, exc.message

    generation = None
    identified = False
    if result is not None and result.found:
        generation = _generation(resolver, result.payload, "watermark")
        identified = generation is not None
    if generation is None and report.state == "Trusted":
        generation = _generation(resolver, manifest_payload, "manifest")

    watermark = {
        "found": bool(result and result.found),
        "generation": generation["id"] if identified and generation else None,
        "identified": identified,
        "confidence": result.confidence if result else 0.0,
        "bit_accuracy": result.bit_accuracy if result else None,
        "matches_manifest": (
            (result.payload == manifest_payload)
            if (result and result.found and manifest_payload is not None)
            else None
        ),
        "frames_used": result.frames_used if result else 0,
        "error": error or (result.error if result else None),
    }
    c2pa = {
        "state": report.state,
        "failures": failures,
        "license": license_,
        "ours": report.ours,
        "issuer": report.issuer,
        "manifests": report.manifests,
        "claim_generator": report.claim_generator,
        "soft_binding": report.soft_binding,
        "error": report.error,
    }
    return {
        "media": {
            "mime": media_type.mime,
            "kind": media_type.kind,
            "bytes": len(data),
            "filename": filename,
            "declared_mime": mime,
        },
        "c2pa": c2pa,
        "watermark": watermark,
        "generation": generation,
        "summary": _summary(c2pa, watermark, generation),
    }
