"""The verify service: what a file says about itself, and what Doppel knows about it.

``verify_file`` gives the shape of ``POST /api/v1/verify`` (shared/API.md)::

    {"media": {"mime", "kind", "bytes", "filename", "declared_mime"},
     "c2pa": {"state", "failures", "license", "ours", "issuer", "issuer_trusted", "manifests", "claim_generator",
              "soft_binding",
              "error", "evidence": "proof" | "none", "meaning"},
     "watermark": {"found", "generation", "confidence", "identified", "bit_accuracy", "matches_manifest",
                   "frames_used", "error", "orientation", "evidence": "trace" | "none", "meaning"},
     "generation": {"id", "contract", "performer", "brand", "status", "identified_by"} | None,
     "evidence": "proof" | "trace" | "none",
     "summary": "one human-readable line"}

Evidence — what the answer is worth:

* ``proof``: a ``Trusted`` C2PA manifest, i.e. signed under Doppel's root and
  the file unchanged since. Its licence is Doppel's signed statement about
  this very file.
* ``trace``: no proof, but the watermark (keyed by this deployment's secret)
  names a generation. It points to where the picture came from; it is not
  proof: a watermark can be lifted from a delivered clip and laid over another
  picture (a copy attack), and the match is statistical.
* ``none``: neither.

``meaning`` in each part and the ``summary`` say the same in words.

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
  generation through its soft-binding payload (``identified_by: "manifest"``);
  where the watermark names another generation than a Trusted manifest, the
  manifest (proof) wins and the watermark's claim stays in ``watermark``.
* ``watermark.orientation`` says how a found copy was flipped or rotated
  (``identity``, ``hflip``, ``vflip``, ``rot90``, ``rot180``, ``rot270``,
  ``transpose``, ``transverse``; null when nothing was found).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from provenance import c2pa_io, conf, media
from provenance import watermark as wm
from provenance.media import MediaTooLarge, UnreadableMedia, UnsupportedMedia

PayloadResolver = Callable[[int], dict | None]

PROOF = "proof"
TRACE = "trace"
NO_EVIDENCE = "none"

__all__ = [
    "NO_EVIDENCE",
    "PROOF",
    "TRACE",
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


def _c2pa_meaning(c2pa: dict) -> str:
    state = c2pa["state"]
    if state == "Trusted":
        return (
            "Proof: Content Credentials signed under Doppel's root, and the file is unchanged since "
            "signing; the licence they carry is Doppel's signed statement about this file."
        )
    if state == "NoManifest":
        return "No Content Credentials: nothing here is proof of where this file came from."
    if c2pa["ours"]:
        return (
            f"Not proof: the Content Credentials were signed by Doppel but do not validate ({state}); "
            "the file was changed after signing or the manifest is damaged."
        )
    return (
        f"Not proof of anything about Doppel: the Content Credentials were signed by another signer "
        f"({state}), not under Doppel's root."
    )


def _orientation_words(orientation: str | None) -> str:
    words = {
        "hflip": "mirrored left-right",
        "vflip": "mirrored upside down",
        "rot90": "rotated 90° counter-clockwise",
        "rot180": "rotated 180°",
        "rot270": "rotated 90° clockwise",
        "transpose": "transposed (rotated and mirrored)",
        "transverse": "transposed across the other diagonal (rotated and mirrored)",
    }
    return f" (in a copy {words[orientation]})" if orientation in words else ""


def _watermark_meaning(watermark: dict) -> str:
    if not watermark["found"]:
        return "No Doppel watermark found."
    where = _orientation_words(watermark["orientation"])
    if not watermark["identified"]:
        return (
            f"A Doppel watermark was found{where}, but its payload names no generation we know; "
            "it identifies nothing."
        )
    return (
        f"Trace, not proof: the Doppel watermark{where} points to generation {watermark['generation']}. "
        "A watermark can be copied from a delivered clip onto another picture, so a match shows where "
        "a picture probably came from; only Trusted Content Credentials are proof."
    )


def _summary(c2pa: dict, watermark: dict, generation: dict | None, evidence: str) -> str:
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
            + _orientation_words(watermark["orientation"])
            + ("" if watermark["identified"] else " (no matching generation)")
        )
    else:
        parts.append("no Doppel watermark")
    if generation:
        parts.append(f"generation {generation.get('id')} ({generation.get('status')})")
    line = "; ".join(parts)
    if evidence == PROOF:
        return line + ". Evidence: proof (Trusted Content Credentials signed by Doppel)."
    if evidence == TRACE:
        return (
            line + ". Evidence: a trace, not proof — the watermark match points to a generation, "
            "but a watermark can be copied onto other pictures; only Trusted Content Credentials "
            "are proof."
        )
    return line + ". Evidence: none."


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

    marked = None  # the generation the watermark names (a trace)
    if result is not None and result.found:
        marked = _generation(resolver, result.payload, "watermark")
    identified = marked is not None
    generation = marked
    proof = report.state == "Trusted" and report.ours
    if (
        proof
        and manifest_payload is not None
        and (marked is None or result.payload != manifest_payload)
    ):
        # The signed manifest is proof; a watermark naming something else is only a trace.
        generation = _generation(resolver, manifest_payload, "manifest") or marked

    watermark = {
        "found": bool(result and result.found),
        "generation": marked["id"] if marked else None,
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
        "orientation": result.orientation if result and result.found else None,
        "evidence": TRACE if identified else NO_EVIDENCE,
    }
    watermark["meaning"] = _watermark_meaning(watermark)
    c2pa = {
        "state": report.state,
        "failures": failures,
        "license": license_,
        "ours": report.ours,
        "issuer": report.issuer,
        # True only for a chain to our root with no signingCredential failure; an
        # untrusted issuer's name also reads "untrusted: …" (a look-alike CA can copy ours).
        "issuer_trusted": report.issuer_trusted,
        "manifests": report.manifests,
        "claim_generator": report.claim_generator,
        "soft_binding": report.soft_binding,
        "error": report.error,
        "evidence": PROOF if proof else NO_EVIDENCE,
    }
    c2pa["meaning"] = _c2pa_meaning(c2pa)
    evidence = PROOF if proof else TRACE if identified else NO_EVIDENCE
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
        "evidence": evidence,
        "summary": _summary(c2pa, watermark, generation, evidence),
    }
