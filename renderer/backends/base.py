"""The animator backend interface and its registry.

A backend turns one still head region plus per-frame drive signals into animated frames of
that region. Everything around it (speech, drive signals, layout, captions, badge, encoding)
stays in the pipeline, so a neural talking-head model can replace the procedural animator
without the gateway noticing: register it and pass ``backend="<name>"`` in the request.

Plugging in a neural model (e.g. an audio-driven talking head on a GPU worker)::

    class NeuralHead(AnimatorBackend):
        name = "neural"

        def prepare(self, *, job, device):
            model = CACHE.get("neural-weights", lambda: load_weights_from_disk(device))
            # job.head.image is the region to animate; job.speech.samples the audio
            # (job.speech.sample_rate Hz) for audio-driven models; job.drive the viseme,
            # blink and head-motion tracks for control-driven ones.
            return {"model": model, "identity": model.encode(job.head.image), "job": job}

        def frames(self, *, state, start, stop):
            ...  # -> uint8 (stop - start, h, w, 3), h × w = job.head.image.shape[:2]

    register_backend(NeuralHead)

Weights must be files on the worker (baked into the image, never fetched at run time) and
loaded lazily through ``runtime.CACHE`` so forked workers each load their own copy.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import RenderError
from ..runtime import CACHE, DeviceChoice
from ..speech.model import Speech
from ..timeline import DriveSignals


@dataclass(frozen=True)
class HeadRegion:
    """The part of the composed frame that moves, and the face landmarks inside it."""

    image: np.ndarray  # (h, w, 3) uint8 RGB, exactly the pixels of the still frame
    landmarks: np.ndarray  # (478, 2) float32 pixel coordinates in ``image``
    face_height: float  # forehead (10) to chin (152) in pixels


@dataclass(frozen=True)
class AnimationJob:
    head: HeadRegion
    drive: DriveSignals
    speech: Speech
    seed: int


class AnimatorBackend(abc.ABC):
    """Animates a head region. One instance per process; ``prepare`` per render."""

    name: ClassVar[str]

    @abc.abstractmethod
    def prepare(self, *, job: AnimationJob, device: DeviceChoice) -> Any:
        """Precompute whatever a render needs (warp bases, identity features...)."""

    @abc.abstractmethod
    def frames(self, *, state: Any, start: int, stop: int) -> Sequence[np.ndarray]:
        """Frames ``start``..``stop`` (exclusive) of the region: ``stop - start`` uint8
        (h, w, 3) RGB arrays (an (n, h, w, 3) array is such a sequence), on the CPU.

        Frames whose drive signals are all at rest must reproduce ``job.head.image``.
        """


_REGISTRY: dict[str, type[AnimatorBackend]] = {}
_REGISTRY_LOCK = threading.Lock()


def register_backend(backend: type[AnimatorBackend]) -> type[AnimatorBackend]:
    """Make a backend class available by its ``name`` (usable as a class decorator)."""
    name = getattr(backend, "name", "")
    if not name or not isinstance(name, str):
        raise ValueError("an AnimatorBackend needs a non-empty string `name`")
    with _REGISTRY_LOCK:
        _REGISTRY[name] = backend
    return backend


def backend_names() -> list[str]:
    with _REGISTRY_LOCK:
        return sorted(_REGISTRY)


def get_backend(name: str) -> AnimatorBackend:
    """The process's instance of a registered backend; RenderError if unknown."""
    with _REGISTRY_LOCK:
        backend = _REGISTRY.get(name)
    if backend is None:
        raise RenderError(
            f"Animator backend {name!r} is not available (available: {', '.join(backend_names())}).",
            code="backend_unavailable",
        )
    return CACHE.get(f"backend:{name}", backend)
