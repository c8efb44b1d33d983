"""Invisible watermark carrying a generation's payload; survives re-encoding,
downscaling, cropping, brightness/contrast changes, container changes, and
mirroring or rotation (all eight flips/rotations).

The pattern is keyed by a secret of the deployment (provenance/keys.py:
created on first need, encrypted at rest, rotatable with ``manage.py
provenance_keys --rotate-watermark``). Embedding uses the current key;
detection tries every key, newest first. ``key=``/``keys=`` override that
(tests, tools), taking :class:`provenance.keys.WatermarkKey` objects.

Public API::

    PAYLOAD_BITS                      # 40
    new_payload() -> int              # random, non-zero; the gateway stores it on the Generation
    embed_frames(frames, payload)     # (N, H, W, 3) uint8 RGB -> same
    frame_filter(payload)             # the renderer's frame_filter (embeds in place)
    detect_frames(frames) -> WatermarkResult
    detect_video(*, data) -> WatermarkResult   # MP4/MOV/WebM/MKV bytes
    detect_image(*, data) -> WatermarkResult   # JPEG/PNG bytes
    soft_binding(payload) -> dict     # the c2pa.soft-binding assertion naming this watermark
    ORIENTATIONS, orient(image, name) # the flips/rotations detection undoes

Design, parameters and measurements: docs/provenance.md.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Sequence

import cv2
import numpy as np

from provenance import keys as keystore
from provenance import media
from provenance.keys import WatermarkKey
from provenance.watermark.detect import ORIENTATIONS, WatermarkResult, detect_lumas, orient
from provenance.watermark.ecc import CODED_BITS, PAYLOAD_BITS
from provenance.watermark.pattern import frame_pattern

ALGORITHM = "com.doppel.watermark.ss1"
VIDEO_SAMPLE_FRAMES = 32

Keys = WatermarkKey | Sequence[WatermarkKey] | None

__all__ = [
    "ALGORITHM",
    "ORIENTATIONS",
    "PAYLOAD_BITS",
    "WatermarkKey",
    "WatermarkResult",
    "detect_frames",
    "detect_image",
    "detect_video",
    "embed_frames",
    "frame_filter",
    "new_payload",
    "orient",
    "soft_binding",
]


def new_payload() -> int:
    """A random non-zero payload of PAYLOAD_BITS bits (store it unique per Generation)."""
    while True:
        value = secrets.randbits(PAYLOAD_BITS)
        if value:
            return value


def embed_frames(
    frames: np.ndarray, payload: int, *, inplace: bool = False, key: WatermarkKey | None = None
) -> np.ndarray:
    """Add the watermark for ``payload`` to every frame; uint8 RGB (N, H, W, 3) in and out.

    ``key``: the deployment's current watermark key when omitted (created on
    first need; :class:`provenance.keys.KeyStoreError` if it cannot be read).
    The pattern for a (payload, frame size, key) is built once and cached; each
    frame is then one saturating add and one subtract (~0.6 ms at 720×1280).
    ``inplace=True`` writes into ``frames`` (when writeable) and saves the
    allocation of a second batch, which costs more than the embedding itself.
    """
    if (
        not isinstance(frames, np.ndarray)
        or frames.dtype != np.uint8
        or frames.ndim != 4
        or frames.shape[3] != 3
    ):
        raise ValueError("frames must be a uint8 array shaped (N, H, W, 3)")
    if not 0 <= payload < (1 << PAYLOAD_BITS):
        raise ValueError(f"payload must be an integer in [0, 2**{PAYLOAD_BITS})")
    _, height, width, _ = frames.shape
    secret = (key or keystore.current_watermark_key()).secret
    plus, minus = frame_pattern(int(payload), height, width, secret)
    out = (
        frames
        if inplace and frames.flags.writeable and frames.flags.c_contiguous
        else np.empty_like(frames)
    )
    for i in range(frames.shape[0]):
        cv2.add(frames[i], plus, dst=out[i])
        cv2.subtract(out[i], minus, dst=out[i])
    return out


def frame_filter(
    payload: int, *, key: WatermarkKey | None = None
) -> Callable[[np.ndarray], np.ndarray]:
    """A renderer ``frame_filter`` that watermarks each batch in place and returns it.

    The key (default: the current one) is fixed here, once per render, so a
    rotation during a render cannot split one clip between two keys.
    """
    key = key or keystore.current_watermark_key()

    def apply(frames: np.ndarray) -> np.ndarray:
        return embed_frames(frames, payload, inplace=True, key=key)

    apply.__name__ = "doppel_watermark_filter"
    return apply


def detect_frames(
    frames: np.ndarray | Iterable[np.ndarray], *, keys: Keys = None
) -> WatermarkResult:
    """Detect in decoded frames: (N, H, W, 3) RGB, (N, H, W) luma, one frame, or an iterable of frames.

    Every key of the deployment (``keys``: only those) and every flip/rotation
    is tried; ``result.orientation`` says how the copy was turned, ``key_id``
    which key matched.
    """
    if isinstance(frames, np.ndarray) and (
        frames.ndim == 2 or (frames.ndim == 3 and frames.shape[2] in (3, 4))
    ):
        frames = [frames]
    return detect_lumas(frames, keys)


def detect_video(
    *, data: bytes, max_frames: int = VIDEO_SAMPLE_FRAMES, keys: Keys = None
) -> WatermarkResult:
    """Detect in a video file's bytes (MP4, MOV, WebM, MKV); samples up to ``max_frames`` frames.

    Raises :class:`provenance.media.UnreadableMedia` when nothing decodes.
    """
    return detect_lumas(media.video_luma_frames(data, max_frames=max_frames), keys)


def detect_image(*, data: bytes, keys: Keys = None) -> WatermarkResult:
    """Detect in a single JPEG/PNG (e.g. a frame grabbed from a video)."""
    return detect_lumas([media.image_luma(data)], keys)


def soft_binding(payload: int) -> dict:
    """The ``c2pa.soft-binding`` assertion data for a file watermarked with ``payload``."""
    return {
        "alg": ALGORITHM,
        "name": "Doppel invisible watermark (tiled spread-spectrum luma pattern)",
        "alg_params": (
            f"payload_bits={PAYLOAD_BITS};crc=crc24-openpgp;code=conv(K=7,r=1/3,{CODED_BITS} bits);"
            "value=hex(payload)"
        ),
        "blocks": [{"scope": {}, "value": format(payload, f"0{PAYLOAD_BITS // 4}x")}],
        "pad": [],
    }


def payload_from_soft_binding(data: dict | None) -> int | None:
    """The payload a soft-binding assertion names, if it is ours and well formed."""
    if not data or data.get("alg") != ALGORITHM:
        return None
    for block in data.get("blocks") or []:
        value = block.get("value")
        try:
            return int(value, 16)
        except (TypeError, ValueError):
            continue
    return None
