"""Doppel's renderer: a performer's portrait + a script -> a speaking, captioned, labelled MP4.

Plain Python + torch, no Django. Public API::

    analysis = analyze_portrait(image_bytes)          # onboarding, once per portrait
    stored = analysis.as_json()                       # kept in Party.landmarks
    result = render(RenderRequest(portrait=image_bytes, landmarks=stored,
                                  script="Hello!", language="en"))
    result.mp4                                        # H.264 + AAC, faststart

See docs/renderer.md for the pipeline, backends, languages, profiles and figures.
"""

from __future__ import annotations

import time
from typing import Any

from . import _env  # noqa: F401 - must run before torch is imported
from .backends import AnimatorBackend, backend_names, get_backend, register_backend
from .errors import LanguageUnavailable, PortraitError, RenderError, ScriptError
from .layout import PROFILES, OutputProfile, profile_for_platform
from .pipeline import RenderRequest, RenderResult, render
from .portrait import PortraitAnalysis, analyze_portrait
from .runtime import CACHE, choose_device, ensure_torch_threads
from .speech import (
    PreparedScript,
    available_languages,
    available_voices,
    prepare_for_voice,
    resolve_voice,
)

__all__ = [
    "PROFILES",
    "AnimatorBackend",
    "LanguageUnavailable",
    "OutputProfile",
    "PortraitAnalysis",
    "PortraitError",
    "PreparedScript",
    "RenderError",
    "RenderRequest",
    "RenderResult",
    "ScriptError",
    "analyze_portrait",
    "available_languages",
    "available_voices",
    "backend_names",
    "check_script",
    "get_backend",
    "profile_for_platform",
    "register_backend",
    "render",
    "script_speakable",
    "warm_up",
]


def check_script(
    script: str, language: str, *, voice: str | None = None, territory: str | None = None
) -> PreparedScript:
    """What a render of ``script`` will speak (``.spoken``) and show (``.shown``), decided
    exactly as ``render`` decides it; for request-time validation and screening.

    Raises ScriptError (``invalid_script``: nothing speakable, over 1,000 characters) or
    LanguageUnavailable. Runs no speech engine (espeak-ng's voice list is read once).
    """
    return prepare_for_voice(
        script, voice=resolve_voice(language=language, voice=voice), territory=territory
    )


def script_speakable(
    script: str, language: str, *, voice: str | None = None, territory: str | None = None
) -> bool:
    """False when ``script`` has nothing the voice would say (``..``, only emoji) or is too
    long; True otherwise. LanguageUnavailable propagates (an unknown language is another
    error)."""
    try:
        check_script(script, language, voice=voice, territory=territory)
    except ScriptError:
        return False
    return True


def warm_up(*, onboarding: bool = False) -> dict[str, Any]:
    """Load this process's models once (speech, espeak-ng, torch kernels, fonts).

    Safe to call repeatedly and from any thread; after a fork the child loads its own.
    ``onboarding=True`` also loads the face-landmark model used by ``analyze_portrait``.
    Returns what is loaded and how long this call took.
    """
    started = time.perf_counter()

    def torch_kernels() -> str:
        import torch
        import torch.nn.functional as F

        device = choose_device()
        source = torch.zeros(2, 3, 64, 64, device=device.torch_device, dtype=device.torch_dtype)
        grid = torch.zeros(2, 64, 64, 2, device=device.torch_device, dtype=device.torch_dtype)
        F.grid_sample(source, grid, align_corners=False)
        return device.name

    ensure_torch_threads()
    CACHE.get("torch_kernels", torch_kernels)
    available_languages()  # starts espeak-ng and lists its voices
    from .overlays import find_font
    from .speech import _piper

    _piper()
    CACHE.get("caption_font", lambda: find_font("AI-generated Aa"))
    CACHE.get("codecs", _load_codecs)
    if onboarding:
        from .portrait import _mediapipe

        _mediapipe()
    return {"loaded": CACHE.loaded(), "seconds": round(time.perf_counter() - started, 3)}


def _load_codecs() -> bool:
    import av
    import cv2

    av.codec.Codec("libx264", "w")
    av.codec.Codec("aac", "w")
    cv2.setNumThreads(1)
    return True
