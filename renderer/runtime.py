"""Process-level runtime: settings from the environment, device choice, per-process caches.

The renderer runs inside django-q2 workers, which fork. Native sessions (ONNX Runtime,
espeak-ng, torch thread pools, mediapipe graphs) created before a fork must not be reused
in the child, so every cached resource lives in a :class:`ProcessCache` keyed by the
process id: a child sees an empty cache and loads its own.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import RenderError

T = TypeVar("T")

ENV_DEVICE = "DOPPEL_RENDER_DEVICE"  # "auto" (default), "cpu" or "cuda"
ENV_THREADS = "DOPPEL_RENDER_THREADS"  # torch / onnxruntime / x264 threads
ENV_X264_PRESET = "DOPPEL_RENDER_X264_PRESET"  # libx264 preset, default "veryfast"
ENV_TMPDIR = "DOPPEL_RENDER_TMPDIR"  # where the MP4 muxer writes before faststart
ENV_FONT_DIRS = "DOPPEL_RENDER_FONT_DIRS"  # extra font folders, os.pathsep-separated

_X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
)


@dataclass(frozen=True)
class DeviceChoice:
    """Where the animator runs and in which precision."""

    name: str  # "cpu" or "cuda"
    half: bool  # float16 on CUDA, float32 on CPU

    @property
    def torch_device(self) -> Any:
        import torch

        return torch.device(self.name)

    @property
    def torch_dtype(self) -> Any:
        import torch

        return torch.float16 if self.half else torch.float32


def render_threads() -> int:
    """Threads for torch, ONNX Runtime and x264: ``DOPPEL_RENDER_THREADS`` or all CPUs."""
    raw = os.environ.get(ENV_THREADS, "").strip()
    if not raw:
        return max(1, os.cpu_count() or 2)
    try:
        value = int(raw)
    except ValueError as exc:
        raise RenderError(
            f"{ENV_THREADS} must be a positive integer, got {raw!r}", code="misconfigured"
        ) from exc
    if value < 1:
        raise RenderError(f"{ENV_THREADS} must be ≥ 1, got {value}", code="misconfigured")
    return value


def x264_preset() -> str:
    preset = os.environ.get(ENV_X264_PRESET, "").strip() or "veryfast"
    if preset not in _X264_PRESETS:
        raise RenderError(
            f"{ENV_X264_PRESET} must be one of {', '.join(_X264_PRESETS)}, got {preset!r}",
            code="misconfigured",
        )
    return preset


def choose_device() -> DeviceChoice:
    """CUDA in half precision when present (or forced), else the CPU in float32."""
    import torch

    wanted = os.environ.get(ENV_DEVICE, "").strip().lower() or "auto"
    if wanted not in ("auto", "cpu", "cuda"):
        raise RenderError(
            f"{ENV_DEVICE} must be auto, cpu or cuda, got {wanted!r}", code="misconfigured"
        )
    if wanted == "cpu":
        return DeviceChoice(name="cpu", half=False)
    if torch.cuda.is_available():
        return DeviceChoice(name="cuda", half=True)
    if wanted == "cuda":
        raise RenderError(
            f"{ENV_DEVICE}=cuda but torch sees no CUDA device", code="device_unavailable"
        )
    return DeviceChoice(name="cpu", half=False)


_INHERITED: list[dict[str, Any]] = []  # objects a forked child must keep but never use


class ProcessCache:
    """Lazily built per-process singletons, dropped after a fork, safe across threads."""

    def __init__(self) -> None:
        self._reset()
        # A lock held by another thread at fork time would stay held forever in the child:
        # give the child a fresh lock and an empty cache.
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        inherited = getattr(self, "_items", None)
        if inherited:
            # Never destroy the parent's objects in the child: an ONNX Runtime session's
            # destructor waits for thread-pool threads that fork() did not copy, and hangs.
            _INHERITED.append(inherited)
        self._lock = threading.RLock()
        self._pid = os.getpid()
        self._items: dict[str, Any] = {}

    def get(self, key: str, factory: Callable[[], T]) -> T:
        if self._pid != os.getpid():  # forked by a path that skipped the at-fork hook
            self._reset()
        with self._lock:
            if key not in self._items:
                self._items[key] = factory()
            return self._items[key]

    def loaded(self) -> list[str]:
        """Names of the resources this process has loaded (for health checks and tests)."""
        if self._pid != os.getpid():
            return []
        return sorted(self._items)


CACHE = ProcessCache()


FORK_WARNING = (
    "This worker was forked from a process that had already run multi-threaded torch work; "
    "GNU OpenMP cannot run threads in such a child, so it animates on one thread. Render "
    "only in worker processes (call renderer.warm_up() in the worker, not before forking)."
)


def forked_after_parallel_torch() -> bool:
    """True in a child whose parent had run multi-threaded torch work before fork()."""
    return any(inherited.get("torch_parallel_used") for inherited in _INHERITED)


def ensure_torch_threads() -> int:
    """Apply ``DOPPEL_RENDER_THREADS`` to torch once per process; returns the count.

    In a child forked after its parent used OpenMP threads, the first parallel region
    would wait forever for the parent's (not copied) threads: such a child gets 1 thread.
    """

    def configure() -> int:
        import torch

        threads = 1 if forked_after_parallel_torch() else render_threads()
        torch.set_num_threads(threads)
        return threads

    return CACHE.get("torch_threads", configure)


def note_parallel_torch_use() -> None:
    """Record that this process has run multi-threaded torch work (see ensure_torch_threads)."""
    if ensure_torch_threads() > 1:
        CACHE.get("torch_parallel_used", lambda: True)
